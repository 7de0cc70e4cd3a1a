// Adam with bias correction over one flat parameter buffer, the update of
// torch.optim.Adam (weight_decay adds wd · θ to the gradient):
//   m ← β1 m + (1 - β1) g
//   v ← β2 v + (1 - β2) g²
//   θ ← θ - (lr / (1 - β1^t)) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)
// The step number t lives on the GPU (counters[step_slot]), so a recorded
// training step needs no upload: `tick` advances it once per step.
//
// 1 - β^t is computed as -expm1(t · ln β) from ln β, which the host takes
// in f64: in f32, 1 - 0.999 alone keeps only four digits.
const WG: u32 = 256u;

struct Params {
    n: u32,
    step_slot: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    ln_beta1: f32,
    ln_beta2: f32,
    // lr falls linearly from step decay_start to decay_end, to lr · decay_floor.
    decay_start: u32,
    decay_end: u32,
    decay_floor: f32,
}

// The learning rate at step t (Decay::factor on the host).
fn rate(t: u32) -> f32 {
    if p.decay_end <= p.decay_start || t <= p.decay_start {
        return p.lr;
    }
    let left = f32(p.decay_end - min(t, p.decay_end)) / f32(p.decay_end - p.decay_start);
    return p.lr * (p.decay_floor + (1.0 - p.decay_floor) * left);
}

// exp(x) - 1 without cancellation for x ≤ 0: a Taylor series near 0.
fn expm1(x: f32) -> f32 {
    if abs(x) < 0.1 {
        return x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0))))));
    }
    return exp(x) - 1.0;
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;
@group(0) @binding(4) var<storage, read_write> m2: array<f32>;
@group(0) @binding(5) var<storage, read> counters: array<u32>;
@group(0) @binding(6) var<storage, read_write> counters_rw: array<u32>;

// The update of one element (or four at once).
fn update(g_in: vec4<f32>, theta: vec4<f32>, m_in: vec4<f32>, v_in: vec4<f32>, step: u32) -> array<vec4<f32>, 3> {
    let g = g_in + p.weight_decay * theta;
    let m = p.beta1 * m_in + (1.0 - p.beta1) * g;
    let v = p.beta2 * v_in + (1.0 - p.beta2) * g * g;
    let t = f32(step);
    let bc1 = -expm1(t * p.ln_beta1);
    let bc2 = -expm1(t * p.ln_beta2);
    let new_theta = theta - (rate(step) / bc1) * m / (sqrt(v) / sqrt(bc2) + p.eps);
    return array<vec4<f32>, 3>(new_theta, m, v);
}

@compute @workgroup_size(WG)
fn step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i >= p.n {
        return;
    }
    let t = max(counters[p.step_slot], 1u);
    let r = update(vec4<f32>(grad[i]), vec4<f32>(param[i]), vec4<f32>(m1[i]), vec4<f32>(m2[i]), t);
    param[i] = r[0].x;
    m1[i] = r[1].x;
    m2[i] = r[2].x;
}

// The same over vec4s (n is then the number of vec4s): a quarter of the
// memory operations, for buffers whose length is a multiple of 4. Each
// invocation updates two vec4s, i and i + ⌈n/2⌉, loading all eight first:
// lavapipe runs an invocation's setup (its index, the step number's load)
// once for both, about 10% faster there.
@group(0) @binding(7) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> grad4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> m14: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> m24: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn step4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    let half = (p.n + 1u) / 2u;
    if i >= half {
        return;
    }
    let t = max(counters[p.step_slot], 1u);
    // With n odd, the last invocation has no second vec4: it loads its
    // first again and stores nothing more.
    let j = i + half;
    let two = j < p.n;
    let jj = select(i, j, two);
    let g0 = grad4[i];
    let theta0 = param4[i];
    let m0 = m14[i];
    let v0 = m24[i];
    let g1 = grad4[jj];
    let theta1 = param4[jj];
    let m1_ = m14[jj];
    let v1 = m24[jj];
    let r = update(g0, theta0, m0, v0, t);
    let s = update(g1, theta1, m1_, v1, t);
    param4[i] = r[0];
    m14[i] = r[1];
    m24[i] = r[2];
    if two {
        param4[j] = s[0];
        m14[j] = s[1];
        m24[j] = s[2];
    }
}

// counters_rw[step_slot] += 1, by one invocation.
@compute @workgroup_size(1)
fn tick() {
    counters_rw[p.step_slot] += 1u;
}
