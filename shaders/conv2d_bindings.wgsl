// The uniform block and bindings shared by conv2d.wgsl and conv2d_direct.wgsl (prepended
// to each): one Rust parameter layout serves every kernel. m, n, k, k_chunk size the
// implicit GEMM; the direct weight gradient reads m as its number of splits and k_chunk
// as the positions each split sums.

struct Conv2dParams {
    m: u32, n: u32, k: u32, k_chunk: u32,
    batch: u32, in_c: u32, in_h: u32, in_w: u32,
    out_c: u32, out_h: u32, out_w: u32, k_h: u32,
    k_w: u32, stride: u32, pad_h: u32, pad_w: u32,
    relu: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Conv2dParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw_partial: array<f32>;

