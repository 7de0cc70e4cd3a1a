//! Sample quality on the 2-D mixtures (docs/design.md, the quality protocol), as PacGAN (Lin et al.
//! 2018) and VEEGAN (Srivastava et al. 2017) measure it.

use serde::Serialize;

use crate::classifier::{self, Classifier};
use crate::data::{self, Mixture};
use crate::error::{Error, Result};
use crate::gan::checkpoint::Checkpoint;
use crate::gan::refine::{Refine, Refiner};
use crate::gan::reject::{Rejected, Rejector};
use crate::gan::{self, GanConfig, Sampler, streams};
use crate::gpu::Gpu;
use crate::nn::Net;

/// The mode-collapse metrics of a set of 2-D samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct MixtureQuality {
    /// Modes that are the nearest mode of at least one high-quality sample.
    pub modes: usize,
    /// Fraction of samples within 3 std of their nearest mode.
    pub high_quality: f64,
    /// KL(histogram of high-quality samples over modes ‖ uniform).
    pub reverse_kl: f64,
    /// Fraction of samples within a quarter of the closest two modes'
    /// distance of their nearest mode: near a mode, if not precisely on it.
    pub near: f64,
}

/// Scores `xy` (pairs) against the mixture.
pub fn mixture_quality(xy: &[f32], mixture: &Mixture) -> MixtureQuality {
    let k = mixture.modes.len();
    let mut counts = vec![0usize; k];
    let mut good = 0usize;
    let mut near = 0usize;
    let n = xy.len() / 2;
    let mut spacing = f32::INFINITY;
    for (i, a) in mixture.modes.iter().enumerate() {
        for b in &mixture.modes[i + 1..] {
            spacing = spacing.min(((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt());
        }
    }
    for p in xy.chunks_exact(2) {
        let (best, d2) = mixture
            .modes
            .iter()
            .enumerate()
            .map(|(i, m)| (i, (p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2)))
            .fold((0, f32::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
        if d2.sqrt() <= 0.25 * spacing {
            near += 1;
        }
        if d2.sqrt() <= 3.0 * mixture.std {
            good += 1;
            counts[best] += 1;
        }
    }
    let modes = counts.iter().filter(|&&c| c > 0).count();
    let reverse_kl = if good == 0 {
        f64::INFINITY
    } else {
        counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let q = c as f64 / good as f64;
                q * (q * k as f64).ln()
            })
            .sum()
    };
    MixtureQuality {
        modes,
        high_quality: if n == 0 { 0.0 } else { good as f64 / n as f64 },
        reverse_kl,
        near: if n == 0 { 0.0 } else { near as f64 / n as f64 },
    }
}

/// The digit scores of the quality protocol (docs/design.md), from the classifier's view of a set of
/// samples (crate::classifier).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ClassScores {
    pub samples: usize,
    /// Classes that are the top class of at least 1% of the samples (a
    /// tenth of their share if all ten were equally common).
    pub classes_covered: usize,
    /// Of how many the classifier knows (the digits' ten unless written).
    #[serde(default = "ten", skip_serializing_if = "is_ten")]
    pub classes: usize,
    /// KL(histogram of top classes ‖ uniform), in nats.
    pub class_kl: f64,
    /// Mean probability of the top class.
    pub confidence: f64,
    /// exp(E_x KL(p(y|x) ‖ p(y))): 1 to `classes`, higher is better.
    pub inception_score: f64,
    /// Fréchet distance between the samples' penultimate features and the
    /// reference digits' (as FID, with this classifier's features).
    pub frechet: f64,
}

fn ten() -> usize {
    10
}

fn is_ten(n: &usize) -> bool {
    *n == 10
}

/// Mean and covariance of n rows of `width` features (in f64).
#[derive(Clone, Debug)]
pub struct FeatureStats {
    pub mean: Vec<f64>,
    /// width × width, row-major.
    pub cov: Vec<f64>,
    pub width: usize,
}

impl FeatureStats {
    pub fn of(features: &[f32], width: usize) -> FeatureStats {
        let n = features.len() / width;
        let mut mean = vec![0.0; width];
        for row in features.chunks_exact(width) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let mut cov = vec![0.0; width * width];
        let mut centred = vec![0.0; width];
        for row in features.chunks_exact(width) {
            for ((c, &x), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = x as f64 - m;
            }
            for i in 0..width {
                let ci = centred[i];
                for j in i..width {
                    cov[i * width + j] += ci * centred[j];
                }
            }
        }
        let d = (n.max(2) - 1) as f64;
        for i in 0..width {
            for j in i..width {
                let v = cov[i * width + j] / d;
                cov[i * width + j] = v;
                cov[j * width + i] = v;
            }
        }
        FeatureStats { mean, cov, width }
    }
}

/// ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), with tr (Σ1 Σ2)^½ taken as
/// Σ √λ of the symmetric Σ1^½ Σ2 Σ1^½ (the same eigenvalues).
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    use nalgebra::DMatrix;
    let w = a.width;
    let s1 = DMatrix::from_row_slice(w, w, &a.cov);
    let s2 = DMatrix::from_row_slice(w, w, &b.cov);
    let e = s1.clone().symmetric_eigen();
    let roots = e.eigenvalues.map(|l| l.max(0.0).sqrt());
    let r = &e.eigenvectors * DMatrix::from_diagonal(&roots) * e.eigenvectors.transpose();
    let m = &r * &s2 * &r;
    let m = (&m + m.transpose()) * 0.5;
    let tr_sqrt: f64 = m
        .symmetric_eigen()
        .eigenvalues
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum();
    let dm: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    dm + s1.trace() + s2.trace() - 2.0 * tr_sqrt
}

/// The scores of n samples from their class probabilities (n × classes)
/// and penultimate features (n × width), against the reference images'
/// feature statistics.
pub fn class_scores(
    probs: &[f32],
    classes: usize,
    features: &[f32],
    width: usize,
    reference: &FeatureStats,
) -> ClassScores {
    let n = probs.len() / classes;
    let mut hist = vec![0usize; classes];
    let mut marginal = vec![0.0f64; classes];
    let mut confidence = 0.0;
    for p in probs.chunks_exact(classes) {
        let top = crate::classifier::top_class(p);
        hist[top] += 1;
        confidence += p[top] as f64;
        for (m, &q) in marginal.iter_mut().zip(p) {
            *m += q as f64;
        }
    }
    let nf = n.max(1) as f64;
    marginal.iter_mut().for_each(|m| *m /= nf);
    let mut kl_sum = 0.0;
    for p in probs.chunks_exact(classes) {
        for (&q, &m) in p.iter().zip(&marginal) {
            let q = q as f64;
            if q > 0.0 && m > 0.0 {
                kl_sum += q * (q / m).ln();
            }
        }
    }
    let class_kl = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let h = c as f64 / nf;
            h * (h * classes as f64).ln()
        })
        .sum();
    ClassScores {
        samples: n,
        classes_covered: hist.iter().filter(|&&c| c as f64 >= 0.01 * nf).count(),
        classes,
        class_kl,
        confidence: confidence / nf,
        inception_score: (kl_sum / nf).exp(),
        frechet: frechet_distance(&FeatureStats::of(features, width), reference),
    }
}

/// Samples an evaluation draws by default: PacGAN's 2,500 on the mixtures,
/// 10,000 digits.
pub fn default_samples(config: &GanConfig) -> usize {
    if config.data == "mnist" { 10_000 } else { 2500 }
}

/// A classifier with its reference: the feature statistics of the images
/// it trained on and the scores of the held-out real ones, the ceiling a
/// generator is measured against (for the shipped digits classifier, the
/// 9,000 and 1,000 built-in digits).
pub struct ImageJudge {
    pub classifier: Classifier,
    pub reference: FeatureStats,
    pub real: ClassScores,
}

impl ImageJudge {
    pub fn new(gpu: &Gpu, classifier: Classifier) -> Result<ImageJudge> {
        if let Some((reference, real)) = classifier.reference.clone() {
            return Ok(ImageJudge {
                classifier,
                reference,
                real,
            });
        }
        let (x, _) = classifier::digits(&data::builtin_mnist())?;
        let split = classifier::HELD_OUT * classifier::FEATURES;
        let train = classifier.score(gpu, &x[split..])?;
        let reference = FeatureStats::of(&train.features, train.width);
        let held = classifier.score(gpu, &x[..split])?;
        let real = class_scores(
            &held.probs,
            classifier.config.classes,
            &held.features,
            held.width,
            &reference,
        );
        Ok(ImageJudge {
            classifier,
            reference,
            real,
        })
    }

    pub fn scores(&self, gpu: &Gpu, images: &[f32]) -> Result<ClassScores> {
        let s = self.classifier.score(gpu, images)?;
        Ok(class_scores(
            &s.probs,
            self.classifier.config.classes,
            &s.features,
            s.width,
            &self.reference,
        ))
    }
}

/// The classifier that scores a model of `config`'s data: `given`, else
/// the shipped one for the built-in digits, else the one `shadergan
/// classifier --data D` left in the cache; checked against the images'
/// shape.
pub fn classifier_for(
    gpu: &Gpu,
    config: &GanConfig,
    given: Option<Classifier>,
) -> Result<Classifier> {
    let shape: [usize; 3] = match config.shape[..] {
        [c, h, w] => [c, h, w],
        _ => {
            return Err(Error::shape(
                "eval",
                format!(
                    "quality is measured on ring, grid and images; this model was trained on {}",
                    config.data
                ),
            ));
        }
    };
    let c = match given {
        Some(c) => c,
        None if config.data == "mnist" => Classifier::builtin(gpu)?,
        None => {
            let path = classifier::cache_path(&config.data, shape);
            match path.filter(|p| p.is_file()) {
                Some(p) => Classifier::load(gpu, &p)?,
                None => {
                    let [c, h, _] = shape;
                    let color = if c == 3 { " --color" } else { "" };
                    return Err(Error::shape(
                        "eval",
                        format!(
                            "no classifier of {} at {c}x{h}x{h} yet: train one with \
                             `shadergan classifier --data {} --size {h}{color}` (eval also takes --classifier F)",
                            config.data, config.data
                        ),
                    ));
                }
            }
        }
    };
    if c.config.shape != shape {
        return Err(Error::shape(
            "eval",
            format!(
                "the classifier judges {:?} images, this model draws {shape:?}",
                c.config.shape
            ),
        ));
    }
    if config.classes > 0 && config.classes != c.config.classes {
        return Err(Error::shape(
            "eval",
            format!(
                "the classifier knows {} classes, this model draws {}",
                c.config.classes, config.classes
            ),
        ));
    }
    Ok(c)
}

/// What an evaluation measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Quality {
    Mixture(MixtureQuality),
    Images(ClassScores),
}

enum Judge {
    Mixture(Mixture),
    Images(Box<ImageJudge>),
}

/// The error for discriminator rejection or refinement (`what`) asked of a
/// class-conditional GAN.
pub fn conditional_refused(what: &str) -> Error {
    Error::shape(
        "eval",
        format!(
            "{what} works with unconditional GANs, and this one is class-conditional \
             (its discriminator judges a sample with its label); leave out {what}, or \
             train with --unconditional"
        ),
    )
}

/// Scores a generator's samples as the quality protocol (docs/design.md) says, for ring, grid and the
/// built-in digits: n samples from fixed latents (seed, streams::EVAL_Z).
pub struct Evaluator {
    judge: Judge,
    sampler: Sampler,
    latents: Vec<f32>,
    seed: u64,
    pub samples: usize,
    /// Values per sample.
    features: usize,
    /// The classes of a conditional generator (0: unconditional).
    classes: usize,
}

impl Evaluator {
    /// `classifier`: the digit classifier to use (the built-in one if None).
    pub fn new(
        gpu: &Gpu,
        config: &GanConfig,
        g: &Net,
        samples: usize,
        seed: u64,
        classifier: Option<Classifier>,
    ) -> Result<Evaluator> {
        if samples == 0 {
            return Err(Error::shape("eval", "--n must be at least 1"));
        }
        let judge = match config.data.as_str() {
            "ring" => Judge::Mixture(Mixture::ring()),
            "grid" => Judge::Mixture(Mixture::grid()),
            _ => {
                let c = classifier_for(gpu, config, classifier)?;
                Judge::Images(Box::new(ImageJudge::new(gpu, c)?))
            }
        };
        Ok(Evaluator {
            judge,
            sampler: Sampler::for_config(gpu, g, config, samples, false)?,
            latents: gan::latents(seed, streams::EVAL_Z, samples, config.latent),
            seed,
            samples,
            features: g.outputs(),
            classes: config.classes,
        })
    }

    /// Rejection and refinement judge samples alone; a conditional GAN's
    /// discriminator also takes their labels.
    fn unconditional(&self, what: &str) -> Result<()> {
        if self.classes > 0 {
            return Err(conditional_refused(what));
        }
        Ok(())
    }

    /// The generator's current samples, scored.
    pub fn run(&self, gpu: &Gpu) -> Result<Quality> {
        let x = self.sampler.run(gpu, &self.latents)?;
        self.score(gpu, &x)
    }

    /// The samples that discriminator rejection keeps of a pool drawn from
    /// the same latents' stream (its first chunk is `run`'s latents),
    /// scored; `d` is the discriminator trained with `g`, taking `pack`
    /// samples at once.
    pub fn run_rejected(
        &self,
        gpu: &Gpu,
        g: &Net,
        d: &Net,
        pack: usize,
    ) -> Result<(Quality, Rejected)> {
        self.unconditional("--reject")?;
        let r = Rejector::new(gpu, g, d, pack, self.samples)?.run(
            gpu,
            self.seed,
            streams::EVAL_Z,
            self.samples,
        )?;
        Ok((self.score(gpu, &r.samples)?, r))
    }

    /// The generator's samples that `run` scores.
    pub fn samples(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        self.sampler.run(gpu, &self.latents)
    }

    /// `samples` (the plain or the rejected ones) refined along the
    /// gradient of `d`, which takes `pack` samples at once, and scored.
    pub fn run_refined(
        &self,
        gpu: &Gpu,
        d: &Net,
        pack: usize,
        samples: &[f32],
        cfg: &Refine,
    ) -> Result<Quality> {
        self.unconditional("--refine")?;
        let features = self.features;
        let r = Refiner::new(gpu, d, pack, features, self.samples, cfg, self.seed)?;
        self.score(gpu, &r.run(gpu, samples, 0)?)
    }

    /// Scores samples (rows of the generator's output).
    pub fn score(&self, gpu: &Gpu, x: &[f32]) -> Result<Quality> {
        Ok(match &self.judge {
            Judge::Mixture(m) => Quality::Mixture(mixture_quality(x, m)),
            Judge::Images(j) => Quality::Images(j.scores(gpu, x)?),
        })
    }

    /// The real digits' scores, the ceiling (digits only).
    pub fn real(&self) -> Option<ClassScores> {
        match &self.judge {
            Judge::Images(j) => Some(j.real),
            Judge::Mixture(_) => None,
        }
    }
}

impl Quality {
    /// One line for a progress bar or a log.
    pub fn summary(&self) -> String {
        match self {
            Quality::Mixture(q) => format!(
                "modes {}  high quality {:.1}%  reverse KL {:.3}",
                q.modes,
                100.0 * q.high_quality,
                q.reverse_kl
            ),
            Quality::Images(d) => format!(
                "classes {}/{}  class KL {:.3}  IS {:.2}  FD {:.2}",
                d.classes_covered, d.classes, d.class_kl, d.inception_score, d.frechet
            ),
        }
    }
}

/// The plain-text report of one evaluation.
pub fn table(
    data: &str,
    step: u64,
    samples: usize,
    q: &Quality,
    real: Option<&ClassScores>,
) -> String {
    let mut s = format!("{data}, step {step}, {samples} samples\n");
    match q {
        Quality::Mixture(m) => {
            let k = if data == "grid" { 25 } else { 8 };
            s += &format!("  modes captured      {:>8} of {k}\n", m.modes);
            s += &format!("  high quality        {:>8.1} %\n", 100.0 * m.high_quality);
            s += &format!("  reverse KL          {:>8.3}\n", m.reverse_kl);
            s += &format!("  near a mode         {:>8.1} %\n", 100.0 * m.near);
        }
        Quality::Images(d) => {
            s += &format!("  {:<22}{:>10}{:>18}\n", "", "generated", "real (held out)");
            let r = real.copied();
            let row = |name: &str, f: &dyn Fn(&ClassScores) -> String| {
                format!(
                    "  {name:<22}{:>10}{:>18}\n",
                    f(d),
                    r.as_ref().map_or("-".into(), f)
                )
            };
            s += &row("samples", &|x| x.samples.to_string());
            s += &row("classes covered", &|x| {
                format!("{}/{}", x.classes_covered, x.classes)
            });
            s += &row("class KL to uniform", &|x| format!("{:.4}", x.class_kl));
            s += &row("top-class confidence", &|x| format!("{:.3}", x.confidence));
            s += &row("inception score", &|x| format!("{:.2}", x.inception_score));
            s += &row("Frechet distance", &|x| format!("{:.2}", x.frechet));
        }
    }
    s
}

/// What `shadergan eval` is asked.
pub struct Options {
    /// Samples (None: [`default_samples`]).
    pub n: Option<usize>,
    /// The latents' seed.
    pub seed: u64,
    /// A digit classifier other than the built-in one.
    pub classifier: Option<Classifier>,
    /// Also score what discriminator rejection keeps.
    pub reject: bool,
    /// Also score the samples (rejected ones, with `reject`) refined.
    pub refine: Option<Refine>,
}

/// The scores of the samples discriminator rejection kept.
#[derive(Serialize)]
pub struct RejectedReport {
    pub quality: Quality,
    pub kept: usize,
    pub examined: usize,
    pub drawn: usize,
    pub shift: f64,
}

/// The scores of refined samples.
#[derive(Serialize)]
pub struct RefinedReport {
    pub quality: Quality,
    /// "generator" or "rejected": the samples that were refined.
    pub of: String,
    pub samples: usize,
    pub setting: Refine,
}

/// Everything `eval` measured of a checkpoint (its JSON is `eval --json`).
#[derive(Serialize)]
pub struct Report {
    pub checkpoint: String,
    pub data: String,
    pub step: u64,
    pub samples: usize,
    /// A conditional GAN's classes (sample i draws class i mod classes);
    /// 0 for an unconditional one.
    pub classes: usize,
    pub adapter: String,
    pub quality: Quality,
    pub real: Option<ClassScores>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<RejectedReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refined: Option<RefinedReport>,
    /// The rejection's own line, for the text report.
    #[serde(skip)]
    rejection_line: Option<String>,
    /// What to keep in mind reading the scores.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Fewer samples than this give a Fréchet distance too biased to compare.
pub const FEW_SAMPLES: usize = 1000;

/// Scores the checkpoint at `path` as `opts` asks.
pub fn report(gpu: &Gpu, ck: &Checkpoint, path: &str, opts: Options) -> Result<Report> {
    let c = &ck.config;
    let g = ck.generator(gpu)?;
    let n = opts.n.unwrap_or(default_samples(c));
    let e = Evaluator::new(gpu, c, &g, n, opts.seed, opts.classifier)?;
    let quality = e.run(gpu)?;
    let rejection = if opts.reject {
        let d = ck.discriminator(gpu)?;
        Some(e.run_rejected(gpu, &g, &d, c.pack)?)
    } else {
        None
    };
    let refined = match opts.refine {
        Some(setting) => {
            let d = ck.discriminator(gpu)?;
            let plain;
            let (of, samples) = match &rejection {
                Some((_, rej)) => ("rejected", &rej.samples),
                None => {
                    plain = e.samples(gpu)?;
                    ("generator", &plain)
                }
            };
            let kept = samples.len() / c.shape.iter().product::<usize>().max(1);
            let quality = e.run_refined(gpu, &d, c.pack, samples, &setting)?;
            Some(RefinedReport {
                quality,
                of: of.into(),
                samples: kept,
                setting,
            })
        }
        None => None,
    };
    Ok(Report {
        checkpoint: path.to_string(),
        data: c.data.clone(),
        step: ck.step,
        samples: n,
        classes: c.classes,
        adapter: gpu.describe(),
        quality,
        real: e.real(),
        rejection_line: rejection.as_ref().map(|(_, r)| r.to_string()),
        notes: match quality {
            Quality::Images(_) if n < FEW_SAMPLES => vec![format!(
                "{n} samples: the Frechet distance of so few is biased upward and the inception \
                 score noisy; compare scores of 10,000 (the default --n)"
            )],
            _ => Vec::new(),
        },
        rejected: rejection.map(|(quality, r)| RejectedReport {
            quality,
            kept: r.kept,
            examined: r.examined,
            drawn: r.drawn,
            shift: r.shift,
        }),
        refined,
    })
}

impl Report {
    /// The plain-text report.
    pub fn text(&self) -> String {
        let real = self.real.as_ref();
        let mut s = String::new();
        for note in &self.notes {
            s += &format!("note: {note}\n");
        }
        if self.classes > 0 {
            s += &format!(
                "class-conditional generator: sample i draws class i mod {}\n",
                self.classes
            );
        }
        s += &table(&self.data, self.step, self.samples, &self.quality, real);
        if let (Some(r), Some(line)) = (&self.rejected, &self.rejection_line) {
            s += &format!("with {line}\n");
            s += &table(&self.data, self.step, r.kept, &r.quality, real);
        }
        if let Some(r) = &self.refined {
            let of = if r.of == "rejected" {
                "the rejected samples"
            } else {
                "the generator's samples"
            };
            s += &format!("with {} (of {of})\n", r.setting);
            s += &table(&self.data, self.step, r.samples, &r.quality, real);
        }
        s
    }
}
