//! Softmax and the fused softmax cross-entropy loss with its gradient
//! (shaders/softmax.wgsl), for the digit classifier.

use bytemuck::{Pod, Zeroable};

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::{Access, Entry, Kernel};
use crate::shaders;
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    classes: u32,
    grad_scale: f32,
    _pad: u32,
}

fn params(op: &'static str, logits: &Tensor, classes: usize, grad_scale: f32) -> Result<Params> {
    if classes == 0 || logits.is_empty() || !logits.len().is_multiple_of(classes) {
        return Err(Error::shape(
            op,
            format!(
                "{} logits are not whole rows of {classes} classes",
                logits.len()
            ),
        ));
    }
    Ok(Params {
        n: expect_u32(op, "rows", logits.len() / classes)?,
        classes: classes as u32,
        grad_scale,
        _pad: 0,
    })
}

const PROBS: &[(u32, Access)] = &[(1, Access::Read), (2, Access::ReadWrite)];

/// probs[i, j] = softmax over the `classes` logits of row i.
pub fn probs(gpu: &Gpu, logits: &Tensor, classes: usize, probs: &Tensor) -> Result<Kernel> {
    const OP: &str = "softmax";
    let p = params(OP, logits, classes, 1.0)?;
    expect_len(OP, "probs", probs, logits.len())?;
    expect_distinct(
        OP,
        &[("probs", probs)],
        &[("logits", logits), ("probs", probs)],
    )?;
    let entry = Entry::new("softmax.wgsl", shaders::SOFTMAX, "probs", PROBS);
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[logits, probs],
        gpu.grid(p.n.div_ceil(256)),
    )
}

const CROSS_ENTROPY: &[(u32, Access)] = &[
    (1, Access::Read),
    (3, Access::Read),
    (4, Access::ReadWrite),
    (5, Access::ReadWrite),
];

/// The mean softmax cross-entropy of n rows of `classes` logits against
/// `labels` (n class numbers as f32, each below `classes`), fused with its
/// backward: dlogits is the gradient of grad_scale · mean loss; out[0] the
/// mean loss, out[1] the accuracy (argmax = label).
pub fn cross_entropy(
    gpu: &Gpu,
    logits: &Tensor,
    classes: usize,
    labels: &Tensor,
    grad_scale: f32,
    dlogits: &Tensor,
    out: &Tensor,
) -> Result<Kernel> {
    const OP: &str = "cross entropy";
    let p = params(OP, logits, classes, grad_scale)?;
    expect_len(OP, "labels", labels, p.n as usize)?;
    expect_len(OP, "dlogits", dlogits, logits.len())?;
    if out.len() < 2 {
        return Err(Error::shape(OP, "out needs 2 elements (loss, accuracy)"));
    }
    expect_distinct(
        OP,
        &[("dlogits", dlogits), ("out", out)],
        &[
            ("logits", logits),
            ("labels", labels),
            ("dlogits", dlogits),
            ("out", out),
        ],
    )?;
    let entry = Entry::new(
        "softmax.wgsl",
        shaders::SOFTMAX,
        "cross_entropy",
        CROSS_ENTROPY,
    );
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[logits, labels, dlogits, out],
        [1, 1, 1],
    )
}
