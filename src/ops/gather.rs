//! Batch gathering from the data set resident on the GPU (shaders/gather.wgsl).
//! CPU twin: `reference::gather`.

use super::kernel::{groups_for, uniform, Dispatch, Shader, View};
use crate::desc::gather::GatherShape;
use crate::error::{shape_err, Error};
use crate::gpu::Gpu;

const SHADER: Shader = Shader { name: "gather", source: include_str!("../../shaders/gather.wgsl") };

impl GatherShape {
    fn params(&self) -> GatherParams {
        GatherParams {
            batch: self.batch as u32,
            pixels: self.pixels as u32,
            count: self.count as u32,
            _p0: 0,
            scale: self.scale,
            shift: self.shift,
            _p1: 0,
            _p2: 0,
        }
    }
}

uniform! {
    /// `GatherParams` of shaders/gather.wgsl.
    pub struct GatherParams { batch: u32, pixels: u32, count: u32, _p0: u32, scale: f32, shift: f32, _p1: u32, _p2: u32 }
}

/// The two dispatches of one batch: gather at the cursor, then advance it by `batch`.
/// `images` holds the bytes packed four to a word; `order` the epoch's permutation.
#[allow(clippy::too_many_arguments)]
pub fn gather_batch(
    gpu: &Gpu,
    s: &GatherShape,
    images: &View,
    all_labels: &View,
    order: &View,
    cursor: &View,
    x: &View,
    labels: &View,
) -> Result<[Dispatch; 2], Error> {
    if s.count == 0 || s.batch == 0 {
        return Err(shape_err!("gather: empty data set or batch"));
    }
    images.expect("packed images", (all_labels.len * s.pixels).div_ceil(4))?;
    order.expect("order", s.count)?;
    cursor.expect("cursor", 1)?;
    x.expect("batch", s.batch * s.pixels)?;
    labels.expect("batch labels", s.batch)?;
    let p = s.params();
    Ok([
        Dispatch::new(
            gpu,
            SHADER,
            "gather_batch",
            &p,
            &[(1, images), (2, all_labels), (3, order), (4, cursor), (5, x), (6, labels)],
            groups_for(s.batch * s.pixels),
        )?,
        Dispatch::new(gpu, SHADER, "advance_cursor", &p, &[(7, cursor)], 1)?,
    ])
}
