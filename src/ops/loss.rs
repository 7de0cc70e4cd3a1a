//! Fused GAN losses (shaders/loss.wgsl): the mean loss, D's mean output
//! and the gradient of the logits, in one dispatch.

use bytemuck::{Pod, Zeroable};

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::{Access, Entry, Kernel};
use crate::shaders;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LossKind {
    /// Binary cross-entropy on logits (the classic GAN).
    Bce,
    /// Least squares (LSGAN): ½ (x − y)².
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

/// A loss over all logits against one target label.
#[derive(Clone, Copy, Debug)]
pub struct Loss {
    pub kind: LossKind,
    /// 1 for real, 0 for fake; in between for smoothed labels (BCE, LSGAN).
    pub label: f32,
    /// The gradient written is that of grad_scale · mean(loss).
    pub grad_scale: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    out_index: u32,
    label: f32,
    grad_scale: f32,
}

const BINDINGS: &[(u32, Access)] = &[
    (1, Access::Read),
    (2, Access::ReadWrite),
    (3, Access::ReadWrite),
];

/// Writes dlogits, out[index] = mean loss and out[index + 1] = mean
/// sigmoid(logit).
pub fn loss(
    gpu: &Gpu,
    spec: &Loss,
    logits: &Tensor,
    dlogits: &Tensor,
    out: &Tensor,
    index: usize,
) -> Result<Kernel> {
    const OP: &str = "loss";
    if logits.is_empty() {
        return Err(Error::shape(OP, "no logits"));
    }
    expect_len(OP, "dlogits", dlogits, logits.len())?;
    if index + 2 > out.len() {
        return Err(Error::shape(
            OP,
            format!("out has {} elements, index {index} needs two", out.len()),
        ));
    }
    expect_distinct(
        OP,
        &[("dlogits", dlogits), ("out", out)],
        &[("logits", logits), ("dlogits", dlogits), ("out", out)],
    )?;
    let entry = Entry::new("loss.wgsl", shaders::LOSS, "main", BINDINGS)
        .with("KIND", format!("{}u", spec.kind.code()));
    let p = Params {
        n: expect_u32(OP, "n", logits.len())?,
        out_index: index as u32,
        label: spec.label,
        grad_scale: spec.grad_scale,
    };
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[logits, dlogits, out],
        [1, 1, 1],
    )
}
