//! A class-conditional GAN's part of the step (Mirza and Osindero 2014):
//! the labels on the GPU, the labels drawn for G's samples and their
//! one-hot codes after G's latents, and D's rows of samples beside their
//! labels (concat.wgsl).

use super::TrainingData;
use super::config::GanConfig;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::Kernel;
use crate::gpu::tensor::Tensor;
use crate::ops::concat::{self, Block};
use crate::ops::random::{self, Stream};

/// Every item's class as a u32, checked against `classes`.
pub(super) fn class_labels(data: &dyn TrainingData, classes: usize) -> Result<Vec<u32>> {
    let Some(labels) = data.labels() else {
        return Err(Error::Data(format!(
            "{} has no labels, and a conditional GAN learns from labelled samples; \
             train with --unconditional, or give the labels (for IDX images, the \
             labels-idx1 file beside them)",
            data.name()
        )));
    };
    if let Some(&l) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::Data(format!(
            "{} has a label {l}, outside the {classes} classes of this GAN",
            data.name()
        )));
    }
    Ok(labels.iter().map(|&l| l as u32).collect())
}

/// The buffers and kernels of a conditional GAN's step: the labels on the
/// GPU, G's labels, and D's input on G(z) beside them.
pub(super) struct Conditioning {
    classes: usize,
    latent: usize,
    features: usize,
    /// Values per class in D's rows: 1, or H·W for one-hot planes.
    repeat: usize,
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
    pub(super) dg_input: Tensor,
}

impl Conditioning {
    pub(super) fn new(
        gpu: &Gpu,
        table: &[u32],
        c: &GanConfig,
        samples: &Tensor,
    ) -> Result<Conditioning> {
        let identity: Vec<u32> = (0..c.classes as u32).collect();
        Ok(Conditioning {
            classes: c.classes,
            latent: c.latent,
            features: c.sample_width() - c.classes * c.label_repeat(),
            repeat: c.label_repeat(),
            batch: c.batch,
            table: gpu.upload_u32(table)?,
            identity: gpu.upload_u32(&identity)?,
            g_labels: gpu.zeros(c.batch)?,
            samples: samples.clone(),
            dg_input: gpu.zeros(c.batch * c.sample_width())?,
        })
    }

    /// Item i's class, on the GPU.
    pub(super) fn table(&self) -> &Tensor {
        &self.table
    }

    /// Where the labels go in D's rows, from row `first`.
    fn label_columns(&self, first: usize) -> Block {
        Block {
            first,
            stride: self.features + self.classes * self.repeat,
            offset: self.features,
        }
    }

    /// The labels of `indices` in `table` into D's rows at `at`, one-hot
    /// (planes of `repeat` values each).
    fn d_one_hot(
        &self,
        gpu: &Gpu,
        table: &Tensor,
        indices: &Tensor,
        out: &Tensor,
        at: Block,
    ) -> Result<Kernel> {
        concat::one_hot_repeated(gpu, table, indices, self.classes, self.repeat, out, at)
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
    /// half of D's input; the real batch's own labels (table[indices[r]]
    /// for row r) beside it in the first half.
    pub(super) fn label_d_update(
        &self,
        gpu: &Gpu,
        stream: &Stream,
        counters: &Tensor,
        (table, indices): (&Tensor, &Tensor),
        z: &Tensor,
        d_input: &Tensor,
    ) -> Result<Vec<Kernel>> {
        let real = self.label_columns(0);
        let mut out = self.draw(gpu, stream, counters, z)?;
        out.push(self.d_one_hot(gpu, table, indices, d_input, real)?);
        let fake = self.label_columns(self.batch);
        out.push(self.d_one_hot(gpu, &self.identity, &self.g_labels, d_input, fake)?);
        Ok(out)
    }

    /// G's step: its labels into G's input and beside G(z) in D's input.
    pub(super) fn label_g_step(
        &self,
        gpu: &Gpu,
        stream: &Stream,
        counters: &Tensor,
        z: &Tensor,
    ) -> Result<Vec<Kernel>> {
        let mut out = self.draw(gpu, stream, counters, z)?;
        let at = self.label_columns(0);
        out.push(self.d_one_hot(gpu, &self.identity, &self.g_labels, &self.dg_input, at)?);
        Ok(out)
    }

    /// G(z) into the feature columns of `d_input` from row `first`.
    pub(super) fn place(&self, gpu: &Gpu, d_input: &Tensor, first: usize) -> Result<Kernel> {
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
    pub(super) fn take_back(
        &self,
        gpu: &Gpu,
        d_input_grad: &Tensor,
        d_output: &Tensor,
    ) -> Result<Kernel> {
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
