//! The networks and settings a run starts from, in one table that the
//! command line, the study and the tests read. docs/quality.md says why
//! each number is what it is.

use super::config::GanConfig;
use crate::nn::{self, InitScheme, Layer};
use crate::ops::adam::Decay;
use crate::ops::loss::LossKind;

/// The kind of networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Multi-layer perceptrons: Linear, batch norm, LeakyReLU.
    Mlp,
    /// Radford et al.'s DCGAN: strided convolutions, batch norm, ReLU in
    /// G and LeakyReLU(0.2) in D (see [`dcgan_generator`]).
    Dcgan,
}

/// A family of networks with the settings a run of it starts from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    pub arch: Arch,
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
    /// A DCGAN's base channels: G's last hidden layer and D's first have
    /// this many, doubling towards the 4 × 4 (or 7 × 7) end.
    pub g_width: usize,
    pub d_width: usize,
    pub init: InitScheme,
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
    arch: Arch::Mlp,
    latent: 2,
    g_hidden: &[128, 128, 128],
    d_hidden: &[128, 128],
    g_slope: 0.0,
    g_batch_norm: true,
    g_tanh: false,
    g_width: 0,
    d_width: 0,
    init: InitScheme::Pytorch,
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
    arch: Arch::Mlp,
    latent: 100,
    g_hidden: &[256, 512, 1024],
    d_hidden: &[512, 256],
    g_slope: 0.2,
    g_batch_norm: true,
    g_tanh: true,
    g_width: 0,
    d_width: 0,
    init: InitScheme::Pytorch,
    batch: 64,
    lr: 2e-4,
    norm_lr: 1.0,
    steps: 5000,
    decay_start_percent: None,
};

/// Images with a DCGAN (Radford et al. 2016): G from the noise through
/// strided transposed convolutions with batch norm and ReLU to tanh, D
/// mirrored with strided convolutions, LeakyReLU(0.2) and batch norm after
/// the first, DCGAN's initialisation, Adam β1 0.5, batch 64; base widths 16
/// in G and 32 in D, lr 1e-3 decaying over the second half (DCGAN's 2e-4
/// and equal widths learn less in the steps that fit on a CPU adapter:
/// docs/quality.md, "The DCGAN"); 2,400 steps, about 14 minutes on
/// lavapipe's two cores for the digits.
pub const DCGAN: Preset = Preset {
    name: "dcgan",
    arch: Arch::Dcgan,
    g_hidden: &[],
    d_hidden: &[],
    g_width: 16,
    d_width: 32,
    init: InitScheme::Dcgan,
    lr: 1e-3,
    steps: 2400,
    ..IMAGES
};

/// What `shadergan train` with no flags trains on the built-in digits
/// (conditional on their class): of the networks measured within about 15
/// minutes on lavapipe, the one whose samples the digits' classifier
/// scores highest (docs/quality.md, "The default network").
pub const DIGITS: Preset = DCGAN;

/// The DCGAN at base width 32 and DCGAN's constant lr 2e-4: the
/// convolutional workload of the benchmarks (docs/benchmarks.md).
pub const DCGAN_BENCH: Preset = Preset {
    name: "dcgan-bench",
    g_width: 32,
    d_width: 32,
    lr: 2e-4,
    decay_start_percent: None,
    ..DCGAN
};

/// Every preset, by name.
pub const PRESETS: &[Preset] = &[POINTS, IMAGES, REFERENCE, DCGAN, DCGAN_BENCH];

/// The built-in digits' classes: their default GAN is conditional on them.
pub const DIGITS_CLASSES: usize = 10;

/// Adam's betas, DCGAN's, for every preset.
pub const BETAS: (f32, f32) = (0.5, 0.999);

impl Preset {
    /// The generator from `inputs` (latent and label) to samples of
    /// `shape` ([C, H, W] for images, [F] for points), or why this preset
    /// cannot draw that shape.
    pub fn generator(&self, inputs: usize, shape: &[usize]) -> Result<Vec<Layer>, String> {
        match (self.arch, shape) {
            (Arch::Dcgan, &[c, h, w]) => dcgan_generator(inputs, c, h, w, self.g_width),
            (Arch::Dcgan, _) => Err("a DCGAN draws images, not points".into()),
            (Arch::Mlp, _) => Ok(self.generator_of(self.g_hidden, inputs, shape.iter().product())),
        }
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

    /// The discriminator from samples of `shape` (with `extra` channels or
    /// values: labels, packed samples) to one logit.
    pub fn discriminator(&self, shape: &[usize]) -> Result<Vec<Layer>, String> {
        match (self.arch, shape) {
            (Arch::Dcgan, &[c, h, w]) => dcgan_discriminator(c, h, w, self.d_width),
            (Arch::Dcgan, _) => Err("a DCGAN judges images, not points".into()),
            (Arch::Mlp, _) => Ok(self.discriminator_of(self.d_hidden, shape.iter().product())),
        }
    }

    /// The preset's discriminator with other hidden widths.
    pub fn discriminator_of(&self, hidden: &[usize], inputs: usize) -> Vec<Layer> {
        nn::mlp(inputs, hidden, 1, false, 0.2, None)
    }

    /// The preset's GAN for samples of `shape` from `data`, with a constant
    /// learning rate.
    pub fn config(&self, data: &str, shape: &[usize]) -> GanConfig {
        self.try_config(data, shape)
            .expect("the preset draws this shape")
    }

    /// [`Preset::config`], or why the preset cannot draw `shape`.
    pub fn try_config(&self, data: &str, shape: &[usize]) -> Result<GanConfig, String> {
        Ok(GanConfig {
            data: data.to_string(),
            shape: shape.to_vec(),
            latent: self.latent,
            generator: self.generator(self.latent, shape)?,
            discriminator: self.discriminator(shape)?,
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
            init: self.init,
            class_names: Vec::new(),
            background: None,
            seed: 0,
        })
    }

    /// [`Preset::config`] for a run of `steps`, with the preset's schedule.
    pub fn scheduled(&self, data: &str, shape: &[usize], steps: u64) -> GanConfig {
        self.try_scheduled(data, shape, steps)
            .expect("the preset draws this shape")
    }

    /// [`Preset::scheduled`], or why the preset cannot draw `shape`.
    pub fn try_scheduled(
        &self,
        data: &str,
        shape: &[usize],
        steps: u64,
    ) -> Result<GanConfig, String> {
        let c = self.try_config(data, shape)?;
        Ok(match self.decay_start_percent {
            Some(p) => c.decaying(steps * p / 100, steps, 0.0),
            None => c,
        })
    }
}

/// The sides a DCGAN reaches: 28 (digits: 7 → 14 → 28), or 4 doubled at
/// least once (8, 16, 32, 64, 128, ...).
pub fn dcgan_doublings(h: usize, w: usize) -> Result<usize, String> {
    if h != w {
        return Err(format!("a DCGAN draws square images, not {h}x{w}"));
    }
    if h == 28 {
        return Ok(2);
    }
    match (h / 4).checked_ilog2() {
        Some(d) if d >= 1 && h == 4 << d => Ok(d as usize),
        _ => Err(format!(
            "a DCGAN draws 28 x 28 images or sides that double from 4 (8, 16, 32, 64, 128), not {h}"
        )),
    }
}

/// A DCGAN generator from `inputs` values (as [inputs, 1, 1]) to [c, h,
/// h]: at 28, ConvTranspose 7×7 to 7×7×4w, then 4/2/1 to 14×14×2w and to
/// 28×28×c; else ConvTranspose 4×4 to 4×4×(2^(d−1)·w), then 4/2/1 doubling
/// the side and halving the channels, the last to c. Batch norm and ReLU
/// after every layer but the last, tanh after it.
pub fn dcgan_generator(
    inputs: usize,
    c: usize,
    h: usize,
    w: usize,
    width: usize,
) -> Result<Vec<Layer>, String> {
    let d = dcgan_doublings(h, w)?;
    let (first, mut ch) = if h == 28 {
        (Layer::conv_transpose(inputs, 4 * width, 7, 1, 0), 4 * width)
    } else {
        let ch = width << (d - 1);
        (Layer::conv_transpose(inputs, ch, 4, 1, 0), ch)
    };
    let mut layers = vec![first, Layer::batch_norm(ch), Layer::Relu];
    for i in 0..d {
        let last = i + 1 == d;
        let next = if last { c } else { ch / 2 };
        layers.push(Layer::conv_transpose(ch, next, 4, 2, 1));
        if !last {
            layers.extend([Layer::batch_norm(next), Layer::Relu]);
        }
        ch = next;
    }
    layers.push(Layer::Tanh);
    Ok(layers)
}

/// The DCGAN discriminator mirroring [`dcgan_generator`]: Conv 4/2/1 from
/// c channels to w, LeakyReLU(0.2), then 4/2/1 halving the side and
/// doubling the channels with batch norm and LeakyReLU, and a last
/// convolution over the whole 7×7 (28) or 4×4 map to one logit.
pub fn dcgan_discriminator(
    c: usize,
    h: usize,
    w: usize,
    width: usize,
) -> Result<Vec<Layer>, String> {
    let d = dcgan_doublings(h, w)?;
    let mut layers = vec![Layer::conv(c, width, 4, 2, 1), Layer::leaky_relu(0.2)];
    let mut ch = width;
    for _ in 1..d {
        layers.extend([
            Layer::conv(ch, 2 * ch, 4, 2, 1),
            Layer::batch_norm(2 * ch),
            Layer::leaky_relu(0.2),
        ]);
        ch *= 2;
    }
    let side = if h == 28 { 7 } else { 4 };
    layers.push(Layer::conv(ch, 1, side, 1, 0));
    Ok(layers)
}
