//! Elementwise activations (activation.wgsl, with the functions themselves
//! in the shared prelude): LeakyReLU, tanh and sigmoid on their own, for
//! where they are not fused into the matmul before them.

use super::{expect_distinct, expect_len, expect_u32, with_vec4_names};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("activation.wgsl");

/// An elementwise function fused after a matmul or dispatched on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    None,
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
}

impl Activation {
    /// Its code in the shaders (ACT_* in src/gpu/prelude.wgsl).
    pub fn code(self) -> u32 {
        match self {
            Activation::None => 0,
            Activation::LeakyRelu(_) => 1,
            Activation::Tanh => 2,
            Activation::Sigmoid => 3,
        }
    }

    pub fn slope(self) -> f32 {
        match self {
            Activation::LeakyRelu(s) => s,
            _ => 0.0,
        }
    }
}

const WG: u32 = 256;

fn prepare(
    gpu: &Gpu,
    op: &'static str,
    name: &'static str,
    act: Activation,
    tensors: &[(&str, &Tensor)],
) -> Result<Kernel> {
    if act == Activation::None {
        return Err(Error::shape(op, "no activation to apply"));
    }
    let len = tensors[0].1.len();
    let n = expect_u32(op, "n", len)?;
    let act_const = format!("{}u", act.code());
    let uniforms = |n: u32| [("n", n.into()), ("slope", act.slope().into())];
    // Whole vec4s where the length allows (`forward4`, `backward4`): the
    // same values, a quarter of the loads and stores.
    if len.is_multiple_of(4) {
        let name4 = match name {
            "forward" => "forward4",
            _ => "backward4",
        };
        let entry = Entry::new("activation.wgsl", WGSL, name4).with("ACT", &act_const);
        let n4 = n / 4;
        return with_vec4_names(tensors, |tensors4| {
            gpu.kernel(&entry, &uniforms(n4), tensors4, gpu.grid(n4.div_ceil(WG)))
        });
    }
    let entry = Entry::new("activation.wgsl", WGSL, name).with("ACT", act_const);
    gpu.kernel(&entry, &uniforms(n), tensors, gpu.grid(n.div_ceil(WG)))
}

/// y = f(x).
pub fn forward(gpu: &Gpu, act: Activation, x: &Tensor, y: &Tensor) -> Result<Kernel> {
    const OP: &str = "activation forward";
    expect_len(OP, "y", y, x.len())?;
    expect_distinct(OP, &[("y", y)], &[("x", x)])?;
    prepare(gpu, OP, "forward", act, &[("x", x), ("y", y)])
}

/// dx = dy · f'(x), from the forward output y.
pub fn backward(
    gpu: &Gpu,
    act: Activation,
    y: &Tensor,
    dy: &Tensor,
    dx: &Tensor,
) -> Result<Kernel> {
    const OP: &str = "activation backward";
    expect_len(OP, "dy", dy, y.len())?;
    expect_len(OP, "dx", dx, y.len())?;
    expect_distinct(OP, &[("dx", dx)], &[("y", y), ("dy", dy)])?;
    prepare(
        gpu,
        OP,
        "backward",
        act,
        &[("y_in", y), ("dy", dy), ("dx", dx)],
    )
}

/// The f64 references.
pub mod reference {
    use super::Activation;

    pub fn activate(act: Activation, x: f64) -> f64 {
        match act {
            Activation::None => x,
            Activation::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    x * s as f64
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }

    /// f'(x) expressed through y = f(x), as the backward kernels compute it.
    pub fn grad_from_output(act: Activation, y: f64) -> f64 {
        match act {
            Activation::None => 1.0,
            Activation::LeakyRelu(s) => {
                if y > 0.0 {
                    1.0
                } else {
                    s as f64
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
        }
    }
}
