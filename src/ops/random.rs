//! Counter-based random numbers on the GPU (shaders/random.wgsl).
//!
//! Element i of a draw is a pure function of (seed, stream,
//! counters[slot], i): a training step changes only the counter, which the
//! GPU advances itself, so a run replays bit for bit from its seed.

use bytemuck::{Pod, Zeroable};

use super::{expect_distinct, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::{Access, Entry, Kernel};
use crate::shaders;
use crate::tensor::Tensor;

/// Where a draw's randomness comes from.
#[derive(Clone, Copy, Debug)]
pub struct Stream {
    pub seed: u64,
    /// Separates the draws of one step (noise for D, noise for G, indices).
    pub stream: u32,
    /// counters[slot] is the third word of every Philox counter.
    pub slot: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    stream: u32,
    counter_slot: u32,
    range: u32,
    a: f32,
    b: f32,
}

const FLOATS: &[(u32, Access)] = &[(1, Access::Read), (2, Access::ReadWrite)];
const INTS: &[(u32, Access)] = &[(1, Access::Read), (3, Access::ReadWrite)];
const WG: u32 = 64;

fn prepare(
    gpu: &Gpu,
    op: &'static str,
    entry: &'static str,
    bindings: &'static [(u32, Access)],
    s: &Stream,
    counters: &Tensor,
    out: &Tensor,
    (range, a, b): (u32, f32, f32),
) -> Result<Kernel> {
    if s.slot >= counters.len() {
        return Err(Error::shape(
            op,
            format!(
                "counter slot {} is outside counters ({} elements)",
                s.slot,
                counters.len()
            ),
        ));
    }
    expect_distinct(op, &[("out", out)], &[("counters", counters)])?;
    let n = expect_u32(op, "n", out.len())?;
    let p = Params {
        n,
        seed_lo: s.seed as u32,
        seed_hi: (s.seed >> 32) as u32,
        stream: s.stream,
        counter_slot: s.slot as u32,
        range,
        a,
        b,
    };
    let e = Entry::new("random.wgsl", shaders::RANDOM, entry, bindings);
    gpu.kernel(
        &e,
        bytemuck::bytes_of(&p),
        &[counters, out],
        gpu.grid(n.div_ceil(4).div_ceil(WG)),
    )
}

/// out ~ N(mean, std²), element by element.
pub fn normal(
    gpu: &Gpu,
    s: &Stream,
    counters: &Tensor,
    mean: f32,
    std: f32,
    out: &Tensor,
) -> Result<Kernel> {
    prepare(
        gpu,
        "normal noise",
        "normal_noise",
        FLOATS,
        s,
        counters,
        out,
        (0, mean, std),
    )
}

/// out ~ U[lo, hi), element by element.
pub fn uniform(
    gpu: &Gpu,
    s: &Stream,
    counters: &Tensor,
    lo: f32,
    hi: f32,
    out: &Tensor,
) -> Result<Kernel> {
    prepare(
        gpu,
        "uniform noise",
        "uniform_noise",
        FLOATS,
        s,
        counters,
        out,
        (0, lo, hi),
    )
}

/// out (u32) uniform in [0, range): a batch of sample indices.
pub fn indices(
    gpu: &Gpu,
    s: &Stream,
    counters: &Tensor,
    range: u32,
    out: &Tensor,
) -> Result<Kernel> {
    if range == 0 {
        return Err(Error::shape(
            "sample indices",
            "cannot sample from an empty range",
        ));
    }
    prepare(
        gpu,
        "sample indices",
        "sample_indices",
        INTS,
        s,
        counters,
        out,
        (range, 0.0, 0.0),
    )
}
