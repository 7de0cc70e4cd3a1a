//! Conv2d: torch.nn.Conv2d(inputs, outputs, kernel, stride, padding,
//! bias), dilation 1, groups 1.
//!
//! - shape: [inputs, H, W] → [outputs, (H + 2p − k)/s + 1, (W + 2p − k)/s + 1];
//! - parameters: `weight` [outputs, inputs, k, k] and, with `bias`,
//!   `bias` [outputs]; PyTorch's default initialisation, uniform in
//!   ±1/√(inputs·k²), or DCGAN's N(0, 0.02) and zero bias;
//! - forward: the implicit-GEMM convolution with the bias and a following
//!   activation fused into its store;
//! - backward: the fused activation's derivative, then dW (the weight
//!   product), db (channel sums) and dX (the transposed product); it keeps
//!   its input and output.

use serde::{Deserialize, Serialize};

use super::{
    At, Forward, Init, Kept, Kernels, LayerKind, Ref, RefBackward, RefForward, RefKept, Shape,
};
use crate::error::Result;
use crate::gpu::tensor::Tensor;
use crate::ops::activation::{self, Activation};
use crate::ops::conv::{self, out_size, reference};
use crate::ops::reduce;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2d {
    pub inputs: usize,
    pub outputs: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub bias: bool,
}

impl Conv2d {
    /// The convolution on `batch` inputs of shape `input`.
    fn geometry(&self, batch: usize, input: Shape) -> conv::Conv2d {
        conv::Conv2d {
            batch,
            in_c: self.inputs,
            in_h: input.h,
            in_w: input.w,
            out_c: self.outputs,
            kernel_h: self.kernel,
            kernel_w: self.kernel,
            stride: self.stride,
            pad: self.padding,
            tiles: None,
        }
    }
}

impl LayerKind for Conv2d {
    fn describe(&self) -> String {
        format!(
            "Conv2d {} -> {}, kernel {}, stride {}, padding {}",
            self.inputs, self.outputs, self.kernel, self.stride, self.padding
        )
    }

    fn output(&self, input: Shape) -> std::result::Result<Shape, String> {
        if input.c != self.inputs {
            return Err(format!("it takes {} channels", self.inputs));
        }
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        match (
            out_size(input.h, k, s, p),
            out_size(input.w, k, s, p),
            self.outputs,
        ) {
            (Some(h), Some(w), c) if c > 0 => Ok(Shape::new(c, h, w)),
            _ => Err(format!(
                "its {k}x{k} kernel (stride {s}) does not fit a {}x{} input padded by {p}",
                input.h, input.w
            )),
        }
    }

    fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        let k = self.kernel;
        let mut v = vec![("weight", vec![self.outputs, self.inputs, k, k])];
        if self.bias {
            v.push(("bias", vec![self.outputs]));
        }
        v
    }

    fn init(&self, draw: &Init) -> Vec<Vec<f32>> {
        let fan_in = self.inputs * self.kernel * self.kernel;
        draw.weight_and_bias(
            fan_in,
            self.outputs * fan_in,
            self.bias.then_some(self.outputs),
        )
    }

    fn fuses(&self) -> bool {
        true
    }

    fn forward(&self, at: &At<'_>, x: &Tensor, fused: Activation) -> Result<Forward> {
        let g = self.geometry(at.batch, at.input);
        let y = at.gpu.zeros(g.y_len())?;
        let k = conv::forward(at.gpu, &g, x, &at.params[0], at.params.get(1), &y, fused)?;
        Ok(Forward::single(y, k))
    }

    fn backward(&self, at: &At, kept: &Kept, dy: &Tensor, dx: Option<&Tensor>) -> Kernels {
        let (gpu, g) = (at.gpu, self.geometry(at.batch, at.input));
        let mut out = Vec::new();
        // The gradient before the fused activation.
        let d = if kept.fused == Activation::None {
            dy.clone()
        } else {
            let d = gpu.zeros(dy.len())?;
            out.push(activation::backward(gpu, kept.fused, kept.y, dy, &d)?);
            d
        };
        if at.opts.weight_grads {
            out.push(conv::weight_grad(gpu, &g, &d, kept.x, &at.grads[0], false)?);
            if self.bias {
                let spatial = g.out_h() * g.out_w();
                let k = reduce::channel_sum(gpu, g.batch, g.out_c, spatial, 1.0, &d, &at.grads[1])?;
                out.push(k);
            }
        }
        if let Some(dx) = dx {
            out.push(conv::input_grad(
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
        (reference::forward(&g, x, &r.params[0], bias), vec![])
    }

    fn reference_backward(&self, r: &Ref, k: &RefKept, dy: &[f64]) -> RefBackward {
        let g = self.geometry(r.batch, r.input);
        let mut grads = vec![reference::weight_grad(&g, dy, k.x)];
        if self.bias {
            let spatial = g.out_h() * g.out_w();
            grads.push(crate::ops::reduce::reference::channel_sum(
                g.batch, g.out_c, spatial, 1.0, dy,
            ));
        }
        (grads, reference::input_grad(&g, dy, &r.params[0], None))
    }
}
