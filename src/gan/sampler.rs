//! The generator on a fixed number of latents, for pictures, files and
//! scores, and the latents themselves (computed on the CPU with the GPU's
//! generator, so the same on every machine).

use super::config::GanConfig;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::Kernel;
use crate::gpu::tensor::Tensor;
use crate::nn::{Net, Pass, PassOptions};

/// The generator on a fixed number of latents, for pictures and files.
/// It runs them in parts of at most [`Sampler::rows`], so that any number
/// fits the adapter's buffers (with `batch_stats`, in one part: the batch
/// is the statistics' sample).
pub struct Sampler {
    /// G's input for one part.
    pub z: Tensor,
    pass: Pass,
    /// Samples asked for, and per part.
    n: usize,
    rows: usize,
    inputs: usize,
    /// A conditional generator's classes and each row's label.
    labels: Option<(usize, Vec<u32>)>,
}

/// Rows whose activations in `g` fit one storage binding (at most 4,096).
pub fn rows_that_fit(gpu: &Gpu, g: &Net) -> usize {
    let limit = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size) as usize;
    let mut shape = g.input;
    let mut widest = shape.len();
    for l in &g.layers {
        shape = l.kind().output(shape).unwrap_or(shape);
        widest = widest.max(shape.len());
    }
    (limit / (4 * widest.max(1))).clamp(1, 4096)
}

impl Sampler {
    /// An unconditional generator's sampler (see [`Sampler::for_config`]).
    pub fn new(gpu: &Gpu, g: &Net, n: usize, batch_stats: bool) -> Result<Sampler> {
        let rows = if batch_stats {
            n
        } else {
            n.min(rows_that_fit(gpu, g))
        };
        Sampler::in_parts(gpu, g, n, rows, batch_stats)
    }

    /// A sampler of n latents in parts of `rows`.
    pub fn in_parts(
        gpu: &Gpu,
        g: &Net,
        n: usize,
        rows: usize,
        batch_stats: bool,
    ) -> Result<Sampler> {
        let rows = rows.clamp(1, n.max(1));
        let z = gpu.zeros(rows * g.inputs())?;
        let opts = PassOptions {
            train: batch_stats,
            ..PassOptions::EVAL
        };
        let pass = Pass::new(gpu, g, rows, &z, None, None, opts)?;
        Ok(Sampler {
            z,
            pass,
            n,
            rows,
            inputs: g.inputs(),
            labels: None,
        })
    }

    /// The sampler of the generator `g` of `config`: in a conditional GAN,
    /// row i draws class i mod classes, so that n samples hold every class
    /// equally often (to within one).
    pub fn for_config(
        gpu: &Gpu,
        g: &Net,
        config: &GanConfig,
        n: usize,
        batch_stats: bool,
    ) -> Result<Sampler> {
        let s = Sampler::new(gpu, g, n, batch_stats)?;
        let k = config.classes;
        if k == 0 {
            return Ok(s);
        }
        s.with_labels(k, (0..n).map(|i| (i % k) as u32).collect())
    }

    /// A conditional generator's sampler drawing class `labels[i]` in row i.
    pub fn with_labels(mut self, classes: usize, labels: Vec<u32>) -> Result<Sampler> {
        let (n, inputs) = (self.n, self.inputs);
        let bad = |m: String| Err(Error::shape("sampler", m));
        if classes == 0 || classes >= inputs {
            return bad(format!(
                "a generator of {inputs} inputs cannot take {classes} classes"
            ));
        }
        if labels.len() != n {
            return bad(format!("{} labels for {n} samples", labels.len()));
        }
        if let Some(l) = labels.iter().find(|&&l| l as usize >= classes) {
            return bad(format!("label {l} is not one of the {classes} classes"));
        }
        self.labels = Some((classes, labels));
        Ok(self)
    }

    /// The latent values per sample: the generator's inputs, less the
    /// one-hot label of a conditional one.
    pub fn latent(&self) -> usize {
        self.inputs - self.labels.as_ref().map_or(0, |(k, _)| *k)
    }

    /// Samples per part: what [`Sampler::generate`] leaves on the GPU.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// G(z) for the given latents (n × latent values).
    pub fn run(&self, gpu: &Gpu, latents: &[f32]) -> Result<Vec<f32>> {
        self.check(latents)?;
        let per = self.pass.output.len() / self.rows;
        let mut out = Vec::with_capacity(self.n * per);
        for first in (0..self.n).step_by(self.rows) {
            let count = self.generate(gpu, latents, first)?;
            out.extend_from_slice(&gpu.read(&self.pass.output)?[..count * per]);
        }
        Ok(out)
    }

    fn check(&self, latents: &[f32]) -> Result<()> {
        let latent = self.latent();
        if latents.len() != self.n * latent {
            return Err(Error::shape(
                "sampler",
                format!(
                    "{} latent values for {} samples of {latent}",
                    latents.len(),
                    self.n
                ),
            ));
        }
        Ok(())
    }

    /// G(z) of the part of samples from `first` (at most [`Sampler::rows`])
    /// into [`Sampler::output`], left on the GPU; returns how many. In a
    /// conditional GAN each row's latents are followed by its label's
    /// one-hot code; rows past the last sample are zeros.
    pub fn generate(&self, gpu: &Gpu, latents: &[f32], first: usize) -> Result<usize> {
        self.check(latents)?;
        let latent = self.latent();
        let count = self.rows.min(self.n.saturating_sub(first));
        let part = &latents[first * latent..(first + count) * latent];
        let mut input = Vec::with_capacity(self.z.len());
        match &self.labels {
            None => input.extend_from_slice(part),
            Some((k, labels)) => {
                for (z, &l) in part.chunks(latent).zip(&labels[first..first + count]) {
                    input.extend_from_slice(z);
                    input.extend((0..*k).map(|c| if c == l as usize { 1.0 } else { 0.0 }));
                }
            }
        }
        input.resize(self.z.len(), 0.0);
        gpu.write(&self.z, &input)?;
        let kernels: Vec<&Kernel> = self.pass.forward_frozen.iter().collect();
        gpu.run(&kernels)?;
        Ok(count)
    }

    /// Where a part's G(z) is written.
    pub fn output(&self) -> &Tensor {
        &self.pass.output
    }
}

/// n × latent standard normal values from (seed, stream), the same on every
/// machine (computed on the CPU with the GPU's generator).
pub fn latents(seed: u64, stream: u32, n: usize, latent: usize) -> Vec<f32> {
    latents_at(seed, stream, 0, n, latent)
}

/// The latents of draw `counter` of (seed, stream): independent of the
/// other counters' draws.
pub fn latents_at(seed: u64, stream: u32, counter: u32, n: usize, latent: usize) -> Vec<f32> {
    crate::ops::random::reference::normal(seed, stream, counter, 0.0, 1.0, n * latent)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}
