//! ConvTranspose2d: torch.nn.ConvTranspose2d(inputs, outputs, kernel,
//! stride, padding, bias), dilation 1, groups 1, no output padding: the
//! transpose of the Conv2d from `outputs` channels to `inputs`.
//!
//! - shape: [inputs, H, W] → [outputs, (H − 1)·s − 2p + k, (W − 1)·s − 2p + k];
//! - parameters: `weight` [inputs, outputs, k, k] (PyTorch's layout, which
//!   is that of the convolution it transposes) and, with `bias`, `bias`
//!   [outputs]; PyTorch's default initialisation, uniform in
//!   ±1/√(outputs·k²) (PyTorch takes the fan-in from the weight's second
//!   dimension), or DCGAN's N(0, 0.02) and zero bias;
//! - forward: the convolution's input-gradient product (each output sums
//!   the inputs it receives), the bias and a following activation fused;
//! - backward: the fused activation's derivative, then dW (the
//!   convolution's weight product with input and gradient exchanged), db
//!   (channel sums) and dX (the convolution's forward product).

use serde::{Deserialize, Serialize};

use super::{
    At, Forward, Init, Kept, Kernels, LayerKind, Ref, RefBackward, RefForward, RefKept, Shape,
};
use crate::error::Result;
use crate::gpu::tensor::Tensor;
use crate::ops::activation::{self, Activation};
use crate::ops::conv::{self, reference};
use crate::ops::reduce;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvTranspose2d {
    pub inputs: usize,
    pub outputs: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub bias: bool,
}

impl ConvTranspose2d {
    /// The output side of an input side, if positive.
    fn out(&self, size: usize) -> Option<usize> {
        let full =
            (size.checked_sub(1)? * self.stride + self.kernel).checked_sub(2 * self.padding)?;
        (full > 0 && size > 0 && self.stride > 0).then_some(full)
    }

    /// The convolution this transposes, on `batch` inputs of shape `input`:
    /// from the transpose's output [outputs, H', W'] to its input.
    fn geometry(&self, batch: usize, input: Shape) -> conv::Conv2d {
        conv::Conv2d {
            batch,
            in_c: self.outputs,
            in_h: self.out(input.h).unwrap_or(0),
            in_w: self.out(input.w).unwrap_or(0),
            out_c: self.inputs,
            kernel_h: self.kernel,
            kernel_w: self.kernel,
            stride: self.stride,
            pad: self.padding,
            tiles: None,
        }
    }
}

impl LayerKind for ConvTranspose2d {
    fn describe(&self) -> String {
        format!(
            "ConvTranspose2d {} -> {}, kernel {}, stride {}, padding {}",
            self.inputs, self.outputs, self.kernel, self.stride, self.padding
        )
    }

    fn output(&self, input: Shape) -> std::result::Result<Shape, String> {
        if input.c != self.inputs {
            return Err(format!("it takes {} channels", self.inputs));
        }
        match (self.out(input.h), self.out(input.w), self.outputs) {
            (Some(h), Some(w), c) if c > 0 => Ok(Shape::new(c, h, w)),
            _ => Err(format!(
                "its {0}x{0} kernel, stride {1} and padding {2} give no output from a {3}x{4} input",
                self.kernel, self.stride, self.padding, input.h, input.w
            )),
        }
    }

    fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        let k = self.kernel;
        let mut v = vec![("weight", vec![self.inputs, self.outputs, k, k])];
        if self.bias {
            v.push(("bias", vec![self.outputs]));
        }
        v
    }

    fn init(&self, draw: &Init) -> Vec<Vec<f32>> {
        let fan_in = self.outputs * self.kernel * self.kernel;
        let weights = self.inputs * fan_in;
        draw.weight_and_bias(fan_in, weights, self.bias.then_some(self.outputs))
    }

    fn fuses(&self) -> bool {
        true
    }

    fn forward(&self, at: &At<'_>, x: &Tensor, fused: Activation) -> Result<Forward> {
        let g = self.geometry(at.batch, at.input);
        let y = at.gpu.zeros(g.x_len())?;
        let k = conv::input_grad(at.gpu, &g, x, &at.params[0], at.params.get(1), &y, fused)?;
        Ok(Forward::single(y, k))
    }

    fn backward(&self, at: &At, kept: &Kept, dy: &Tensor, dx: Option<&Tensor>) -> Kernels {
        let (gpu, g) = (at.gpu, self.geometry(at.batch, at.input));
        let mut out = Vec::new();
        let d = if kept.fused == Activation::None {
            dy.clone()
        } else {
            let d = gpu.zeros(dy.len())?;
            out.push(activation::backward(gpu, kept.fused, kept.y, dy, &d)?);
            d
        };
        if at.opts.weight_grads {
            out.push(conv::weight_grad(gpu, &g, kept.x, &d, &at.grads[0], false)?);
            if self.bias {
                let spatial = g.in_h * g.in_w;
                let k = reduce::channel_sum(gpu, g.batch, g.in_c, spatial, 1.0, &d, &at.grads[1])?;
                out.push(k);
            }
        }
        if let Some(dx) = dx {
            out.push(conv::forward(
                gpu,
                &g,
                &d,
                &at.params[0],
                None,
                dx,
                Activation::None,
            )?);
        }
        Ok(out)
    }

    fn reference_forward(&self, r: &Ref, _: Option<&mut [Vec<f64>]>, x: &[f64]) -> RefForward {
        let g = self.geometry(r.batch, r.input);
        let bias = r.params.get(1).map(|b| &b[..]);
        (reference::input_grad(&g, x, &r.params[0], bias), vec![])
    }

    fn reference_backward(&self, r: &Ref, k: &RefKept, dy: &[f64]) -> RefBackward {
        let g = self.geometry(r.batch, r.input);
        let mut grads = vec![reference::weight_grad(&g, k.x, dy)];
        if self.bias {
            let spatial = g.in_h * g.in_w;
            grads.push(crate::ops::reduce::reference::channel_sum(
                g.batch, g.in_c, spatial, 1.0, dy,
            ));
        }
        (grads, reference::forward(&g, dy, &r.params[0], None))
    }
}
