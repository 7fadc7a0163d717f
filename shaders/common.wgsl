// Shared by every shader (prepended by src/ops/kernel.rs).
// Large dispatches are spread over a 2-D grid of workgroups (x up to the device limit,
// then y), so kernels index by the linear workgroup number, not by global_id.x alone.

const WORKGROUP_SIZE: u32 = 256u;

// Linear index of this workgroup in the 2-D grid.
fn workgroup_index(wg: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wg.x + wg.y * groups.x;
}

// Linear index of this thread for 1-D kernels of WORKGROUP_SIZE threads.
fn thread_index(wg: vec3<u32>, groups: vec3<u32>, local: u32) -> u32 {
    return workgroup_index(wg, groups) * WORKGROUP_SIZE + local;
}

// Tree reduction over a workgroup of WORKGROUP_SIZE threads; every thread of the
// workgroup must call it (it contains barriers). Returns the sum to every thread.
var<workgroup> partial_sums: array<f32, WORKGROUP_SIZE>;

fn workgroup_sum(local: u32, value: f32) -> f32 {
    partial_sums[local] = value;
    workgroupBarrier();
    for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            partial_sums[local] = partial_sums[local] + partial_sums[local + stride];
        }
        workgroupBarrier();
    }
    let total = partial_sums[0];
    workgroupBarrier();
    return total;
}
