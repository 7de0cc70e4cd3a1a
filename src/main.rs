//! The `shadergan` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};
use shadergan::checkpoint::{self, write_atomic};
use shadergan::data::{self, Samples};
use shadergan::gan::{self, GanConfig, Sampler};
use shadergan::gpu::{self, BackendChoice, GpuOptions};
use shadergan::model::{self, Layer};
use shadergan::ops::loss::LossKind;
use shadergan::train::{self, RunOptions};
use shadergan::tune::{Tuning, tune};
use shadergan::{Error, Gpu, bench, npy};

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
    #[arg(long, value_enum, global = true)]
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
        let mut gpu = Gpu::new(&self.options())?;
        tuned(&mut gpu, self.retune, search)?;
        Ok(gpu)
    }
}

fn tuned(gpu: &mut Gpu, retune: bool, search: bool) -> Result<(), Error> {
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

#[derive(Args, Debug)]
struct TrainArgs {
    /// mnist (built in), fashion, ring, grid, or a path to IDX images or a folder of PNG/JPEG images.
    #[arg(long, default_value = "mnist")]
    data: String,
    /// Total training steps (with --resume, the total to reach).
    #[arg(long, default_value_t = 5000)]
    steps: u64,
    /// Samples per batch [default: 64 for images, 100 for points].
    #[arg(long)]
    batch: Option<usize>,
    /// Adam learning rate of both networks [default: 2e-4 for images, 5e-4 for points].
    #[arg(long)]
    lr: Option<f32>,
    #[arg(long, default_value_t = 0.5)]
    beta1: f32,
    #[arg(long, default_value_t = 0.999)]
    beta2: f32,
    /// Size of the generator's input noise [default: 100 for images, 2 for points].
    #[arg(long)]
    latent: Option<usize>,
    /// Hidden widths of the generator, e.g. 256,512,1024 [default: that for images, 128,128,128 for points].
    #[arg(long, value_delimiter = ',')]
    g_hidden: Option<Vec<usize>>,
    /// Hidden widths of the discriminator [default: 512,256 for images, 128,128 for points].
    #[arg(long, value_delimiter = ',')]
    d_hidden: Option<Vec<usize>>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The run's folder [default: runs/<data>-<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a sample picture every N steps (0: only at the end).
    #[arg(long, default_value_t = 500)]
    sample_every: u64,
    /// Write a checkpoint every N steps (0: only at the end).
    #[arg(long, default_value_t = 1000)]
    checkpoint_every: u64,
    /// Read the losses back every N steps (at most 256).
    #[arg(long, default_value_t = 50)]
    log_every: u64,
    #[arg(long, value_enum, default_value = "bce")]
    loss: LossKind,
    /// PacGAN: the discriminator judges m samples concatenated.
    #[arg(long, default_value_t = 1)]
    pack: usize,
    /// Continue from a checkpoint (its configuration wins over these flags).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Image folders: side of the square every image is resized to.
    #[arg(long)]
    size: Option<u32>,
    /// Image folders: keep colour (RGB) instead of grayscale.
    #[arg(long)]
    color: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    which: AdapterArgs,
}

#[derive(Args, Debug)]
struct SampleArgs {
    /// A checkpoint written by `shadergan train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// How many samples.
    #[arg(long, default_value_t = 64)]
    n: usize,
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
    #[command(flatten)]
    which: AdapterArgs,
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

#[derive(Subcommand)]
enum Command {
    /// Train a GAN (with no flags: the reference GAN on the built-in MNIST digits).
    Train(TrainArgs),
    /// Turn a checkpoint into a PNG grid (or scatter plot) and/or a .npy of samples.
    Sample(SampleArgs),
    /// Measure the adapter: ceilings, every kernel, the full training step.
    Bench(BenchArgs),
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

/// The configuration a fresh run gets from the flags and the data.
fn config_for(a: &TrainArgs, data: &data::Dataset) -> GanConfig {
    let features = data.features();
    let points = matches!(data.samples, Samples::Points { .. });
    let mut c = GanConfig::reference(features);
    c.data = a.data.clone();
    c.shape = match data.image_shape() {
        Some((ch, h, w)) => vec![ch, h, w],
        None => vec![features],
    };
    if points {
        // See gan::GanConfig::points: the ring test trains these defaults.
        c.latent = a.latent.unwrap_or(gan::POINTS_LATENT);
        let g = a.g_hidden.clone().unwrap_or(gan::POINTS_G_HIDDEN.to_vec());
        let d = a.d_hidden.clone().unwrap_or(gan::POINTS_D_HIDDEN.to_vec());
        c.generator = model::mlp(c.latent, &g, features, true, 0.0, None);
        c.discriminator = model::mlp(features * a.pack, &d, 1, false, 0.2, None);
        c.batch = a.batch.unwrap_or(gan::POINTS_BATCH);
        c.lr_g = a.lr.unwrap_or(gan::POINTS_LR);
    } else {
        c.latent = a.latent.unwrap_or(100);
        let g = a.g_hidden.clone().unwrap_or(vec![256, 512, 1024]);
        let d = a.d_hidden.clone().unwrap_or(vec![512, 256]);
        c.generator = model::mlp(c.latent, &g, features, true, 0.2, Some(Layer::Tanh));
        c.discriminator = model::mlp(features * a.pack, &d, 1, false, 0.2, None);
        c.batch = a.batch.unwrap_or(64);
        c.lr_g = a.lr.unwrap_or(2e-4);
    }
    c.lr_d = c.lr_g;
    c.beta1 = a.beta1;
    c.beta2 = a.beta2;
    c.loss = a.loss;
    c.pack = a.pack;
    c.seed = a.seed;
    c
}

fn train(a: TrainArgs) -> Result<(), Error> {
    let resumed = a.resume.as_ref().map(|p| checkpoint::read(p)).transpose()?;
    let data_spec = resumed
        .as_ref()
        .map_or(a.data.clone(), |ck| ck.config.data.clone());
    let seed = resumed.as_ref().map_or(a.seed, |ck| ck.config.seed);
    let data =
        data::load(&data_spec, a.size, a.color, seed).map_err(|e| Error::Data(e.to_string()))?;
    let config = match &resumed {
        Some(ck) => ck.config.clone(),
        None => config_for(&a, &data),
    };
    let steps = a.steps;
    let gpu = a.which.open(true)?;
    let name = std::path::Path::new(&data_spec)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{name}-{seed}")));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
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
        resume: a.resume.clone(),
        progress: !a.quiet,
        stop,
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
    Ok(())
}

fn sample(a: SampleArgs) -> Result<(), Error> {
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
            values
        }
        None => gan::latents(a.seed, gan::STREAM_FIXED_Z, a.n, c.latent),
    };
    let n = latents.len() / c.latent;
    if n == 0 {
        return Err(Error::shape("sample", "--n must be at least 1"));
    }
    if a.batch_stats
        && n < 2
        && c.generator
            .iter()
            .any(|l| matches!(l, Layer::BatchNorm { .. }))
    {
        return Err(Error::shape(
            "sample",
            "--batch-stats needs at least 2 samples",
        ));
    }
    let gpu = a.which.open(false)?;
    let g = ck.generator(&gpu)?;
    let values = Sampler::new(&gpu, &g, n, a.batch_stats)?.run(&gpu, &latents)?;
    let features = values.len() / n;
    if let Some(p) = &a.npy {
        write_atomic(p, &npy::encode(&values, &[n, features]))?;
        eprintln!("wrote {} ({n} x {features} float32)", p.display());
    }
    let png = a
        .out
        .clone()
        .or_else(|| a.npy.is_none().then(|| PathBuf::from("samples.png")));
    if let Some(p) = png {
        train::picture(c, &values, n, &p)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn bench(a: BenchArgs) -> Result<(), Error> {
    let opts = bench::Options {
        quick: a.quick,
        batches: a.batch.clone(),
    };
    if a.batch.iter().any(|&b| b == 0) {
        return Err(Error::shape("bench", "--batch sizes must be at least 1"));
    }
    let gpus = if a.all {
        let adapters = gpu::enumerate(a.which.backend);
        if adapters.is_empty() {
            return Err(Error::NoAdapter {
                backends: "all backends".into(),
            });
        }
        let mut gpus = adapters
            .into_iter()
            .map(Gpu::from_adapter)
            .collect::<Result<Vec<_>, _>>()?;
        for gpu in &mut gpus {
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
        Command::Train(a) => train(a),
        Command::Sample(a) => sample(a),
        Command::Bench(a) => bench(a),
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
                println!();
            }
            Ok(())
        }
        Command::Info { which } => {
            let gpu = which.open(which.retune)?;
            println!("{}", gpu.describe());
            println!("matmul tile: {}", gpu.tiles);
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
