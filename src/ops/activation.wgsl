// Elementwise activations on their own, where they are not fused into a
// matmul: forward y = f(x), backward dx = dy · f'(x) from the forward
// output y (`activate` and `activate_backward` in src/gpu/prelude.wgsl).
//
// Dispatched over a 2-D grid of workgroups so that any length fits the
// per-dimension workgroup limit; `flat_index` flattens it.
const WG: u32 = 256u;
// ACT_LEAKY_RELU (with p.slope), ACT_TANH or ACT_SIGMOID.
const ACT: u32 = 1u;

struct Params {
    n: u32,
    slope: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> y_in: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i < p.n {
        y[i] = activate(x[i], ACT, p.slope);
    }
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i < p.n {
        dx[i] = activate_backward(y_in[i], dy[i], ACT, p.slope);
    }
}

// The same over vec4s (p.n is then the number of vec4s), for lengths that
// are a multiple of 4: a quarter of the memory operations (on lavapipe
// each load is a loop over the lanes), each element computed as above.
@group(0) @binding(6) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> y_in4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> dx4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn forward4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i < p.n {
        y4[i] = activate4(x4[i], ACT, p.slope);
    }
}

@compute @workgroup_size(WG)
fn backward4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i < p.n {
        dx4[i] = activate_backward4(y_in4[i], dy4[i], ACT, p.slope);
    }
}
