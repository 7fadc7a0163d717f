//! The GPU engine under the suite's `OpEngine` trait: each op's WGSL dispatches on
//! fresh buffers, outputs poisoned with NaN, read back.

use super::engine::{conv, err, expect_err, BatchNormOut, OpEngine, Widen, BAD_MATMUL, ONE_BY_ONE};
use crate::desc::batchnorm::BatchNormShape;
use crate::desc::conv2d::Conv2dShape;
use crate::desc::dense::{DenseShape, MatmulShape};
use crate::desc::dropout::DropoutConfig;
use crate::desc::gather::GatherShape;
use crate::desc::maxpool::PoolShape;
use crate::desc::optim::Optimizer;
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

    fn conv_kernel(&self, pass: Pass, s: &Conv2dShape) -> Kernel {
        self.kernel.unwrap_or_else(|| Choices::for_adapter(&self.gpu.adapter_info).conv(pass, s))
    }

    fn dense_kernel(&self) -> Kernel {
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

    async fn conv2d(&self, s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        let g = &self.gpu;
        let (xv, wv, bv, dyv) = (upload(g, x)?, upload(g, w)?, upload(g, b)?, upload(g, dy)?);
        let (y, dx, dw, db) =
            (poisoned(g, s.output_len())?, poisoned(g, s.input_len())?, poisoned(g, s.weight_len())?, poisoned(g, s.out_c)?);
        let mut ds = ops::conv2d::conv2d_forward(g, s, &xv, &wv, &bv, &y, relu, self.conv_kernel(Pass::ConvForward, s)).map_err(err)?;
        ds.extend(ops::conv2d::conv2d_backward_input(g, s, &dyv, &wv, &dx, self.conv_kernel(Pass::ConvBackwardInput, s)).map_err(err)?);
        ds.push(ops::conv2d::conv2d_backward_bias(g, s, &dyv, &db).map_err(err)?);
        let dw_kernel = self.conv_kernel(Pass::ConvBackwardWeights, s);
        let dw_passes = ops::conv2d::conv2d_backward_weights(g, s, &xv, &dyv, &dw, dw_kernel).map_err(err)?;
        let out = run_and_read(g, &ds.iter().chain(dw_passes.iter()).collect::<Vec<_>>(), &[&y, &dx, &dw, &db]).await?;
        Ok(out.try_into().expect("four outputs"))
    }

    async fn maxpool(&self, s: &PoolShape, x: &[f32], dy: &[f32]) -> Result<(Vec<f32>, Vec<u32>, Vec<f32>), String> {
        let g = &self.gpu;
        let (xv, dyv) = (upload(g, x)?, upload(g, dy)?);
        let (y, arg, dx) = (poisoned(g, s.output_len())?, upload(g, &vec![u32::MAX; s.output_len()])?, poisoned(g, s.input_len())?);
        let fwd = ops::maxpool::maxpool_forward(g, s, &xv, &y, &arg).map_err(err)?;
        let bwd = ops::maxpool::maxpool_backward(g, s, &dyv, &arg, &dx).map_err(err)?;
        let mut out = run_and_read(g, &[&fwd, &bwd], &[&y, &dx]).await?;
        let arg: Vec<u32> = arg.read(g).await.map_err(err)?;
        let dx = out.pop().expect("dx");
        Ok((out.pop().expect("y"), arg, dx))
    }

    async fn matmul(&self, s: &MatmulShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool) -> Result<Vec<f32>, String> {
        let g = &self.gpu;
        let (av, bv, c) = (upload(g, a)?, upload(g, b)?, poisoned(g, s.m * s.n)?);
        let biasv = bias.map(|b| upload(g, b)).transpose()?;
        let d = ops::dense::matmul(g, s, &av, &bv, biasv.as_ref(), relu, &c, self.dense_kernel()).map_err(err)?;
        Ok(run_and_read(g, &[&d], &[&c]).await?.remove(0))
    }

    async fn dense(&self, s: &DenseShape, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], relu: bool) -> Result<[Vec<f32>; 4], String> {
        let (g, k) = (&self.gpu, self.dense_kernel());
        let (xv, wv, bv, dyv) = (upload(g, x)?, upload(g, w)?, upload(g, b)?, upload(g, dy)?);
        let (y, dx, dw, db) =
            (poisoned(g, s.batch * s.out_f)?, poisoned(g, s.batch * s.in_f)?, poisoned(g, s.out_f * s.in_f)?, poisoned(g, s.out_f)?);
        let ds = [
            ops::dense::dense_forward(g, s, &xv, &wv, &bv, &y, relu, k).map_err(err)?,
            ops::dense::dense_backward_input(g, s, &dyv, &wv, &dx, k).map_err(err)?,
            ops::dense::dense_backward_weights(g, s, &xv, &dyv, &dw, k).map_err(err)?,
            ops::dense::dense_backward_bias(g, s, &dyv, &db).map_err(err)?,
        ];
        let out = run_and_read(g, &ds.iter().collect::<Vec<_>>(), &[&y, &dx, &dw, &db]).await?;
        Ok(out.try_into().expect("four outputs"))
    }

    async fn relu(&self, x: &[f32], y_in: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (g, n) = (&self.gpu, x.len());
        let (xv, yin, dyv, y, dx) = (upload(g, x)?, upload(g, y_in)?, upload(g, dy)?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [ops::relu::relu_forward(g, n, &xv, &y).map_err(err)?, ops::relu::relu_backward(g, n, &yin, &dyv, &dx).map_err(err)?];
        Ok(run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?.try_into().expect("two outputs"))
    }

    async fn normalize(&self, mean: f32, std: f32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (g, n) = (&self.gpu, x.len());
        let (xv, dyv, y, dx) = (upload(g, x)?, upload(g, dy)?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [
            ops::normalize::normalize_forward(g, n, mean, std, &xv, &y).map_err(err)?,
            ops::normalize::normalize_backward(g, n, mean, std, &dyv, &dx).map_err(err)?,
        ];
        Ok(run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?.try_into().expect("two outputs"))
    }

    async fn dropout(&self, c: &DropoutConfig, step: u32, x: &[f32], dy: &[f32]) -> Result<[Vec<f32>; 2], String> {
        let (g, n) = (&self.gpu, x.len());
        let (xv, dyv, stepv, y, dx) = (upload(g, x)?, upload(g, dy)?, upload(g, &[step])?, poisoned(g, n)?, poisoned(g, n)?);
        let ds = [
            ops::dropout::dropout_forward(g, c, n, &xv, &stepv, &y).map_err(err)?,
            ops::dropout::dropout_backward(g, c, n, &dyv, &stepv, &dx).map_err(err)?,
        ];
        Ok(run_and_read(g, &[&ds[0], &ds[1]], &[&y, &dx]).await?.try_into().expect("two outputs"))
    }

    async fn batchnorm(
        &self,
        s: &BatchNormShape,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        running: &[f32],
        dy: &[f32],
    ) -> Result<BatchNormOut, String> {
        let (g, c) = (&self.gpu, s.channels);
        let (xv, gv, bv, dyv, runv) = (upload(g, x)?, upload(g, gamma)?, upload(g, beta)?, upload(g, dy)?, upload(g, running)?);
        let (y, stats, y_eval) = (poisoned(g, s.len())?, poisoned(g, 2 * c)?, poisoned(g, s.len())?);
        let (dx, dgamma, dbeta) = (poisoned(g, s.len())?, poisoned(g, c)?, poisoned(g, c)?);
        let mut ds = ops::batchnorm::batchnorm_forward(g, s, false, &xv, &gv, &bv, &stats, &runv, &y_eval).map_err(err)?;
        ds.extend(ops::batchnorm::batchnorm_forward(g, s, true, &xv, &gv, &bv, &stats, &runv, &y).map_err(err)?);
        ds.extend(ops::batchnorm::batchnorm_backward(g, s, &xv, &dyv, &gv, &stats, &dgamma, &dbeta, &dx).map_err(err)?);
        let mut o = run_and_read(g, &ds.iter().collect::<Vec<_>>(), &[&y_eval, &y, &stats, &runv, &dx, &dgamma, &dbeta]).await?.into_iter();
        let mut next = || o.next().expect("seven outputs");
        Ok((next(), next(), next(), next(), next(), next(), next()))
    }

    async fn softmax_xent(&self, n: usize, classes: usize, logits: &[f32], labels: &[u32]) -> Result<[Vec<f32>; 3], String> {
        let g = &self.gpu;
        let (lv, labv, metrics) = (upload(g, logits)?, upload(g, labels)?, upload(g, &[0f32; 3])?);
        let (grad, loss, correct, probs) = (poisoned(g, n * classes)?, poisoned(g, n)?, poisoned(g, n)?, poisoned(g, n * classes)?);
        let x = ops::softmax_xent::softmax_xent(g, n, classes, &lv, &labv, &grad, &loss, &correct).map_err(err)?;
        let acc = ops::softmax_xent::accumulate_metrics(g, n, &loss, &correct, &metrics).map_err(err)?;
        let sm = ops::softmax_xent::softmax(g, n, classes, &lv, &probs).map_err(err)?;
        Ok(run_and_read(g, &[&x, &acc, &acc, &sm], &[&grad, &metrics, &probs]).await?.try_into().expect("three outputs"))
    }

    async fn optimizer_steps(
        &self,
        opt: &Optimizer,
        rates: &[f32],
        params: &[f32],
        grads: &[Vec<f32>],
    ) -> Result<(Vec<Vec<f32>>, u32), String> {
        let (g, n) = (&self.gpu, params.len());
        let zeros = vec![0f32; n];
        let (pv, gv, s1v, s2v, stepv, ratesv) =
            (upload(g, params)?, upload(g, &zeros)?, upload(g, &zeros)?, upload(g, &zeros)?, upload(g, &[0u32])?, upload(g, rates)?);
        let ds = ops::optim::optimizer_step(g, opt, &pv, &gv, &s1v, &s2v, &stepv, &ratesv).map_err(err)?;
        let mut out = Vec::new();
        for grad in grads {
            gv.write(g, grad);
            run(g, &ds.iter().collect::<Vec<_>>());
            out.push(pv.read(g).await.map_err(err)?);
        }
        let steps: Vec<u32> = stepv.read(g).await.map_err(err)?;
        Ok((out, steps[0]))
    }

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
