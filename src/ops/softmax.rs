//! Softmax and the fused softmax cross-entropy loss with its gradient
//! (softmax.wgsl), for the digit classifier.

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel, Value};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("softmax.wgsl");

/// The number of rows, and the uniform block.
fn uniforms(
    op: &'static str,
    logits: &Tensor,
    classes: usize,
    grad_scale: f32,
) -> Result<(u32, [(&'static str, Value); 3])> {
    if classes == 0 || logits.is_empty() || !logits.len().is_multiple_of(classes) {
        return Err(Error::shape(
            op,
            format!(
                "{} logits are not whole rows of {classes} classes",
                logits.len()
            ),
        ));
    }
    let n = expect_u32(op, "rows", logits.len() / classes)?;
    let values = [
        ("n", n.into()),
        ("classes", (classes as u32).into()),
        ("grad_scale", grad_scale.into()),
    ];
    Ok((n, values))
}

/// probs[i, j] = softmax over the `classes` logits of row i.
pub fn probs(gpu: &Gpu, logits: &Tensor, classes: usize, probs: &Tensor) -> Result<Kernel> {
    const OP: &str = "softmax";
    let (n, uniforms) = uniforms(OP, logits, classes, 1.0)?;
    expect_len(OP, "probs", probs, logits.len())?;
    expect_distinct(
        OP,
        &[("probs", probs)],
        &[("logits", logits), ("probs", probs)],
    )?;
    let entry = Entry::new("softmax.wgsl", WGSL, "probs");
    let tensors = [("logits", logits), ("probs_out", probs)];
    gpu.kernel(&entry, &uniforms, &tensors, gpu.grid(n.div_ceil(256)))
}

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
    let (n, uniforms) = uniforms(OP, logits, classes, grad_scale)?;
    expect_len(OP, "labels", labels, n as usize)?;
    expect_len(OP, "dlogits", dlogits, logits.len())?;
    if out.len() < 2 {
        return Err(Error::shape(OP, "out needs 2 elements (loss, accuracy)"));
    }
    let tensors = [
        ("logits", logits),
        ("labels", labels),
        ("dlogits", dlogits),
        ("out", out),
    ];
    expect_distinct(OP, &tensors[2..], &tensors)?;
    let entry = Entry::new("softmax.wgsl", WGSL, "cross_entropy");
    gpu.kernel(&entry, &uniforms, &tensors, [1, 1, 1])
}

/// The f64 references.
pub mod reference {

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
}
