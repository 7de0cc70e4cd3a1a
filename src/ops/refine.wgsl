// One step of discriminator-gradient refinement (src/refine.rs): samples
// climb the discriminator's logit, with Langevin noise,
//
//   x ← x + rate · ∂logit/∂x + noise,
//
// the gradient from the discriminator's backward pass, the noise
// (N(0, 2 · rate · temperature)) from random.wgsl. It moves samples, not
// weights: nothing is differentiated through it, so it has no backward.
//
// Dispatched over a 2-D grid of workgroups so that any length fits the
// per-dimension workgroup limit; `index` flattens it.
const WG: u32 = 256u;

struct Params {
    n: u32,
    rate: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> noise: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG)
fn ascend(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i < p.n {
        x[i] = (x[i] + p.rate * grad[i]) + noise[i];
    }
}
