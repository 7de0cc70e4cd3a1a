//! The activations: torch.nn.LeakyReLU(slope), ReLU, Tanh and Sigmoid.
//!
//! - shape: any, unchanged; no parameters;
//! - forward: fused into the store of the layer before where that one
//!   [fuses](super::LayerKind::fuses) (the pass then records nothing for
//!   this layer), else one elementwise dispatch;
//! - backward: dx = dy · f'(x) from the output y, which it keeps.

use serde::{Deserialize, Serialize};

use super::{At, Forward, Kept, Kernels, LayerKind, Ref, RefBackward, RefForward, RefKept, Shape};
use crate::error::Result;
use crate::gpu::tensor::Tensor;
use crate::ops::activation::{self, Activation, reference};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakyRelu {
    pub slope: f32,
}

/// ReLU, computed as LeakyReLU with slope 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relu;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tanh;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sigmoid;

/// What every activation layer does, given its function.
trait Elementwise {
    fn function(&self) -> Activation;
}

impl Elementwise for LeakyRelu {
    fn function(&self) -> Activation {
        Activation::LeakyRelu(self.slope)
    }
}

impl Elementwise for Relu {
    fn function(&self) -> Activation {
        Activation::LeakyRelu(0.0)
    }
}

impl Elementwise for Tanh {
    fn function(&self) -> Activation {
        Activation::Tanh
    }
}

impl Elementwise for Sigmoid {
    fn function(&self) -> Activation {
        Activation::Sigmoid
    }
}

impl<T: Elementwise> LayerKind for T {
    fn describe(&self) -> String {
        format!("{:?}", self.function())
    }

    fn output(&self, input: Shape) -> std::result::Result<Shape, String> {
        Ok(input)
    }

    fn activation(&self) -> Option<Activation> {
        Some(self.function())
    }

    fn forward(&self, at: &At<'_>, x: &Tensor, _: Activation) -> Result<Forward> {
        let y = at.gpu.zeros(x.len())?;
        let k = activation::forward(at.gpu, self.function(), x, &y)?;
        Ok(Forward::single(y, k))
    }

    fn backward(&self, at: &At, kept: &Kept, dy: &Tensor, dx: Option<&Tensor>) -> Kernels {
        match dx {
            Some(dx) => Ok(vec![activation::backward(
                at.gpu,
                self.function(),
                kept.y,
                dy,
                dx,
            )?]),
            None => Ok(vec![]),
        }
    }

    fn reference_forward(&self, _: &Ref, _: Option<&mut [Vec<f64>]>, x: &[f64]) -> RefForward {
        let f = self.function();
        (
            x.iter().map(|&v| reference::activate(f, v)).collect(),
            vec![],
        )
    }

    fn reference_backward(&self, _: &Ref, k: &RefKept, dy: &[f64]) -> RefBackward {
        let f = self.function();
        let dx = dy
            .iter()
            .zip(k.y)
            .map(|(&d, &y)| d * reference::grad_from_output(f, y))
            .collect();
        (vec![], dx)
    }
}
