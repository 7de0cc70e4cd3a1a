// The CPU adapters' entry points of matmul.wgsl where the adapter has no
// subgroups (or the caller asks for none): every thread of a workgroup
// loads the 8 rows of A it shares with the others itself. `lane` is unused.

@compute @workgroup_size(WX, 1, 1)
fn main_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    rows(wg, lid, 0u);
}

@compute @workgroup_size(WX, 1, 1)
fn main_rows_conv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    rows_conv(wg, lid, 0u);
}

@compute @workgroup_size(WX, 1, 1)
fn main_rows_nt4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    rows_nt4(wg, lid, 0u);
}

@compute @workgroup_size(WX, 1, 1)
fn main_rows_nn4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    rows_nn4(wg, lid, 0u);
}

@compute @workgroup_size(WX, 1, 1)
fn main_rows_tn4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    rows_tn4(wg, lid, 0u);
}

// op(A)[row + i, kk] for i = 0 .. 7.
fn a_rows(row: u32, kk: u32, lane: u32) -> array<f32, 8> {
    return array<f32, 8>(a_at(row, kk), a_at(row + 1u, kk), a_at(row + 2u, kk), a_at(row + 3u, kk), a_at(row + 4u, kk), a_at(row + 5u, kk), a_at(row + 6u, kk), a_at(row + 7u, kk));
}

// a_v4[i0 + i · stride] for i = 0 .. 7.
fn a_rows_v4(i0: u32, stride: u32, lane: u32) -> array<vec4<f32>, 8> {
    return array<vec4<f32>, 8>(a_v4[i0], a_v4[i0 + stride], a_v4[i0 + 2u * stride], a_v4[i0 + 3u * stride], a_v4[i0 + 4u * stride], a_v4[i0 + 5u * stride], a_v4[i0 + 6u * stride], a_v4[i0 + 7u * stride]);
}

// a_v4[i0 + i / 2 · stride + i % 2] for i = 0 .. 7: two vec4s at each of
// four steps of k (steps past the end of A are loaded and not used).
fn a_steps_v4(i0: u32, stride: u32, lane: u32) -> array<vec4<f32>, 8> {
    return array<vec4<f32>, 8>(a_v4[i0], a_v4[i0 + 1u], a_v4[i0 + stride], a_v4[i0 + stride + 1u], a_v4[i0 + 2u * stride], a_v4[i0 + 2u * stride + 1u], a_v4[i0 + 3u * stride], a_v4[i0 + 3u * stride + 1u]);
}
