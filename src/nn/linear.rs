//! Linear: torch.nn.Linear(inputs, outputs), y = x·Wᵀ + b.
//!
//! - shape: [inputs, 1, 1] → [outputs, 1, 1] (a [C, H, W] input is
//!   flattened first by a Flatten layer, as in PyTorch);
//! - parameters: `weight` [outputs, inputs], `bias` [outputs], both
//!   uniform in ±1/√inputs (PyTorch's default; DCGAN's N(0, 0.02) and 0);
//! - forward: one matmul (NT) with the bias and a following activation
//!   fused into its store, reading W from its texture copy where the net
//!   keeps one (as does dX's product);
//! - backward: the fused activation's derivative, then dW = dYᵀ·X (TN),
//!   db = Σ_batch dY and dX = dY·W (NN); it keeps its input and output.

use serde::{Deserialize, Serialize};

use super::{
    At, Forward, Init, Kept, Kernels, LayerKind, Ref, RefBackward, RefForward, RefKept, Shape,
};
use crate::error::Result;
use crate::gpu::kernel::Kernel;
use crate::gpu::tensor::Tensor;
use crate::ops::activation::{self, Activation};
use crate::ops::matmul::{Form, Matmul, matmul, matmul_b_texture, reference};
use crate::ops::reduce;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linear {
    pub inputs: usize,
    pub outputs: usize,
}

impl LayerKind for Linear {
    fn describe(&self) -> String {
        format!("Linear {} -> {}", self.inputs, self.outputs)
    }

    fn output(&self, input: Shape) -> std::result::Result<Shape, String> {
        if input != Shape::flat(self.inputs) {
            return Err(format!("it takes {} features", self.inputs));
        }
        if self.outputs == 0 {
            return Err("it has no outputs".into());
        }
        Ok(Shape::flat(self.outputs))
    }

    fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        vec![
            ("weight", vec![self.outputs, self.inputs]),
            ("bias", vec![self.outputs]),
        ]
    }

    fn init(&self, draw: &Init) -> Vec<Vec<f32>> {
        draw.weight_and_bias(self.inputs, self.outputs * self.inputs, Some(self.outputs))
    }

    fn fuses(&self) -> bool {
        true
    }

    /// W, read by the forward and input-gradient products; a logit
    /// layer's few outputs run the thin kernels, which read no texture.
    fn mirrored(&self) -> Option<(usize, [usize; 2])> {
        self.outputs
            .is_multiple_of(4)
            .then_some((0, [self.outputs, self.inputs]))
    }

    fn forward(&self, at: &At<'_>, x: &Tensor, fused: Activation) -> Result<Forward> {
        let y = at.gpu.zeros(at.batch * self.outputs)?;
        let spec = Matmul::new(Form::NT, at.batch, self.outputs, self.inputs).activation(fused);
        let k = times_weight(at, &spec, x, Some(&at.params[1]), &y)?;
        Ok(Forward::single(y, k))
    }

    fn backward(&self, at: &At, kept: &Kept, dy: &Tensor, dx: Option<&Tensor>) -> Kernels {
        let (gpu, batch) = (at.gpu, at.batch);
        let mut out = Vec::new();
        // The gradient before the fused activation.
        let g = if kept.fused == Activation::None {
            dy.clone()
        } else {
            let g = gpu.zeros(batch * self.outputs)?;
            out.push(activation::backward(gpu, kept.fused, kept.y, dy, &g)?);
            g
        };
        if at.opts.weight_grads {
            let dw = Matmul::new(Form::TN, self.outputs, self.inputs, batch);
            out.push(matmul(gpu, &dw, &g, kept.x, None, &at.grads[0])?);
            out.push(reduce::column_sum(
                gpu,
                batch,
                self.outputs,
                1.0,
                &g,
                &at.grads[1],
            )?);
        }
        if let Some(dx) = dx {
            let spec = Matmul::new(Form::NN, batch, self.inputs, self.outputs);
            out.push(times_weight(at, &spec, &g, None, dx)?);
        }
        Ok(out)
    }

    fn reference_forward(&self, r: &Ref, _: Option<&mut [Vec<f64>]>, x: &[f64]) -> RefForward {
        let (w, b) = (&r.params[0], &r.params[1]);
        let mut y = reference::matmul(Form::NT, r.batch, self.outputs, self.inputs, x, w);
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[i % self.outputs];
        }
        (y, vec![])
    }

    fn reference_backward(&self, r: &Ref, k: &RefKept, dy: &[f64]) -> RefBackward {
        let (b, n, m) = (r.batch, self.inputs, self.outputs);
        let dw = reference::matmul(Form::TN, m, n, b, dy, k.x);
        let db = reduce::reference::column_sum(b, m, 1.0, dy);
        let dx = reference::matmul(Form::NN, b, n, m, dy, &r.params[0]);
        (vec![dw, db], dx)
    }
}

/// A product whose B is the weight W: read from its texture copy where the
/// net keeps one (the same bits).
fn times_weight(
    at: &At,
    spec: &Matmul,
    a: &Tensor,
    bias: Option<&Tensor>,
    out: &Tensor,
) -> Result<Kernel> {
    let w = &at.params[0];
    match &at.mirrors[0] {
        Some(tex) => matmul_b_texture(at.gpu, spec, a, (w, tex), bias, out),
        None => matmul(at.gpu, spec, a, w, bias, out),
    }
}
