//! What `shadergan sample` draws from a checkpoint: the generator on
//! latents from a seed or a file, one class or each in turn, and
//! optionally what discriminator rejection keeps and refinement moves.

use crate::data;
use crate::error::{Error, Result};
use crate::eval::conditional_refused;
use crate::gan::checkpoint::Checkpoint;
use crate::gan::refine::{Refine, Refiner};
use crate::gan::reject::Rejector;
use crate::gan::{Sampler, latents, streams};
use crate::gpu::Gpu;

/// How to sample.
#[derive(Clone, Debug, Default)]
pub struct Draw {
    /// Latents given ([n, latent] values); else `n` from `seed`.
    pub latents: Option<Vec<f32>>,
    pub n: Option<usize>,
    pub seed: u64,
    /// Batch norm on the batch's own statistics.
    pub batch_stats: bool,
    /// A conditional GAN: this class in every sample.
    pub label: Option<u32>,
    pub reject: bool,
    pub refine: Option<Refine>,
}

/// What was drawn: n rows of `features` values, and a line for each
/// sampler that ran.
pub struct Drawn {
    pub values: Vec<f32>,
    pub n: usize,
    pub features: usize,
    pub notes: Vec<String>,
}

/// Refinement's setting for a model of `data`: the data's length scale
/// gives the step size unless `rate` does.
pub fn refine_for(data: &str, rate: Option<f32>) -> Result<Refine> {
    Refine::for_scale(data, data::length_scale(data), rate)
}

impl Draw {
    /// Checks the options against the checkpoint before anything runs.
    pub fn check(&self, ck: &Checkpoint) -> Result<()> {
        let c = &ck.config;
        if self.count(ck) == 0 {
            return Err(Error::shape("sample", "--n must be at least 1"));
        }
        if c.classes > 0 && (self.reject || self.refine.is_some()) {
            let what = if self.reject { "--reject" } else { "--refine" };
            return Err(conditional_refused(what));
        }
        match self.label {
            Some(l) if c.classes == 0 => {
                return Err(Error::shape(
                    "sample",
                    format!("--label {l}: this generator is unconditional; leave out --label"),
                ));
            }
            Some(l) if l as usize >= c.classes => {
                return Err(Error::shape(
                    "sample",
                    format!(
                        "--label {l}: this generator draws classes 0 to {}",
                        c.classes - 1
                    ),
                ));
            }
            _ => {}
        }
        if self.reject && (self.latents.is_some() || self.batch_stats) {
            return Err(Error::shape(
                "sample",
                "--reject draws its own pool of latents with the running statistics; \
                 leave out --latents and --batch-stats",
            ));
        }
        let has_bn = c.generator.iter().any(|l| l.kind().is_norm());
        if self.batch_stats && self.count(ck) < 2 && has_bn {
            return Err(Error::shape(
                "sample",
                "--batch-stats needs at least 2 samples",
            ));
        }
        Ok(())
    }

    /// The number of samples asked for.
    fn count(&self, ck: &Checkpoint) -> usize {
        let c = &ck.config;
        match &self.latents {
            Some(z) => z.len() / c.latent.max(1),
            None => self.n.unwrap_or_else(|| crate::train::picture_rows(c)),
        }
    }

    /// Draws from the checkpoint's generator (and discriminator).
    pub fn run(&self, gpu: &Gpu, ck: &Checkpoint) -> Result<Drawn> {
        self.check(ck)?;
        let c = &ck.config;
        let n = self.count(ck);
        let z = match &self.latents {
            Some(z) => z.clone(),
            None => latents(self.seed, streams::FIXED_Z, n, c.latent),
        };
        let g = ck.generator(gpu)?;
        let mut notes = Vec::new();
        let (values, n) = if self.reject {
            let d = ck.discriminator(gpu)?;
            let r =
                Rejector::new(gpu, &g, &d, c.pack, n)?.run(gpu, self.seed, streams::FIXED_Z, n)?;
            notes.push(r.to_string());
            (r.samples, r.kept)
        } else {
            let mut s = Sampler::for_config(gpu, &g, c, n, self.batch_stats)?;
            if let Some(l) = self.label {
                s = s.with_labels(c.classes, vec![l; n])?;
            }
            (s.run(gpu, &z)?, n)
        };
        let features = values.len() / n.max(1);
        let values = match &self.refine {
            Some(r) => {
                let d = ck.discriminator(gpu)?;
                let refiner = Refiner::new(gpu, &d, c.pack, features, n, r, self.seed)?;
                notes.push(r.to_string());
                refiner.run(gpu, &values, 0)?
            }
            None => values,
        };
        Ok(Drawn {
            values,
            n,
            features,
            notes,
        })
    }
}
