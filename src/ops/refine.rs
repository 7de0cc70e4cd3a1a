//! One step of discriminator-gradient refinement (refine.wgsl):
//! x ← x + rate · grad + noise, in place.

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("refine.wgsl");

const WG: u32 = 256;
/// x ← (x + rate · grad) + noise, element by element.
pub fn ascend(gpu: &Gpu, rate: f32, grad: &Tensor, noise: &Tensor, x: &Tensor) -> Result<Kernel> {
    const OP: &str = "refine step";
    expect_len(OP, "grad", grad, x.len())?;
    expect_len(OP, "noise", noise, x.len())?;
    expect_distinct(
        OP,
        &[("x", x)],
        &[("x", x), ("grad", grad), ("noise", noise)],
    )?;
    let n = expect_u32(OP, "n", x.len())?;
    let entry = Entry::new("refine.wgsl", WGSL, "ascend");
    let uniforms = [("n", n.into()), ("rate", rate.into())];
    let tensors = [("grad", grad), ("noise", noise), ("x", x)];
    gpu.kernel(&entry, &uniforms, &tensors, gpu.grid(n.div_ceil(WG)))
}

/// The f64 references.
pub mod reference {

    /// One refinement step (refine.wgsl): x + rate · grad + noise.
    pub fn ascend(rate: f64, x: &[f64], grad: &[f64], noise: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(grad)
            .zip(noise)
            .map(|((&x, &g), &e)| x + rate * g + e)
            .collect()
    }
}
