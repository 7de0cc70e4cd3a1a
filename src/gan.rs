//! The GAN training step (DESIGN §1), recorded into one command encoder and
//! submitted once: no allocation, no pipeline creation, no readback and no
//! wait inside a step. Every buffer and kernel is made by [`Trainer::new`].
//!
//! One step, with t = counters[0] advanced on the GPU first, and then, for
//! each of D's `d_steps` updates, u = D's update number (counters[1],
//! advanced before each; with one update per step, u = t):
//! 1. z ~ N(0, 1) from (seed, stream 1, u); real indices from (seed, 3, u);
//!    the real batch gathered on the GPU into the first half of D's input;
//! 2. G forward on z (batch norm on the batch, running statistics left
//!    alone); G(z) copied into the second half of D's input;
//! 3. D forward on real and fake together, the loss against labels 1 and 0,
//!    D backward with weight gradients, Adam on D (its step number u);
//! 4. fresh z from (seed, stream 2, t); G forward (running statistics
//!    updated); D forward on G(z); the generator's loss (label 1); D
//!    backward to its input only; G backward; Adam on G.
//!
//! The losses and D's mean outputs land in row t % ring of a GPU ring that
//! the host copies out every few steps and maps without waiting.

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Samples};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::Kernel;
use crate::model::{self, Layer, Net, Pass, PassOptions};
use crate::ops::adam::{self, Adam, Decay};
use crate::ops::concat::{self, Block};
use crate::ops::data::{Source, gather_rows};
use crate::ops::loss::{Loss, LossKind, OutRow, loss};
use crate::ops::random::{self, Stream};
use crate::tensor::Tensor;

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

/// The defaults for 2-D points (ring, grid): G 3 × 128 ReLU with batch
/// norm and a linear output from 2-D noise, D 2 × 128 LeakyReLU(0.2),
/// batch 100, lr 5e-4. The ring test (tests/train.rs) trains exactly this.
pub const POINTS_LATENT: usize = 2;
pub const POINTS_G_HIDDEN: [usize; 3] = [128; 3];
pub const POINTS_D_HIDDEN: [usize; 2] = [128; 2];
pub const POINTS_BATCH: usize = 100;
pub const POINTS_LR: f32 = 5e-4;
/// Points: the learning rates fall linearly to 0 over the last half of
/// the run, so that the generator settles onto the modes.
pub const POINTS_DECAY_START_PERCENT: u64 = 50;
/// Steps of a run on points when --steps is not given.
pub const POINTS_STEPS: u64 = 16000;
pub const POINTS_NORM_LR: f32 = 10.0;

/// The defaults for images: G 256-512-1024 with batch norm and
/// LeakyReLU(0.2), tanh out, from 100-D noise; D 512-256 LeakyReLU(0.2);
/// batch 64; Adam β = (0.5, 0.999) as DCGAN, but lr 1e-3 rather than
/// DCGAN's 2e-4, falling linearly to 0 over the last half of the run: the
/// higher rate learns more in the 5,000 steps a run on lavapipe affords.
pub const IMAGES_LATENT: usize = 100;
pub const IMAGES_G_HIDDEN: [usize; 3] = [256, 512, 1024];
pub const IMAGES_D_HIDDEN: [usize; 2] = [512, 256];
pub const IMAGES_BATCH: usize = 64;
pub const IMAGES_LR: f32 = 1e-3;
pub const IMAGES_DECAY_START_PERCENT: u64 = 50;
/// Steps of a run on images (the built-in digits) when --steps is not given.
pub const DIGITS_STEPS: u64 = 5000;
pub const DIGITS_CLASSES: usize = 10;

impl GanConfig {
    /// The reference GAN on the built-in MNIST digits at `batch`: the
    /// workload of the benchmarks.
    pub fn reference_mnist(batch: usize) -> GanConfig {
        GanConfig {
            data: "mnist".into(),
            shape: vec![1, 28, 28],
            batch,
            ..GanConfig::reference(784)
        }
    }

    /// The default GAN for 2-D points of the mixture `data` ("ring", "grid").
    pub fn points(data: &str) -> GanConfig {
        GanConfig {
            data: data.to_string(),
            shape: vec![2],
            latent: POINTS_LATENT,
            generator: model::mlp(POINTS_LATENT, &POINTS_G_HIDDEN, 2, true, 0.0, None),
            discriminator: model::mlp(2, &POINTS_D_HIDDEN, 1, false, 0.2, None),
            batch: POINTS_BATCH,
            lr_g: POINTS_LR,
            lr_d: POINTS_LR,
            norm_lr: POINTS_NORM_LR,
            ..GanConfig::reference(2)
        }
    }

    /// The default GAN for images of `shape` [channels, height, width]
    /// from `data`, trained for `steps` (see IMAGES_*).
    pub fn images(data: &str, shape: [usize; 3], steps: u64) -> GanConfig {
        let features = shape.iter().product();
        GanConfig {
            data: data.to_string(),
            shape: shape.to_vec(),
            latent: IMAGES_LATENT,
            generator: model::mlp(
                IMAGES_LATENT,
                &IMAGES_G_HIDDEN,
                features,
                true,
                0.2,
                Some(Layer::Tanh),
            ),
            discriminator: model::mlp(features, &IMAGES_D_HIDDEN, 1, false, 0.2, None),
            batch: IMAGES_BATCH,
            lr_g: IMAGES_LR,
            lr_d: IMAGES_LR,
            ..GanConfig::reference(features)
        }
        .decaying(steps * IMAGES_DECAY_START_PERCENT / 100, steps, 0.0)
    }

    /// The default GAN for the points of `data` trained for `steps`: that
    /// of `points`, with the learning rates decaying as POINTS_* says.
    pub fn points_for(data: &str, steps: u64) -> GanConfig {
        GanConfig::points(data).decaying(steps * POINTS_DECAY_START_PERCENT / 100, steps, 0.0)
    }

    /// The default GAN on the built-in digits for DIGITS_STEPS steps:
    /// what `shadergan train` with no flags trains. It is conditional on
    /// the digit's class (DIGITS_CLASSES): told which digit to draw, the
    /// generator draws each more clearly (classifier inception score about
    /// 9.2 against 8.1 unconditional after 5,000 steps).
    pub fn digits() -> GanConfig {
        GanConfig::images("mnist", [1, 28, 28], DIGITS_STEPS).conditional(DIGITS_CLASSES)
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

    /// The values D sees per sample: the features, then the label's
    /// one-hot code in a conditional GAN.
    pub fn sample_width(&self) -> usize {
        self.shape.iter().product::<usize>() + self.classes
    }

    /// G's input per sample: the latent, then the one-hot label.
    pub fn g_inputs(&self) -> usize {
        self.latent + self.classes
    }

    /// Sets the inputs of G's and D's first layers from the latent, the
    /// classes, the sample's shape and the pack.
    fn first_layers_fit(mut self) -> GanConfig {
        let (g_in, d_in) = (self.g_inputs(), self.sample_width() * self.pack);
        if let Some(Layer::Linear { inputs, .. }) = self.generator.first_mut() {
            *inputs = g_in;
        }
        if let Some(Layer::Linear { inputs, .. }) = self.discriminator.first_mut() {
            *inputs = d_in;
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

    /// The reference MLP GAN of DESIGN §4 for samples of `features` values.
    pub fn reference(features: usize) -> GanConfig {
        GanConfig {
            data: String::new(),
            shape: vec![features],
            latent: 100,
            generator: model::reference_generator(100, features),
            discriminator: model::reference_discriminator(features),
            batch: 64,
            pack: 1,
            lr_g: 2e-4,
            lr_d: 2e-4,
            decay: Decay::NONE,
            beta1: 0.5,
            beta2: 0.999,
            loss: LossKind::Bce,
            real_label: 1.0,
            d_steps: 1,
            norm_lr: 1.0,
            classes: 0,
            seed: 0,
        }
    }

    /// The largest batch whose buffers fit in one storage binding of
    /// `limit` bytes: the widest activation, for the 2B rows (over `pack`)
    /// D sees at once.
    pub fn largest_batch(&self, features: usize, limit: u64) -> usize {
        let width = |layers: &[Layer]| {
            layers
                .iter()
                .map(|l| match *l {
                    Layer::Linear { inputs, outputs } => inputs.max(outputs),
                    Layer::BatchNorm { features } => features,
                    _ => 0,
                })
                .max()
                .unwrap_or(0)
        };
        // Per sample: G's widest activation, and D's (2 rows of it per pack).
        let per_sample = (width(&self.generator).max(self.g_inputs()))
            .max(2 * width(&self.discriminator) / self.pack.max(1))
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
        if self.pack == 0 || self.batch % self.pack != 0 {
            return bad(format!(
                "--batch {} must be a multiple of --pack {}",
                self.batch, self.pack
            ));
        }
        let has_bn = self
            .generator
            .iter()
            .any(|l| matches!(l, Layer::BatchNorm { .. }));
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
        for (name, b) in [("--beta1", self.beta1), ("--beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) || b == 0.0 {
                return bad(format!("{name} = {b} must lie strictly between 0 and 1"));
            }
        }
        if self.classes > MAX_CLASSES {
            return bad(format!(
                "{} classes: a conditional GAN takes at most {MAX_CLASSES}",
                self.classes
            ));
        }
        let g_out = model::check_layers(&self.generator, self.g_inputs(), "generator")?;
        if g_out != features {
            return bad(format!(
                "the generator makes {g_out} values per sample, the data has {features}"
            ));
        }
        let d_in = self.sample_width() * self.pack;
        let d_out = model::check_layers(&self.discriminator, d_in, "discriminator")?;
        if d_out != 1 {
            return bad(format!(
                "the discriminator must end in 1 logit, not {d_out}"
            ));
        }
        Ok(())
    }
}

/// One step's numbers, as read back from the ring.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: u64,
    pub d_loss: f32,
    pub g_loss: f32,
    /// Mean D output (sigmoid of the logit) on real samples.
    pub d_real: f32,
    /// Mean D output on G's samples, in D's step and in G's step.
    pub d_fake: f32,
    pub d_fake_g: f32,
}

/// Random streams of one step.
pub const STREAM_Z_D: u32 = 1;
pub const STREAM_Z_G: u32 = 2;
pub const STREAM_INDICES: u32 = 3;
/// The labels of G's samples in a conditional GAN: in D's update, in G's.
pub const STREAM_LABELS_D: u32 = 4;
pub const STREAM_LABELS_G: u32 = 5;
pub const STREAM_INIT_G: u32 = 100;
pub const STREAM_INIT_D: u32 = 200;
pub const STREAM_FIXED_Z: u32 = 9;

const RING: usize = 256;
const ROW: usize = 6;

#[derive(Clone)]
enum Op {
    Kernel(Kernel),
    /// Copy all of `src` into `dst` at an element offset.
    Copy {
        src: Tensor,
        dst: Tensor,
        at: usize,
    },
}

struct Readback {
    staging: wgpu::Buffer,
    /// Steps whose rows the pending copy holds, first..=last.
    pending: Option<(u64, u64)>,
    ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
    last_copied: u64,
}

/// A GAN ready to train on one data set.
pub struct Trainer<'g> {
    pub gpu: &'g Gpu,
    pub config: GanConfig,
    pub features: usize,
    pub g: Net,
    pub d: Net,
    /// counters[0]: the number of the step running or last run;
    /// counters[1]: with d_steps > 1, the number of D's update running or
    /// last run.
    pub counters: Tensor,
    /// Steps completed.
    pub step: u64,
    pub z: Tensor,
    /// Rows [0, B): the real batch; rows [B, 2B): G's batch.
    pub d_input: Tensor,
    pub g_pass: Pass,
    metrics: Tensor,
    program: Vec<Op>,
    readback: Readback,
}

impl<'g> Trainer<'g> {
    pub fn new(gpu: &'g Gpu, config: &GanConfig, data: &Dataset) -> Result<Trainer<'g>> {
        let features = data.features();
        config.check(features)?;
        let limit = gpu
            .limits
            .max_storage_buffer_binding_size
            .min(gpu.limits.max_buffer_size);
        let largest = config.largest_batch(features, limit);
        if config.batch > largest {
            return Err(Error::shape(
                "config",
                format!(
                    "--batch {} needs buffers larger than this adapter allows ({} MiB per buffer); \
                     the largest batch that fits is {largest}",
                    config.batch,
                    limit >> 20
                ),
            ));
        }
        let c = config;
        let (b, m) = (c.batch, c.pack);
        // D's rows: each sample's features, then its one-hot label.
        let (classes, width) = (c.classes, c.sample_width());
        let labels = if classes > 0 {
            Some(class_labels(data, classes)?)
        } else {
            None
        };
        let g = Net::new(gpu, &c.generator, c.g_inputs(), c.seed, STREAM_INIT_G)?;
        let d = Net::new(gpu, &c.discriminator, width * m, c.seed, STREAM_INIT_D)?;
        let counters = gpu.upload_u32(&[0, 0, 0, 0])?;
        let metrics = gpu.zeros(RING * ROW)?;
        let dataset = match &data.samples {
            Samples::Images { bytes, .. } => gpu.upload_bytes(bytes)?,
            Samples::Points { xy, .. } => gpu.upload(xy)?,
        };
        let z = gpu.zeros(b * c.g_inputs())?;
        let indices = gpu.zeros(b)?;
        let d_input = gpu.zeros(2 * b * width)?;

        let train = PassOptions {
            train: true,
            weight_grads: true,
            input_grad: false,
        };
        let g_pass = Pass::new(gpu, &g, b, &z, None, None, train)?;
        let d_pass = Pass::new(gpu, &d, 2 * b / m, &d_input, None, None, train)?;
        let dg_opts = PassOptions {
            train: true,
            weight_grads: false,
            input_grad: true,
        };
        // D on G(z), passing its input's gradient straight to G's output;
        // in a conditional GAN, on G(z) beside its labels, the gradient of
        // G(z)'s columns copied back.
        let cond = match &labels {
            Some(table) => Some(Conditioning::new(gpu, table, c, &g_pass.output)?),
            None => None,
        };
        let dg_pass = match &cond {
            Some(k) => Pass::new(gpu, &d, b / m, &k.dg_input, None, None, dg_opts)?,
            None => Pass::new(
                gpu,
                &d,
                b / m,
                &g_pass.output,
                None,
                Some(&g_pass.d_output),
                dg_opts,
            )?,
        };

        let stream = |s| Stream {
            seed: c.seed,
            stream: s,
            slot: 0,
        };
        let adam_d = Adam {
            lr: c.lr_d,
            beta1: c.beta1,
            beta2: c.beta2,
            decay: c.decay,
            ..Adam::default()
        };
        let adam_g = Adam {
            lr: c.lr_g,
            ..adam_d
        };
        let real = d_input.prefix(b * width);
        let source = Source {
            data: &dataset,
            items: data.items,
            features,
            bytes: matches!(data.samples, Samples::Images { .. }),
        };
        let gather_kernel = gather_rows(gpu, source, &indices, &real, width)?;
        let d_loss = Loss {
            kind: c.loss,
            label_real: c.real_label,
            label_fake: 0.0,
            split: b / m,
            grad_scale: 1.0,
        };
        let g_kind = match c.loss {
            LossKind::Hinge => LossKind::Linear,
            k => k,
        };
        let row = |base| OutRow {
            counters: &counters,
            slot: 0,
            ring: RING,
            stride: ROW,
            base,
        };

        // With several D updates per step they count in counters[1]; with
        // one, that count is the step number, counters[0]. D's learning
        // rate follows the schedule in its own updates.
        let k = c.d_steps as u32;
        let d_slot = if k > 1 { 1 } else { 0 };
        let d_stream = |s| Stream {
            slot: d_slot,
            ..stream(s)
        };
        let adam_d = Adam {
            decay: Decay {
                start: c.decay.start.saturating_mul(k),
                end: c.decay.end.saturating_mul(k),
                ..c.decay
            },
            ..adam_d
        };
        // One update of D, recorded d_steps times.
        let mut d_update = Vec::new();
        if k > 1 {
            d_update.push(Op::Kernel(adam::tick(gpu, &counters, 1)?));
        }
        d_update.extend([
            Op::Kernel(random::normal(
                gpu,
                &d_stream(STREAM_Z_D),
                &counters,
                0.0,
                1.0,
                &z,
            )?),
            Op::Kernel(random::indices(
                gpu,
                &d_stream(STREAM_INDICES),
                &counters,
                data.items as u32,
                &indices,
            )?),
            Op::Kernel(gather_kernel),
        ]);
        if let Some(k) = &cond {
            d_update.extend(
                k.label_d_update(
                    gpu,
                    &d_stream(STREAM_LABELS_D),
                    &counters,
                    &indices,
                    &z,
                    &d_input,
                )?
                .into_iter()
                .map(Op::Kernel),
            );
        }
        d_update.extend(g_pass.forward_frozen.iter().cloned().map(Op::Kernel));
        d_update.push(match &cond {
            Some(k) => Op::Kernel(k.place(gpu, &d_input, b)?),
            None => Op::Copy {
                src: g_pass.output.clone(),
                dst: d_input.clone(),
                at: b * features,
            },
        });
        d_update.extend(d_pass.forward.iter().cloned().map(Op::Kernel));
        d_update.push(Op::Kernel(loss(
            gpu,
            &d_loss,
            &d_pass.output,
            &d_pass.d_output,
            &metrics,
            &row(0),
        )?));
        d_update.extend(d_pass.backward.iter().cloned().map(Op::Kernel));
        d_update.extend(
            adam_steps(gpu, &adam_d, c.norm_lr, &d, &counters, d_slot)?
                .into_iter()
                .map(Op::Kernel),
        );
        let mut program = vec![Op::Kernel(adam::tick(gpu, &counters, 0)?)];
        for _ in 0..k {
            program.extend(d_update.iter().cloned());
        }
        program.push(Op::Kernel(random::normal(
            gpu,
            &stream(STREAM_Z_G),
            &counters,
            0.0,
            1.0,
            &z,
        )?));
        if let Some(k) = &cond {
            program.extend(
                k.label_g_step(gpu, &stream(STREAM_LABELS_G), &counters, &z)?
                    .into_iter()
                    .map(Op::Kernel),
            );
        }
        program.extend(g_pass.forward.iter().cloned().map(Op::Kernel));
        if let Some(k) = &cond {
            program.push(Op::Kernel(k.place(gpu, &k.dg_input, 0)?));
        }
        program.extend(dg_pass.forward.iter().cloned().map(Op::Kernel));
        let g_loss = Loss::uniform(g_kind, 1.0, b / m);
        program.push(Op::Kernel(loss(
            gpu,
            &g_loss,
            &dg_pass.output,
            &dg_pass.d_output,
            &metrics,
            &row(3),
        )?));
        program.extend(dg_pass.backward.iter().cloned().map(Op::Kernel));
        if let Some(k) = &cond {
            let d_in = dg_pass
                .d_input
                .as_ref()
                .expect("D's pass on G(z) has an input gradient");
            program.push(Op::Kernel(k.take_back(gpu, d_in, &g_pass.d_output)?));
        }
        program.extend(g_pass.backward.iter().cloned().map(Op::Kernel));
        program.extend(
            adam_steps(gpu, &adam_g, c.norm_lr, &g, &counters, 0)?
                .into_iter()
                .map(Op::Kernel),
        );

        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("metrics readback"),
            size: metrics.byte_len(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Trainer {
            gpu,
            config: c.clone(),
            features,
            g,
            d,
            counters,
            step: 0,
            z,
            d_input,
            g_pass,
            metrics,
            program,
            readback: Readback {
                staging,
                pending: None,
                ready: Default::default(),
                last_copied: 0,
            },
        })
    }

    /// The number of dispatches in one step.
    pub fn dispatches_per_step(&self) -> usize {
        self.program
            .iter()
            .filter(|o| matches!(o, Op::Kernel(_)))
            .count()
    }

    /// Times every kernel of the step on its own (each submitted `repeats`
    /// times in one encoder, after a warm-up): (label, mean seconds).
    pub fn profile(&self, repeats: usize) -> Result<Vec<(String, f64)>> {
        let mut out = Vec::new();
        for op in &self.program {
            if let Op::Kernel(k) = op {
                self.gpu.run(&[k])?;
                let many: Vec<&Kernel> = std::iter::repeat_n(k, repeats).collect();
                let start = std::time::Instant::now();
                self.gpu.run(&many)?;
                out.push((
                    k.label.clone(),
                    start.elapsed().as_secs_f64() / repeats as f64,
                ));
            }
        }
        Ok(out)
    }

    /// Records one step into one encoder and submits it. With
    /// `copy_metrics`, the step also copies the metrics ring out for
    /// [`Trainer::poll_metrics`] (skipped while an earlier copy is unread).
    pub fn step(&mut self, copy_metrics: bool) -> Result<()> {
        let gpu = self.gpu;
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("step"),
            });
        let mut pass: Option<wgpu::ComputePass<'static>> = None;
        for op in &self.program {
            match op {
                Op::Kernel(k) => {
                    let p = pass.get_or_insert_with(|| {
                        encoder
                            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some("step"),
                                timestamp_writes: None,
                            })
                            .forget_lifetime()
                    });
                    k.record(p);
                }
                Op::Copy { src, dst, at } => {
                    drop(pass.take());
                    encoder.copy_buffer_to_buffer(
                        src.buffer(),
                        src.offset(),
                        dst.buffer(),
                        dst.offset() + 4 * *at as u64,
                        src.byte_len(),
                    );
                }
            }
        }
        drop(pass);
        self.step += 1;
        let copy = copy_metrics && self.readback.pending.is_none();
        if copy {
            self.copy_metrics(&mut encoder);
        }
        gpu.queue.submit([encoder.finish()]);
        if copy {
            self.map_metrics();
        }
        gpu.check()
    }

    /// Records the copy of the metrics ring for the steps since the last copy.
    fn copy_metrics(&mut self, encoder: &mut wgpu::CommandEncoder) {
        encoder.copy_buffer_to_buffer(
            self.metrics.buffer(),
            0,
            &self.readback.staging,
            0,
            self.metrics.byte_len(),
        );
        let first = (self.readback.last_copied + 1).max(self.step.saturating_sub(RING as u64 - 1));
        self.readback.pending = Some((first, self.step));
        self.readback.last_copied = self.step;
    }

    /// Maps the staging buffer once the submitted copy has run.
    fn map_metrics(&mut self) {
        let ready = self.readback.ready.clone();
        ready.store(false, std::sync::atomic::Ordering::SeqCst);
        self.readback
            .staging
            .map_async(wgpu::MapMode::Read, .., move |r| {
                if r.is_ok() {
                    ready.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            });
    }

    /// Every step's metrics not yet returned, waiting for the GPU: before a
    /// checkpoint, so that a diverged state is never saved.
    pub fn flush_metrics(&mut self) -> Result<Vec<StepMetrics>> {
        let mut out = self.poll_metrics(true)?;
        if self.readback.last_copied < self.step {
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            self.copy_metrics(&mut encoder);
            self.gpu.queue.submit([encoder.finish()]);
            self.map_metrics();
            out.extend(self.poll_metrics(true)?);
        }
        Ok(out)
    }

    /// The metrics of the steps the last copy holds, once the GPU has
    /// finished them; empty until then. With `wait`, blocks until then.
    pub fn poll_metrics(&mut self, wait: bool) -> Result<Vec<StepMetrics>> {
        let Some((first, last)) = self.readback.pending else {
            return Ok(Vec::new());
        };
        let poll = if wait {
            wgpu::PollType::wait_indefinitely()
        } else {
            wgpu::PollType::Poll
        };
        self.gpu
            .device
            .poll(poll)
            .map_err(|e| Error::DeviceLost(e.to_string()))?;
        if !self
            .readback
            .ready
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(Vec::new());
        }
        let rows: Vec<f32> = {
            let view = self
                .readback
                .staging
                .get_mapped_range(..)
                .map_err(|e| Error::DeviceLost(e.to_string()))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        self.readback.staging.unmap();
        self.readback.pending = None;
        Ok((first..=last)
            .map(|step| {
                let r = &rows[(step as usize % RING) * ROW..][..ROW];
                StepMetrics {
                    step,
                    d_loss: r[0],
                    d_real: r[1],
                    d_fake: r[2],
                    g_loss: r[3],
                    d_fake_g: r[4],
                }
            })
            .collect())
    }

    /// Sets the step counter (for resuming), on the host and the GPU.
    pub fn set_step(&mut self, step: u64) -> Result<()> {
        let too_large = || Error::shape("trainer", format!("step {step} is too large"));
        let s = u32::try_from(step).map_err(|_| too_large())?;
        // D's update count, kept only with several updates per step.
        let k = self.config.d_steps as u32;
        let u = if k > 1 {
            s.checked_mul(k).ok_or_else(too_large)?
        } else {
            0
        };
        self.gpu.write_u32(&self.counters, &[s, u, 0, 0])?;
        self.step = step;
        self.readback.last_copied = step;
        Ok(())
    }

    /// A sampler: the generator at `n` rows, with batch norm on the running
    /// statistics (eval) or, with `batch_stats`, on the batch's own; in a
    /// conditional GAN, row i draws class i mod classes.
    pub fn sampler(&self, n: usize, batch_stats: bool) -> Result<Sampler> {
        Sampler::for_config(self.gpu, &self.g, &self.config, n, batch_stats)
    }
}

/// Every item's class as a u32, checked against `classes`.
fn class_labels(data: &Dataset, classes: usize) -> Result<Vec<u32>> {
    let Some(labels) = &data.labels else {
        return Err(Error::Data(format!(
            "{} has no labels, and a conditional GAN learns from labelled samples; \
             train with --unconditional, or give the labels (for IDX images, the \
             labels-idx1 file beside them)",
            data.name
        )));
    };
    if let Some(&l) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::Data(format!(
            "{} has a label {l}, outside the {classes} classes of this GAN",
            data.name
        )));
    }
    Ok(labels.iter().map(|&l| l as u32).collect())
}

/// The buffers and kernels of a conditional GAN's step: the labels on the
/// GPU, G's labels, and D's input on G(z) beside them.
struct Conditioning {
    classes: usize,
    latent: usize,
    features: usize,
    batch: usize,
    /// Item i's class.
    table: Tensor,
    /// Class c is c: G's labels are drawn as indices into it.
    identity: Tensor,
    /// The labels of G's batch (u32).
    g_labels: Tensor,
    /// G's output.
    samples: Tensor,
    /// D's input in G's step: G(z) and the labels, row by row.
    dg_input: Tensor,
}

impl Conditioning {
    fn new(gpu: &Gpu, table: &[u32], c: &GanConfig, samples: &Tensor) -> Result<Conditioning> {
        let identity: Vec<u32> = (0..c.classes as u32).collect();
        Ok(Conditioning {
            classes: c.classes,
            latent: c.latent,
            features: c.sample_width() - c.classes,
            batch: c.batch,
            table: gpu.upload_u32(table)?,
            identity: gpu.upload_u32(&identity)?,
            g_labels: gpu.zeros(c.batch)?,
            samples: samples.clone(),
            dg_input: gpu.zeros(c.batch * c.sample_width())?,
        })
    }

    /// Where the labels go in D's rows, from row `first`.
    fn label_columns(&self, first: usize) -> Block {
        Block {
            first,
            stride: self.features + self.classes,
            offset: self.features,
        }
    }

    /// In G's input: labels drawn from `stream` into G's batch, their
    /// one-hot codes after the latents (which the noise kernel wrote
    /// before).
    fn draw(
        &self,
        gpu: &Gpu,
        stream: &Stream,
        counters: &Tensor,
        z: &Tensor,
    ) -> Result<Vec<Kernel>> {
        let after_latent = Block {
            first: 0,
            stride: self.latent + self.classes,
            offset: self.latent,
        };
        Ok(vec![
            random::indices(gpu, stream, counters, self.classes as u32, &self.g_labels)?,
            self.g_one_hot(gpu, z, after_latent)?,
        ])
    }

    /// The one-hot codes of G's labels into block `at` of `out`.
    fn g_one_hot(&self, gpu: &Gpu, out: &Tensor, at: Block) -> Result<Kernel> {
        concat::one_hot(gpu, &self.identity, &self.g_labels, self.classes, out, at)
    }

    /// D's update: G's labels into G's input and beside G(z) in the second
    /// half of D's input; the real batch's own labels (of items `indices`)
    /// beside it in the first half.
    fn label_d_update(
        &self,
        gpu: &Gpu,
        stream: &Stream,
        counters: &Tensor,
        indices: &Tensor,
        z: &Tensor,
        d_input: &Tensor,
    ) -> Result<Vec<Kernel>> {
        let real = self.label_columns(0);
        let mut out = self.draw(gpu, stream, counters, z)?;
        out.push(concat::one_hot(
            gpu,
            &self.table,
            indices,
            self.classes,
            d_input,
            real,
        )?);
        out.push(self.g_one_hot(gpu, d_input, self.label_columns(self.batch))?);
        Ok(out)
    }

    /// G's step: its labels into G's input and beside G(z) in D's input.
    fn label_g_step(
        &self,
        gpu: &Gpu,
        stream: &Stream,
        counters: &Tensor,
        z: &Tensor,
    ) -> Result<Vec<Kernel>> {
        let mut out = self.draw(gpu, stream, counters, z)?;
        out.push(self.g_one_hot(gpu, &self.dg_input, self.label_columns(0))?);
        Ok(out)
    }

    /// G(z) into the feature columns of `d_input` from row `first`.
    fn place(&self, gpu: &Gpu, d_input: &Tensor, first: usize) -> Result<Kernel> {
        let to = Block {
            offset: 0,
            ..self.label_columns(first)
        };
        let from = Block::dense(self.features);
        concat::columns(
            gpu,
            &self.samples,
            from,
            d_input,
            to,
            self.batch,
            self.features,
        )
    }

    /// The backward of `place` from row 0: the gradient of G(z)'s columns
    /// of D's input to G's output gradient.
    fn take_back(&self, gpu: &Gpu, d_input_grad: &Tensor, d_output: &Tensor) -> Result<Kernel> {
        let from = Block {
            offset: 0,
            ..self.label_columns(0)
        };
        let to = Block::dense(self.features);
        concat::columns(
            gpu,
            d_input_grad,
            from,
            d_output,
            to,
            self.batch,
            self.features,
        )
    }
}

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
        let z = gpu.zeros(n * g.inputs)?;
        let opts = PassOptions {
            train: batch_stats,
            weight_grads: false,
            input_grad: false,
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

/// Adam over a net: one dispatch over its whole parameter buffer, or, with
/// `norm_lr` ≠ 1 and batch norm in the net, one over the other parameters
/// and one over batch norm's γ and β (laid out last) at lr · `norm_lr`.
fn adam_steps(
    gpu: &Gpu,
    cfg: &Adam,
    norm_lr: f32,
    net: &Net,
    counters: &Tensor,
    slot: usize,
) -> Result<Vec<Kernel>> {
    let split = |a| net.norm_split(a).filter(|_| norm_lr != 1.0);
    let (Some(p), Some(g), Some(m), Some(v)) = (
        split(&net.params),
        split(&net.grads),
        split(&net.adam_m),
        split(&net.adam_v),
    ) else {
        return Ok(vec![adam::step(
            gpu,
            cfg,
            &net.params.whole,
            &net.grads.whole,
            &net.adam_m.whole,
            &net.adam_v.whole,
            counters,
            slot,
        )?]);
    };
    let norm = Adam {
        lr: cfg.lr * norm_lr,
        ..*cfg
    };
    let mut kernels = Vec::new();
    if !p.0.is_empty() {
        kernels.push(adam::step(
            gpu, cfg, &p.0, &g.0, &m.0, &v.0, counters, slot,
        )?);
    }
    kernels.push(adam::step(
        gpu, &norm, &p.1, &g.1, &m.1, &v.1, counters, slot,
    )?);
    Ok(kernels)
}

/// n × latent standard normal values from (seed, stream), the same on every
/// machine (computed on the CPU with the GPU's generator).
pub fn latents(seed: u64, stream: u32, n: usize, latent: usize) -> Vec<f32> {
    latents_at(seed, stream, 0, n, latent)
}

/// The latents of draw `counter` of (seed, stream): independent of the
/// other counters' draws.
pub fn latents_at(seed: u64, stream: u32, counter: u32, n: usize, latent: usize) -> Vec<f32> {
    crate::cpu::normal(seed, stream, counter, 0.0, 1.0, n * latent)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}
