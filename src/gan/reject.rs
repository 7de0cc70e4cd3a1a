//! Discriminator rejection sampling (Azadi et al., "Discriminator Rejection
//! Sampling", ICLR 2019).
//!
//! A discriminator trained with the logistic loss estimates, at a sample x,
//! logit D(x) ≈ log(p_data(x) / p_g(x)). Accepting each generator sample
//! with probability exp(logit − M), M the largest logit seen, therefore
//! draws from p_g · p_data / p_g ∝ p_data, as far as the discriminator's
//! estimate is right: samples where the generator puts more mass than the
//! data (the bridges between modes, blurred digits) are thinned out.
//!
//! The protocol, deterministic for a seed and an adapter: a pool of
//! [`POOL`] × n candidates is drawn in chunks of n latents, chunk i from
//! (seed, stream, counter i), so chunk 0 holds exactly the latents a plain
//! evaluation uses. A first pass computes every candidate's logit and M;
//! a second regenerates the chunks and keeps candidate j when
//! u_j < exp(logit_j − M + γ), u_j uniform from (seed, [`streams::ACCEPT`],
//! counter i), until n are kept. γ is 0 (exact rejection sampling) unless
//! the pool would then be expected to yield fewer than [`MARGIN`] × n
//! samples; then it is the smallest shift that expects that many (the
//! paper's γ, which trades exactness for acceptance: a discriminator sure
//! of itself on a few samples would otherwise turn nearly all down). With
//! `--pack m` the discriminator judges m consecutive samples at once, and
//! they are kept or dropped together.

use super::sampler::rows_that_fit;
use super::{Sampler, latents_at, streams};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::Kernel;
use crate::nn::{Net, Pass, PassOptions};

/// Candidates drawn per sample asked for.
pub const POOL: usize = 16;

/// The pool is to yield this many times the samples asked for, in
/// expectation, or the threshold is shifted.
pub const MARGIN: f64 = 2.0;

/// Samples kept and how many candidates it took.
pub struct Rejected {
    /// The kept samples, n × features values (fewer rows if the pool ran out).
    pub samples: Vec<f32>,
    pub kept: usize,
    /// Candidates drawn: the whole pool in the first pass.
    pub drawn: usize,
    /// Candidates the kept ones were chosen from (the second pass stops
    /// once n are kept).
    pub examined: usize,
    /// γ, the shift of the threshold (0: exact).
    pub shift: f64,
}

impl Rejected {
    /// The share of examined candidates kept.
    pub fn acceptance(&self) -> f64 {
        self.kept as f64 / self.examined.max(1) as f64
    }
}

/// A generator and its discriminator at one chunk size.
pub struct Rejector {
    sampler: Sampler,
    judge: Pass,
    latent: usize,
    chunk: usize,
    pack: usize,
}

/// The probability of keeping a candidate of logit l.
pub fn acceptance(l: f32, max: f32, shift: f64) -> f64 {
    ((l - max) as f64 + shift).exp().min(1.0)
}

/// γ: 0 if the logits' candidates are expected to yield `need` samples
/// (groups) at exp(l − max), else the smallest shift that expects `need`.
pub fn shift_for(logits: &[f32], max: f32, need: f64) -> f64 {
    let expected = |g: f64| logits.iter().map(|&l| acceptance(l, max, g)).sum::<f64>();
    if expected(0.0) >= need {
        return 0.0;
    }
    // expected(g) rises with g and reaches the pool's size at g = max − min.
    let min = logits.iter().copied().fold(max, f32::min);
    let (mut lo, mut hi) = (0.0, (max - min) as f64 + 1.0);
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if expected(mid) >= need {
            hi = mid
        } else {
            lo = mid
        }
    }
    hi
}

impl Rejector {
    /// `chunk` latents at a time (rounded up to a multiple of `pack`),
    /// each chunk run in parts that fit the adapter.
    pub fn new(gpu: &Gpu, g: &Net, d: &Net, pack: usize, chunk: usize) -> Result<Rejector> {
        let pack = pack.max(1);
        let chunk = chunk.max(1).div_ceil(pack) * pack;
        let part = (rows_that_fit(gpu, g).min(rows_that_fit(gpu, d) * pack) / pack).max(1) * pack;
        let sampler = Sampler::in_parts(gpu, g, chunk, part, false)?;
        let rows = sampler.rows();
        let features = g.outputs();
        if d.inputs() != features * pack {
            return Err(Error::shape(
                "reject",
                format!(
                    "the discriminator takes {} values, the generator gives {features} x pack {pack}",
                    d.inputs()
                ),
            ));
        }
        let opts = PassOptions::EVAL;
        let judge = Pass::new(gpu, d, rows / pack, sampler.output(), None, None, opts)?;
        Ok(Rejector {
            sampler,
            judge,
            latent: g.inputs(),
            chunk,
            pack,
        })
    }

    /// Latents per chunk of the pool (n rounded up to a multiple of pack).
    pub fn chunk_size(&self) -> usize {
        self.chunk
    }

    /// The samples and the logits (one per group of `pack` samples) of
    /// chunk i of the pool, part by part.
    fn judged(&self, gpu: &Gpu, seed: u64, stream: u32, i: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let z = self.latents(seed, stream, i);
        let (mut samples, mut logits) = (Vec::new(), Vec::new());
        let per = self.sampler.output().len() / self.sampler.rows();
        for first in (0..self.chunk).step_by(self.sampler.rows()) {
            let count = self.sampler.generate(gpu, &z, first)?;
            let kernels: Vec<&Kernel> = self.judge.forward_frozen.iter().collect();
            gpu.run(&kernels)?;
            samples.extend_from_slice(&gpu.read(self.sampler.output())?[..count * per]);
            logits.extend_from_slice(&gpu.read(&self.judge.output)?[..count / self.pack]);
        }
        Ok((samples, logits))
    }

    /// The logits of chunk i of the pool.
    fn logits(&self, gpu: &Gpu, seed: u64, stream: u32, i: usize) -> Result<Vec<f32>> {
        Ok(self.judged(gpu, seed, stream, i)?.1)
    }

    /// The latents of chunk i of the pool.
    fn latents(&self, seed: u64, stream: u32, i: usize) -> Vec<f32> {
        latents_at(seed, stream, i as u32, self.chunk, self.latent)
    }

    /// Samples and logits (one per group of `pack` samples) of chunk i of
    /// the pool.
    pub fn chunk(
        &self,
        gpu: &Gpu,
        seed: u64,
        stream: u32,
        i: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        self.judged(gpu, seed, stream, i)
    }

    /// n samples kept from a pool of about POOL × n candidates, latents
    /// from (seed, stream).
    pub fn run(&self, gpu: &Gpu, seed: u64, stream: u32, n: usize) -> Result<Rejected> {
        if n == 0 {
            return Err(Error::shape("reject", "--n must be at least 1"));
        }
        let chunks = (POOL * n).div_ceil(self.chunk);
        let mut all = Vec::with_capacity(chunks * self.chunk / self.pack);
        for i in 0..chunks {
            let logits = self.logits(gpu, seed, stream, i)?;
            if logits.iter().any(|l| !l.is_finite()) {
                return Err(Error::shape(
                    "reject",
                    "the discriminator gave a non-finite logit; this checkpoint cannot judge its samples",
                ));
            }
            all.extend(logits);
        }
        let max = all.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let shift = shift_for(&all, max, MARGIN * n.div_ceil(self.pack) as f64);
        let groups = self.chunk / self.pack;
        let mut samples = Vec::new();
        let mut kept = 0;
        let mut examined = 0;
        'pool: for i in 0..chunks {
            // The first pass's logits; only the samples are generated again.
            let x = self.sampler.run(gpu, &self.latents(seed, stream, i))?;
            let logits = &all[i * groups..(i + 1) * groups];
            let u = crate::ops::random::reference::uniform(
                seed,
                streams::ACCEPT,
                i as u32,
                0.0,
                1.0,
                groups,
            );
            let width = x.len() / groups;
            for (k, &l) in logits.iter().enumerate() {
                examined += self.pack;
                if u[k] < acceptance(l, max, shift) {
                    let take = self.pack.min(n - kept);
                    let row = width / self.pack;
                    samples.extend_from_slice(&x[k * width..k * width + take * row]);
                    kept += take;
                    if kept == n {
                        break 'pool;
                    }
                }
            }
        }
        Ok(Rejected {
            samples,
            kept,
            drawn: chunks * self.chunk,
            examined,
            shift,
        })
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shift = if self.shift > 0.0 {
            format!(
                "; threshold shifted by {:.2}, as the exact rule would keep too few",
                self.shift
            )
        } else {
            String::new()
        };
        write!(
            f,
            "discriminator rejection: kept {} of {} candidates ({:.1}%; pool {}{shift})",
            self.kept,
            self.examined,
            100.0 * self.acceptance(),
            self.drawn
        )
    }
}
