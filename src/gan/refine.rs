//! Discriminator-gradient refinement of samples (Ansari et al., "Refining
//! Deep Generative Models via Discriminator Gradient Flow", ICLR 2021).
//!
//! A discriminator trained with the logistic loss estimates, at a sample x,
//! d(x) = logit D(x) ≈ log(p_data(x) / p_g(x)): it rises toward where the
//! data are denser than the generator's samples. Moving every sample a
//! little along ∇d, again and again, carries the samples' distribution
//! toward the data's (a particle version of the gradient flow of the KL
//! divergence); Langevin noise at a temperature T keeps them from piling
//! onto d's maxima. Step k of a refinement:
//!
//!   x ← x + η ∇d(x) + √(2 η T) ξ_k,   ξ_k ~ N(0, I)
//!
//! with ξ_k drawn on the GPU from (seed, [`streams::REFINE`], counter
//! call · steps + k), so a refinement replays bit for bit on one adapter.
//! All steps are recorded into one submission: per step the
//! discriminator's forward and backward pass (the gradient of the summed
//! logits with respect to its input), the noise and the update
//! (src/ops/refine.wgsl). With `--pack m` the discriminator judges m
//! consecutive samples at once, and each moves along the gradient of their
//! common logit.
//!
//! Where rejection ([`crate::reject`]) can only keep or drop a sample, this
//! moves it: the samples on the bridges between modes, which rejection
//! thins out, are pulled onto the nearest mode. Like rejection it changes
//! what is sampled, not the generator.

use serde::{Deserialize, Serialize};

use super::streams;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::Kernel;
use crate::gpu::tensor::Tensor;
use crate::nn::{Net, Pass, PassOptions};
use crate::ops::random::{self, Stream};
use crate::ops::refine;

/// The most steps one refinement may take.
pub const MAX_STEPS: usize = 10_000;

/// The step size in units of the data's squared length scale: η = 8 s².
/// A logit is a pure number, so η ∇d(x) is a length only if η is a
/// squared length, and the discriminator's features are about as fine as
/// the data's. 8 s² measured well on both ring (s = 0.01) and grid
/// (s = 0.05) in the PyTorch replica (README, Quality), where the grid's
/// η of 0.02 made every ring sample diverge.
pub const RATE_PER_SCALE_SQUARED: f32 = 8.0;

/// Steps taken unless told otherwise.
pub const STEPS: usize = 100;

/// The temperature unless told otherwise: the refined samples' spread
/// about their modes then comes out near the data's (README, Quality).
pub const TEMPERATURE: f32 = 0.01;

/// How far samples are moved.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refine {
    /// Steps of gradient ascent.
    pub steps: usize,
    /// η, the step size.
    pub rate: f32,
    /// T, the Langevin noise's temperature (0: plain gradient ascent).
    pub temperature: f32,
}

impl Refine {
    /// The default setting for data of length scale `scale` (named `data`
    /// in the message): [`STEPS`] steps at [`TEMPERATURE`], η = 8 s²; `rate`
    /// overrides η, and is needed where the data have no known scale.
    pub fn for_scale(data: &str, scale: Option<f32>, rate: Option<f32>) -> Result<Refine> {
        let rate = match (rate, scale) {
            (Some(r), _) => r,
            (None, Some(s)) => RATE_PER_SCALE_SQUARED * s * s,
            (None, None) => {
                return Err(Error::shape(
                    "refine",
                    format!(
                        "no default step size is known for {data} data; \
                         give one with --refine-rate (a squared length in the samples' units)"
                    ),
                ));
            }
        };
        Ok(Refine {
            steps: STEPS,
            rate,
            temperature: TEMPERATURE,
        })
    }

    /// Fails on a setting that cannot run.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::shape("refine", what));
        if self.steps > MAX_STEPS {
            return bad(format!(
                "--refine-steps {} is more than {MAX_STEPS}",
                self.steps
            ));
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return bad(format!(
                "--refine-rate must be a positive number, not {}",
                self.rate
            ));
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(format!(
                "--refine-temperature must be 0 or more, not {}",
                self.temperature
            ));
        }
        Ok(())
    }

    /// The noise's standard deviation per step, √(2 η T).
    pub fn noise_std(&self) -> f32 {
        (2.0 * self.rate as f64 * self.temperature as f64).sqrt() as f32
    }
}

/// A discriminator's refinement of up to n samples at a time.
pub struct Refiner {
    x: Tensor,
    counters: Tensor,
    kernels: Vec<Kernel>,
    rows: usize,
    features: usize,
    steps: usize,
}

impl Refiner {
    /// Refines up to `n` samples of `features` values with the
    /// discriminator `d`, which takes `pack` samples at once.
    pub fn new(
        gpu: &Gpu,
        d: &Net,
        pack: usize,
        features: usize,
        n: usize,
        cfg: &Refine,
        seed: u64,
    ) -> Result<Refiner> {
        cfg.check()?;
        let pack = pack.max(1);
        if d.inputs() != features * pack || d.outputs() != 1 {
            return Err(Error::shape(
                "refine",
                format!(
                    "the discriminator takes {} values to {} logits, the samples have \
                     {features} values x pack {pack} to judge with one logit",
                    d.inputs(),
                    d.outputs()
                ),
            ));
        }
        let rows = n.max(1).div_ceil(pack) * pack;
        let x = gpu.zeros(rows * features)?;
        let ones = gpu.upload(&vec![1.0; rows / pack])?;
        let opts = PassOptions {
            input_grad: true,
            ..PassOptions::EVAL
        };
        let judge = Pass::new(gpu, d, rows / pack, &x, Some(&ones), None, opts)?;
        let grad = judge
            .d_input
            .clone()
            .expect("the pass computes the input's gradient");
        let noise = gpu.zeros(rows * features)?;
        let counters = gpu.upload_u32(&vec![0; cfg.steps.max(1)])?;
        let mut kernels = Vec::new();
        for k in 0..cfg.steps {
            kernels.extend(judge.forward_frozen.iter().cloned());
            kernels.extend(judge.backward.iter().cloned());
            if cfg.temperature > 0.0 {
                let s = Stream {
                    seed,
                    stream: streams::REFINE,
                    slot: k,
                };
                kernels.push(random::normal(
                    gpu,
                    &s,
                    &counters,
                    0.0,
                    cfg.noise_std(),
                    &noise,
                )?);
            }
            kernels.push(refine::ascend(gpu, cfg.rate, &grad, &noise, &x)?);
        }
        Ok(Refiner {
            x,
            counters,
            kernels,
            rows,
            features,
            steps: cfg.steps,
        })
    }

    /// The refined `samples` (rows of `features` values, at most n of
    /// them). Call number `call` draws its own noise.
    pub fn run(&self, gpu: &Gpu, samples: &[f32], call: u32) -> Result<Vec<f32>> {
        let rows = samples.len() / self.features;
        if rows * self.features != samples.len() || rows > self.rows {
            return Err(Error::shape(
                "refine",
                format!(
                    "{} values are not up to {} samples of {} values",
                    samples.len(),
                    self.rows,
                    self.features
                ),
            ));
        }
        if self.steps == 0 {
            return Ok(samples.to_vec());
        }
        // Rows past the samples (up to a whole pack) are refined too, and dropped.
        let mut x = samples.to_vec();
        x.resize(self.rows * self.features, 0.0);
        gpu.write(&self.x, &x)?;
        let base = call.wrapping_mul(self.steps as u32);
        let counters: Vec<u32> = (0..self.steps as u32)
            .map(|k| base.wrapping_add(k))
            .collect();
        gpu.write_u32(&self.counters, &counters)?;
        let kernels: Vec<&Kernel> = self.kernels.iter().collect();
        gpu.run(&kernels)?;
        let mut out = gpu.read(&self.x)?;
        out.truncate(samples.len());
        if out.iter().any(|v| !v.is_finite()) {
            return Err(Error::shape(
                "refine",
                "the samples left the finite numbers while refining; lower --refine-rate",
            ));
        }
        Ok(out)
    }
}

impl std::fmt::Display for Refine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "discriminator refinement: {} steps of {} at temperature {}",
            self.steps, self.rate, self.temperature
        )
    }
}
