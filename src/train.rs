//! A training run: the loop around [`Trainer::step`] and what it writes to
//! `runs/<name>/` (the README: What a run writes): config.json, metrics.jsonl, sample pictures,
//! loss.png and checkpoints, each written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::data::{Dataset, Mixture};
use crate::error::{Error, Result};
use crate::eval::{self, Evaluator, Quality};
use crate::files::write_atomic;
use crate::gan::checkpoint;
use crate::gan::{self, GanConfig, StepMetrics, Trainer};
use crate::gpu::Gpu;
use crate::health::{self, Finding, Health, HealthMode};
use crate::render;

/// How a run is driven (what does not change the trained numbers).
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub steps: u64,
    pub out: PathBuf,
    pub sample_every: u64,
    pub checkpoint_every: u64,
    pub log_every: u64,
    /// Score the samples every N steps into metrics.jsonl (0: never).
    pub eval_every: u64,
    /// Samples per evaluation (None: eval::default_samples).
    pub eval_samples: Option<usize>,
    pub resume: Option<PathBuf>,
    pub progress: bool,
    /// Set by a signal (SIGINT, SIGTERM): save a checkpoint and stop.
    pub stop: Arc<AtomicBool>,
    /// What the health check does with what it finds.
    pub health: HealthMode,
}

/// A metrics.jsonl line of an evaluation.
#[derive(Serialize)]
struct EvalLine {
    step: u64,
    samples: usize,
    eval: Quality,
}

#[derive(Serialize)]
struct MetricsLine {
    #[serde(flatten)]
    m: StepMetrics,
    steps_per_s: f64,
}

/// What a finished run reports.
pub struct Summary {
    pub steps: u64,
    pub seconds: f64,
    pub last: Option<StepMetrics>,
    pub checkpoint: PathBuf,
}

/// How a run's samples are drawn: a grid of images, or a scatter plot of
/// points over the mixture's modes (2,500 points, as the quality protocol).
pub fn picture_rows(config: &GanConfig) -> usize {
    match config.classes {
        _ if config.shape.len() != 3 => 2500,
        // A conditional GAN's grid: column j draws class j.
        k @ 2..=16 => k * k,
        _ => 64,
    }
}

/// Draws generator outputs (n rows) as a PNG, as the run's config says.
pub fn picture(config: &GanConfig, values: &[f32], n: usize, path: &Path) -> Result<()> {
    let img = match config.shape[..] {
        [c, h, w] => render::image_grid(values, n, c, h, w, (n as f64).sqrt().ceil() as usize),
        _ => {
            let mixture = match config.data.as_str() {
                "grid" => Some(Mixture::grid()),
                "ring" => Some(Mixture::ring()),
                _ => None,
            };
            match mixture {
                Some(m) => render::scatter(values, &m.modes, m.std, m.extent()),
                None => {
                    let extent = values.iter().fold(1.0f32, |a, v| {
                        if v.is_finite() {
                            a.max(v.abs() * 1.1)
                        } else {
                            a
                        }
                    });
                    render::scatter(values, &[], 0.0, extent)
                }
            }
        }
    };
    render::save_png(&img, path).map_err(|e| Error::file(path, e.to_string()))
}

/// A run's folder, held by this process while it writes it: a `.lock`
/// file naming the process, removed when this is dropped.
pub struct RunFolder {
    lock: PathBuf,
}

/// The files a run writes in its folder (and `--overwrite` removes).
const RUN_FILES: [&str; 4] = ["config.json", "metrics.jsonl", "loss.png", ".lock"];
const RUN_DIRS: [&str; 2] = ["samples", "checkpoints"];

impl RunFolder {
    /// Takes `out` for a run. A folder that holds another run, or other
    /// files, is refused unless `overwrite` (which removes what a run
    /// writes there, and nothing else); a run resumed from a checkpoint
    /// in `out/checkpoints/` continues its own folder. A folder another
    /// live process is writing is refused, naming it.
    pub fn take(out: &Path, resuming: Option<&Path>, overwrite: bool) -> Result<RunFolder> {
        let lock = out.join(".lock");
        if let Some(pid) = lock_holder(&lock) {
            return Err(Error::file(
                out,
                format!(
                    "process {pid} is training into this folder; wait for it to finish, or pass \
                     another --out (if no run is using it, delete {})",
                    lock.display()
                ),
            ));
        }
        let own = resuming
            .and_then(run_folder_of)
            .zip(std::fs::canonicalize(out).ok())
            .is_some_and(|(a, b)| std::fs::canonicalize(a).ok() == Some(b));
        let entries: Vec<String> = match std::fs::read_dir(out) {
            Ok(dir) => dir
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".lock")
                .collect(),
            Err(_) => Vec::new(),
        };
        if !own && !entries.is_empty() {
            if !overwrite {
                let what = if out.join("config.json").is_file() {
                    "holds another run".to_string()
                } else {
                    format!("is not empty ({})", entries.join(", "))
                };
                let resume = if out.join("checkpoints/last.safetensors").is_file() {
                    format!(
                        ", `--resume {}` to continue it",
                        out.join("checkpoints/last.safetensors").display()
                    )
                } else {
                    String::new()
                };
                return Err(Error::file(
                    out,
                    format!("{what}: pass another --out{resume}, or --overwrite to replace it"),
                ));
            }
            remove_run_files(out)?;
        }
        std::fs::create_dir_all(out).map_err(|e| Error::file(out, e.to_string()))?;
        std::fs::write(&lock, format!("{}\n", std::process::id()))
            .map_err(|e| Error::file(&lock, e.to_string()))?;
        Ok(RunFolder { lock })
    }
}

impl Drop for RunFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// The live process a `.lock` names, other than this one.
fn lock_holder(lock: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(lock).ok()?.trim().parse().ok()?;
    let alive = if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // No portable test: a lock is taken as held.
        true
    };
    (alive && pid != std::process::id()).then_some(pid)
}

/// What a run writes in `out` removed (for --overwrite).
fn remove_run_files(out: &Path) -> Result<()> {
    let io = |p: PathBuf| move |e: std::io::Error| Error::file(&p, e.to_string());
    for f in RUN_FILES {
        let p = out.join(f);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(io(p.clone()))?;
        }
    }
    for d in RUN_DIRS {
        let p = out.join(d);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).map_err(io(p.clone()))?;
        }
    }
    Ok(())
}

/// The run folder a checkpoint belongs to: `<run>/checkpoints/<file>`
/// beside `<run>/config.json`.
pub fn run_folder_of(checkpoint: &Path) -> Option<PathBuf> {
    let dir = checkpoint.parent()?;
    if dir.file_name()? != "checkpoints" {
        return None;
    }
    let run = dir.parent().map_or(PathBuf::from("."), |p| {
        if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p.to_path_buf()
        }
    });
    run.join("config.json").is_file().then_some(run)
}

/// metrics.jsonl cut back to the lines of steps up to `step` (a run
/// resumed from an earlier checkpoint appends after them).
fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s <= step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if kept.len() != text.len() {
        write_atomic(path, kept.as_bytes())?;
    }
    Ok(())
}

/// Trains `config` on `data`, writing the run's folder.
pub fn run(gpu: &Gpu, config: &GanConfig, data: &Dataset, opts: &RunOptions) -> Result<Summary> {
    let mut t = Trainer::new(gpu, config, data)?;
    if t.placement() == gan::Placement::Stream {
        eprintln!(
            "data: larger than one buffer of this adapter ({} MiB): batches stream from host memory",
            gpu.limits.max_storage_buffer_binding_size >> 20
        );
    }
    let mut resumed_at = None;
    if let Some(path) = &opts.resume {
        let ck = checkpoint::read(path)?;
        ck.restore(&mut t)?;
        resumed_at = Some(ck.step);
    }
    // Everything that can refuse the run does so before its folder is
    // written: the evaluator needs its classifier.
    let evaluator = if opts.eval_every > 0 {
        let n = opts.eval_samples.unwrap_or(eval::default_samples(config));
        Some(Evaluator::new(gpu, config, &t.g, n, config.seed, None)?)
    } else {
        None
    };
    let out = &opts.out;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| Error::file(&p, e.to_string())
    };
    std::fs::create_dir_all(out.join("samples")).map_err(io(out))?;
    std::fs::create_dir_all(out.join("checkpoints")).map_err(io(out))?;
    let config_json =
        serde_json::to_string_pretty(config).map_err(|e| Error::file(out, e.to_string()))?;
    write_atomic(&out.join("config.json"), config_json.as_bytes())?;
    let metrics_path = out.join("metrics.jsonl");
    match resumed_at {
        Some(step) => truncate_metrics(&metrics_path, step)?,
        // A fresh run starts its own metrics.
        None if metrics_path.exists() => {
            std::fs::remove_file(&metrics_path).map_err(io(&metrics_path))?
        }
        None => {}
    }

    let rows = picture_rows(config);
    let sampler = t.sampler(rows, false)?;
    let fixed_z = gan::latents(config.seed, gan::streams::FIXED_Z, rows, config.latent);
    let features: usize = config.shape.iter().product();
    let health = std::cell::RefCell::new(Health::new(
        opts.health,
        Some(health::data_spread(data)),
        config.lr_g,
    ));
    // The newest checkpoint written, which a diverged run points to.
    let saved: std::cell::RefCell<Option<PathBuf>> = Default::default();
    let before_it = || match &*saved.borrow() {
        Some(p) => format!("the last checkpoint before it is {}", p.display()),
        None => "no checkpoint was written before it".into(),
    };
    let bar = if opts.progress {
        let b = ProgressBar::new(opts.steps);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  ETA {eta}  {msg}")
                .expect("valid template"),
        );
        b.set_position(t.step.min(opts.steps));
        b
    } else {
        ProgressBar::hidden()
    };
    // A finding of the health check: a line in metrics.jsonl and above the
    // bar; an error where it stops the run.
    let report = |f: Finding| -> Result<()> {
        let line = serde_json::json!({ "step": f.step, "warning": f.json() });
        append_line(&metrics_path, &line.to_string())?;
        if f.stops(opts.health) {
            return Err(Error::shape(
                "training",
                format!("{}; {}", f.line(), before_it()),
            ));
        }
        bar.println(format!("warning: {}", f.line()));
        Ok(())
    };
    let save_picture = |t: &Trainer<'_>| -> Result<()> {
        let values = sampler.run(gpu, &fixed_z)?;
        picture(
            config,
            &values,
            rows,
            &out.join(format!("samples/step_{:06}.png", t.step)),
        )?;
        let found = health
            .borrow_mut()
            .observe_samples(t.step, &values, features);
        found.map_or(Ok(()), &report)
    };
    let save_checkpoint = |t: &Trainer<'_>| -> Result<PathBuf> {
        // The losses were finite; the weights after the last update must be
        // too, or the checkpoint would keep a diverged model.
        let buffers = [&t.g, &t.d].map(|n| [&n.params.whole, &n.adam_m.whole, &n.adam_v.whole]);
        for buffer in buffers.into_iter().flatten() {
            if gpu.read(buffer)?.iter().any(|v| !v.is_finite()) {
                return Err(Error::shape(
                    "training",
                    format!(
                        "the weights or their Adam moments became non-finite by step {}: training diverged. Lower --lr (it is {}); {}",
                        t.step,
                        config.lr_g,
                        before_it()
                    ),
                ));
            }
        }
        let path = out.join(format!("checkpoints/step_{:06}.safetensors", t.step));
        checkpoint::save(t, &path)?;
        checkpoint::save(t, &out.join("checkpoints/last.safetensors"))?;
        *saved.borrow_mut() = Some(path.clone());
        Ok(path)
    };

    let mut history: Vec<StepMetrics> = Vec::new();
    let start = Instant::now();
    let start_step = t.step;
    let log_every = opts.log_every.clamp(1, 256);
    let record = |ms: Vec<StepMetrics>,
                  t: &Trainer<'_>,
                  history: &mut Vec<StepMetrics>|
     -> Result<()> {
        let rate = (t.step - start_step) as f64 / start.elapsed().as_secs_f64().max(1e-9);
        for m in ms {
            if !(m.d_loss.is_finite() && m.g_loss.is_finite()) {
                return Err(Error::shape(
                    "training",
                    format!(
                        "the loss became {} at step {}: training diverged. Lower --lr (it is {}); {}",
                        if m.d_loss.is_nan() || m.g_loss.is_nan() {
                            "NaN"
                        } else {
                            "infinite"
                        },
                        m.step,
                        config.lr_g,
                        before_it()
                    ),
                ));
            }
            let line = serde_json::to_string(&MetricsLine {
                m,
                steps_per_s: rate,
            })
            .expect("serialisable");
            append_line(&metrics_path, &line)?;
            bar.set_message(format!(
                "D {:.3}  G {:.3}  D(x) {:.2}  D(G(z)) {:.2}",
                m.d_loss, m.g_loss, m.d_real, m.d_fake
            ));
            history.push(m);
            let found = health.borrow_mut().observe(&m);
            if let Some(f) = found {
                report(f)?;
            }
        }
        Ok(())
    };

    while t.step < opts.steps {
        if opts.stop.load(Ordering::SeqCst) {
            eprintln!("interrupted: saving a checkpoint");
            break;
        }
        t.step(t.step.is_multiple_of(log_every) || t.step + 1 == opts.steps)?;
        let ms = t.poll_metrics(false)?;
        record(ms, &t, &mut history)?;
        bar.set_position(t.step);
        if opts.sample_every > 0 && t.step.is_multiple_of(opts.sample_every) {
            save_picture(&t)?;
        }
        if let Some(e) = evaluator
            .as_ref()
            .filter(|_| t.step.is_multiple_of(opts.eval_every))
        {
            evaluate(e, &t, &metrics_path, &bar)?;
        }
        if opts.checkpoint_every > 0 && t.step.is_multiple_of(opts.checkpoint_every) {
            // Every loss up to here is checked first: a diverged state is never saved.
            let ms = t.flush_metrics()?;
            record(ms, &t, &mut history)?;
            save_checkpoint(&t)?;
        }
    }
    let ms = t.flush_metrics()?;
    record(ms, &t, &mut history)?;
    // The checkpoint first: a stopped run may have seconds left (docker
    // stop's grace period), and skips the final evaluation.
    let on_schedule = opts.checkpoint_every > 0 && t.step.is_multiple_of(opts.checkpoint_every);
    let newest = saved.borrow().clone();
    let last_checkpoint = match newest {
        Some(p) if on_schedule => p,
        _ => save_checkpoint(&t)?,
    };
    let stopped = opts.stop.load(Ordering::SeqCst);
    if let Some(e) = evaluator
        .as_ref()
        .filter(|_| !stopped && !t.step.is_multiple_of(opts.eval_every))
    {
        evaluate(e, &t, &metrics_path, &bar)?;
    }
    save_picture(&t)?;
    write_loss_plot(out)?;
    bar.finish();
    Ok(Summary {
        steps: t.step,
        seconds: start.elapsed().as_secs_f64(),
        last: history.last().copied(),
        checkpoint: last_checkpoint,
    })
}

/// Appends one whole line to `path` with one write (a full disk cuts no
/// line in two that a reader would take for whole).
fn append_line(path: &Path, line: &str) -> Result<()> {
    let io = |e: std::io::Error| Error::file(path, e.to_string());
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    file.write_all(format!("{line}\n").as_bytes()).map_err(io)
}

/// Scores the generator now and appends the line to metrics.jsonl.
fn evaluate(e: &Evaluator, t: &Trainer<'_>, metrics: &Path, bar: &ProgressBar) -> Result<()> {
    let q = e.run(t.gpu)?;
    let line = serde_json::to_string(&EvalLine {
        step: t.step,
        samples: e.samples,
        eval: q,
    })
    .expect("serialisable");
    // Created if no step's line has landed yet (they are read back
    // asynchronously, so an early evaluation can come first).
    append_line(metrics, &line)?;
    bar.println(format!("step {}: {}", t.step, q.summary()));
    Ok(())
}

/// loss.png from the whole metrics.jsonl (a resumed run included).
pub fn write_loss_plot(out: &Path) -> Result<()> {
    let path = out.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::file(&path, e.to_string()))?;
    let (mut steps, mut d, mut g) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        if let Ok(m) = serde_json::from_str::<StepMetrics>(line) {
            steps.push(m.step);
            d.push(m.d_loss);
            g.push(m.g_loss);
        }
    }
    let img = render::loss_plot(&steps, &d, &g);
    let png = out.join("loss.png");
    render::save_png(&img, &png).map_err(|e| Error::file(&png, e.to_string()))
}
