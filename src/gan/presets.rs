//! The networks and settings a run starts from, in one table that the
//! command line, the study and the tests read. docs/quality.md says why
//! each number is what it is.

use super::config::GanConfig;
use crate::nn::{self, Layer};
use crate::ops::adam::Decay;
use crate::ops::loss::LossKind;

/// A family of networks with the settings a run of it starts from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    /// The size of the generator's input noise.
    pub latent: usize,
    /// Hidden widths: each a Linear, then batch norm in the generator
    /// where `g_batch_norm`, then LeakyReLU (slope `g_slope` in the
    /// generator, 0 being ReLU; 0.2 in the discriminator).
    pub g_hidden: &'static [usize],
    pub d_hidden: &'static [usize],
    pub g_slope: f32,
    pub g_batch_norm: bool,
    /// A tanh after the generator's last layer (images in [-1, 1]).
    pub g_tanh: bool,
    pub batch: usize,
    /// Adam's learning rate of both networks, and batch norm's γ and β's
    /// as a multiple of it.
    pub lr: f32,
    pub norm_lr: f32,
    /// Steps of a run when --steps is not given; from this percentage of
    /// them the learning rates fall linearly to 0 at the last (None: they
    /// stay constant).
    pub steps: u64,
    pub decay_start_percent: Option<u64>,
}

/// 2-D points (ring, grid): G 3 × 128 ReLU with batch norm and a linear
/// output from 2-D noise, D 2 × 128 LeakyReLU(0.2), batch 100, lr 5e-4,
/// batch norm at 10 × the rate, 16,000 steps decaying over the second
/// half. The ring test (tests/train.rs) trains exactly this.
pub const POINTS: Preset = Preset {
    name: "points",
    latent: 2,
    g_hidden: &[128, 128, 128],
    d_hidden: &[128, 128],
    g_slope: 0.0,
    g_batch_norm: true,
    g_tanh: false,
    batch: 100,
    lr: 5e-4,
    norm_lr: 10.0,
    steps: 16000,
    decay_start_percent: Some(50),
};

/// Images with the MLP: G 256-512-1024 with batch norm and LeakyReLU(0.2),
/// tanh out, from 100-D noise; D 512-256 LeakyReLU(0.2); batch 64; lr 1e-3
/// (DCGAN's 2e-4 learns less in the 5,000 steps a run on lavapipe
/// affords), falling linearly to 0 over the second half.
pub const IMAGES: Preset = Preset {
    name: "images",
    lr: 1e-3,
    steps: 5000,
    decay_start_percent: Some(50),
    ..REFERENCE
};

/// The reference MLP GAN (docs/design.md): the images' networks at
/// DCGAN's constant lr 2e-4, batch 64. The workload of the benchmarks.
pub const REFERENCE: Preset = Preset {
    name: "reference",
    latent: 100,
    g_hidden: &[256, 512, 1024],
    d_hidden: &[512, 256],
    g_slope: 0.2,
    g_batch_norm: true,
    g_tanh: true,
    batch: 64,
    lr: 2e-4,
    norm_lr: 1.0,
    steps: 5000,
    decay_start_percent: None,
};

/// Every preset, by name.
pub const PRESETS: &[Preset] = &[POINTS, IMAGES, REFERENCE];

/// The built-in digits' classes: their default GAN is conditional on them.
pub const DIGITS_CLASSES: usize = 10;

/// Adam's betas, DCGAN's, for every preset.
pub const BETAS: (f32, f32) = (0.5, 0.999);

impl Preset {
    /// The generator from `inputs` (latent and label) to `outputs` values.
    pub fn generator(&self, inputs: usize, outputs: usize) -> Vec<Layer> {
        self.generator_of(self.g_hidden, inputs, outputs)
    }

    /// The preset's generator with other hidden widths.
    pub fn generator_of(&self, hidden: &[usize], inputs: usize, outputs: usize) -> Vec<Layer> {
        let out = self.g_tanh.then_some(Layer::Tanh);
        nn::mlp(
            inputs,
            hidden,
            outputs,
            self.g_batch_norm,
            self.g_slope,
            out,
        )
    }

    /// The discriminator from `inputs` values to one logit.
    pub fn discriminator(&self, inputs: usize) -> Vec<Layer> {
        self.discriminator_of(self.d_hidden, inputs)
    }

    /// The preset's discriminator with other hidden widths.
    pub fn discriminator_of(&self, hidden: &[usize], inputs: usize) -> Vec<Layer> {
        nn::mlp(inputs, hidden, 1, false, 0.2, None)
    }

    /// The preset's GAN for samples of `shape` from `data`, with a constant
    /// learning rate.
    pub fn config(&self, data: &str, shape: &[usize]) -> GanConfig {
        let features = shape.iter().product();
        GanConfig {
            data: data.to_string(),
            shape: shape.to_vec(),
            latent: self.latent,
            generator: self.generator(self.latent, features),
            discriminator: self.discriminator(features),
            batch: self.batch,
            pack: 1,
            lr_g: self.lr,
            lr_d: self.lr,
            decay: Decay::NONE,
            beta1: BETAS.0,
            beta2: BETAS.1,
            loss: LossKind::Bce,
            real_label: 1.0,
            d_steps: 1,
            norm_lr: self.norm_lr,
            classes: 0,
            seed: 0,
        }
    }

    /// [`Preset::config`] for a run of `steps`, with the preset's schedule.
    pub fn scheduled(&self, data: &str, shape: &[usize], steps: u64) -> GanConfig {
        let c = self.config(data, shape);
        match self.decay_start_percent {
            Some(p) => c.decaying(steps * p / 100, steps, 0.0),
            None => c,
        }
    }
}
