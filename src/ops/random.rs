//! Counter-based random numbers on the GPU (random.wgsl).
//!
//! Element i of a draw is a pure function of (seed, stream,
//! counters[slot], i): a training step changes only the counter, which the
//! GPU advances itself, so a run replays bit for bit from its seed.

use super::{expect_distinct, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("random.wgsl");

/// Where a draw's randomness comes from.
#[derive(Clone, Copy, Debug)]
pub struct Stream {
    pub seed: u64,
    /// Separates the draws of one step (noise for D, noise for G, indices).
    pub stream: u32,
    /// counters[slot] is the third word of every Philox counter.
    pub slot: usize,
}

const WG: u32 = 64;

fn prepare(
    gpu: &Gpu,
    op: &'static str,
    (entry, out_name): (&'static str, &'static str),
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
    let uniforms = [
        ("n", n.into()),
        ("seed_lo", (s.seed as u32).into()),
        ("seed_hi", ((s.seed >> 32) as u32).into()),
        ("stream", s.stream.into()),
        ("counter_slot", (s.slot as u32).into()),
        ("range", range.into()),
        ("a", a.into()),
        ("b", b.into()),
    ];
    let e = Entry::new("random.wgsl", WGSL, entry);
    let tensors = [("counters", counters), (out_name, out)];
    gpu.kernel(
        &e,
        &uniforms,
        &tensors,
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
        ("normal_noise", "out"),
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
        ("uniform_noise", "out"),
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
        ("sample_indices", "out_u32"),
        s,
        counters,
        out,
        (range, 0.0, 0.0),
    )
}

/// The f64 references.
pub mod reference {

    /// Philox4x32-10 (Salmon et al. 2011).
    pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
        let mut c = counter;
        let mut k = key;
        for _ in 0..10 {
            let p0 = 0xD251_1F53u64 * c[0] as u64;
            let p1 = 0xCD9E_8D57u64 * c[2] as u64;
            c = [
                (p1 >> 32) as u32 ^ c[1] ^ k[0],
                p1 as u32,
                (p0 >> 32) as u32 ^ c[3] ^ k[1],
                p0 as u32,
            ];
            k = [
                k[0].wrapping_add(0x9E37_79B9),
                k[1].wrapping_add(0xBB67_AE85),
            ];
        }
        c
    }

    /// The four words of invocation j of a draw.
    pub fn draw(seed: u64, stream: u32, counter: u32, j: u32) -> [u32; 4] {
        philox4x32_10([j, stream, counter, 0], [seed as u32, (seed >> 32) as u32])
    }

    fn unit(w: u32) -> f64 {
        (w >> 8) as f64 / 16_777_216.0
    }

    /// The first n values of a normal draw, as random.wgsl computes them.
    pub fn normal(seed: u64, stream: u32, counter: u32, mean: f64, std: f64, n: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(n + 3);
        for j in 0..n.div_ceil(4) as u32 {
            let w = draw(seed, stream, counter, j);
            for pair in [[w[0], w[1]], [w[2], w[3]]] {
                let u1 = ((pair[0] >> 8) + 1) as f64 / 16_777_216.0;
                let u2 = unit(pair[1]);
                let r = (-2.0 * u1.ln()).sqrt();
                let theta = std::f64::consts::TAU * u2;
                out.push(mean + std * r * theta.cos());
                out.push(mean + std * r * theta.sin());
            }
        }
        out.truncate(n);
        out
    }

    /// The first n values of a uniform draw in [lo, hi).
    pub fn uniform(seed: u64, stream: u32, counter: u32, lo: f64, hi: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let w = draw(seed, stream, counter, (i / 4) as u32)[i % 4];
                lo + (hi - lo) * unit(w)
            })
            .collect()
    }

    /// The first n values of an index draw in [0, range).
    pub fn indices(seed: u64, stream: u32, counter: u32, range: u32, n: usize) -> Vec<u32> {
        (0..n)
            .map(|i| {
                let w = draw(seed, stream, counter, (i / 4) as u32)[i % 4];
                ((w as u64 * range as u64) >> 32) as u32
            })
            .collect()
    }
}
