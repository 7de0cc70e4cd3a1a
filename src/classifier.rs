//! The digit classifier that scores generated digits (docs/design.md, the quality protocol), trained
//! by this engine: Dense and LeakyReLU(0.2) layers, softmax cross-entropy
//! (src/ops/softmax.wgsl), Adam, every step on the GPU.
//!
//! It is measured on the first 1,000 built-in digits (100 of each class:
//! the data is ordered round-robin by class), which it never sees, and
//! trains on the other 9,000, shifted by up to one pixel each way (nine
//! copies of each). The trained weights ship in
//! data/classifier/digits.safetensors; `shadergan classifier` retrains them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Samples};
use crate::error::{Error, Result};
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

/// The shipped classifier, retrained by `shadergan classifier`.
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
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden: vec![256, 128],
            batch: 128,
            steps: 4000,
            lr: 1e-3,
            seed: 0,
            shift: 1,
        }
    }
}

impl TrainConfig {
    pub fn layers(&self) -> Vec<Layer> {
        nn::mlp(FEATURES, &self.hidden, CLASSES, false, 0.2, None)
    }
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
    /// Accuracy on the held-out digits when it was trained.
    pub held_out_accuracy: f64,
    pub net: Net,
    pass: Pass,
    probs: Tensor,
    probs_kernel: crate::Kernel,
}

/// Rows per evaluation batch.
const EVAL_BATCH: usize = 500;

impl Classifier {
    fn new(gpu: &Gpu, config: TrainConfig, held_out_accuracy: f64, net: Net) -> Result<Self> {
        let input = gpu.zeros(EVAL_BATCH * FEATURES)?;
        let opts = PassOptions::EVAL;
        let pass = Pass::new(gpu, &net, EVAL_BATCH, &input, None, None, opts)?;
        let probs = gpu.zeros(EVAL_BATCH * CLASSES)?;
        let probs_kernel = softmax::probs(gpu, &pass.output, CLASSES, &probs)?;
        Ok(Classifier {
            config,
            held_out_accuracy,
            net,
            pass,
            probs,
            probs_kernel,
        })
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
        let net = Net::new(gpu, &config.layers(), FEATURES, config.seed, 0)?;
        net.load(gpu, &file.tensors, "classifier")?;
        Self::new(gpu, config, acc, net)
    }

    /// Writes the weights and the training config, atomically.
    pub fn save(&self, gpu: &Gpu, path: &Path) -> Result<()> {
        let data = read_entries(gpu, &self.net.state_in("classifier"))?;
        let info = serde_json::json!({
            "format": FORMAT,
            "config": self.config,
            "held_out_accuracy": self.held_out_accuracy,
        });
        write_atomic(path, &files::encode(path, data, info)?)
    }

    /// Probabilities and penultimate features of n images of 784 values in
    /// [-1, 1] (the generator's range).
    pub fn score(&self, gpu: &Gpu, images: &[f32]) -> Result<Scored> {
        if !images.len().is_multiple_of(FEATURES) {
            return Err(Error::shape(
                "classifier",
                format!("{} values are not whole 28x28 images", images.len()),
            ));
        }
        let n = images.len() / FEATURES;
        // After the last hidden layer's activation.
        let feats = self.pass.output_of(self.net.layers.len() - 2);
        let width = feats.len() / EVAL_BATCH;
        let mut probs = Vec::with_capacity(n * CLASSES);
        let mut features = Vec::with_capacity(n * width);
        let mut chunk = vec![0.0f32; EVAL_BATCH * FEATURES];
        for start in (0..n).step_by(EVAL_BATCH) {
            let rows = (n - start).min(EVAL_BATCH);
            chunk[..rows * FEATURES]
                .copy_from_slice(&images[start * FEATURES..(start + rows) * FEATURES]);
            chunk[rows * FEATURES..].fill(0.0);
            gpu.write(&self.pass.input, &chunk)?;
            let mut kernels: Vec<&crate::Kernel> = self.pass.forward.iter().collect();
            kernels.push(&self.probs_kernel);
            gpu.run(&kernels)?;
            probs.extend_from_slice(&gpu.read(&self.probs)?[..rows * CLASSES]);
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

/// Each image shifted by (dx, dy) for every |dx|, |dy| ≤ shift, zero (black)
/// filled: (2·shift + 1)² copies, the unshifted one first.
fn shifted(bytes: &[u8], labels: &[u8], shift: usize) -> (Vec<u8>, Vec<u8>) {
    let s = shift as isize;
    let mut offsets = vec![(0isize, 0isize)];
    for dy in -s..=s {
        for dx in -s..=s {
            if (dx, dy) != (0, 0) {
                offsets.push((dx, dy));
            }
        }
    }
    let mut out = Vec::with_capacity(bytes.len() * offsets.len());
    let mut out_labels = Vec::with_capacity(labels.len() * offsets.len());
    for &(dx, dy) in &offsets {
        for (img, &label) in bytes.chunks_exact(FEATURES).zip(labels) {
            for y in 0..SIDE as isize {
                for x in 0..SIDE as isize {
                    let (sx, sy) = (x - dx, y - dy);
                    let inside =
                        (0..SIDE as isize).contains(&sx) && (0..SIDE as isize).contains(&sy);
                    out.push(if inside {
                        img[(sy * SIDE as isize + sx) as usize]
                    } else {
                        0
                    });
                }
            }
            out_labels.push(label);
        }
    }
    (out, out_labels)
}

/// Trains a classifier on the digits of `data` after the first HELD_OUT
/// and measures it on those. `progress` is called now and then with
/// (step, mean loss and accuracy of the last batch).
pub fn train(
    gpu: &Gpu,
    data: &Dataset,
    config: &TrainConfig,
    mut progress: impl FnMut(u32, f32, f32),
) -> Result<Classifier> {
    let (_, labels) = digits(data)?;
    let Samples::Images { bytes, .. } = &data.samples else {
        unreachable!("digits() checked it")
    };
    if data.items <= HELD_OUT {
        return Err(Error::shape(
            "classifier",
            format!(
                "needs more than {HELD_OUT} digits, {} has {}",
                data.name, data.items
            ),
        ));
    }
    let (train_bytes, train_labels) = shifted(
        &bytes[HELD_OUT * FEATURES..],
        &labels[HELD_OUT..],
        config.shift,
    );
    let items = train_labels.len();
    let b = config.batch;
    let net = Net::new(
        gpu,
        &config.layers(),
        FEATURES,
        config.seed,
        streams::CLASSIFIER_INIT,
    )?;
    let images = gpu.upload_bytes(&train_bytes)?;
    let label_values = gpu.upload(&train_labels.iter().map(|&l| l as f32).collect::<Vec<_>>())?;
    let counters = gpu.upload_u32(&[0])?;
    let indices = gpu.zeros(b)?;
    let x = gpu.zeros(b * FEATURES)?;
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
        gather(gpu, &images, items, FEATURES, &indices, &x)?,
        gather_f32(gpu, &label_values, items, 1, &indices, &y)?,
    ];
    program.extend(pass.forward.iter().cloned());
    program.push(softmax::cross_entropy(
        gpu,
        &pass.output,
        CLASSES,
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
    let held_out = Dataset {
        name: data.name.clone(),
        items: HELD_OUT,
        samples: Samples::Images {
            bytes: bytes[..HELD_OUT * FEATURES].to_vec().into(),
            channels: 1,
            height: SIDE,
            width: SIDE,
        },
        labels: Some(labels[..HELD_OUT].to_vec()),
        class_names: Vec::new(),
        notes: Vec::new(),
    };
    c.held_out_accuracy = c.accuracy(gpu, &held_out)?;
    Ok(c)
}

impl Classifier {
    /// The fraction of `data`'s digits whose most likely class is the label.
    pub fn accuracy(&self, gpu: &Gpu, data: &Dataset) -> Result<f64> {
        let (x, labels) = digits(data)?;
        let s = self.score(gpu, &x)?;
        let hits = s
            .probs
            .chunks_exact(CLASSES)
            .zip(&labels)
            .filter(|(p, l)| top_class(p) == **l as usize)
            .count();
        Ok(hits as f64 / labels.len().max(1) as f64)
    }
}

/// The first most likely class.
pub fn top_class(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |a, j| if p[j] > p[a] { j } else { a })
}
