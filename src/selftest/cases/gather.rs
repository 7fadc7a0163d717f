//! gather: a batch of images and labels from the data set in a shuffled order, against
//! the reference, with the cursor advanced by the batch.

use crate::desc::gather::GatherShape;
use crate::reference as cpu;
use crate::selftest::check::{Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};
use crate::selftest::engine::{CpuEngine, nan};
#[cfg(feature = "gpu")]
use crate::selftest::engine_gpu::{GpuEngine, poisoned, run_and_read, upload};
#[cfg(feature = "gpu")]
use crate::selftest::engine::err;
#[cfg(feature = "gpu")]
use crate::ops;

/// The op on each engine, as the suite runs it: host inputs in, outputs (poisoned with
/// NaN before the op runs) out.
#[allow(async_fn_in_trait, clippy::too_many_arguments)]
pub trait Op {
    /// (x, labels, cursor after the batch).
    async fn gather(
        &self,
        s: &GatherShape,
        images: &[u8],
        labels: &[u32],
        order: &[u32],
        cursor: u32,
    ) -> Result<(Vec<f32>, Vec<u32>, u32), String>;
}

impl Op for CpuEngine {
    async fn gather(
        &self,
        s: &GatherShape,
        images: &[u8],
        labels: &[u32],
        order: &[u32],
        cursor: u32,
    ) -> Result<(Vec<f32>, Vec<u32>, u32), String> {
        let (mut x, mut y) = (nan(s.batch * s.pixels), vec![u32::MAX; s.batch]);
        crate::cpu::gather::gather_batch(s, images, labels, order, cursor as usize, &mut x, &mut y);
        Ok((x, y, cursor + s.batch as u32))
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn gather(
        &self,
        s: &GatherShape,
        images: &[u8],
        labels: &[u32],
        order: &[u32],
        cursor: u32,
    ) -> Result<(Vec<f32>, Vec<u32>, u32), String> {
        let g = &self.gpu;
        let (iv, lv, ov, cv) =
            (upload(g, &crate::desc::gather::pack_bytes(images))?, upload(g, labels)?, upload(g, order)?, upload(g, &[cursor])?);
        let (x, y) = (poisoned(g, s.batch * s.pixels)?, upload(g, &vec![u32::MAX; s.batch])?);
        let ds = ops::gather::gather_batch(g, s, &iv, &lv, &ov, &cv, &x, &y).map_err(err)?;
        let out = run_and_read(g, &[&ds[0], &ds[1]], &[&x]).await?;
        let cursor: Vec<u32> = cv.read(g).await.map_err(err)?;
        Ok((out.into_iter().next().expect("x"), y.read(g).await.map_err(err)?, cursor[0]))
    }
}

pub async fn gather_matches_reference<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("gather");
    for (row, &(count, pixels, batch, order_len)) in [(10, 784, 3, 10), (37, 5, 7, 20), (1000, 784, 64, 999)].iter().enumerate() {
        for (e, _) in engine.variants(Widen::Grid, row) {
            let images: Vec<u8> = (0..count * pixels).map(|_| rng.below(256) as u8).collect();
            let labels: Vec<u32> = (0..count).map(|_| rng.below(10) as u32).collect();
            let order: Vec<u32> = (0..order_len).map(|_| rng.below(count) as u32).collect();
            let s = GatherShape { batch, pixels, count: order_len, scale: 1.0 / 255.0, shift: -0.5 };
            let cursor = rng.below(order_len);
            let (x, y, next) = e.gather(&s, &images, &labels, &order, cursor as u32).await?;
            let (ref_x, ref_y) = cpu::gather::gather_batch(&s, &images, &labels, &order, cursor);
            let what = format!("{batch} of {count} images of {pixels} bytes");
            rep.compare(&what, &x, &ref_x)?;
            rep.compare_exact("labels", &y, &ref_y)?;
            rep.compare_exact("cursor advanced by the batch", &[next], &[(cursor + batch) as u32])?;
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}
