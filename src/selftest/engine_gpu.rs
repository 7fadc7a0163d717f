//! The GPU engine under the suite's `OpEngine` trait: each op's WGSL dispatches on
//! fresh buffers, outputs poisoned with NaN, read back.

use super::engine::{conv, err, expect_err, OpEngine, Widen, BAD_MATMUL, ONE_BY_ONE};
use crate::desc::conv2d::Conv2dShape;
use crate::gpu::Gpu;
use crate::model::{GpuModel, Graph, Spec};
use crate::ops::choice::{Choices, Kernel, Pass};
use crate::ops::{self, run, Dispatch, View};

/// The GPU engine: a device and the kernel its convolution and dense passes run (None:
/// the adapter's untimed default, as a graph would choose; variants set each candidate).
#[derive(Clone)]
pub struct GpuEngine {
    pub gpu: Gpu,
    pub kernel: Option<Kernel>,
}

impl GpuEngine {
    /// The device with the kernels a graph would choose for it untimed.
    pub fn new(gpu: &Gpu) -> GpuEngine {
        GpuEngine { gpu: gpu.clone(), kernel: None }
    }

    pub(crate) fn conv_kernel(&self, pass: Pass, s: &Conv2dShape) -> Kernel {
        self.kernel.unwrap_or_else(|| Choices::for_adapter(&self.gpu.adapter_info).conv(pass, s))
    }

    pub(crate) fn dense_kernel(&self) -> Kernel {
        self.kernel.unwrap_or(Kernel::Tiled)
    }
}

impl OpEngine for GpuEngine {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn variants(&self, widen: Widen, row: usize) -> Vec<(GpuEngine, String)> {
        let mut g = self.clone();
        if row % 2 == 1 {
            g.gpu.max_workgroups_per_dim = 3;
        }
        match widen {
            Widen::Grid => vec![(g, String::new())],
            Widen::ConvKernels | Widen::DenseKernels => {
                let kernels = if widen == Widen::ConvKernels { Kernel::CONV } else { Kernel::DENSE };
                kernels.iter().map(|&k| (GpuEngine { kernel: Some(k), ..g.clone() }, k.name().to_string())).collect()
            }
            Widen::Alignments => {
                let mut browser_like = self.clone();
                let l = &mut browser_like.gpu.limits;
                l.min_storage_buffer_offset_alignment = l.min_storage_buffer_offset_alignment.max(256);
                [self.clone(), browser_like]
                    .into_iter()
                    .map(|g| {
                        let label = format!("{}-byte alignment", g.gpu.limits.min_storage_buffer_offset_alignment);
                        (g, label)
                    })
                    .collect()
            }
        }
    }

    async fn network_logits(&self, spec: &Spec, values: &[Vec<f32>], images: &[f32]) -> Result<(Vec<f32>, String), String> {
        let g = &self.gpu;
        let mut model = GpuModel::new(g, spec, 1).map_err(err)?;
        model.kernels.forced_conv = self.kernel.or(model.kernels.forced_conv);
        model.write_tensors(values);
        let graph = Graph::new(&model, images.len() / 784, None).map_err(err)?;
        graph.predict(g, images).await.map_err(err)?;
        let label = format!("{} B", g.limits.min_storage_buffer_offset_alignment);
        Ok((graph.logits.read(g).await.map_err(err)?, label))
    }

    fn bad_shapes_are_errors(&self) -> Result<Vec<String>, String> {
        let (gpu, kernel) = (&self.gpu, self.kernel.unwrap_or(Kernel::Tiled));
        let v = |n| View::new(gpu, "t", n).map_err(err);
        let s = conv(1, 1, 5, 5, 2, 3, 3);
        let mut checked = vec![
            expect_err(
                "conv2d with a wrong-sized input",
                ops::conv2d::conv2d_forward(gpu, &s, &v(24)?, &v(18)?, &v(2)?, &v(18)?, false, kernel),
            )?,
            expect_err(
                "conv2d with a kernel larger than the input",
                ops::conv2d::conv2d_forward(gpu, &conv(1, 1, 2, 2, 1, 3, 3), &v(4)?, &v(9)?, &v(1)?, &v(1)?, false, kernel),
            )?,
            expect_err(
                "matmul with mismatched inner sizes",
                ops::dense::matmul(gpu, &BAD_MATMUL, &v(8)?, &v(10)?, None, false, &v(6)?, kernel),
            )?,
            expect_err("maxpool of a 1x1 input", ops::maxpool::maxpool_forward(gpu, &ONE_BY_ONE, &v(1)?, &v(1)?, &v(1)?))?,
        ];
        let too_big = gpu.limits.max_storage_buffer_binding_size as usize / 4 + 1;
        match View::new(gpu, "huge", too_big) {
            Err(crate::Error::TooLarge(_)) => checked.push("a buffer over the binding limit".into()),
            other => return Err(format!("a buffer over the binding limit: {:?}", other.map(|_| ()))),
        }
        let mut tiny = gpu.clone();
        tiny.max_workgroups_per_dim = 1;
        tiny.limits.max_compute_workgroups_per_dimension = 2;
        checked.push(expect_err("a dispatch over the workgroup limit", ops::relu::relu_forward(&tiny, 5000, &v(5000)?, &v(5000)?))?);
        Ok(checked)
    }
}

/// A GPU buffer of `len` NaNs: any element a kernel fails to write shows up as NaN.
pub fn poisoned(gpu: &Gpu, len: usize) -> Result<View, String> {
    View::from_slice(gpu, "poisoned output", &vec![f32::NAN; len]).map_err(|e| e.to_string())
}

/// Uploads `data` into a fresh view.
pub fn upload<T: bytemuck::Pod>(gpu: &Gpu, data: &[T]) -> Result<View, String> {
    View::from_slice(gpu, "input", data).map_err(|e| e.to_string())
}

/// Runs the dispatches and reads back `outputs`.
pub async fn run_and_read(gpu: &Gpu, dispatches: &[&Dispatch], outputs: &[&View]) -> Result<Vec<Vec<f32>>, String> {
    run(gpu, dispatches);
    let mut out = Vec::new();
    for v in outputs {
        out.push(v.read::<f32>(gpu).await.map_err(|e| e.to_string())?);
    }
    Ok(out)
}
