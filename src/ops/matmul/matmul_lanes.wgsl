// The CPU adapters' entry points of matmul.wgsl where the adapter has
// subgroups of 8 or more lanes and a workgroup is whole subgroups (the host
// checks both). The 8 rows of A that a workgroup's threads share are loaded
// once per subgroup, lane i loading row i, and handed to every lane by
// subgroupBroadcast: a register move, where on lavapipe each load runs once
// per lane even when all lanes read the same address. The values, and so
// the sums, are the ones matmul_alone.wgsl loads.

@compute @workgroup_size(WX, 1, 1)
fn main_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    rows(wg, lid, lane);
}

@compute @workgroup_size(WX, 1, 1)
fn main_rows_conv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    rows_conv(wg, lid, lane);
}

@compute @workgroup_size(WX, 1, 1)
fn main_rows_nt4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    rows_nt4(wg, lid, lane);
}

@compute @workgroup_size(WX, 1, 1)
fn main_rows_nn4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    rows_nn4(wg, lid, lane);
}

@compute @workgroup_size(WX, 1, 1)
fn main_rows_tn4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    rows_tn4(wg, lid, lane);
}

// op(A)[row + i, kk] for i = 0 .. 7.
fn a_rows(row: u32, kk: u32, lane: u32) -> array<f32, 8> {
    let mine = a_at(row + lane % 8u, kk);
    return array<f32, 8>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u), subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u), subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));
}

// a_v4[i0 + i · stride] for i = 0 .. 7.
fn a_rows_v4(i0: u32, stride: u32, lane: u32) -> array<vec4<f32>, 8> {
    let mine = a_v4[i0 + lane % 8u * stride];
    return array<vec4<f32>, 8>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u), subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u), subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));
}

// a_v4[i0 + i / 2 · stride + i % 2] for i = 0 .. 7: two vec4s at each of
// four steps of k (steps past the end of A are loaded and not used).
fn a_steps_v4(i0: u32, stride: u32, lane: u32) -> array<vec4<f32>, 8> {
    let i = lane % 8u;
    let mine = a_v4[i0 + i / 2u * stride + i % 2u];
    return array<vec4<f32>, 8>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u), subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u), subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));
}
