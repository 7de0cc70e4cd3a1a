// GAN losses on a vector of n logits, fused: a single workgroup writes
// d(mean loss)/d(logit) for every element and, through a fixed reduction
// tree, the mean loss and the mean of sigmoid(logit) (D's output) of each
// part. Logits [0, split) have the target label_a (real), the rest label_b
// (fake), so a discriminator judges a real and a fake batch in one pass.
//
//   KIND 0, BCE with logits, label y in [0, 1] (smoothed labels welcome):
//     l = max(x, 0) - x·y + log(1 + exp(-|x|))   (never overflows)
//     dl/dx = sigmoid(x) - y = (1 - y)·sigmoid(x) - y·sigmoid(-x)
//   KIND 1, least squares (LSGAN):  l = ½ (x - y)²,  dl/dx = x - y
//   KIND 2, hinge (discriminator):  y ≥ ½: l = max(0, 1 - x); else max(0, 1 + x)
//   KIND 3, linear (hinge generator, WGAN): y ≥ ½: l = -x; else l = x
//
// dlogits[i] = grad_scale · dl/dx(x_i) / n: the gradient of
// grad_scale · mean(l). The three means go to out[row], out[row + 1] (real
// part) and out[row + 2] (fake part, 0 if empty), where
// row = out_base + (counters[counter_slot] % ring) · stride: a training
// step writes its own row of a ring that the host reads now and then.
const WG: u32 = 256u;
const KIND: u32 = 0u;

struct Params {
    n: u32,
    split: u32,
    out_base: u32,
    ring: u32,
    stride: u32,
    counter_slot: u32,
    label_a: f32,
    label_b: f32,
    grad_scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> counters: array<u32>;

var<workgroup> part_loss: array<f32, WG>;
var<workgroup> part_a: array<f32, WG>;
var<workgroup> part_b: array<f32, WG>;

// (loss, dloss/dx) of one logit v with target y.
fn loss_and_grad(v: f32, y: f32) -> vec2<f32> {
    switch KIND {
        case 1u: {
            let d = v - y;
            return vec2<f32>(0.5 * d * d, d);
        }
        case 2u: {
            if y >= 0.5 {
                return select(vec2<f32>(0.0, 0.0), vec2<f32>(1.0 - v, -1.0), v < 1.0);
            }
            return select(vec2<f32>(0.0, 0.0), vec2<f32>(1.0 + v, 1.0), v > -1.0);
        }
        case 3u: {
            return select(vec2<f32>(v, 1.0), vec2<f32>(-v, -1.0), y >= 0.5);
        }
        default: {
            let l = max(v, 0.0) - v * y + log1p(exp(-abs(v)));
            // sigmoid(v) - y, written so that neither label cancels digits.
            return vec2<f32>(l, (1.0 - y) * sigmoid(v) - y * sigmoid(-v));
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    let inv_n = 1.0 / f32(p.n);
    var l = 0.0;
    var pa = 0.0;
    var pb = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        let v = logits[i];
        let real = i < p.split;
        let lg = loss_and_grad(v, select(p.label_b, p.label_a, real));
        l += lg.x;
        if real {
            pa += sigmoid(v);
        } else {
            pb += sigmoid(v);
        }
        dlogits[i] = p.grad_scale * lg.y * inv_n;
    }
    part_loss[lid] = l;
    part_a[lid] = pa;
    part_b[lid] = pb;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if lid < half {
            part_loss[lid] += part_loss[lid + half];
            part_a[lid] += part_a[lid + half];
            part_b[lid] += part_b[lid + half];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        let row = p.out_base + (counters[p.counter_slot] % p.ring) * p.stride;
        let n_b = p.n - p.split;
        out[row] = part_loss[0] * inv_n;
        out[row + 1u] = select(0.0, part_a[0] / f32(p.split), p.split > 0u);
        out[row + 2u] = select(0.0, part_b[0] / f32(n_b), n_b > 0u);
    }
}
