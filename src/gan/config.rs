//! Everything that defines a run ([`GanConfig`]), saved as config.json
//! and in checkpoints, and its checks.

use serde::{Deserialize, Serialize};

use super::presets::{self, DIGITS_CLASSES, POINTS, REFERENCE};
use crate::error::{Error, Result};
use crate::nn::{self, InitScheme, Layer, Shape};
use crate::ops::adam::Decay;
use crate::ops::loss::LossKind;

/// Everything that defines a run; saved as config.json and in checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanConfig {
    pub latent: usize,
    pub generator: Vec<Layer>,
    /// Its input width is the sample's features times `pack`.
    pub discriminator: Vec<Layer>,
    pub batch: usize,
    /// PacGAN: D judges `pack` samples concatenated.
    pub pack: usize,
    pub lr_g: f32,
    pub lr_d: f32,
    /// Both learning rates' schedule (none in configs that predate it).
    #[serde(default)]
    pub decay: Decay,
    pub beta1: f32,
    pub beta2: f32,
    pub loss: LossKind,
    /// The target of real samples for D (1, or 0.9 for one-sided smoothing).
    pub real_label: f32,
    /// D's updates per step, each on a fresh real batch and fresh noise,
    /// before G's one (1 in configs that predate it).
    #[serde(default = "one")]
    pub d_steps: usize,
    /// The learning rate of batch norm's γ and β as a multiple of their
    /// net's (1 in configs that predate it). Adam moves each parameter by
    /// about lr per step, so at 1 the generator's γ, which set how sharply
    /// it switches from one mode to the next, grow slowly.
    #[serde(default = "unit")]
    pub norm_lr: f32,
    /// A class-conditional GAN (Mirza and Osindero 2014) over this many
    /// classes: the one-hot code of a label follows G's latent and each
    /// sample D judges, real samples with their own labels, G's with labels
    /// drawn uniformly (0: unconditional, and in configs that predate it).
    #[serde(default)]
    pub classes: usize,
    /// How the nets' parameters start (PyTorch's defaults in configs that
    /// predate it).
    #[serde(default)]
    pub init: InitScheme,
    /// The classes' names, where the data names them (class folders).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_names: Vec<String>,
    /// An image folder's images with transparency were composited onto
    /// this colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<[u8; 3]>,
    pub seed: u64,
    /// The --data it was trained on, and one sample's shape: [channels,
    /// height, width] for images, [2] for points.
    pub data: String,
    pub shape: Vec<usize>,
}

fn one() -> usize {
    1
}

fn unit() -> f32 {
    1.0
}

/// The most D updates per step --d-steps accepts.
pub const MAX_D_STEPS: usize = 16;
pub const MAX_NORM_LR: f32 = 1000.0;
/// The most classes a conditional GAN takes.
pub const MAX_CLASSES: usize = 256;

impl GanConfig {
    /// The reference GAN on the built-in MNIST digits at `batch`: the
    /// workload of the benchmarks.
    pub fn reference_mnist(batch: usize) -> GanConfig {
        GanConfig {
            batch,
            ..REFERENCE.config("mnist", &[1, 28, 28])
        }
    }

    /// The default GAN for 2-D points of the mixture `data` ("ring",
    /// "grid"), at a constant learning rate.
    pub fn points(data: &str) -> GanConfig {
        POINTS.config(data, &[2])
    }

    /// The default GAN for the points of `data` trained for `steps`, with
    /// its schedule.
    pub fn points_for(data: &str, steps: u64) -> GanConfig {
        POINTS.scheduled(data, &[2], steps)
    }

    /// What `shadergan train` with no flags trains: the digits' preset
    /// ([`presets::DIGITS`]) on the built-in digits, conditional on the
    /// digit's class: told which digit to draw, the generator draws each
    /// more clearly.
    pub fn digits() -> GanConfig {
        presets::DIGITS
            .scheduled("mnist", &[1, 28, 28], presets::DIGITS.steps)
            .conditional(DIGITS_CLASSES)
    }

    /// PacGAN: D judges `m` samples concatenated (its first layer takes m
    /// times the features); the batch is rounded down to a multiple of m
    /// (100 samples are 33 packs of 3, 99 samples).
    pub fn packed(mut self, m: usize) -> GanConfig {
        self.pack = m;
        if m > 0 && self.batch >= m {
            self.batch -= self.batch % m;
        }
        self.first_layers_fit()
    }

    /// A class-conditional GAN over `classes` classes (0: unconditional):
    /// G's first layer takes the latent and a one-hot label, D's each
    /// sample and its one-hot label.
    pub fn conditional(mut self, classes: usize) -> GanConfig {
        self.classes = classes;
        self.first_layers_fit()
    }

    /// Whether D is convolutional: it sees each sample as an image, a
    /// conditional GAN's label as constant channels beside it.
    pub fn d_is_conv(&self) -> bool {
        matches!(self.discriminator.first(), Some(Layer::Conv2d(_)))
    }

    /// How many values each class's code takes in D's input: 1 (a one-hot
    /// row after the features), or an image's H·W (one-hot planes).
    pub fn label_repeat(&self) -> usize {
        match self.shape[..] {
            [_, h, w] if self.d_is_conv() => h * w,
            _ => 1,
        }
    }

    /// The values D sees per sample: the features, then the label's
    /// one-hot code (or planes) in a conditional GAN.
    pub fn sample_width(&self) -> usize {
        self.shape.iter().product::<usize>() + self.classes * self.label_repeat()
    }

    /// G's input per sample: the latent, then the one-hot label.
    pub fn g_inputs(&self) -> usize {
        self.latent + self.classes
    }

    /// The shape of G's input.
    pub fn g_input(&self) -> Shape {
        Shape::flat(self.g_inputs())
    }

    /// The shape of D's input: `pack` samples with their labels, side by
    /// side (channels stacked, for a convolutional D).
    pub fn d_input(&self) -> Shape {
        match self.shape[..] {
            [c, h, w] if self.d_is_conv() => Shape::new(self.pack * (c + self.classes), h, w),
            _ => Shape::flat(self.sample_width() * self.pack),
        }
    }

    /// Sets the inputs of G's and D's first layers from the latent, the
    /// classes, the sample's shape and the pack.
    fn first_layers_fit(mut self) -> GanConfig {
        let (g_in, d_in) = (self.g_inputs(), self.d_input());
        match self.generator.first_mut() {
            Some(Layer::Linear(l)) => l.inputs = g_in,
            Some(Layer::ConvTranspose2d(l)) => l.inputs = g_in,
            _ => {}
        }
        match self.discriminator.first_mut() {
            Some(Layer::Linear(l)) => l.inputs = d_in.len(),
            Some(Layer::Conv2d(l)) => l.inputs = d_in.c,
            _ => {}
        }
        self
    }

    /// Both learning rates fall linearly from `start` to `floor` times
    /// themselves at step `end`.
    pub fn decaying(mut self, start: u64, end: u64, floor: f32) -> GanConfig {
        let clamp = |s: u64| s.min(u32::MAX as u64) as u32;
        self.decay = Decay {
            start: clamp(start),
            end: clamp(end),
            floor,
        };
        self
    }

    /// The preset of the reference MLP GAN for samples of `features` values.
    pub fn reference(features: usize) -> GanConfig {
        presets::REFERENCE.config("", &[features])
    }

    /// The largest batch whose buffers fit in one storage binding of
    /// `limit` bytes: the widest activation, for the 2B rows (over `pack`)
    /// D sees at once.
    pub fn largest_batch(&self, features: usize, limit: u64) -> usize {
        // The largest of a net's input and its layers' outputs.
        let widest = |layers: &[Layer], input: Shape| {
            let mut shape = input;
            let mut widest = input.len();
            for l in layers {
                shape = l.kind().output(shape).unwrap_or(shape);
                widest = widest.max(shape.len());
            }
            widest
        };
        // Per sample: G's widest activation, and D's (2 rows of it per pack).
        let per_sample = (widest(&self.generator, self.g_input()))
            .max(2 * widest(&self.discriminator, self.d_input()) / self.pack.max(1))
            .max(2 * (features + self.classes)) as u64
            * 4;
        let b = (limit / per_sample.max(1)) as usize;
        b - b % self.pack.max(1)
    }

    pub fn check(&self, features: usize) -> Result<()> {
        let bad = |m: String| Err(Error::shape("config", m));
        if self.shape.iter().product::<usize>() != features {
            return bad(format!(
                "sample shape {:?} does not hold {features} values",
                self.shape
            ));
        }
        if self.batch == 0 {
            return bad("--batch must be at least 1".into());
        }
        if !(1..=MAX_D_STEPS).contains(&self.d_steps) {
            return bad(format!(
                "--d-steps {} must lie between 1 and {MAX_D_STEPS}",
                self.d_steps
            ));
        }
        if self.latent == 0 {
            return bad("--latent must be at least 1".into());
        }
        if self.pack == 0 {
            return bad("--pack must be at least 1".into());
        }
        if !self.batch.is_multiple_of(self.pack) {
            return bad(format!(
                "--batch {} must be a multiple of --pack {}",
                self.batch, self.pack
            ));
        }
        let has_bn = self.generator.iter().any(|l| l.kind().is_norm());
        if has_bn && self.batch < 2 {
            return bad("the generator uses batch norm, which needs --batch of at least 2".into());
        }
        for (name, lr) in [("--lr", self.lr_g), ("--lr (discriminator)", self.lr_d)] {
            if !(lr.is_finite() && lr > 0.0) {
                return bad(format!("{name} = {lr} must be a finite positive number"));
            }
        }
        let r = self.norm_lr;
        if !(r.is_finite() && r > 0.0 && r <= MAX_NORM_LR) {
            return bad(format!(
                "--norm-lr = {r} must be a positive number of at most {MAX_NORM_LR}"
            ));
        }
        let f = self.decay.floor;
        if !(f.is_finite() && (0.0..=1.0).contains(&f)) {
            return bad(format!("--decay-floor = {f} must lie between 0 and 1"));
        }
        // As PyTorch's Adam: 0 ≤ β < 1 (β1 = 0 is SAGAN's, BigGAN's and
        // StyleGAN2's choice).
        for (name, b) in [("--beta1", self.beta1), ("--beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("{name} = {b} must be at least 0 and less than 1"));
            }
        }
        if self.classes > MAX_CLASSES {
            return bad(format!(
                "{} classes: a conditional GAN takes at most {MAX_CLASSES}",
                self.classes
            ));
        }
        let g_out = nn::check(&self.generator, self.g_input(), "generator")?.len();
        if g_out != features {
            return bad(format!(
                "the generator makes {g_out} values per sample, the data has {features}"
            ));
        }
        let d_out = nn::check(&self.discriminator, self.d_input(), "discriminator")?.len();
        if d_out != 1 {
            return bad(format!(
                "the discriminator must end in 1 logit, not {d_out}"
            ));
        }
        Ok(())
    }
}
