// Softmax over the C classes of each of n rows of logits, and the fused
// cross-entropy loss with its gradient, for the digit classifier.
//
//   p_ij = exp(x_ij - max_j x_ij) / Σ_k exp(x_ik - max_j x_ij)
//   l_i  = log Σ_k exp(x_ik) - x_iy = (m - x_iy) + log Σ_k exp(x_ik - m)
//   dl_i/dx_ij = p_ij - [j = y_i]
//
// Labels are class numbers stored as f32 (exact below 2^24), so a batch's
// labels are gathered by the same kernel as its samples.
//
// `probs`: forward only, one invocation per row.
// `cross_entropy`: one workgroup; dlogits = grad_scale · dl/dx / n, the
// gradient of grad_scale · mean(l); out[0] = mean loss, out[1] = accuracy
// (the fraction of rows whose largest logit, the first on ties, is the
// label), both through a fixed reduction tree.
const WG: u32 = 256u;

struct Params {
    n: u32,
    classes: u32,
    grad_scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs_out: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> part_loss: array<f32, WG>;
var<workgroup> part_hit: array<f32, WG>;

// (max, index of the first max, Σ exp(x - max) over the other classes) of
// row i: the row's Σ exp(x - max) is 1 + the last, whose log is taken by
// log1p so that a confident row's small loss keeps its digits.
fn row_stats(i: u32) -> vec3<f32> {
    let base = i * p.classes;
    var m = logits[base];
    var arg = 0u;
    for (var j = 1u; j < p.classes; j++) {
        let v = logits[base + j];
        if v > m {
            m = v;
            arg = j;
        }
    }
    var rest = 0.0;
    for (var j = 0u; j < p.classes; j++) {
        if j != arg {
            rest += exp(logits[base + j] - m);
        }
    }
    return vec3<f32>(m, f32(arg), rest);
}

@compute @workgroup_size(WG)
fn probs(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i >= p.n {
        return;
    }
    let st = row_stats(i);
    let base = i * p.classes;
    for (var j = 0u; j < p.classes; j++) {
        probs_out[base + j] = exp(logits[base + j] - st.x) / (1.0 + st.z);
    }
}

@compute @workgroup_size(WG)
fn cross_entropy(@builtin(local_invocation_index) lid: u32) {
    let inv_n = 1.0 / f32(p.n);
    var l = 0.0;
    var hits = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        let st = row_stats(i);
        // A label past the classes (never in the data) counts as the last.
        let y = min(u32(labels[i]), p.classes - 1u);
        let base = i * p.classes;
        l += (st.x - logits[base + y]) + log1p(st.z);
        hits += select(0.0, 1.0, u32(st.y) == y);
        for (var j = 0u; j < p.classes; j++) {
            let q = exp(logits[base + j] - st.x) / (1.0 + st.z);
            dlogits[base + j] = p.grad_scale * (q - select(0.0, 1.0, j == y)) * inv_n;
        }
    }
    part_loss[lid] = l;
    part_hit[lid] = hits;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if lid < half {
            part_loss[lid] += part_loss[lid + half];
            part_hit[lid] += part_hit[lid + half];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        out[0] = part_loss[0] * inv_n;
        out[1] = part_hit[0] / f32(p.n);
    }
}
