//! One step of discriminator-gradient refinement (shaders/refine.wgsl):
//! x ← x + rate · grad + noise, in place.

use bytemuck::{Pod, Zeroable};

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernel::{Access, Entry, Kernel};
use crate::shaders;
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    rate: f32,
    _pad: [u32; 2],
}

const WG: u32 = 256;
const BINDINGS: &[(u32, Access)] = &[(1, Access::Read), (2, Access::Read), (3, Access::ReadWrite)];

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
    let entry = Entry::new("refine.wgsl", shaders::REFINE, "ascend", BINDINGS);
    let p = Params {
        n,
        rate,
        _pad: [0; 2],
    };
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[grad, noise, x],
        gpu.grid(n.div_ceil(WG)),
    )
}
