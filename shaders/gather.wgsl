// Builds a training batch on the GPU from the resident data set: images stay as bytes
// (four per u32), the epoch's shuffled order is an index buffer, and a cursor on the GPU
// says where the next batch starts, so a step needs no upload.
// x[b, p] = byte(order[cursor + b], p) * scale + shift; labels[b] likewise.

struct GatherParams { batch: u32, pixels: u32, count: u32, _p0: u32, scale: f32, shift: f32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> p: GatherParams;
@group(0) @binding(1) var<storage, read> images: array<u32>;
@group(0) @binding(2) var<storage, read> all_labels: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> cursor: array<u32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> labels: array<u32>;
@group(0) @binding(7) var<storage, read_write> cursor_rw: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn gather_batch(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                @builtin(local_invocation_index) local: u32) {
    let i = thread_index(wg, groups, local);
    if (i >= p.batch * p.pixels) { return; }
    let b = i / p.pixels;
    let pixel = i % p.pixels;
    let image = order[(cursor[0] + b) % p.count];
    let byte_index = image * p.pixels + pixel;
    let byte = (images[byte_index / 4u] >> (8u * (byte_index % 4u))) & 255u;
    x[i] = f32(byte) * p.scale + p.shift;
    if (pixel == 0u) { labels[b] = all_labels[image]; }
}

@compute @workgroup_size(1)
fn advance_cursor() {
    cursor_rw[0] = cursor_rw[0] + p.batch;
}
