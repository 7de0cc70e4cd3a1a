//! The `shadergan` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use shadergan::classifier::{self, Classifier};
use shadergan::data::{self, Samples};
use shadergan::eval;
use shadergan::files::write_atomic;
use shadergan::gan::GanConfig;
use shadergan::gan::checkpoint;
use shadergan::gan::presets::{DCGAN, IMAGES, POINTS, Preset};
use shadergan::gan::refine::{self, Refine};
use shadergan::gpu::{self, BackendChoice, GpuOptions};
use shadergan::health::HealthMode;
use shadergan::nn::Layer;
use shadergan::ops::loss::LossKind;
use shadergan::ops::matmul::{self, Tuning, tune};
use shadergan::sample::{Draw, refine_for};
use shadergan::train::{self, RunOptions};
use shadergan::{Error, Gpu, bench, npy};

/// `--backend`'s value: one of BackendChoice::NAMES.
fn backend_parser() -> impl TypedValueParser<Value = BackendChoice> {
    PossibleValuesParser::new(BackendChoice::NAMES).map(|s| s.parse().expect("one of the names"))
}

/// `--loss`'s value: one of LossKind::NAMES.
fn loss_parser() -> impl TypedValueParser<Value = LossKind> {
    PossibleValuesParser::new(LossKind::NAMES).map(|s| match s.as_str() {
        "lsgan" => LossKind::LeastSquares,
        "hinge" => LossKind::Hinge,
        _ => LossKind::Bce,
    })
}

#[derive(Parser)]
#[command(
    name = "shadergan",
    version,
    about = "Train GANs with WGSL compute shaders on any GPU (or none)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which adapter to run on.
#[derive(Args, Clone, Debug, Default)]
struct AdapterArgs {
    /// Graphics API: vulkan, metal, dx12 or gl (default: WGPU_BACKEND, else all).
    #[arg(long, value_parser = backend_parser(), global = true)]
    backend: Option<BackendChoice>,
    /// A part of the adapter's name, as `shadergan adapters` prints it.
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Time the matmul tile shapes again instead of using the cached choice.
    #[arg(long, global = true)]
    retune: bool,
}

impl AdapterArgs {
    fn options(&self) -> GpuOptions {
        GpuOptions {
            backend: self.backend,
            adapter: self.adapter.clone(),
        }
    }

    /// Opens the adapter and sets its matmul tile: cached, else searched
    /// (`search`) or the default.
    fn open(&self, search: bool) -> Result<Gpu, Error> {
        let gpu = Gpu::new(&self.options())?;
        tuned(&gpu, self.retune, search)?;
        Ok(gpu)
    }
}

fn tuned(gpu: &Gpu, retune: bool, search: bool) -> Result<(), Error> {
    let mode = match (retune, search) {
        (true, _) => Tuning::Search,
        (false, true) => Tuning::CacheOrSearch,
        (false, false) => Tuning::CacheOnly,
    };
    let line = tune(gpu, mode)?;
    if mode != Tuning::CacheOnly {
        eprintln!("{line}");
    }
    Ok(())
}

#[derive(Args, Clone, Debug)]
struct TrainArgs {
    /// mnist (built in), fashion, ring, grid, or a path to IDX images or a folder of PNG/JPEG images.
    #[arg(long, default_value = "mnist")]
    data: String,
    /// Total training steps (with --resume, the total to reach) [default: 2400 for the DCGAN, 5000 for the MLP on images, 16000 for points].
    #[arg(long)]
    steps: Option<u64>,
    /// Samples per batch [default: 64 for images, 100 for points].
    #[arg(long)]
    batch: Option<usize>,
    /// Adam learning rate of both networks [default: 1e-3 for images, 5e-4 for points].
    #[arg(long)]
    lr: Option<f32>,
    #[arg(long, default_value_t = 0.5)]
    beta1: f32,
    #[arg(long, default_value_t = 0.999)]
    beta2: f32,
    /// Size of the generator's input noise [default: 100 for images, 2 for points].
    #[arg(long)]
    latent: Option<usize>,
    /// The networks: mlp or dcgan [default: dcgan for images, but mlp for
    /// unconditional images under 32 pixels from IDX files; mlp for points].
    #[arg(long, value_parser = PossibleValuesParser::new(["mlp", "dcgan"]))]
    arch: Option<String>,
    /// A DCGAN's base channels in the generator and in the discriminator
    /// [default: 16 and 32].
    #[arg(long)]
    g_width: Option<usize>,
    #[arg(long)]
    d_width: Option<usize>,
    /// Hidden widths of the generator, e.g. 256,512,1024 [default: that for images, 128,128,128 for points].
    #[arg(long, value_delimiter = ',')]
    g_hidden: Option<Vec<usize>>,
    /// Hidden widths of the discriminator [default: 512,256 for images, 128,128 for points].
    #[arg(long, value_delimiter = ',')]
    d_hidden: Option<Vec<usize>>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The run's folder [default: runs/<data>-<seed>; with --resume, the
    /// checkpoint's own run folder].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the run (or other files) that --out holds.
    #[arg(long)]
    overwrite: bool,
    /// Write a sample picture every N steps (0: only at the end).
    #[arg(long, default_value_t = 500)]
    sample_every: u64,
    /// Write a checkpoint every N steps (0: only at the end).
    #[arg(long, default_value_t = 1000)]
    checkpoint_every: u64,
    /// Read the losses back every N steps (1 to 256).
    #[arg(long, default_value_t = 50)]
    log_every: u64,
    #[arg(long, value_parser = loss_parser(), default_value = "bce")]
    loss: LossKind,
    /// PacGAN: the discriminator judges m samples concatenated.
    #[arg(long, default_value_t = 1)]
    pack: usize,
    /// Discriminator updates per step, each on a fresh real batch and fresh noise.
    #[arg(long, default_value_t = 1)]
    d_steps: usize,
    /// A class-conditional GAN: the generator is given a label to draw, the
    /// discriminator judges each sample with its label [default: on for
    /// labelled images (mnist, fashion, IDX with labels), off otherwise].
    #[arg(long, conflicts_with = "unconditional")]
    conditional: bool,
    /// An unconditional GAN, even on labelled images.
    #[arg(long)]
    unconditional: bool,
    /// The learning rate of batch norm's γ and β as a multiple of --lr
    /// [default: 10 for points, 1 for images].
    #[arg(long)]
    norm_lr: Option<f32>,
    /// Both learning rates fall linearly from this step to --decay-floor
    /// times themselves at --steps [default: half of --steps].
    #[arg(long)]
    decay_start: Option<u64>,
    /// The learning rates' final factor when decaying.
    #[arg(long, default_value_t = 0.0)]
    decay_floor: f32,
    /// Score the samples every N steps (ring, grid, labelled images) into metrics.jsonl (0: never).
    #[arg(long, default_value_t = 0)]
    eval_every: u64,
    /// Samples per --eval-every evaluation [default: 2,500 for points, 10,000 images].
    #[arg(long)]
    eval_n: Option<usize>,
    /// Continue from a checkpoint: its networks, optimiser and data as they
    /// were (flags that would change them are refused); --steps beyond its
    /// schedule's end extends the schedule; --data gives its data's new
    /// place if it moved.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// The flags given on the command line (filled in from clap's matches).
    #[arg(skip)]
    given: Vec<String>,
    #[command(flatten)]
    images: ImageArgs,
    /// What to do when a run goes wrong: off (stop only at a NaN), warn
    /// (stop when it diverges, warn when D or G wins or G collapses), stop
    /// (stop at any of them).
    #[arg(long, value_parser = PossibleValuesParser::new(["off", "warn", "stop"]), default_value = "warn")]
    health: String,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    which: AdapterArgs,
}

/// How an image folder is read.
#[derive(Args, Clone, Debug)]
struct ImageArgs {
    /// Image folders: side of the square every image is resized to.
    #[arg(long)]
    size: Option<u32>,
    /// Image folders: keep colour (RGB) instead of grayscale.
    #[arg(long)]
    color: bool,
    /// Image folders: what images with transparency are composited onto:
    /// white, black or #rrggbb.
    #[arg(long, default_value = "white")]
    background: String,
}

impl ImageArgs {
    fn background(&self) -> Result<[u8; 3], Error> {
        data::parse_background(&self.background).map_err(|e| Error::Data(e.to_string()))
    }
}

#[derive(Args, Debug)]
struct SampleArgs {
    /// A checkpoint written by `shadergan train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// How many samples [default: 64; for a conditional GAN of 10 classes
    /// 100, a 10 × 10 grid whose column j draws class j].
    #[arg(long)]
    n: Option<usize>,
    /// Latents drawn from this seed (the GPU's own generator, computed on the CPU).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Latents from a .npy file of float32 [n, latent] instead.
    #[arg(long)]
    latents: Option<PathBuf>,
    /// The PNG to write [default: samples.png, unless only --npy is given].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the raw generator outputs as .npy [n, features] float32.
    #[arg(long)]
    npy: Option<PathBuf>,
    /// Batch norm on the batch's own statistics instead of the running ones.
    #[arg(long)]
    batch_stats: bool,
    /// A conditional GAN: draw only this class, by number or by name (an
    /// image folder's class folder) [default: sample i draws class i mod
    /// the number of classes].
    #[arg(long)]
    label: Option<String>,
    /// Discriminator rejection sampling: of 16 × n candidates, keep each with
    /// probability exp(D's logit − the largest logit), the checkpoint's
    /// discriminator judging them (the threshold shifted only if that would
    /// keep too few).
    #[arg(long)]
    reject: bool,
    #[command(flatten)]
    refine: RefineArgs,
    #[command(flatten)]
    which: AdapterArgs,
}

/// Discriminator-gradient refinement, for `sample` and `eval`.
#[derive(Args, Clone, Debug)]
struct RefineArgs {
    /// Move every sample up the checkpoint's discriminator's logit, with
    /// Langevin noise (after --reject, if given): x += rate · ∇logit + noise.
    #[arg(long)]
    refine: bool,
    /// Steps of --refine.
    #[arg(long, default_value_t = refine::STEPS)]
    refine_steps: usize,
    /// The step size of --refine [default: 8 s², s the data's length scale:
    /// 0.0008 ring, 0.02 grid; needed for other data].
    #[arg(long)]
    refine_rate: Option<f32>,
    /// The noise's temperature in --refine (0: plain gradient ascent).
    #[arg(long, default_value_t = refine::TEMPERATURE)]
    refine_temperature: f32,
}

impl RefineArgs {
    /// The setting for a model of `data`, checked, if --refine is given.
    fn setting(&self, data: &str) -> Result<Option<Refine>, Error> {
        if !self.refine {
            return Ok(None);
        }
        let r = Refine {
            steps: self.refine_steps,
            temperature: self.refine_temperature,
            ..refine_for(data, self.refine_rate)?
        };
        r.check()?;
        Ok(Some(r))
    }
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Fewer sizes and repeats.
    #[arg(long)]
    quick: bool,
    /// Batch sizes of the full training step.
    #[arg(long, value_delimiter = ',', default_value = "64,256")]
    batch: Vec<usize>,
    /// Every adapter of the machine, side by side.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    which: AdapterArgs,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// A checkpoint written by `shadergan train` on ring, grid or mnist.
    #[arg(long)]
    checkpoint: PathBuf,
    /// How many samples [default: 2,500 for ring and grid, 10,000 digits].
    #[arg(long)]
    n: Option<usize>,
    /// The latents' seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A digit classifier written by `shadergan classifier` instead of the built-in one.
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Print the scores as JSON.
    #[arg(long)]
    json: bool,
    /// Also score the samples that discriminator rejection keeps (see
    /// `sample --reject`).
    #[arg(long)]
    reject: bool,
    #[command(flatten)]
    refine: RefineArgs,
    #[command(flatten)]
    which: AdapterArgs,
}

#[derive(Args, Debug)]
struct ClassifierArgs {
    /// The labelled images it learns: mnist (the shipped classifier), an
    /// IDX file with its labels beside it, or a folder of class folders.
    #[arg(long, default_value = "mnist")]
    data: String,
    /// cnn, or mlp (the digits' classifier before the CNN) [default: cnn].
    #[arg(long, value_parser = PossibleValuesParser::new(["mlp", "cnn"]))]
    arch: Option<String>,
    /// Where to write it [default: for mnist data/classifier/digits.safetensors
    /// (the CNN) or digits-mlp.safetensors, else the cache that `eval`
    /// looks in].
    #[arg(long)]
    out: Option<PathBuf>,
    /// [default: 4,000 for the MLP, 3,000 for a CNN]
    #[arg(long)]
    steps: Option<u32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    images: ImageArgs,
    #[command(flatten)]
    which: AdapterArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Train a GAN (with no flags: the reference GAN on the built-in MNIST digits).
    Train(Box<TrainArgs>),
    /// Turn a checkpoint into a PNG grid (or scatter plot) and/or a .npy of samples.
    Sample(SampleArgs),
    /// Measure the adapter: ceilings, every kernel, the full training step.
    Bench(BenchArgs),
    /// Score a checkpoint's samples: modes on ring and grid, classifier scores on digits.
    Eval(EvalArgs),
    /// Train the digit classifier that `eval` scores digits with.
    Classifier(ClassifierArgs),
    /// List every adapter with the limits and features the kernels use.
    Adapters {
        #[command(flatten)]
        which: AdapterArgs,
    },
    /// Open the chosen adapter and say which one it is.
    Info {
        #[command(flatten)]
        which: AdapterArgs,
    },
}

/// Whether the run is conditional on the data's labels: labelled images
/// are unless --unconditional; --conditional asks for it (and fails later
/// on data without labels).
fn conditional(a: &TrainArgs, data: &data::Dataset) -> bool {
    let points = matches!(data.samples, Samples::Points { .. });
    !a.unconditional && (a.conditional || data.labels.is_some() && !points)
}

/// The preset of points or images with the MLP or the DCGAN.
fn arch_preset(points: bool, dcgan: bool) -> Result<Preset, Error> {
    Ok(match (points, dcgan) {
        (true, true) => {
            return Err(Error::shape(
                "--arch",
                "dcgan draws images, and ring and grid are points; use --arch mlp",
            ));
        }
        (true, false) => POINTS,
        (false, false) => IMAGES,
        (false, true) => DCGAN,
    })
}

/// The preset a fresh run on this data starts from: the points', or for
/// images the MLP's or the DCGAN's as --arch says. By default the DCGAN,
/// but for unconditional images under 32 pixels from IDX files, which the
/// MLP draws better in the same time (docs/quality.md, "The default
/// network").
fn preset_for(a: &TrainArgs, data: &data::Dataset) -> Result<Preset, Error> {
    let points = matches!(data.samples, Samples::Points { .. });
    let folder = std::path::Path::new(&a.data).is_dir();
    let side = data.image_shape().map_or(0, |(_, h, _)| h);
    let dcgan = match a.arch.as_deref() {
        Some(arch) => arch == "dcgan",
        None => !points && (folder || side >= 32 || conditional(a, data)),
    };
    let mut preset = arch_preset(points, dcgan)?;
    let wrong = |flag: &str, arch: &str| {
        Error::shape(
            "config",
            format!(
                "{flag} sets a layer size of the {arch} networks; leave it out, or pass --arch {arch}"
            ),
        )
    };
    if dcgan {
        if a.g_hidden.is_some() || a.d_hidden.is_some() {
            let flag = if a.g_hidden.is_some() {
                "--g-hidden"
            } else {
                "--d-hidden"
            };
            return Err(wrong(flag, "mlp"));
        }
        for (flag, w) in [("--g-width", a.g_width), ("--d-width", a.d_width)] {
            if w == Some(0) {
                return Err(Error::shape("config", format!("{flag} must be at least 1")));
            }
        }
        preset.g_width = a.g_width.unwrap_or(preset.g_width);
        preset.d_width = a.d_width.unwrap_or(preset.d_width);
    } else if a.g_width.is_some() || a.d_width.is_some() {
        let flag = if a.g_width.is_some() {
            "--g-width"
        } else {
            "--d-width"
        };
        return Err(wrong(flag, "dcgan"));
    }
    preset.latent = a.latent.unwrap_or(preset.latent);
    Ok(preset)
}

/// The flags of how a run is driven, each within its range.
fn flag_ranges(a: &TrainArgs) -> Result<(), Error> {
    let bad = |m: String| Err(Error::shape("config", m));
    if a.steps == Some(0) {
        return bad("--steps must be at least 1".into());
    }
    if !(1..=256).contains(&a.log_every) {
        return bad(format!(
            "--log-every {} must lie between 1 and 256",
            a.log_every
        ));
    }
    if a.eval_n == Some(0) {
        return bad("--eval-n must be at least 1".into());
    }
    Ok(())
}

/// The configuration a fresh run gets from the flags and the data: the
/// preset's (gan::presets), with what the flags change.
fn config_for(a: &TrainArgs, data: &data::Dataset) -> Result<GanConfig, Error> {
    for (flag, widths) in [("--g-hidden", &a.g_hidden), ("--d-hidden", &a.d_hidden)] {
        if let Some(w) = widths.as_ref().filter(|w| w.contains(&0)) {
            let list: Vec<String> = w.iter().map(|v| v.to_string()).collect();
            return Err(Error::shape(
                "config",
                format!("{flag} {}: every width must be at least 1", list.join(",")),
            ));
        }
    }
    if a.latent == Some(0) {
        return Err(Error::shape("config", "--latent must be at least 1"));
    }
    let features = data.features();
    let points = matches!(data.samples, Samples::Points { .. });
    let preset = preset_for(a, data)?;
    let steps = a.steps.unwrap_or(preset.steps);
    let shape = match data.image_shape() {
        Some((ch, h, w)) if !points => vec![ch, h, w],
        _ => vec![features],
    };
    let mut c = preset
        .try_scheduled(&a.data, &shape, steps)
        .map_err(|e| Error::shape("--arch dcgan", format!("{e}; pick another --size")))?;
    if let Some(hidden) = &a.g_hidden {
        c.generator = preset.generator_of(hidden, c.latent, features);
    }
    if let Some(d) = &a.d_hidden {
        c.discriminator = preset.discriminator_of(d, features);
    }
    // A --batch given is kept as it is (and refused if --pack does not
    // divide it); the default is rounded down to a multiple of --pack.
    let mut c = c.packed(a.pack);
    c.batch = a.batch.unwrap_or(c.batch);
    c.lr_g = a.lr.unwrap_or(c.lr_g);
    c.lr_d = c.lr_g;
    c.beta1 = a.beta1;
    c.beta2 = a.beta2;
    c.loss = a.loss;
    c.d_steps = a.d_steps;
    c.norm_lr = a.norm_lr.unwrap_or(c.norm_lr);
    c.seed = a.seed;
    let start = a.decay_start.unwrap_or(c.decay.start as u64);
    let classes = if !conditional(a, data) {
        0
    } else if data.labels.is_some() {
        data.classes()
    } else {
        return Err(Error::Data(format!(
            "--conditional: {} has no labels to condition on; leave out --conditional, \
             or give the labels (for IDX images, the labels-idx1 file beside them)",
            data.name
        )));
    };
    let mut c = c.conditional(classes).decaying(start, steps, a.decay_floor);
    if classes > 0 {
        c.class_names = data.class_names.clone();
    }
    if data.image_shape().is_some() && std::path::Path::new(&a.data).is_dir() {
        c.background = Some(a.images.background()?);
    }
    Ok(c)
}

/// With --resume, the flags that shape the networks must describe the
/// checkpoint's own: a resumed run keeps its networks.
fn resumed_networks_agree(
    a: &TrainArgs,
    ck: &GanConfig,
    data: &data::Dataset,
) -> Result<(), Error> {
    let keep = |flag: &str, what: String| {
        Error::shape(
            "--resume",
            format!("{flag}: {what}; a resumed run keeps its own networks (leave {flag} out)"),
        )
    };
    if let (Some(size), Some(&side)) = (a.images.size, ck.shape.get(1))
        && size as usize != side
    {
        let what = format!("the checkpoint draws {side}x{side} images");
        return Err(keep(&format!("--size {size}"), what));
    }
    if a.images.color && ck.shape.first() != Some(&3) {
        return Err(keep(
            "--color",
            "the checkpoint draws grayscale images".into(),
        ));
    }
    let given: Vec<&str> = [
        ("--arch", a.arch.is_some()),
        ("--g-width", a.g_width.is_some()),
        ("--d-width", a.d_width.is_some()),
        ("--g-hidden", a.g_hidden.is_some()),
        ("--d-hidden", a.d_hidden.is_some()),
        ("--latent", a.latent.is_some()),
        ("--conditional", a.conditional),
        ("--unconditional", a.unconditional),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    // What the flags would build for the checkpoint's data.
    let wanted = config_for(
        &TrainArgs {
            data: ck.data.clone(),
            ..a.clone()
        },
        data,
    )
    .map_err(|e| keep(&given.join(" "), e.to_string()))?;
    let same = wanted.generator == ck.generator
        && wanted.discriminator == ck.discriminator
        && wanted.latent == ck.latent
        && wanted.classes == ck.classes;
    if same {
        return Ok(());
    }
    let arch = match ck.generator.first() {
        Some(Layer::ConvTranspose2d(_)) => "a DCGAN",
        _ => "an MLP GAN",
    };
    let conditional = if ck.classes > 0 {
        format!("conditional on {} classes", ck.classes)
    } else {
        "unconditional".into()
    };
    Err(keep(
        &given.join(" "),
        format!(
            "the checkpoint holds {arch} of latent {}, {conditional}, not the networks these flags build",
            ck.latent
        ),
    ))
}

/// With --resume, the flags that set how the checkpoint's run trains must
/// agree with it: a resumed run keeps its optimiser, loss, batch and seed.
fn resumed_training_agrees(a: &TrainArgs, c: &GanConfig) -> Result<(), Error> {
    let given = |id: &str| a.given.iter().any(|g| g == id);
    let background = a.images.background()?;
    let checks: [(&str, bool, String); 12] = [
        ("batch", a.batch != Some(c.batch), c.batch.to_string()),
        ("lr", a.lr != Some(c.lr_g), c.lr_g.to_string()),
        ("beta1", a.beta1 != c.beta1, c.beta1.to_string()),
        ("beta2", a.beta2 != c.beta2, c.beta2.to_string()),
        (
            "loss",
            a.loss != c.loss,
            format!("{:?}", c.loss).to_lowercase(),
        ),
        ("pack", a.pack != c.pack, c.pack.to_string()),
        ("d_steps", a.d_steps != c.d_steps, c.d_steps.to_string()),
        (
            "norm_lr",
            a.norm_lr != Some(c.norm_lr),
            c.norm_lr.to_string(),
        ),
        (
            "decay_start",
            a.decay_start != Some(c.decay.start as u64),
            c.decay.start.to_string(),
        ),
        (
            "decay_floor",
            a.decay_floor != c.decay.floor,
            c.decay.floor.to_string(),
        ),
        ("seed", a.seed != c.seed, c.seed.to_string()),
        (
            "background",
            c.background.is_some_and(|b| b != background),
            c.background
                .map_or(String::new(), |[r, g, b]| format!("#{r:02x}{g:02x}{b:02x}")),
        ),
    ];
    for (id, differs, stored) in checks {
        if given(id) && differs {
            let flag = format!("--{}", id.replace('_', "-"));
            return Err(Error::shape(
                "--resume",
                format!(
                    "{flag}: the checkpoint's run has {stored}; a resumed run keeps its \
                     optimiser, loss, batch, schedule and seed (leave {flag} out, or start a new run)"
                ),
            ));
        }
    }
    Ok(())
}

/// `--data` given to a resumed run must hold what its checkpoint learned:
/// the same shape of sample and the same classes.
fn same_data(c: &GanConfig, data: &data::Dataset) -> Result<(), Error> {
    let shape = match data.image_shape() {
        Some((ch, h, w)) if !matches!(data.samples, Samples::Points { .. }) => vec![ch, h, w],
        _ => vec![data.features()],
    };
    let classes = if c.classes > 0 { data.classes() } else { 0 };
    if shape != c.shape || classes != c.classes {
        return Err(Error::Data(format!(
            "--data {}: samples of {shape:?} in {} classes, but the checkpoint learned {:?} in {}",
            data.name,
            data.classes(),
            c.shape,
            c.classes
        )));
    }
    Ok(())
}

/// A data path as a run stores it: absolute, so a resumed run finds it
/// from any folder (the built-in names as they are).
fn stored_data_path(spec: &str) -> String {
    match spec {
        "mnist" | "fashion" | "ring" | "grid" => spec.to_string(),
        _ => std::fs::canonicalize(spec).map_or(spec.to_string(), |p| p.display().to_string()),
    }
}

fn train(a: TrainArgs) -> Result<(), Error> {
    let mut a = a;
    flag_ranges(&a)?;
    let resumed = a.resume.as_ref().map(|p| checkpoint::read(p)).transpose()?;
    if let Some(ck) = &resumed {
        resumed_training_agrees(&a, &ck.config)?;
        // Nothing to do: say so, and touch nothing.
        if let Some(steps) = a.steps.filter(|&s| s <= ck.step) {
            eprintln!(
                "nothing to do: the checkpoint is at step {}, and --steps {steps} is not beyond it; \
                 pass a larger --steps to train longer",
                ck.step
            );
            return Ok(());
        }
    }
    // The data: a resumed run's own, unless --data says where it went.
    let data_given = a.given.iter().any(|g| g == "data");
    let data_spec = match &resumed {
        Some(ck) if !data_given => ck.config.data.clone(),
        _ => stored_data_path(&a.data),
    };
    a.data = data_spec.clone();
    let seed = resumed.as_ref().map_or(a.seed, |ck| ck.config.seed);
    let name = std::path::Path::new(&data_spec)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let out = match (&a.out, &a.resume) {
        (Some(out), _) => out.clone(),
        (None, Some(c)) => {
            train::run_folder_of(c).unwrap_or_else(|| PathBuf::from(format!("runs/{name}-{seed}")))
        }
        (None, None) => PathBuf::from(format!("runs/{name}-{seed}")),
    };
    let background = a.images.background()?;
    // A resumed run reads its data as it was read when it began.
    let load = match &resumed {
        Some(ck) => data::LoadOptions {
            size: ck.config.shape.get(1).map(|&s| s as u32),
            color: ck.config.shape.first() == Some(&3),
            background: ck.config.background.unwrap_or(background),
            seed,
        },
        None => data::LoadOptions {
            size: a.images.size,
            color: a.images.color,
            background,
            seed,
        },
    };
    let builtin = ["mnist", "fashion", "ring", "grid"].contains(&data_spec.as_str());
    if resumed.is_some() && !data_given && !builtin && !std::path::Path::new(&data_spec).exists() {
        return Err(Error::Data(format!(
            "the run's data {data_spec} is not there any more: pass --data with where it is now"
        )));
    }
    let data = data::load_with(&data_spec, &load).map_err(|e| Error::Data(e.to_string()))?;
    for note in &data.notes {
        eprintln!("data: {note}");
    }
    let (config, steps) = match &resumed {
        Some(ck) => {
            resumed_networks_agree(&a, &ck.config, &data)?;
            let mut c = ck.config.clone();
            if data_given {
                same_data(&c, &data)?;
                c.data = data_spec.clone();
            }
            let points = matches!(data.samples, Samples::Points { .. });
            let conv = c
                .generator
                .iter()
                .any(|l| matches!(l, Layer::ConvTranspose2d(_)));
            let default = arch_preset(points, conv)?.steps;
            let end = Some(c.decay.end as u64).filter(|&e| e > 0);
            let steps = a.steps.or(end).unwrap_or(default);
            // Beyond the schedule's end: the schedule extends to --steps.
            if let Some(end) = end.filter(|&e| steps > e) {
                let start = c.decay.start as u64;
                if ck.step < start {
                    // Not decaying yet: the decay keeps its share of the run.
                    c.decay.start = (start * steps / end) as u32;
                }
                c.decay.end = steps as u32;
                eprintln!(
                    "schedule extended: the learning rates now fall linearly from step {} to {}x \
                     at step {steps} (they ended at step {end})",
                    c.decay.start, c.decay.floor
                );
            }
            (c, steps)
        }
        None => {
            let c = config_for(&a, &data)?;
            let steps = a.steps.unwrap_or(preset_for(&a, &data)?.steps);
            (c, steps)
        }
    };
    // Held until the run ends.
    let _folder = train::RunFolder::take(&out, a.resume.as_deref(), a.overwrite)?;
    let gpu = a.which.open(true)?;
    let (stop, signal) = stop_on_signals();
    eprintln!("adapter: {}", gpu.describe());
    eprintln!(
        "data: {} ({} samples of {:?}); writing {}",
        data.name,
        data.items,
        config.shape,
        out.display()
    );
    let opts = RunOptions {
        steps,
        out: out.clone(),
        sample_every: a.sample_every,
        checkpoint_every: a.checkpoint_every,
        log_every: a.log_every,
        eval_every: a.eval_every,
        eval_samples: a.eval_n,
        resume: a.resume.clone(),
        progress: !a.quiet,
        stop,
        health: match a.health.as_str() {
            "off" => HealthMode::Off,
            "stop" => HealthMode::Stop,
            _ => HealthMode::Warn,
        },
    };
    let s = train::run(&gpu, &config, &data, &opts)?;
    let m = s.last.map_or(String::new(), |m| {
        format!(
            " D loss {:.3}, G loss {:.3}, D(x) {:.2}, D(G(z)) {:.2}.",
            m.d_loss, m.g_loss, m.d_real, m.d_fake
        )
    });
    eprintln!(
        "{} steps in {:.1} s ({:.1} steps/s).{m}\ncheckpoint: {}\nsamples: {}",
        s.steps,
        s.seconds,
        s.steps as f64 / s.seconds.max(1e-9),
        s.checkpoint.display(),
        out.join("samples").display()
    );
    match signal.load(Ordering::SeqCst) as i32 {
        0 => Ok(()),
        number => Err(Error::Interrupted {
            signal: if number == SIGTERM {
                "SIGTERM"
            } else {
                "SIGINT"
            },
            number,
            step: s.steps,
            checkpoint: s.checkpoint.display().to_string(),
        }),
    }
}

/// SIGINT (Ctrl-C) and SIGTERM (docker stop, SLURM, systemd) stop a run
/// after its current step, with a checkpoint: the flag the run polls, and
/// the number of the signal that set it (0: none). A second signal exits
/// at once, with 128 + its number; checkpoints are written to a temporary
/// name and renamed, so the newest complete one stays whole.
fn stop_on_signals() -> (Arc<AtomicBool>, Arc<AtomicUsize>) {
    let stop = Arc::new(AtomicBool::new(false));
    let which = Arc::new(AtomicUsize::new(0));
    for sig in [SIGINT, SIGTERM] {
        // In registration order: the shutdown sees the flag as an earlier
        // signal left it, then this one sets it.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, stop.clone());
        let _ = signal_hook::flag::register_usize(sig, which.clone(), sig as usize);
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    (stop, which)
}

/// An output that would replace one of the command's inputs is refused.
fn not_an_input(
    flag: &str,
    out: &std::path::Path,
    inputs: &[&std::path::Path],
) -> Result<(), Error> {
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    if let Some(o) = canonical(out)
        && inputs.iter().any(|i| canonical(i) == Some(o.clone()))
    {
        return Err(Error::file(
            out,
            format!("{flag} would overwrite an input of this command; write somewhere else"),
        ));
    }
    Ok(())
}

fn sample(a: SampleArgs) -> Result<(), Error> {
    let inputs: Vec<&std::path::Path> = [Some(a.checkpoint.as_path()), a.latents.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    for (flag, out) in [("--out", &a.out), ("--npy", &a.npy)] {
        if let Some(out) = out {
            not_an_input(flag, out, &inputs)?;
        }
    }
    let ck = checkpoint::read(&a.checkpoint)?;
    let c = &ck.config;
    let latents = match &a.latents {
        Some(p) => {
            let (values, shape) = npy::read(p)?;
            if shape.len() != 2 || shape[1] != c.latent {
                return Err(Error::file(
                    p,
                    format!(
                        "latents have shape {shape:?}; this generator takes [n, {}]",
                        c.latent
                    ),
                ));
            }
            Some(values)
        }
        None => None,
    };
    let draw = Draw {
        latents,
        n: a.n,
        seed: a.seed,
        batch_stats: a.batch_stats,
        label: a
            .label
            .as_deref()
            .map(|l| class_number(l, &c.class_names))
            .transpose()?,
        reject: a.reject,
        refine: a.refine.setting(&c.data)?,
    };
    draw.check(&ck)?;
    let gpu = a.which.open(false)?;
    let d = draw.run(&gpu, &ck)?;
    for note in &d.notes {
        eprintln!("{note}");
    }
    if let Some(p) = &a.npy {
        write_atomic(p, &npy::encode(&d.values, &[d.n, d.features]))?;
        eprintln!("wrote {} ({} x {} float32)", p.display(), d.n, d.features);
    }
    let png = a
        .out
        .clone()
        .or_else(|| a.npy.is_none().then(|| PathBuf::from("samples.png")));
    if let Some(p) = png {
        train::picture(c, &d.values, d.n, &p)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// `--label`'s class: a number, or a name among the model's classes.
fn class_number(label: &str, names: &[String]) -> Result<u32, Error> {
    if let Ok(n) = label.parse() {
        return Ok(n);
    }
    match names.iter().position(|n| n == label) {
        Some(i) => Ok(i as u32),
        None if names.is_empty() => Err(Error::shape(
            "sample",
            format!("--label {label}: give the class's number; this model's classes have no names"),
        )),
        None => Err(Error::shape(
            "sample",
            format!(
                "--label {label}: no class of that name; this model's are {}",
                names.join(", ")
            ),
        )),
    }
}

fn eval(a: EvalArgs) -> Result<(), Error> {
    let ck = checkpoint::read(&a.checkpoint)?;
    let gpu = a.which.open(false)?;
    let classifier = a
        .classifier
        .as_ref()
        .map(|p| Classifier::load(&gpu, p))
        .transpose()?;
    let opts = eval::Options {
        n: a.n,
        seed: a.seed,
        classifier,
        reject: a.reject,
        refine: a.refine.setting(&ck.config.data)?,
    };
    let report = eval::report(&gpu, &ck, &a.checkpoint.display().to_string(), opts)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        );
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

fn classifier(a: ClassifierArgs) -> Result<(), Error> {
    let load = data::LoadOptions {
        size: a.images.size,
        color: a.images.color,
        background: a.images.background()?,
        seed: a.seed,
    };
    let data = data::load_with(&a.data, &load).map_err(|e| Error::Data(e.to_string()))?;
    for note in &data.notes {
        eprintln!("data: {note}");
    }
    let mlp = a.arch.as_deref() == Some("mlp");
    let mut config = if mlp {
        let [c, h, w] = match data.image_shape() {
            Some((c, h, w)) => [c, h, w],
            None => {
                return Err(Error::shape(
                    "classifier",
                    "it classifies images, not points",
                ));
            }
        };
        classifier::TrainConfig {
            shape: [c, h, w],
            classes: data.classes().max(2),
            data: a.data.clone(),
            class_names: data.class_names.clone(),
            ..Default::default()
        }
    } else {
        classifier::TrainConfig::cnn_for(&data, &a.data)?
    };
    config.steps = a.steps.unwrap_or(config.steps);
    config.seed = a.seed;
    if config.steps == 0 {
        return Err(Error::shape("classifier", "--steps must be at least 1"));
    }
    let out = match &a.out {
        Some(out) => out.clone(),
        None if a.data == "mnist" && mlp => PathBuf::from("data/classifier/digits-mlp.safetensors"),
        None if a.data == "mnist" => PathBuf::from("data/classifier/digits.safetensors"),
        None => classifier::cache_path(&a.data, config.shape).ok_or_else(|| {
            Error::shape(
                "classifier",
                "no $XDG_CACHE_HOME or $HOME to keep it in; give --out",
            )
        })?,
    };
    let gpu = a.which.open(true)?;
    eprintln!("adapter: {}", gpu.describe());
    let start = std::time::Instant::now();
    let c = classifier::train(&gpu, &data, &config, |step, loss, acc| {
        eprintln!(
            "step {step:6}  batch loss {loss:.4}  batch accuracy {:.1}%",
            100.0 * acc
        )
    })?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::file(dir, format!("cannot create the folder: {e}")))?;
    }
    c.save(&gpu, &out)?;
    let labels = data.labels.as_deref().unwrap_or_default();
    let held = config.held_out(labels).iter().filter(|&&h| h).count();
    eprintln!(
        "held-out accuracy {:.2}% on {held} images it never saw; {:.0} s; wrote {}",
        100.0 * c.held_out_accuracy,
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn bench(a: BenchArgs) -> Result<(), Error> {
    let opts = bench::Options {
        quick: a.quick,
        batches: a.batch.clone(),
    };
    if a.batch.contains(&0) {
        return Err(Error::shape("bench", "--batch sizes must be at least 1"));
    }
    let gpus = if a.all {
        let adapters = gpu::enumerate(a.which.backend);
        if adapters.is_empty() {
            return Err(Error::NoAdapter {
                backends: "all backends".into(),
            });
        }
        let gpus = adapters
            .into_iter()
            .map(Gpu::from_adapter)
            .collect::<Result<Vec<_>, _>>()?;
        for gpu in &gpus {
            tuned(gpu, a.which.retune, true)?;
        }
        gpus
    } else {
        vec![a.which.open(true)?]
    };
    let mut reports = Vec::new();
    for gpu in &gpus {
        eprintln!("benchmarking {}", gpu.describe());
        reports.push(bench::run(gpu, &opts)?);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("serialisable")
        );
    } else {
        print!("{}", bench::table(&reports));
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Train(a) => train(*a),
        Command::Sample(a) => sample(a),
        Command::Bench(a) => bench(a),
        Command::Eval(a) => eval(a),
        Command::Classifier(a) => classifier(a),
        Command::Adapters { which } => {
            let adapters = gpu::enumerate(which.backend);
            if adapters.is_empty() {
                return Err(Error::NoAdapter {
                    backends: match which.backend {
                        Some(b) => format!("backend {b:?}"),
                        None => "all backends".into(),
                    },
                });
            }
            let chosen = gpu::choose_adapter(&which.options())?.get_info();
            for a in &adapters {
                let mark = if a.get_info() == chosen {
                    "  (chosen)"
                } else {
                    ""
                };
                print!(
                    "{}",
                    gpu::adapter_report(a).replacen('\n', &format!("{mark}\n"), 1)
                );
                let tile = matmul::MatmulTiles::for_adapter(&a.get_info(), &a.limits());
                println!("  matmul tile:                  {tile}\n");
            }
            Ok(())
        }
        Command::Info { which } => {
            let gpu = which.open(which.retune)?;
            println!("{}", gpu.describe());
            println!("matmul tile: {}", matmul::tiles(&gpu));
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    // SAFETY: the first thing the process does; no other thread exists yet.
    unsafe { shadergan::gpu::spread_software_adapter_work() };
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Which flags were typed (a resumed run refuses those that would
    // change it, whatever their defaults).
    if let (Command::Train(a), Some(("train", m))) = (&mut cli.command, matches.subcommand()) {
        a.given = m
            .ids()
            .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.to_string())
            .collect();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                Error::Interrupted { number, .. } => ExitCode::from((128 + number) as u8),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
