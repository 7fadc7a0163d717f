//! The one matrix multiply every CPU convolution and dense layer runs on, over strided
//! views so transposes cost nothing. The crate behind it was chosen by measurement on
//! the networks' real shapes (docs/benchmarks.md, "CPU GEMM"): rten-gemm, which has
//! AVX-512, AVX2/FMA and NEON kernels picked at run time and a simd128 kernel for wasm32.

use rten_gemm::{GemmExecutor, GemmInputA, GemmInputB, GemmOptions};
use rten_tensor::NdTensorView;

/// A read-only matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major, `cols` wide.
    pub fn rows(data: &'a [f32], cols: usize) -> Mat<'a> {
        Mat { data, rs: cols, cs: 1 }
    }
    /// The transpose of a row-major matrix `cols` wide.
    pub fn transposed(data: &'a [f32], cols: usize) -> Mat<'a> {
        Mat { data, rs: 1, cs: cols }
    }
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// c (row-major m x n) = a (m x k) * b (k x n), or c += a * b when `accumulate`.
pub fn gemm(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32], accumulate: bool) {
    assert!(a.fits(m, k) && b.fits(k, n) && c.len() >= m * n, "gemm: views too short for {m}x{k} * {k}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let opts = GemmOptions { beta: if accumulate { 1.0 } else { 0.0 }, ..Default::default() };
    EXECUTOR.with(|e| {
        e.gemm(&mut c[..m * n], GemmInputA::Unpacked(view(a, m, k)), GemmInputB::Unpacked(view(b, k, n)), opts)
            .expect("gemm: shapes checked above")
    });
}

fn view<'a>(v: Mat<'a>, rows: usize, cols: usize) -> NdTensorView<'a, f32, 2> {
    let used = (rows - 1) * v.rs + (cols - 1) * v.cs + 1;
    NdTensorView::from_data_with_strides([rows, cols], &v.data[..used], [v.rs, v.cs]).expect("gemm: a view whose strides overlap")
}

thread_local! {
    /// rten-gemm's executor, with the fastest kernel this CPU has (picked at run time);
    /// one per thread, as it is not shareable.
    static EXECUTOR: GemmExecutor<f32> = GemmExecutor::default();
}

/// The name of the GEMM kernel in use (e.g. "avx512", "fma", "wasm32").
pub fn kernel_name() -> String {
    EXECUTOR.with(|e| e.kernel_name().to_string())
}
