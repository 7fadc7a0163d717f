// The uniform block and bindings shared by matmul.wgsl and matmul_direct.wgsl (prepended
// to each): one Rust parameter layout serves every dense kernel.

struct MatmulParams { m: u32, n: u32, k: u32, k_chunk: u32, trans_a: u32, trans_b: u32, has_bias: u32, relu: u32 }

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
