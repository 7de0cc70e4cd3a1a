//! The quality study of docs/design.md: ring and grid, plain GAN and PacGAN
//! with m = 2, 3, 4, each over several seeds, printed in the form of
//! PacGAN's Table 1 (mean ± standard error); and the digits over fewer
//! seeds. Every run trains the defaults of `shadergan train` and is scored
//! as `shadergan eval` scores it.
//!
//!     cargo run --release --example study -- [seeds=10] [digit_seeds=3]
//!         [first_seed=0] [jobs=1] [only=ring,grid,digits] [packs=1,2,3,4] [steps=N] [digit_steps=N]
//!         [json=study.json] [log=runs.jsonl] [reject=1] [refine=1]
//!
//! `reject=1` (the default) also scores the samples that discriminator
//! rejection keeps (`shadergan eval --reject`), in a row "+ reject" under
//! each; `refine=1` (the default) those samples refined along the
//! discriminator's gradient as well (`shadergan eval --reject --refine`;
//! ring and grid only), in a row "+ refine". `jobs` runs that many trainings at once, each on its own device of the
//! default adapter. `log` gets each run as a JSON line when it finishes;
//! `save=DIR` writes each run's final checkpoint and sample picture
//! there. `from=a.jsonl,b.jsonl adapter=NAME` prints the table of runs logged
//! earlier (by parts of a study run apart) without training.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use std::path::Path;

use shadergan::eval::{ClassScores, Evaluator, Quality};
use shadergan::gan::presets::{DIGITS, POINTS};
use shadergan::gan::{self, GanConfig, Trainer, checkpoint};
use shadergan::sample::refine_for;
use shadergan::{Gpu, GpuOptions};
use shadergan::{data, train};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Job {
    data: String,
    pack: usize,
    seed: u64,
    steps: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Run {
    job: Job,
    seconds: f64,
    quality: Quality,
    /// The scores of the samples discriminator rejection keeps (`reject=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rejected: Option<Quality>,
    /// The scores of those samples (or the plain ones, `reject=0`) refined
    /// along the discriminator's gradient (`refine=1`, ring and grid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refined: Option<Quality>,
    /// The classes of a conditional GAN (0: unconditional, and in logs
    /// that predate it).
    #[serde(default)]
    classes: usize,
}

fn config(job: &Job) -> GanConfig {
    let mut c = if job.data == "mnist" {
        GanConfig::digits()
    } else {
        GanConfig::points_for(&job.data, job.steps).packed(job.pack)
    };
    c.seed = job.seed;
    c
}

fn train(
    gpu: &Gpu,
    job: &Job,
    reject: bool,
    refine: bool,
    save: Option<&Path>,
) -> anyhow::Result<Run> {
    let start = Instant::now();
    let c = config(job);
    let data = data::load(&job.data, None, false, job.seed)?;
    let mut t = Trainer::new(gpu, &c, &data)?;
    while t.step < job.steps {
        t.step(false)?;
    }
    if let Some(dir) = save {
        // The final checkpoint and the picture `shadergan train` would
        // write, for `shadergan eval`, `sample` and the README.
        std::fs::create_dir_all(dir)?;
        let name = format!("{}-pack{}-seed{}", job.data, job.pack, job.seed);
        checkpoint::save(&t, &dir.join(format!("{name}.safetensors")))?;
        let rows = train::picture_rows(&c);
        let z = gan::latents(c.seed, gan::streams::FIXED_Z, rows, c.latent);
        let values = t.sampler(rows, false)?.run(gpu, &z)?;
        train::picture(&c, &values, rows, &dir.join(format!("{name}.png")))?;
    }
    let n = shadergan::eval::default_samples(&c);
    let e = Evaluator::new(gpu, &c, &t.g, n, job.seed, None)?;
    let quality = e.run(gpu)?;
    // Rejection and refinement judge unconditional samples only.
    let (rejected, kept) = if reject && c.classes == 0 {
        let (q, r) = e.run_rejected(gpu, &t.g, &t.d, c.pack)?;
        (Some(q), Some(r.samples))
    } else {
        (None, None)
    };
    let refined = if refine && job.data != "mnist" {
        let samples = match kept {
            Some(x) => x,
            None => e.samples(gpu)?,
        };
        let setting = refine_for(&job.data, None)?;
        Some(e.run_refined(gpu, &t.d, c.pack, &samples, &setting)?)
    } else {
        None
    };
    Ok(Run {
        job: job.clone(),
        seconds: start.elapsed().as_secs_f64(),
        quality,
        rejected,
        refined,
        classes: c.classes,
    })
}

fn sort(runs: &mut [Run]) {
    runs.sort_by(|a, b| {
        (&a.job.data, a.job.pack, a.job.seed).cmp(&(&b.job.data, b.job.pack, b.job.seed))
    });
}

/// mean ± standard error of the mean.
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

fn main() -> anyhow::Result<()> {
    let args: HashMap<String, String> = std::env::args()
        .skip(1)
        .filter_map(|a| a.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect();
    let num = |k: &str, d: u64| args.get(k).map_or(Ok(d), |v| v.parse()).unwrap();
    let seeds = num("seeds", 10);
    // Seeds first_seed, first_seed + 1, ...: a study can be run in parts
    // and printed whole with from=.
    let first_seed = num("first_seed", 0);
    let digit_seeds = num("digit_seeds", 3);
    let jobs = num("jobs", 1).max(1) as usize;
    let steps = num("steps", POINTS.steps);
    let digit_steps = num("digit_steps", DIGITS.steps);
    let reject = num("reject", 1) != 0;
    let refine = num("refine", 1) != 0;
    let only: Vec<String> = args
        .get("only")
        .map_or("ring,grid,digits", |s| s.as_str())
        .split(',')
        .map(String::from)
        .collect();
    let packs: Vec<usize> = args
        .get("packs")
        .map_or("1,2,3,4", |s| s.as_str())
        .split(',')
        .map(|p| p.parse().expect("packs=1,2,3,4"))
        .collect();

    if let Some(files) = args.get("from") {
        let mut runs = Vec::new();
        for f in files.split(',') {
            for line in std::fs::read_to_string(f)?.lines() {
                runs.push(serde_json::from_str::<Run>(line)?);
            }
        }
        sort(&mut runs);
        let adapter = args
            .get("adapter")
            .map_or("the adapter that ran them", |s| s);
        let wall = runs.iter().map(|r| r.seconds).sum::<f64>();
        print!(
            "{}",
            table(&runs, adapter, wall, 1).replacen(
                &format!("in {wall:.0} s (1 at a time)"),
                &format!(
                    "logged in {}; {wall:.0} s of training and scoring in all",
                    files
                ),
                1
            )
        );
        return Ok(());
    }
    let mut queue = Vec::new();
    if only.iter().any(|o| o == "digits") {
        for seed in first_seed..first_seed + digit_seeds {
            queue.push(Job {
                data: "mnist".into(),
                pack: 1,
                seed,
                steps: digit_steps,
            });
        }
    }
    for data in ["ring", "grid"] {
        if only.iter().any(|o| o == data) {
            for &pack in &packs {
                for seed in first_seed..first_seed + seeds {
                    queue.push(Job {
                        data: data.into(),
                        pack,
                        seed,
                        steps,
                    });
                }
            }
        }
    }
    let total = queue.len();
    queue.reverse();
    let queue = Mutex::new(queue);
    let runs = Mutex::new(Vec::new());
    let adapter = Mutex::new(String::new());
    let save = args.get("save").map(Path::new);
    let log = Mutex::new(match args.get("log") {
        Some(p) => Some(std::fs::File::create(p)?),
        None => None,
    });
    let start = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs.min(total))
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    let gpu = Gpu::new(&GpuOptions::default())?;
                    *adapter.lock().unwrap() = gpu.describe();
                    loop {
                        let Some(job) = queue.lock().unwrap().pop() else {
                            return Ok(());
                        };
                        let run = train(&gpu, &job, reject, refine, save)?;
                        if let Some(f) = log.lock().unwrap().as_mut() {
                            use std::io::Write;
                            writeln!(f, "{}", serde_json::to_string(&run)?)?;
                        }
                        let mut r = runs.lock().unwrap();
                        r.push(run.clone());
                        eprintln!(
                            "[{}/{total}] {} pack {} seed {}: {:.0} s  {}{}{}",
                            r.len(),
                            job.data,
                            job.pack,
                            job.seed,
                            run.seconds,
                            run.quality.summary(),
                            run.rejected.map_or(String::new(), |q| format!(
                                "  | rejection: {}",
                                q.summary()
                            )),
                            run.refined
                                .map_or(String::new(), |q| format!("  | refined: {}", q.summary()))
                        );
                    }
                })
            })
            .collect();
        for w in workers {
            if let Err(e) = w.join().expect("a worker panicked") {
                eprintln!("error: {e:#}");
            }
        }
    });
    let mut runs = runs.into_inner().unwrap();
    sort(&mut runs);
    if runs.len() < total {
        anyhow::bail!("{} of {total} runs failed", total - runs.len());
    }
    let wall = start.elapsed().as_secs_f64();
    let adapter = adapter.into_inner().unwrap();
    print!("{}", table(&runs, &adapter, wall, jobs));
    if let Some(path) = args.get("json") {
        let report = serde_json::json!({
            "adapter": adapter, "wall_seconds": wall, "jobs": jobs, "runs": runs,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

/// One row of PacGAN's table: mean ± standard error over the runs.
fn mixture_row(name: &str, runs: &[Quality], secs: f64) -> String {
    let pick = |f: &dyn Fn(&shadergan::eval::MixtureQuality) -> f64| {
        let v: Vec<f64> = runs
            .iter()
            .filter_map(|r| match r {
                Quality::Mixture(q) => Some(f(q)),
                _ => None,
            })
            .collect();
        mean_se(&v)
    };
    let (m, ms) = pick(&|q| q.modes as f64);
    let (h, hs) = pick(&|q| 100.0 * q.high_quality);
    let (r, rse) = pick(&|q| q.reverse_kl);
    format!(
        "  {name:<12}{:>6}{:>18}{:>22}{:>20}{:>12.0}\n",
        runs.len(),
        format!("{m:.1} ± {ms:.1}"),
        format!("{h:.1} ± {hs:.1}"),
        format!("{r:.3} ± {rse:.3}"),
        secs
    )
}

fn table(runs: &[Run], adapter: &str, wall: f64, jobs: usize) -> String {
    let mut s = format!(
        "Quality study on {adapter}: {} runs in {:.0} s ({jobs} at a time)\n\n",
        runs.len(),
        wall
    );
    for data in ["ring", "grid"] {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.job.data == data).collect();
        if mine.is_empty() {
            continue;
        }
        let k = if data == "ring" { 8 } else { 25 };
        s += &format!(
            "{data} ({k} modes), {} steps, 2,500 samples; mean ± standard error over seeds\n",
            mine[0].job.steps
        );
        s += &format!(
            "  {:<12}{:>6}{:>18}{:>22}{:>20}{:>12}\n",
            "", "seeds", "modes", "high quality %", "reverse KL", "max s/run"
        );
        for pack in 1..=4 {
            let rs: Vec<&&Run> = mine.iter().filter(|r| r.job.pack == pack).collect();
            if rs.is_empty() {
                continue;
            }
            let secs = rs.iter().map(|r| r.seconds).fold(0.0, f64::max);
            let name = if pack == 1 {
                "GAN".to_string()
            } else {
                format!("PacGAN{pack}")
            };
            let rejected: Vec<Quality> = rs.iter().filter_map(|r| r.rejected).collect();
            let plain: Vec<Quality> = rs.iter().map(|r| r.quality).collect();
            s += &mixture_row(&name, &plain, secs);
            if !rejected.is_empty() {
                s += &mixture_row("+ reject", &rejected, secs);
            }
            let refined: Vec<Quality> = rs.iter().filter_map(|r| r.refined).collect();
            if !refined.is_empty() {
                s += &mixture_row("+ refine", &refined, secs);
            }
        }
        s += "\n";
    }
    let digits: Vec<&Run> = runs.iter().filter(|r| r.job.data == "mnist").collect();
    if !digits.is_empty() {
        let kind = if digits.iter().all(|r| r.classes > 0) {
            "class-conditional GAN, sample i drawing digit i mod 10"
        } else if digits.iter().all(|r| r.classes == 0) {
            "unconditional GAN"
        } else {
            "conditional and unconditional GANs mixed"
        };
        s += &format!(
            "digits (built-in MNIST), {kind}, {} steps, 10,000 samples; mean ± standard error over {} seeds\n",
            digits[0].job.steps,
            digits.len()
        );
        let with_rejection = digits.iter().all(|r| r.rejected.is_some());
        let pick = |f: &dyn Fn(&ClassScores) -> f64, rejected: bool| {
            let v: Vec<f64> = digits
                .iter()
                .filter_map(|r| {
                    if rejected {
                        r.rejected
                    } else {
                        Some(r.quality)
                    }
                })
                .filter_map(|q| match q {
                    Quality::Images(d) => Some(f(&d)),
                    _ => None,
                })
                .collect();
            mean_se(&v)
        };
        if with_rejection {
            s += &format!("  {:<20}{:>20}{:>20}\n", "", "generated", "+ reject");
        }
        type Score = fn(&ClassScores) -> f64;
        let rows: [(&str, Score); 5] = [
            ("classes covered", |d| d.classes_covered as f64),
            ("class KL", |d| d.class_kl),
            ("confidence", |d| d.confidence),
            ("inception score", |d| d.inception_score),
            ("Frechet distance", |d| d.frechet),
        ];
        for (name, f) in rows {
            let (m, se) = pick(&f, false);
            s += &format!("  {name:<20}{:>20}", format!("{m:.3} ± {se:.3}"));
            if with_rejection {
                let (m, se) = pick(&f, true);
                s += &format!("{:>20}", format!("{m:.3} ± {se:.3}"));
            }
            s += "\n";
        }
        let secs = digits.iter().map(|r| r.seconds).fold(0.0, f64::max);
        s += &format!("  {:<20}{secs:>20.0}\n", "max s/run");
    }
    s
}
