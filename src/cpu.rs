//! Plain CPU references of every kernel, in f64, written for clarity, not
//! speed. Tests compare the GPU against these, and the finite-difference
//! checks differentiate the forward functions here.

use crate::ops::adam::Adam;
use crate::ops::concat::Block;
use crate::ops::loss::LossKind;
use crate::ops::matmul::{Activation, Form};

/// op(A) · op(B) for a [`Form`]; A, B row-major as the shader stores them.
pub fn matmul(form: Form, m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f64> {
    let at = |i: usize, p: usize| match form {
        Form::TN => a[p * m + i] as f64,
        _ => a[i * k + p] as f64,
    };
    let bt = |p: usize, j: usize| match form {
        Form::NT => b[j * k + p] as f64,
        _ => b[p * n + j] as f64,
    };
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
        }
    }
    c
}

pub fn activate(act: Activation, x: f64) -> f64 {
    match act {
        Activation::None => x,
        Activation::LeakyRelu(s) => {
            if x > 0.0 {
                x
            } else {
                x * s as f64
            }
        }
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
    }
}

/// f'(x) expressed through y = f(x), as the backward kernels compute it.
pub fn activation_grad_from_output(act: Activation, y: f64) -> f64 {
    match act {
        Activation::None => 1.0,
        Activation::LeakyRelu(s) => {
            if y > 0.0 {
                1.0
            } else {
                s as f64
            }
        }
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
    }
}

/// The matmul kernel's whole computation: act(op(A)·op(B) (+ C) (+ bias)).
#[allow(clippy::too_many_arguments)]
pub fn matmul_fused(
    form: Form,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    c_old: Option<&[f32]>,
    act: Activation,
) -> Vec<f64> {
    let mut c = matmul(form, m, n, k, a, b);
    for i in 0..m {
        for j in 0..n {
            let v = &mut c[i * n + j];
            if let Some(old) = c_old {
                *v += old[i * n + j] as f64;
            }
            if let Some(bias) = bias {
                *v += bias[j] as f64;
            }
            *v = activate(act, *v);
        }
    }
    c
}

/// Σ over rows of a row-major [rows, cols] matrix, times scale.
pub fn column_sum(rows: usize, cols: usize, scale: f64, x: &[f32]) -> Vec<f64> {
    (0..cols)
        .map(|c| scale * (0..rows).map(|r| x[r * cols + c] as f64).sum::<f64>())
        .collect()
}

/// The outputs of a training-mode batch-norm forward pass.
pub struct BatchNormTrain {
    pub y: Vec<f64>,
    pub mean: Vec<f64>,
    pub inv_std: Vec<f64>,
    pub running_mean: Vec<f64>,
    pub running_var: Vec<f64>,
}

#[allow(clippy::too_many_arguments)]
pub fn batchnorm_train(
    rows: usize,
    cols: usize,
    eps: f64,
    momentum: f64,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
) -> BatchNormTrain {
    let n = rows as f64;
    let mut out = BatchNormTrain {
        y: vec![0.0; rows * cols],
        mean: vec![0.0; cols],
        inv_std: vec![0.0; cols],
        running_mean: vec![0.0; cols],
        running_var: vec![0.0; cols],
    };
    for c in 0..cols {
        let col = || (0..rows).map(|r| x[r * cols + c] as f64);
        let mean = col().sum::<f64>() / n;
        let var = col().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv_std = 1.0 / (var + eps).sqrt();
        for r in 0..rows {
            out.y[r * cols + c] =
                (x[r * cols + c] as f64 - mean) * inv_std * gamma[c] as f64 + beta[c] as f64;
        }
        out.mean[c] = mean;
        out.inv_std[c] = inv_std;
        out.running_mean[c] = (1.0 - momentum) * running_mean[c] as f64 + momentum * mean;
        out.running_var[c] =
            (1.0 - momentum) * running_var[c] as f64 + momentum * var * n / (n - 1.0).max(1.0);
    }
    out
}

pub fn batchnorm_eval(
    cols: usize,
    eps: f64,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i % cols;
            (v as f64 - running_mean[c] as f64) / (running_var[c] as f64 + eps).sqrt()
                * gamma[c] as f64
                + beta[c] as f64
        })
        .collect()
}

/// (dx, dγ, dβ) of the training-mode forward pass, by the closed form.
pub fn batchnorm_backward(
    rows: usize,
    cols: usize,
    eps: f64,
    x: &[f32],
    gamma: &[f32],
    dy: &[f32],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = rows as f64;
    let mut dx = vec![0.0; rows * cols];
    let mut dgamma = vec![0.0; cols];
    let mut dbeta = vec![0.0; cols];
    for c in 0..cols {
        let mean = (0..rows).map(|r| x[r * cols + c] as f64).sum::<f64>() / n;
        let var = (0..rows)
            .map(|r| (x[r * cols + c] as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        let inv_std = 1.0 / (var + eps).sqrt();
        let xhat = |r: usize| (x[r * cols + c] as f64 - mean) * inv_std;
        let db: f64 = (0..rows).map(|r| dy[r * cols + c] as f64).sum();
        let dg: f64 = (0..rows).map(|r| dy[r * cols + c] as f64 * xhat(r)).sum();
        for r in 0..rows {
            dx[r * cols + c] =
                gamma[c] as f64 * inv_std / n * (n * dy[r * cols + c] as f64 - db - xhat(r) * dg);
        }
        dgamma[c] = dg;
        dbeta[c] = db;
    }
    (dx, dgamma, dbeta)
}

/// (loss, dloss/dx) of one logit; see shaders/loss.wgsl.
pub fn loss_and_grad(kind: LossKind, x: f64, y: f64) -> (f64, f64) {
    let sigmoid = 1.0 / (1.0 + (-x).exp());
    match kind {
        LossKind::Bce => (x.max(0.0) - x * y + (-x.abs()).exp().ln_1p(), sigmoid - y),
        LossKind::LeastSquares => (0.5 * (x - y) * (x - y), x - y),
        LossKind::Hinge => {
            if y >= 0.5 {
                if x < 1.0 { (1.0 - x, -1.0) } else { (0.0, 0.0) }
            } else if x > -1.0 {
                (1.0 + x, 1.0)
            } else {
                (0.0, 0.0)
            }
        }
        LossKind::Linear => {
            if y >= 0.5 {
                (-x, -1.0)
            } else {
                (x, 1.0)
            }
        }
    }
}

/// What the fused loss kernel computes.
pub struct LossOut {
    pub loss: f64,
    /// Mean sigmoid of logits [0, split).
    pub prob_real: f64,
    /// Mean sigmoid of logits [split, n), 0 if there are none.
    pub prob_fake: f64,
    pub dlogits: Vec<f64>,
}

/// The fused loss: logits [0, split) against label_real, the rest against
/// label_fake; dlogits is the gradient of grad_scale · mean(loss).
pub fn loss(
    kind: LossKind,
    label_real: f64,
    label_fake: f64,
    split: usize,
    grad_scale: f64,
    logits: &[f32],
) -> LossOut {
    let n = logits.len() as f64;
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let mut total = 0.0;
    let mut dlogits = Vec::with_capacity(logits.len());
    for (i, &x) in logits.iter().enumerate() {
        let y = if i < split { label_real } else { label_fake };
        let (l, g) = loss_and_grad(kind, x as f64, y);
        total += l;
        dlogits.push(grad_scale * g / n);
    }
    let mean = |v: &[f32]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().map(|&x| sigmoid(x as f64)).sum::<f64>() / v.len() as f64
        }
    };
    LossOut {
        loss: total / n,
        prob_real: mean(&logits[..split]),
        prob_fake: mean(&logits[split..]),
        dlogits,
    }
}

/// Softmax over each row of `classes` logits.
pub fn softmax(logits: &[f32], classes: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks_exact(classes) {
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
        let s: f64 = row.iter().map(|&x| (x as f64 - m).exp()).sum();
        out.extend(row.iter().map(|&x| (x as f64 - m).exp() / s));
    }
    out
}

/// What the fused cross-entropy kernel computes.
pub struct CrossEntropyOut {
    pub loss: f64,
    /// Fraction of rows whose first largest logit is the label.
    pub accuracy: f64,
    pub dlogits: Vec<f64>,
}

/// Mean softmax cross-entropy against `labels`; dlogits is the gradient of
/// grad_scale · mean loss.
pub fn cross_entropy(
    logits: &[f32],
    classes: usize,
    labels: &[usize],
    grad_scale: f64,
) -> CrossEntropyOut {
    let n = labels.len() as f64;
    let p = softmax(logits, classes);
    let (mut loss, mut hits) = (0.0, 0.0);
    let mut dlogits = Vec::with_capacity(logits.len());
    for (i, &y) in labels.iter().enumerate() {
        let row = &p[i * classes..(i + 1) * classes];
        let x = &logits[i * classes..(i + 1) * classes];
        // log Σ exp(x) - x_y, never the log of an underflowed probability.
        let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let s: f64 = x.iter().map(|&v| (v as f64 - m).exp()).sum();
        loss += m + s.ln() - x[y] as f64;
        let arg = (0..classes).fold(0, |a, j| if x[j] > x[a] { j } else { a });
        hits += (arg == y) as u8 as f64;
        dlogits.extend((0..classes).map(|j| grad_scale * (row[j] - (j == y) as u8 as f64) / n));
    }
    CrossEntropyOut {
        loss: loss / n,
        accuracy: hits / n,
        dlogits,
    }
}

/// One Adam step at 1-based step t, in place, as torch.optim.Adam.
pub fn adam(cfg: &Adam, t: u32, param: &mut [f64], grad: &[f64], m: &mut [f64], v: &mut [f64]) {
    let (b1, b2) = (cfg.beta1 as f64, cfg.beta2 as f64);
    let bc1 = 1.0 - b1.powi(t as i32);
    let bc2 = 1.0 - b2.powi(t as i32);
    let lr = cfg.lr as f64 * cfg.decay.factor(t) as f64;
    for i in 0..param.len() {
        let g = grad[i] + cfg.weight_decay as f64 * param[i];
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        param[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + cfg.eps as f64);
    }
}

/// Philox4x32-10 (Salmon et al. 2011).
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for _ in 0..10 {
        let p0 = 0xD251_1F53u64 * c[0] as u64;
        let p1 = 0xCD9E_8D57u64 * c[2] as u64;
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [
            k[0].wrapping_add(0x9E37_79B9),
            k[1].wrapping_add(0xBB67_AE85),
        ];
    }
    c
}

/// The four words of invocation j of a draw.
pub fn draw(seed: u64, stream: u32, counter: u32, j: u32) -> [u32; 4] {
    philox4x32_10([j, stream, counter, 0], [seed as u32, (seed >> 32) as u32])
}

fn unit(w: u32) -> f64 {
    (w >> 8) as f64 / 16_777_216.0
}

/// The first n values of a normal draw, as random.wgsl computes them.
pub fn normal(seed: u64, stream: u32, counter: u32, mean: f64, std: f64, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 3);
    for j in 0..n.div_ceil(4) as u32 {
        let w = draw(seed, stream, counter, j);
        for pair in [[w[0], w[1]], [w[2], w[3]]] {
            let u1 = ((pair[0] >> 8) + 1) as f64 / 16_777_216.0;
            let u2 = unit(pair[1]);
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = std::f64::consts::TAU * u2;
            out.push(mean + std * r * theta.cos());
            out.push(mean + std * r * theta.sin());
        }
    }
    out.truncate(n);
    out
}

/// One refinement step (shaders/refine.wgsl): x + rate · grad + noise.
pub fn ascend(rate: f64, x: &[f64], grad: &[f64], noise: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(grad)
        .zip(noise)
        .map(|((&x, &g), &e)| x + rate * g + e)
        .collect()
}

/// The first n values of a uniform draw in [lo, hi).
pub fn uniform(seed: u64, stream: u32, counter: u32, lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let w = draw(seed, stream, counter, (i / 4) as u32)[i % 4];
            lo + (hi - lo) * unit(w)
        })
        .collect()
}

/// The first n values of an index draw in [0, range).
pub fn indices(seed: u64, stream: u32, counter: u32, range: u32, n: usize) -> Vec<u32> {
    (0..n)
        .map(|i| {
            let w = draw(seed, stream, counter, (i / 4) as u32)[i % 4];
            ((w as u64 * range as u64) >> 32) as u32
        })
        .collect()
}

/// A batch of rows of a u8 data set mapped to [-1, 1].
pub fn gather(data: &[u8], features: usize, indices: &[u32]) -> Vec<f64> {
    indices
        .iter()
        .flat_map(|&i| {
            let row = &data[i as usize * features..(i as usize + 1) * features];
            row.iter().map(|&b| b as f64 / 127.5 - 1.0)
        })
        .collect()
}

/// Row r of block `to` of `out` becomes the one-hot code of class
/// table[indices[r]] (zeros for a class of `classes` or more).
pub fn one_hot(table: &[u32], indices: &[u32], classes: usize, out: &mut [f64], to: Block) {
    for (r, &i) in indices.iter().enumerate() {
        for c in 0..classes {
            out[to.at(r, c)] = if table[i as usize] as usize == c {
                1.0
            } else {
                0.0
            };
        }
    }
}

/// Copies `rows` × `width` values from block `from` of `src` to block `to`
/// of `out`.
pub fn columns(src: &[f64], from: Block, out: &mut [f64], to: Block, rows: usize, width: usize) {
    for r in 0..rows {
        for c in 0..width {
            out[to.at(r, c)] = src[from.at(r, c)];
        }
    }
}

/// What a CPU forward pass keeps for its backward pass.
pub struct MlpCache {
    /// The input of every layer, then the output.
    pub values: Vec<Vec<f64>>,
    /// Per batch-norm layer: (x̂, 1/std) of the batch.
    pub norm: Vec<Option<(Vec<f64>, Vec<f64>)>>,
}

/// The parameters of a sequential model in [`crate::model::Net`]'s order
/// (per layer with parameters: weight, then bias), and its running
/// statistics per batch-norm layer.
#[derive(Clone, Debug)]
pub struct MlpState {
    pub params: Vec<Vec<f64>>,
    pub running: Vec<Option<(Vec<f64>, Vec<f64>)>>,
}

fn first_params(layers: &[crate::model::Layer]) -> Vec<usize> {
    let mut next = 0;
    layers
        .iter()
        .map(|l| {
            let first = next;
            next += l.params().len();
            first
        })
        .collect()
}

/// A sequential model's forward pass on `batch` rows: Linear, batch norm
/// (training: the batch's statistics, momentum 0.1 update of the running
/// ones if `update_running`), LeakyReLU, tanh, sigmoid.
pub fn mlp_forward(
    layers: &[crate::model::Layer],
    state: &mut MlpState,
    x: &[f64],
    batch: usize,
    update_running: bool,
) -> MlpCache {
    use crate::model::Layer;
    let firsts = first_params(layers);
    let mut values = vec![x.to_vec()];
    let mut norm = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let x = values.last().unwrap();
        let p = firsts[i];
        let mut n_entry = None;
        let y = match *layer {
            Layer::Linear { inputs, outputs } => {
                let (w, b) = (&state.params[p], &state.params[p + 1]);
                let mut y = vec![0.0; batch * outputs];
                for r in 0..batch {
                    for o in 0..outputs {
                        y[r * outputs + o] = b[o]
                            + (0..inputs)
                                .map(|k| x[r * inputs + k] * w[o * inputs + k])
                                .sum::<f64>();
                    }
                }
                y
            }
            Layer::BatchNorm { features: f } => {
                let n = batch as f64;
                let mut xhat = vec![0.0; batch * f];
                let mut inv = vec![0.0; f];
                let mut y = vec![0.0; batch * f];
                for c in 0..f {
                    let mean = (0..batch).map(|r| x[r * f + c]).sum::<f64>() / n;
                    let var = (0..batch)
                        .map(|r| (x[r * f + c] - mean).powi(2))
                        .sum::<f64>()
                        / n;
                    inv[c] = 1.0 / (var + 1e-5).sqrt();
                    for r in 0..batch {
                        xhat[r * f + c] = (x[r * f + c] - mean) * inv[c];
                        y[r * f + c] =
                            state.params[p][c] * xhat[r * f + c] + state.params[p + 1][c];
                    }
                    if update_running {
                        let (rm, rv) = state.running[i].as_mut().expect("batch norm statistics");
                        rm[c] = 0.9 * rm[c] + 0.1 * mean;
                        rv[c] = 0.9 * rv[c] + 0.1 * var * n / (n - 1.0).max(1.0);
                    }
                }
                n_entry = Some((xhat, inv));
                y
            }
            _ => {
                let act = layer.activation().expect("an activation");
                x.iter().map(|&v| activate(act, v)).collect()
            }
        };
        norm.push(n_entry);
        values.push(y);
    }
    MlpCache { values, norm }
}

/// The backward pass of [`mlp_forward`] from the output's gradient: the
/// parameter gradients (in the state's order) and the input's gradient.
pub fn mlp_backward(
    layers: &[crate::model::Layer],
    state: &MlpState,
    cache: &MlpCache,
    d_output: &[f64],
    batch: usize,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    use crate::model::Layer;
    let firsts = first_params(layers);
    let mut grads: Vec<Vec<f64>> = state.params.iter().map(|p| vec![0.0; p.len()]).collect();
    let mut dy = d_output.to_vec();
    for (i, layer) in layers.iter().enumerate().rev() {
        let x = &cache.values[i];
        let y = &cache.values[i + 1];
        let p = firsts[i];
        dy = match *layer {
            Layer::Linear { inputs, outputs } => {
                let w = &state.params[p];
                let mut dx = vec![0.0; batch * inputs];
                for r in 0..batch {
                    for o in 0..outputs {
                        let g = dy[r * outputs + o];
                        grads[p + 1][o] += g;
                        for k in 0..inputs {
                            grads[p][o * inputs + k] += g * x[r * inputs + k];
                            dx[r * inputs + k] += g * w[o * inputs + k];
                        }
                    }
                }
                dx
            }
            Layer::BatchNorm { features: f } => {
                let (xhat, inv) = cache.norm[i].as_ref().expect("batch norm cache");
                let n = batch as f64;
                let mut dx = vec![0.0; batch * f];
                for c in 0..f {
                    let db: f64 = (0..batch).map(|r| dy[r * f + c]).sum();
                    let dg: f64 = (0..batch).map(|r| dy[r * f + c] * xhat[r * f + c]).sum();
                    grads[p][c] = dg;
                    grads[p + 1][c] = db;
                    for r in 0..batch {
                        dx[r * f + c] = state.params[p][c] * inv[c] / n
                            * (n * dy[r * f + c] - db - xhat[r * f + c] * dg);
                    }
                }
                dx
            }
            _ => {
                let act = layer.activation().expect("an activation");
                dy.iter()
                    .zip(y)
                    .map(|(&d, &yv)| d * activation_grad_from_output(act, yv))
                    .collect()
            }
        };
    }
    (grads, dy)
}
