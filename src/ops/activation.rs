//! LeakyReLU, tanh and sigmoid on their own (shaders/activation.wgsl), for
//! where they are not fused into a matmul.

use bytemuck::{Pod, Zeroable};

use super::matmul::Activation;
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
    slope: f32,
    _pad: [u32; 2],
}

const WG: u32 = 256;
const FORWARD: &[(u32, Access)] = &[(1, Access::Read), (2, Access::ReadWrite)];
const BACKWARD: &[(u32, Access)] = &[(3, Access::Read), (4, Access::Read), (5, Access::ReadWrite)];

fn names(act: Activation) -> Result<(&'static str, &'static str)> {
    match act {
        Activation::LeakyRelu(_) => Ok(("leaky_relu_forward", "leaky_relu_backward")),
        Activation::Tanh => Ok(("tanh_forward", "tanh_backward")),
        Activation::Sigmoid => Ok(("sigmoid_forward", "sigmoid_backward")),
        Activation::None => Err(Error::shape("activation", "no activation to apply")),
    }
}

/// y = f(x).
pub fn forward(gpu: &Gpu, act: Activation, x: &Tensor, y: &Tensor) -> Result<Kernel> {
    const OP: &str = "activation forward";
    expect_len(OP, "y", y, x.len())?;
    expect_distinct(OP, &[("y", y)], &[("x", x)])?;
    let n = expect_u32(OP, "n", x.len())?;
    let entry = Entry::new(
        "activation.wgsl",
        shaders::ACTIVATION,
        names(act)?.0,
        FORWARD,
    );
    let p = Params {
        n,
        slope: act.slope(),
        _pad: [0; 2],
    };
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[x, y],
        gpu.grid(n.div_ceil(WG)),
    )
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
    let n = expect_u32(OP, "n", y.len())?;
    let entry = Entry::new(
        "activation.wgsl",
        shaders::ACTIVATION,
        names(act)?.1,
        BACKWARD,
    );
    let p = Params {
        n,
        slope: act.slope(),
        _pad: [0; 2],
    };
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[y, dy, dx],
        gpu.grid(n.div_ceil(WG)),
    )
}
