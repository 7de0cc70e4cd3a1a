//! The classifiers that score generated images (docs/design.md, the
//! quality protocol), trained by this engine: softmax cross-entropy
//! (src/ops/softmax.wgsl), Adam, every step on the GPU.
//!
//! The digits' ships in data/classifier/digits.safetensors: an MLP (Dense
//! and LeakyReLU(0.2) layers) measured on the first 1,000 built-in digits
//! (100 of each class: the data is ordered round-robin by class), which it
//! never sees, and trained on the other 9,000, shifted by up to one pixel
//! each way (nine copies of each); `shadergan classifier` retrains it.
//!
//! Any other labelled data set (IDX images with labels, an image folder of
//! classes) gets a small CNN, `shadergan classifier --data D`, held out
//! every tenth of each class, kept in a cache that `eval` looks in: with it, the
//! feature statistics of the images it trained on and the scores of the
//! held-out ones, the ceiling a generator is measured against.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Samples};
use crate::error::{Error, Result};
use crate::eval::{ClassScores, FeatureStats, class_scores};
use crate::files::{self, parse_tensors, write_atomic};
use crate::gan::streams;
use crate::gpu::Gpu;
use crate::gpu::tensor::Tensor;
use crate::nn::net::read_entries;
use crate::nn::{self, Layer, Net, Pass, PassOptions};
use crate::ops::adam::{self, Adam, Decay};
use crate::ops::data::{gather, gather_f32};
use crate::ops::random::{self, Stream};
use crate::ops::softmax;

pub const FORMAT: &str = "shadergan-classifier-1";
pub const CLASSES: usize = 10;
pub const SIDE: usize = 28;
pub const FEATURES: usize = SIDE * SIDE;
/// Built-in digits [0, HELD_OUT) are held out (100 per class); the rest
/// train it.
pub const HELD_OUT: usize = 1000;
/// Other data sets hold out every this-many-th item.
pub const HOLD_OUT_EVERY: usize = 10;

/// The networks a classifier has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Dense layers of `hidden` widths (the shipped digits classifier).
    #[default]
    Mlp,
    /// Strided convolutions halving the side, a convolution over the last
    /// map to 128 features, and a Linear to the classes ([`cnn`]).
    Cnn,
}

fn digit_shape() -> [usize; 3] {
    [1, SIDE, SIDE]
}

fn ten() -> usize {
    CLASSES
}

fn builtin_data() -> String {
    "mnist".into()
}

/// The shipped digits classifier, the CNN (98.3% of the held-out digits;
/// the MLP before it, 97.6%, is data/classifier/digits-mlp.safetensors),
/// retrained by `shadergan classifier`.
pub const BUILTIN: &[u8] = include_bytes!("../data/classifier/digits.safetensors");

/// How the classifier is trained; saved in its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub hidden: Vec<usize>,
    pub batch: usize,
    pub steps: u32,
    /// Adam's learning rate, falling linearly to 0 over the last half.
    pub lr: f32,
    pub seed: u64,
    /// Shift by up to this many pixels each way (copies of every digit).
    pub shift: usize,
    /// (In files that predate them: the digits' MLP.)
    #[serde(default)]
    pub arch: Arch,
    /// The images' [channels, height, width] and the classes.
    #[serde(default = "digit_shape")]
    pub shape: [usize; 3],
    #[serde(default = "ten")]
    pub classes: usize,
    /// The data set it learned (as --data names it), and its classes'
    /// names.
    #[serde(default = "builtin_data")]
    pub data: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_names: Vec<String>,
}

impl Default for TrainConfig {
    /// The digits' MLP (`shadergan classifier --arch mlp`), the shipped
    /// classifier before the CNN.
    fn default() -> Self {
        TrainConfig {
            hidden: vec![256, 128],
            batch: 128,
            steps: 4000,
            lr: 1e-3,
            seed: 0,
            shift: 1,
            arch: Arch::Mlp,
            shape: digit_shape(),
            classes: CLASSES,
            data: builtin_data(),
            class_names: Vec::new(),
        }
    }
}

impl TrainConfig {
    /// A CNN for the labelled images of `data`, which --data calls `spec`.
    pub fn cnn_for(data: &Dataset, spec: &str) -> Result<TrainConfig> {
        let Some((c, h, w)) = data.image_shape() else {
            return Err(Error::shape(
                "classifier",
                "it classifies images, not points",
            ));
        };
        if data.labels.is_none() || data.classes() < 2 {
            return Err(Error::shape(
                "classifier",
                format!(
                    "{} has no labels of two classes or more to learn (IDX images need the \
                     labels-idx1 file beside them, a folder one sub-folder per class)",
                    data.name
                ),
            ));
        }
        let config = TrainConfig {
            hidden: vec![],
            batch: 64,
            steps: 3000,
            arch: Arch::Cnn,
            shape: [c, h, w],
            classes: data.classes(),
            data: spec.to_string(),
            class_names: data.class_names.clone(),
            ..TrainConfig::default()
        };
        cnn(config.shape, config.classes).map_err(|e| Error::shape("classifier", e))?;
        Ok(config)
    }

    /// Values per image.
    pub fn features(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn layers(&self) -> Vec<Layer> {
        match self.arch {
            Arch::Mlp => nn::mlp(
                self.features(),
                &self.hidden,
                self.classes,
                false,
                0.2,
                None,
            ),
            Arch::Cnn => cnn(self.shape, self.classes).unwrap_or_default(),
        }
    }

    /// Which of the images with `labels` are held out: the first
    /// [`HELD_OUT`] built-in digits, else every [`HOLD_OUT_EVERY`]-th of
    /// each class (the first, the eleventh, …), whatever the order.
    pub fn held_out(&self, labels: &[u8]) -> Vec<bool> {
        if self.data == "mnist" {
            return (0..labels.len()).map(|i| i < HELD_OUT).collect();
        }
        let mut seen = vec![0usize; 256];
        labels
            .iter()
            .map(|&l| {
                seen[l as usize] += 1;
                (seen[l as usize] - 1).is_multiple_of(HOLD_OUT_EVERY)
            })
            .collect()
    }
}

/// The classifying CNN for images of `shape`: Conv 4/2/1 from c channels to
/// 32 and LeakyReLU(0.2), then 4/2/1 halving the side and doubling the
/// channels down to 7 × 7 (28 × 28 images) or 4 × 4 (sides doubling from
/// 4), a convolution over that map to 128 features, LeakyReLU, and a
/// Linear to the classes: the discriminator's shape (src/gan/presets.rs)
/// without batch norm.
pub fn cnn(shape: [usize; 3], classes: usize) -> std::result::Result<Vec<Layer>, String> {
    let [c, h, w] = shape;
    let mut layers = crate::gan::presets::dcgan_discriminator(c, h, w, 32)?;
    layers.retain(|l| !l.kind().is_norm());
    let last = layers.pop().expect("a last convolution");
    let Layer::Conv2d(last) = last else {
        unreachable!("the discriminator ends in a convolution")
    };
    layers.extend([
        Layer::Conv2d(nn::Conv2d {
            outputs: 128,
            ..last
        }),
        Layer::leaky_relu(0.2),
        Layer::linear(128, classes),
    ]);
    Ok(layers)
}

/// What the classifier says about a set of images.
pub struct Scored {
    /// n × CLASSES softmax probabilities.
    pub probs: Vec<f32>,
    /// n × width penultimate features (after the LeakyReLU).
    pub features: Vec<f32>,
    pub width: usize,
}

/// A trained classifier on the GPU, with its evaluation pass.
pub struct Classifier {
    pub config: TrainConfig,
    /// Accuracy on the held-out images when it was trained.
    pub held_out_accuracy: f64,
    pub net: Net,
    /// The feature statistics of the images it trained on, and the scores
    /// of the held-out ones; kept in its file (None: the shipped digits
    /// classifier, whose are computed from the built-in digits).
    pub reference: Option<(FeatureStats, ClassScores)>,
    pass: Pass,
    probs: Tensor,
    probs_kernel: crate::Kernel,
}

/// Rows per evaluation batch.
const EVAL_BATCH: usize = 500;

impl Classifier {
    fn new(gpu: &Gpu, config: TrainConfig, held_out_accuracy: f64, net: Net) -> Result<Self> {
        let input = gpu.zeros(EVAL_BATCH * config.features())?;
        let opts = PassOptions::EVAL;
        let pass = Pass::new(gpu, &net, EVAL_BATCH, &input, None, None, opts)?;
        let probs = gpu.zeros(EVAL_BATCH * config.classes)?;
        let probs_kernel = softmax::probs(gpu, &pass.output, config.classes, &probs)?;
        Ok(Classifier {
            config,
            held_out_accuracy,
            net,
            reference: None,
            pass,
            probs,
            probs_kernel,
        })
    }

    /// The net of `config`, from (seed, the classifier's stream).
    fn net(gpu: &Gpu, config: &TrainConfig) -> Result<Net> {
        let [c, h, w] = config.shape;
        let input = crate::nn::Shape::new(c, h, w);
        let input = match config.arch {
            Arch::Mlp => crate::nn::Shape::flat(input.len()),
            Arch::Cnn => input,
        };
        let stream = streams::CLASSIFIER_INIT;
        Net::new(gpu, &config.layers(), input, config.seed, stream)
    }

    /// The classifier shipped in the binary.
    pub fn builtin(gpu: &Gpu) -> Result<Self> {
        Self::parse(
            gpu,
            BUILTIN,
            Path::new("data/classifier/digits.safetensors"),
        )
    }

    pub fn load(gpu: &Gpu, path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::file(path, format!("cannot read the classifier: {e}")))?;
        Self::parse(gpu, &bytes, path)
    }

    fn parse(gpu: &Gpu, bytes: &[u8], path: &Path) -> Result<Self> {
        let file = parse_tensors(bytes, path, FORMAT)?;
        let bad = |m: String| Error::file(path, m);
        let config: TrainConfig = serde_json::from_value(file.info["config"].clone())
            .map_err(|e| bad(format!("the config in the metadata does not parse: {e}")))?;
        let acc = file.info["held_out_accuracy"].as_f64().unwrap_or(f64::NAN);
        let net = Self::net(gpu, &config)?;
        net.load(gpu, &file.tensors, "classifier")?;
        let mut c = Self::new(gpu, config, acc, net)?;
        if let (Some((_, mean)), Some((_, cov)), Ok(real)) = (
            file.tensors.get("reference.mean"),
            file.tensors.get("reference.cov"),
            serde_json::from_value::<ClassScores>(file.info["real"].clone()),
        ) {
            let stats = FeatureStats {
                width: mean.len(),
                mean: mean.iter().map(|&v| v as f64).collect(),
                cov: cov.iter().map(|&v| v as f64).collect(),
            };
            c.reference = Some((stats, real));
        }
        Ok(c)
    }

    /// Writes the weights, the training config and the reference,
    /// atomically.
    pub fn save(&self, gpu: &Gpu, path: &Path) -> Result<()> {
        let mut data = read_entries(gpu, &self.net.state_in("classifier"))?;
        let mut info = serde_json::json!({
            "format": FORMAT,
            "config": self.config,
            "held_out_accuracy": self.held_out_accuracy,
        });
        if let Some((stats, real)) = &self.reference {
            let f32s = |v: &[f64]| -> Vec<u8> {
                v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect()
            };
            let w = stats.width;
            data.push((
                "reference.mean".into(),
                vec![w],
                safetensors::Dtype::F32,
                f32s(&stats.mean),
            ));
            data.push((
                "reference.cov".into(),
                vec![w, w],
                safetensors::Dtype::F32,
                f32s(&stats.cov),
            ));
            info["real"] = serde_json::to_value(real).expect("serialisable");
        }
        write_atomic(path, &files::encode(path, data, info)?)
    }

    /// Probabilities and penultimate features of n images in [-1, 1] (the
    /// generator's range).
    pub fn score(&self, gpu: &Gpu, images: &[f32]) -> Result<Scored> {
        let (per, classes) = (self.config.features(), self.config.classes);
        let [c, h, w] = self.config.shape;
        if !images.len().is_multiple_of(per) {
            return Err(Error::shape(
                "classifier",
                format!("{} values are not whole {c}x{h}x{w} images", images.len()),
            ));
        }
        let n = images.len() / per;
        // After the last hidden layer's activation.
        let feats = self.pass.output_of(self.net.layers.len() - 2);
        let width = feats.len() / EVAL_BATCH;
        let mut probs = Vec::with_capacity(n * classes);
        let mut features = Vec::with_capacity(n * width);
        let mut chunk = vec![0.0f32; EVAL_BATCH * per];
        for start in (0..n).step_by(EVAL_BATCH) {
            let rows = (n - start).min(EVAL_BATCH);
            chunk[..rows * per].copy_from_slice(&images[start * per..(start + rows) * per]);
            chunk[rows * per..].fill(0.0);
            gpu.write(&self.pass.input, &chunk)?;
            let mut kernels: Vec<&crate::Kernel> = self.pass.forward.iter().collect();
            kernels.push(&self.probs_kernel);
            gpu.run(&kernels)?;
            probs.extend_from_slice(&gpu.read(&self.probs)?[..rows * classes]);
            features.extend_from_slice(&gpu.read(feats)?[..rows * width]);
        }
        Ok(Scored {
            probs,
            features,
            width,
        })
    }
}

/// The 28×28 digits of a data set as values in [-1, 1], with their labels.
pub fn digits(data: &Dataset) -> Result<(Vec<f32>, Vec<u8>)> {
    match (&data.samples, &data.labels) {
        (
            Samples::Images {
                bytes,
                channels: 1,
                height: SIDE,
                width: SIDE,
            },
            Some(labels),
        ) => Ok((
            bytes.iter().map(|&b| b as f32 / 127.5 - 1.0).collect(),
            labels.clone(),
        )),
        _ => Err(Error::shape(
            "classifier",
            format!(
                "{} is not a set of labelled 28x28 grayscale digits",
                data.name
            ),
        )),
    }
}

/// A labelled image set's images as values in [-1, 1], with their labels.
pub fn labelled_images(data: &Dataset) -> Result<(Vec<f32>, Vec<u8>)> {
    match (&data.samples, &data.labels) {
        (Samples::Images { bytes, .. }, Some(labels)) => Ok((
            bytes.iter().map(|&b| b as f32 / 127.5 - 1.0).collect(),
            labels.clone(),
        )),
        _ => Err(Error::shape(
            "classifier",
            format!("{} is not a set of labelled images", data.name),
        )),
    }
}

/// Each image of `shape` shifted by (dx, dy) for every |dx|, |dy| ≤ shift,
/// zero (black) filled: (2·shift + 1)² copies, the unshifted one first.
fn shifted(bytes: &[u8], labels: &[u8], shape: [usize; 3], shift: usize) -> (Vec<u8>, Vec<u8>) {
    let [c, h, w] = shape;
    let s = shift as isize;
    let mut offsets = vec![(0isize, 0isize)];
    for dy in -s..=s {
        for dx in -s..=s {
            if (dx, dy) != (0, 0) {
                offsets.push((dx, dy));
            }
        }
    }
    let (hi, wi) = (h as isize, w as isize);
    let mut out = Vec::with_capacity(bytes.len() * offsets.len());
    let mut out_labels = Vec::with_capacity(labels.len() * offsets.len());
    for &(dx, dy) in &offsets {
        for (img, &label) in bytes.chunks_exact(c * h * w).zip(labels) {
            for plane in img.chunks_exact(h * w) {
                for y in 0..hi {
                    for x in 0..wi {
                        let (sx, sy) = (x - dx, y - dy);
                        let inside = (0..wi).contains(&sx) && (0..hi).contains(&sy);
                        out.push(if inside {
                            plane[(sy * wi + sx) as usize]
                        } else {
                            0
                        });
                    }
                }
            }
            out_labels.push(label);
        }
    }
    (out, out_labels)
}

/// The rows of `bytes` (of `per` bytes each) and labels where `keep(i)`.
fn split(
    bytes: &[u8],
    labels: &[u8],
    per: usize,
    keep: impl Fn(usize) -> bool,
) -> (Vec<u8>, Vec<u8>) {
    let (mut b, mut l) = (Vec::new(), Vec::new());
    for (i, (row, &label)) in bytes.chunks_exact(per).zip(labels).enumerate() {
        if keep(i) {
            b.extend_from_slice(row);
            l.push(label);
        }
    }
    (b, l)
}

/// Trains a classifier on the labelled images of `data` it does not hold
/// out (see [`TrainConfig::held_out`]) and measures it on those it does;
/// for other data than the built-in digits it keeps the reference (the
/// feature statistics of the images it trained on, the held-out ones'
/// scores). `progress` is called now and then with (step, mean loss and
/// accuracy of the last batch).
pub fn train(
    gpu: &Gpu,
    data: &Dataset,
    config: &TrainConfig,
    mut progress: impl FnMut(u32, f32, f32),
) -> Result<Classifier> {
    let Some((c, h, w)) = data.image_shape() else {
        return Err(Error::shape(
            "classifier",
            "it classifies images, not points",
        ));
    };
    let labels = match &data.labels {
        Some(l) if [c, h, w] == config.shape => l,
        _ => {
            let [c, h, w] = config.shape;
            return Err(Error::shape(
                "classifier",
                format!("{} is not a set of labelled {c}x{h}x{w} images", data.name),
            ));
        }
    };
    if let Some(&l) = labels.iter().find(|&&l| l as usize >= config.classes) {
        return Err(Error::shape(
            "classifier",
            format!(
                "{} has a label {l}, past its {} classes",
                data.name, config.classes
            ),
        ));
    }
    let Samples::Images { bytes, .. } = &data.samples else {
        unreachable!("images have a shape")
    };
    let per = config.features();
    let held_out = config.held_out(labels);
    let held = held_out.iter().filter(|&&h| h).count();
    if held == 0 || held == data.items {
        return Err(Error::shape(
            "classifier",
            format!(
                "{} has {} images: too few to hold some out and train on the rest",
                data.name, data.items
            ),
        ));
    }
    let (plain_bytes, plain_labels) = split(bytes, labels, per, |i| !held_out[i]);
    let (train_bytes, train_labels) =
        shifted(&plain_bytes, &plain_labels, config.shape, config.shift);
    let items = train_labels.len();
    let b = config.batch;
    let net = Classifier::net(gpu, config)?;
    let images = gpu.upload_bytes(&train_bytes)?;
    let label_values = gpu.upload(&train_labels.iter().map(|&l| l as f32).collect::<Vec<_>>())?;
    let counters = gpu.upload_u32(&[0])?;
    let indices = gpu.zeros(b)?;
    let x = gpu.zeros(b * per)?;
    let y = gpu.zeros(b)?;
    let out = gpu.zeros(2)?;
    let opts = PassOptions::TRAIN;
    let pass = Pass::new(gpu, &net, b, &x, None, None, opts)?;
    let adam = Adam {
        lr: config.lr,
        beta1: 0.9,
        beta2: 0.999,
        decay: Decay {
            start: config.steps / 2,
            end: config.steps,
            floor: 0.0,
        },
        ..Adam::default()
    };
    let stream = Stream {
        seed: config.seed,
        stream: streams::CLASSIFIER_BATCHES,
        slot: 0,
    };
    let mut program = vec![
        adam::tick(gpu, &counters, 0)?,
        random::indices(gpu, &stream, &counters, items as u32, &indices)?,
        gather(gpu, &images, items, per, &indices, &x)?,
        gather_f32(gpu, &label_values, items, 1, &indices, &y)?,
    ];
    program.extend(pass.forward.iter().cloned());
    program.push(softmax::cross_entropy(
        gpu,
        &pass.output,
        config.classes,
        &y,
        1.0,
        &pass.d_output,
        &out,
    )?);
    program.extend(pass.backward.iter().cloned());
    program.push(adam::step(
        gpu,
        &adam,
        &net.params.whole,
        &net.grads.whole,
        &net.adam_m.whole,
        &net.adam_v.whole,
        &counters,
        0,
    )?);
    let kernels: Vec<&crate::Kernel> = program.iter().collect();
    for step in 1..=config.steps {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        gpu.record(&mut encoder, &kernels);
        gpu.queue.submit([encoder.finish()]);
        if step % 500 == 0 || step == config.steps {
            let o = gpu.read(&out)?;
            progress(step, o[0], o[1]);
        }
    }
    let mut c = Classifier::new(gpu, config.clone(), f64::NAN, net)?;
    let to_values = |b: &[u8]| -> Vec<f32> { b.iter().map(|&v| v as f32 / 127.5 - 1.0).collect() };
    let (held_bytes, held_labels) = split(bytes, labels, per, |i| held_out[i]);
    let held_images = to_values(&held_bytes);
    c.held_out_accuracy = c.accuracy_of(gpu, &held_images, &held_labels)?;
    if config.data != "mnist" {
        let trained = c.score(gpu, &to_values(&plain_bytes))?;
        let stats = FeatureStats::of(&trained.features, trained.width);
        let real = c.score(gpu, &held_images)?;
        let scores = class_scores(
            &real.probs,
            config.classes,
            &real.features,
            real.width,
            &stats,
        );
        c.reference = Some((stats, scores));
    }
    Ok(c)
}

impl Classifier {
    /// The fraction of `data`'s images whose most likely class is the label.
    pub fn accuracy(&self, gpu: &Gpu, data: &Dataset) -> Result<f64> {
        let (x, labels) = labelled_images(data)?;
        self.accuracy_of(gpu, &x, &labels)
    }

    /// The fraction of `images` whose most likely class is the label.
    pub fn accuracy_of(&self, gpu: &Gpu, images: &[f32], labels: &[u8]) -> Result<f64> {
        let s = self.score(gpu, images)?;
        let hits = s
            .probs
            .chunks_exact(self.config.classes)
            .zip(labels)
            .filter(|(p, l)| top_class(p) == **l as usize)
            .count();
        Ok(hits as f64 / labels.len().max(1) as f64)
    }
}

/// Where `shadergan classifier --data D` keeps the classifier of data set
/// `data` at image shape `shape`, and `eval` looks for it:
/// `$XDG_CACHE_HOME/shadergan/classifiers/` (or ~/.cache/...).
pub fn cache_path(data: &str, shape: [usize; 3]) -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    // A folder's absolute path names it; its characters, made safe, and a
    // hash of the whole keep names short and apart.
    let full = std::fs::canonicalize(data).map_or(data.to_string(), |p| p.display().to_string());
    let hash = full.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let tail: String = full
        .chars()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let [c, h, w] = shape;
    let name = format!("{tail}-{hash:016x}-{c}x{h}x{w}.safetensors");
    Some(base.join("shadergan").join("classifiers").join(name))
}

/// The first most likely class.
pub fn top_class(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |a, j| if p[j] > p[a] { j } else { a })
}
