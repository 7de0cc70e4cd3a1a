//! BatchNorm: torch.nn.BatchNorm1d(features) after a Linear, BatchNorm2d
//! after a convolution; eps 1e-5, momentum 0.1.
//!
//! - shape: [F, H, W] → [F, H, W], one statistic per channel over the
//!   batch and the positions; with the pass's `groups` > 1, the batch's
//!   rows in that many groups, each normalised on its own (the real and
//!   the generated half of a discriminator's batch, as PyTorch's two calls
//!   would normalise them);
//! - parameters: `weight` (γ) [F] = 1 (DCGAN's: N(1, 0.02)) and `bias`
//!   (β) [F] = 0; state:
//!   `running_mean` [F] = 0 and `running_var` [F] = 1 (PyTorch also keeps
//!   `num_batches_tracked`, which checkpoints write);
//! - forward, training: normalised by the batch's mean and biased
//!   variance, then scaled and shifted; the running statistics follow
//!   the batch (unbiased variance), except in the frozen variant; it keeps
//!   the batch's mean and 1/std. Eval: by the running statistics;
//! - a following activation is fused into the forward's store, and its
//!   derivative into the backward's reads of dy;
//! - backward (training only): dγ = Σ dy·x̂, dβ = Σ dy and the closed form
//!   of dx, in one dispatch.

use serde::{Deserialize, Serialize};

use super::InitScheme;
use super::{At, Forward, Kept, Kernels, LayerKind, Ref, RefBackward, RefForward, RefKept, Shape};
use crate::error::{Error, Result};
use crate::gpu::tensor::Tensor;
use crate::ops::activation::Activation;
use crate::ops::batchnorm::{self, BatchNorm as Op, reference};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchNorm {
    pub features: usize,
}

impl BatchNorm {
    /// The op on `batch` rows of shape `input` in `groups` groups.
    fn op(&self, batch: usize, input: Shape, groups: usize) -> Op {
        Op::new(batch, self.features)
            .spatial(input.h * input.w)
            .groups(groups.max(1))
    }
}

impl LayerKind for BatchNorm {
    fn describe(&self) -> String {
        format!("BatchNorm {}", self.features)
    }

    fn output(&self, input: Shape) -> std::result::Result<Shape, String> {
        if input.c != self.features {
            return Err(format!("it normalises {} channels", self.features));
        }
        Ok(input)
    }

    fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        vec![
            ("weight", vec![self.features]),
            ("bias", vec![self.features]),
        ]
    }

    fn buffers(&self) -> Vec<(&'static str, Vec<usize>, f32)> {
        vec![
            ("running_mean", vec![self.features], 0.0),
            ("running_var", vec![self.features], 1.0),
        ]
    }

    fn init(&self, draw: &super::Init) -> Vec<Vec<f32>> {
        let gamma = match draw.scheme {
            InitScheme::Pytorch => vec![1.0; self.features],
            InitScheme::Dcgan => draw.normal(0, 1.0, 0.02, self.features),
        };
        vec![gamma, vec![0.0; self.features]]
    }

    fn is_norm(&self) -> bool {
        true
    }

    fn fuses(&self) -> bool {
        true
    }

    fn forward(&self, at: &At<'_>, x: &Tensor, fused: Activation) -> Result<Forward> {
        let (gpu, f) = (at.gpu, self.features);
        let op = self
            .op(at.batch, at.input, at.opts.groups)
            .activation(fused);
        let y = gpu.zeros(op.len())?;
        let (gamma, beta) = (&at.params[0], &at.params[1]);
        let (running_mean, running_var) = (&at.buffers[0], &at.buffers[1]);
        if !at.opts.train {
            let k =
                batchnorm::eval_forward(gpu, &op, x, gamma, beta, running_mean, running_var, &y)?;
            return Ok(Forward::single(y, k));
        }
        let (mean, inv_std) = (gpu.zeros(f * op.groups)?, gpu.zeros(f * op.groups)?);
        let t = batchnorm::TrainForward {
            x,
            gamma,
            beta,
            y: &y,
            saved_mean: &mean,
            saved_inv_std: &inv_std,
            running_mean,
            running_var,
        };
        Ok(Forward {
            kernels: vec![batchnorm::train_forward(gpu, &op, &t, true)?],
            frozen: Some(vec![batchnorm::train_forward(gpu, &op, &t, false)?]),
            y,
            saved: vec![mean, inv_std],
        })
    }

    fn backward(&self, at: &At, kept: &Kept, dy: &Tensor, dx: Option<&Tensor>) -> Kernels {
        if !at.opts.train {
            return Err(Error::shape(
                "model",
                "backward through eval-mode batch norm is not supported",
            ));
        }
        let (gpu, f) = (at.gpu, self.features);
        // The fused activation's derivative is taken as dy is read.
        let op = self
            .op(at.batch, at.input, at.opts.groups)
            .activation(kept.fused);
        // The kernel writes dx, dγ and dβ; what the pass does not want goes
        // to scratch buffers.
        let scratch_dx;
        let dx = match dx {
            Some(t) => t,
            None => {
                scratch_dx = gpu.zeros(op.len())?;
                &scratch_dx
            }
        };
        let scratch;
        let (dgamma, dbeta) = if at.opts.weight_grads {
            (&at.grads[0], &at.grads[1])
        } else {
            scratch = (gpu.zeros(f)?, gpu.zeros(f)?);
            (&scratch.0, &scratch.1)
        };
        let t = batchnorm::Backward {
            x: kept.x,
            gamma: &at.params[0],
            saved_mean: &kept.saved[0],
            saved_inv_std: &kept.saved[1],
            dy,
            dx,
            dgamma,
            dbeta,
            y: Some(kept.y),
        };
        Ok(vec![batchnorm::backward(gpu, &op, &t)?])
    }

    fn reference_forward(
        &self,
        r: &Ref,
        buffers: Option<&mut [Vec<f64>]>,
        x: &[f64],
    ) -> RefForward {
        let op = self.op(r.batch, r.input, r.groups);
        let (gamma, beta) = (&r.params[0], &r.params[1]);
        // Without running statistics to update, any will do.
        let ones = vec![1.0; self.features];
        let (rm, rv) = match &buffers {
            Some(b) => (&b[0], &b[1]),
            None => (&ones, &ones),
        };
        let out = reference::train(&op, x, gamma, beta, rm, rv);
        if let Some(b) = buffers {
            b[0] = out.running_mean;
            b[1] = out.running_var;
        }
        (out.y, vec![])
    }

    fn reference_backward(&self, r: &Ref, k: &RefKept, dy: &[f64]) -> RefBackward {
        let op = self.op(r.batch, r.input, r.groups);
        let (dx, dgamma, dbeta) = reference::backward(&op, k.x, &r.params[0], dy);
        (vec![dgamma, dbeta], dx)
    }
}
