//! Fused GAN losses (shaders/loss.wgsl): the mean loss, D's mean output on
//! the real and the fake part, and the gradient of the logits, in one
//! dispatch.

use bytemuck::{Pod, Zeroable};

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::{Access, Entry, Kernel};
use crate::shaders;
use crate::tensor::Tensor;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Binary cross-entropy on logits (the classic GAN).
    Bce,
    /// Least squares (LSGAN): ½ (x − y)².
    #[value(name = "lsgan")]
    #[serde(rename = "lsgan")]
    LeastSquares,
    /// Hinge, the discriminator's side: max(0, 1 − x) or max(0, 1 + x).
    Hinge,
    /// Linear: −x for label 1, x for label 0 (the hinge generator loss).
    Linear,
}

impl LossKind {
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
/// of `out`.
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

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
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
    _pad: [u32; 3],
}

const BINDINGS: &[(u32, Access)] = &[
    (1, Access::Read),
    (2, Access::ReadWrite),
    (3, Access::ReadWrite),
    (4, Access::Read),
];

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
    let entry = Entry::new("loss.wgsl", shaders::LOSS, "main", BINDINGS)
        .with("KIND", format!("{}u", spec.kind.code()));
    let p = Params {
        n: expect_u32(OP, "n", n)?,
        split: spec.split as u32,
        out_base: expect_u32(OP, "base", at.base)?,
        ring: expect_u32(OP, "ring", at.ring)?,
        stride: expect_u32(OP, "stride", at.stride)?,
        counter_slot: at.slot as u32,
        label_a: spec.label_real,
        label_b: spec.label_fake,
        grad_scale: spec.grad_scale,
        _pad: [0; 3],
    };
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[logits, dlogits, out, at.counters],
        [1, 1, 1],
    )
}
