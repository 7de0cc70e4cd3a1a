// Elementwise activations, forward and backward.
//
// Forward:  y = f(x).
// Backward: dx = dy · f'(x), computed from the forward *output* y, which is
// all each of these functions needs:
//   LeakyReLU  f'(x) = 1 if y > 0 else slope   (slope > 0 keeps the sign)
//   tanh       f'(x) = 1 - y²
//   sigmoid    f'(x) = y (1 - y)
//
// Dispatched over a 2-D grid of workgroups so that any length fits the
// per-dimension workgroup limit; `index` flattens it.
const WG: u32 = 256u;

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

fn index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WG + lid;
}

fn sigmoid(v: f32) -> f32 {
    let e = exp(-abs(v));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

@compute @workgroup_size(WG)
fn leaky_relu_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = index(wg, nwg, lid);
    if i < p.n {
        let v = x[i];
        y[i] = select(v * p.slope, v, v > 0.0);
    }
}

@compute @workgroup_size(WG)
fn leaky_relu_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = index(wg, nwg, lid);
    if i < p.n {
        dx[i] = select(dy[i] * p.slope, dy[i], y_in[i] > 0.0);
    }
}

@compute @workgroup_size(WG)
fn tanh_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = index(wg, nwg, lid);
    if i < p.n {
        // Clamped: some drivers return NaN from tanh of large arguments.
        y[i] = tanh(clamp(x[i], -20.0, 20.0));
    }
}

@compute @workgroup_size(WG)
fn tanh_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = index(wg, nwg, lid);
    if i < p.n {
        let t = y_in[i];
        dx[i] = dy[i] * (1.0 - t * t);
    }
}

@compute @workgroup_size(WG)
fn sigmoid_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = index(wg, nwg, lid);
    if i < p.n {
        y[i] = sigmoid(x[i]);
    }
}

@compute @workgroup_size(WG)
fn sigmoid_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = index(wg, nwg, lid);
    if i < p.n {
        let s = y_in[i];
        dx[i] = dy[i] * s * (1.0 - s);
    }
}
