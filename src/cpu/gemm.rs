//! The one matrix multiply every CPU convolution and dense layer runs on, over strided
//! views so transposes cost nothing. The crate behind it was chosen per target by
//! measurement on the networks' real shapes (docs/benchmarks.md, "CPU GEMM"): natively
//! rten-gemm, whose AVX-512/AVX2/NEON kernels are picked at run time (70 GFLOP/s on
//! pytorch-cnn's conv2 shapes against matrixmultiply's 48-55 and gemm's 35-54, one
//! core); in wasm32 matrixmultiply, whose kernel auto-vectorizes with simd128 (16-18
//! GFLOP/s against rten-gemm's simd128 kernel's 12-13 and gemm's scalar 4-5, in Node).

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
    backend::gemm(m, n, k, a, b, &mut c[..m * n], accumulate);
}

#[cfg(not(target_arch = "wasm32"))]
mod backend {
    use super::Mat;
    use rten_gemm::{GemmExecutor, GemmInputA, GemmInputB, GemmOptions};
    use rten_tensor::NdTensorView;

    thread_local! {
        /// rten-gemm's executor, with the fastest kernel this CPU has (picked at run
        /// time); one per thread, as it is not shareable.
        static EXECUTOR: GemmExecutor<f32> = GemmExecutor::default();
    }

    pub fn gemm(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32], accumulate: bool) {
        let opts = GemmOptions { beta: if accumulate { 1.0 } else { 0.0 }, ..Default::default() };
        EXECUTOR.with(|e| {
            e.gemm(c, GemmInputA::Unpacked(view(a, m, k)), GemmInputB::Unpacked(view(b, k, n)), opts)
                .expect("gemm: shapes checked by the caller")
        });
    }

    fn view<'a>(v: Mat<'a>, rows: usize, cols: usize) -> NdTensorView<'a, f32, 2> {
        let used = (rows - 1) * v.rs + (cols - 1) * v.cs + 1;
        NdTensorView::from_data_with_strides([rows, cols], &v.data[..used], [v.rs, v.cs]).expect("gemm: a view whose strides overlap")
    }

    pub fn kernel_name() -> String {
        EXECUTOR.with(|e| e.kernel_name().to_string())
    }
}

#[cfg(target_arch = "wasm32")]
mod backend {
    use super::Mat;

    pub fn gemm(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32], accumulate: bool) {
        // Safety: the caller checked that every element the views address is inside its slice.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.data.as_ptr(),
                a.rs as isize,
                a.cs as isize,
                b.data.as_ptr(),
                b.rs as isize,
                b.cs as isize,
                if accumulate { 1.0 } else { 0.0 },
                c.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    }

    pub fn kernel_name() -> String {
        "matrixmultiply, simd128".into()
    }
}

/// The name of the GEMM kernel in use (e.g. "x86_64-f32-avx512").
pub fn kernel_name() -> String {
    backend::kernel_name()
}
