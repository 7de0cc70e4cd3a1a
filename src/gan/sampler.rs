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
pub struct Sampler {
    pub z: Tensor,
    pass: Pass,
    /// A conditional generator's classes and each row's label.
    labels: Option<(usize, Vec<u32>)>,
}

impl Sampler {
    /// An unconditional generator's sampler (see [`Sampler::for_config`]).
    pub fn new(gpu: &Gpu, g: &Net, n: usize, batch_stats: bool) -> Result<Sampler> {
        let z = gpu.zeros(n * g.inputs())?;
        let opts = PassOptions {
            train: batch_stats,
            ..PassOptions::EVAL
        };
        let pass = Pass::new(gpu, g, n, &z, None, None, opts)?;
        Ok(Sampler {
            z,
            pass,
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
        let n = self.pass.batch;
        let inputs = self.z.len() / n.max(1);
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
        let inputs = self.z.len() / self.pass.batch.max(1);
        inputs - self.labels.as_ref().map_or(0, |(k, _)| *k)
    }

    /// G(z) for the given latents (n × latent values).
    pub fn run(&self, gpu: &Gpu, latents: &[f32]) -> Result<Vec<f32>> {
        self.generate(gpu, latents)?;
        gpu.read(&self.pass.output)
    }

    /// G(z) into [`Sampler::output`], left on the GPU; in a conditional
    /// GAN, each row's latents followed by its label's one-hot code.
    pub fn generate(&self, gpu: &Gpu, latents: &[f32]) -> Result<()> {
        match &self.labels {
            None => gpu.write(&self.z, latents)?,
            Some((k, labels)) => {
                let latent = self.latent();
                if latents.len() != labels.len() * latent {
                    return Err(Error::shape(
                        "sampler",
                        format!(
                            "{} latent values for {} samples of {latent}",
                            latents.len(),
                            labels.len()
                        ),
                    ));
                }
                let mut input = Vec::with_capacity(self.z.len());
                for (z, &l) in latents.chunks(latent).zip(labels) {
                    input.extend_from_slice(z);
                    input.extend((0..*k).map(|c| if c == l as usize { 1.0 } else { 0.0 }));
                }
                gpu.write(&self.z, &input)?
            }
        }
        let kernels: Vec<&Kernel> = self.pass.forward_frozen.iter().collect();
        gpu.run(&kernels)
    }

    /// Where G(z) is written.
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
