//! Fused GAN losses (loss.wgsl): the mean loss, the mean sigmoid of the
//! logits of each part, and the gradient of the logits, in one dispatch.

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("loss.wgsl");

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Binary cross-entropy on logits (the classic GAN).
    Bce,
    /// Least squares (LSGAN): ½ (x − y)².
    #[serde(rename = "lsgan")]
    LeastSquares,
    /// Hinge, the discriminator's side: max(0, 1 − x) or max(0, 1 + x).
    Hinge,
    /// Linear: −x for label 1, x for label 0 (the hinge generator loss).
    Linear,
}

impl LossKind {
    /// The names the command line takes for the losses a GAN is trained
    /// with (Linear is hinge's generator side).
    pub const NAMES: [&'static str; 3] = ["bce", "lsgan", "hinge"];

    pub(crate) fn code(self) -> u32 {
        match self {
            LossKind::Bce => 0,
            LossKind::LeastSquares => 1,
            LossKind::Hinge => 2,
            LossKind::Linear => 3,
        }
    }
}

/// A loss over n logits: the first `split` against `label_real`, the rest
/// against `label_fake`.
#[derive(Clone, Copy, Debug)]
pub struct Loss {
    pub kind: LossKind,
    /// Target of logits [0, split): 1 for real; smoothed labels (0.9) work
    /// with BCE and LSGAN.
    pub label_real: f32,
    /// Target of logits [split, n): 0 for fake.
    pub label_fake: f32,
    pub split: usize,
    /// The gradient written is that of grad_scale · mean(loss).
    pub grad_scale: f32,
}

impl Loss {
    /// Every logit against one label.
    pub fn uniform(kind: LossKind, label: f32, n: usize) -> Loss {
        Loss {
            kind,
            label_real: label,
            label_fake: label,
            split: n,
            grad_scale: 1.0,
        }
    }
}

/// Where the three means go: row `base + (counters[slot] % ring) · stride`
/// of `out`, so that a program run again and again (a training step, with
/// its step number in counters[slot]) writes a ring of rows that the host
/// reads now and then.
#[derive(Clone, Copy, Debug)]
pub struct OutRow<'a> {
    pub counters: &'a Tensor,
    pub slot: usize,
    pub ring: usize,
    pub stride: usize,
    pub base: usize,
}

impl<'a> OutRow<'a> {
    /// Always out[base..base + 3].
    pub fn fixed(counters: &'a Tensor, base: usize) -> Self {
        OutRow {
            counters,
            slot: 0,
            ring: 1,
            stride: 0,
            base,
        }
    }
}

/// Writes dlogits and, in the row `at` names, the mean loss, the mean
/// sigmoid of the real part and that of the fake part.
pub fn loss(
    gpu: &Gpu,
    spec: &Loss,
    logits: &Tensor,
    dlogits: &Tensor,
    out: &Tensor,
    at: &OutRow<'_>,
) -> Result<Kernel> {
    const OP: &str = "loss";
    let n = logits.len();
    if n == 0 {
        return Err(Error::shape(OP, "no logits"));
    }
    if spec.split > n {
        return Err(Error::shape(
            OP,
            format!("split {} is past the {n} logits", spec.split),
        ));
    }
    expect_len(OP, "dlogits", dlogits, n)?;
    if at.ring == 0 || at.base + (at.ring - 1) * at.stride + 3 > out.len() {
        return Err(Error::shape(
            OP,
            format!(
                "out has {} elements; rows of 3 at {} + {} x {} do not fit",
                out.len(),
                at.base,
                at.ring,
                at.stride
            ),
        ));
    }
    if at.slot >= at.counters.len() {
        return Err(Error::shape(
            OP,
            format!("counter slot {} is outside counters", at.slot),
        ));
    }
    expect_distinct(
        OP,
        &[("dlogits", dlogits), ("out", out)],
        &[
            ("logits", logits),
            ("dlogits", dlogits),
            ("out", out),
            ("counters", at.counters),
        ],
    )?;
    let entry =
        Entry::new("loss.wgsl", WGSL, "main").with("KIND", format!("{}u", spec.kind.code()));
    let uniforms = [
        ("n", expect_u32(OP, "n", n)?.into()),
        ("split", (spec.split as u32).into()),
        ("out_base", expect_u32(OP, "base", at.base)?.into()),
        ("ring", expect_u32(OP, "ring", at.ring)?.into()),
        ("stride", expect_u32(OP, "stride", at.stride)?.into()),
        ("counter_slot", (at.slot as u32).into()),
        ("label_a", spec.label_real.into()),
        ("label_b", spec.label_fake.into()),
        ("grad_scale", spec.grad_scale.into()),
    ];
    let tensors = [
        ("logits", logits),
        ("dlogits", dlogits),
        ("out", out),
        ("counters", at.counters),
    ];
    gpu.kernel(&entry, &uniforms, &tensors, [1, 1, 1])
}

/// The f64 references.
pub mod reference {
    use super::LossKind;

    /// (loss, dloss/dx) of one logit; see loss.wgsl.
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
}
