//! The GAN training step, recorded into one command encoder and submitted
//! once: no allocation, no pipeline creation, no readback and no wait
//! inside a step. Every buffer and kernel is made by [`Trainer::new`].
//!
//! One step, with t = counters[0] advanced on the GPU first, and then, for
//! each of D's `d_steps` updates, u = D's update number (counters[1],
//! advanced before each; with one update per step, u = t):
//! 1. z ~ N(0, 1) from (seed, [`streams::Z_D`], u); real indices from
//!    (seed, [`streams::INDICES`], u); the real batch gathered on the GPU
//!    into the first half of D's input;
//! 2. G forward on z (batch norm on the batch, running statistics left
//!    alone); G(z) copied into the second half of D's input;
//! 3. D forward on real and fake together, the loss against labels 1 and 0,
//!    D backward with weight gradients, Adam on D (its step number u);
//! 4. fresh z from (seed, [`streams::Z_G`], t); G forward (running
//!    statistics updated); D forward on G(z); the generator's loss (label
//!    1); D backward to its input only; G backward; Adam on G.
//!
//! The losses and D's mean outputs land in the step's row of the metrics
//! ring ([`super::metrics`]).

use super::conditioning::{Conditioning, class_labels};
use super::config::GanConfig;
use super::metrics::{MetricsRing, StepMetrics};
use super::sampler::Sampler;
use super::{TrainingData, Values, streams};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::Kernel;
use crate::gpu::tensor::{Tensor, Texture};
use crate::nn::{Net, Pass, PassOptions};
use crate::ops::adam::{self, Adam, Decay};
use crate::ops::data::{Source, gather_rows};
use crate::ops::loss::{Loss, LossKind, loss};
use crate::ops::random::{self, Stream};

#[derive(Clone)]
enum Op {
    Kernel(Kernel),
    /// Copy all of `src` into `dst` at an element offset.
    Copy {
        src: Tensor,
        dst: Tensor,
        at: usize,
    },
    /// Copy a weight into its texture (Net::mirror_copies).
    Mirror {
        src: Tensor,
        dst: Texture,
    },
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
    metrics: MetricsRing,
    program: Vec<Op>,
    /// The real batches' source when the data set stays in host memory.
    streamed: Option<Streamed>,
}

/// Where the real samples live during training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Uploaded once; each D update draws its batch's indices and gathers
    /// the batch on the GPU.
    Device,
    /// Kept in host memory: before each step the host draws the same
    /// indices (the GPU's generator, computed on the CPU), copies those
    /// rows into an upload buffer per D update and queues their upload
    /// ahead of the step's commands; nothing waits. The batches, and so
    /// the run, are the same bits as on the device.
    Stream,
}

impl Placement {
    /// On the device where the data set fits one storage binding, else
    /// streamed.
    pub fn for_data(gpu: &Gpu, data: &dyn TrainingData) -> Placement {
        let limit = gpu
            .limits
            .max_storage_buffer_binding_size
            .min(gpu.limits.max_buffer_size);
        let bytes = match data.values() {
            Values::Bytes(b) => b.len() as u64,
            Values::Floats(f) => 4 * f.len() as u64,
        };
        match data.shared_bytes() {
            Some(_) if bytes.div_ceil(4) * 4 > limit => Placement::Stream,
            _ => Placement::Device,
        }
    }
}

/// A streamed data set and the buffers its batches are uploaded to.
struct Streamed {
    bytes: std::sync::Arc<Vec<u8>>,
    labels: Option<Vec<u32>>,
    items: usize,
    features: usize,
    seed: u64,
    d_steps: u64,
    batch: usize,
    /// Per D update of a step: its rows and, in a conditional GAN, labels.
    slots: Vec<(Tensor, Tensor)>,
    rows: Vec<u8>,
    row_labels: Vec<u32>,
}

impl Streamed {
    /// Queues the uploads of step `t`'s real batches (1-based, the step
    /// about to run): D update u = (t − 1)·k + j + 1 draws its indices
    /// from (seed, INDICES, u), or (seed, INDICES, t) with one update.
    fn upload(&mut self, gpu: &Gpu, t: u64) -> Result<()> {
        let k = self.d_steps;
        for j in 0..k {
            let u = if k > 1 { (t - 1) * k + j + 1 } else { t };
            let u = u32::try_from(u).map_err(|_| Error::shape("trainer", "too many steps"))?;
            let idx = crate::ops::random::reference::indices(
                self.seed,
                streams::INDICES,
                u,
                self.items as u32,
                self.batch,
            );
            self.rows.clear();
            for &i in &idx {
                let at = i as usize * self.features;
                self.rows
                    .extend_from_slice(&self.bytes[at..at + self.features]);
            }
            self.rows.resize(self.rows.len().div_ceil(4) * 4, 0);
            let (rows, labels) = &self.slots[j as usize];
            gpu.queue
                .write_buffer(rows.buffer(), rows.offset(), &self.rows);
            if let Some(all) = &self.labels {
                self.row_labels.clear();
                self.row_labels.extend(idx.iter().map(|&i| all[i as usize]));
                gpu.write_u32(labels, &self.row_labels)?;
            }
        }
        Ok(())
    }
}

impl<'g> Trainer<'g> {
    /// A trainer whose data set lives where [`Placement::for_data`] says.
    pub fn new(gpu: &'g Gpu, config: &GanConfig, data: &dyn TrainingData) -> Result<Trainer<'g>> {
        Trainer::placed(gpu, config, data, Placement::for_data(gpu, data))
    }

    /// A trainer with its data set in `placement`.
    pub fn placed(
        gpu: &'g Gpu,
        config: &GanConfig,
        data: &dyn TrainingData,
        placement: Placement,
    ) -> Result<Trainer<'g>> {
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
        let mut g = Net::initialised(
            gpu,
            &c.generator,
            c.g_input(),
            c.seed,
            streams::INIT_G,
            c.init,
        )?;
        let mut d = Net::initialised(
            gpu,
            &c.discriminator,
            c.d_input(),
            c.seed,
            streams::INIT_D,
            c.init,
        )?;
        // Copies of the weights as textures where the CPU adapters'
        // products read them faster; refreshed after each Adam below.
        g.mirror_weights(gpu)?;
        d.mirror_weights(gpu)?;
        let counters = gpu.upload_u32(&[0, 0, 0, 0])?;
        let metrics = MetricsRing::new(gpu)?;
        let streamed = match (placement, data.shared_bytes()) {
            (Placement::Device, _) => None,
            (Placement::Stream, Some(bytes)) => {
                let rows = (c.batch * features).div_ceil(4);
                let slots = (0..c.d_steps)
                    .map(|_| Ok((gpu.zeros(rows)?, gpu.zeros(c.batch)?)))
                    .collect::<Result<_>>()?;
                Some(Streamed {
                    bytes,
                    labels: labels.clone(),
                    items: data.items(),
                    features,
                    seed: c.seed,
                    d_steps: c.d_steps as u64,
                    batch: c.batch,
                    slots,
                    rows: Vec::new(),
                    row_labels: Vec::new(),
                })
            }
            (Placement::Stream, None) => {
                return Err(Error::shape(
                    "trainer",
                    "only data sets of bytes are streamed",
                ));
            }
        };
        let dataset = match (&streamed, data.values()) {
            (Some(_), _) => gpu.zeros(0)?,
            (None, Values::Bytes(bytes)) => gpu.upload_bytes(bytes)?,
            (None, Values::Floats(xy)) => gpu.upload(xy)?,
        };
        // A streamed batch is its slot's rows in order.
        let identity = gpu.upload_u32(&(0..b as u32).collect::<Vec<_>>())?;
        let z = gpu.zeros(b * c.g_inputs())?;
        let indices = gpu.zeros(b)?;
        let d_input = gpu.zeros(2 * b * width)?;

        let train = PassOptions::TRAIN;
        let g_pass = Pass::new(gpu, &g, b, &z, None, None, train)?;
        // D's batch norm, if it has one, normalises the real and the
        // generated half on their own, as two calls of a PyTorch D would.
        let halves = PassOptions { groups: 2, ..train };
        let d_pass = Pass::new(gpu, &d, 2 * b / m, &d_input, None, None, halves)?;
        let dg_opts = PassOptions {
            weight_grads: false,
            input_grad: true,
            ..PassOptions::TRAIN
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
        // The real batch of D update j, and the labels' table and indices.
        let gather = |j: usize| -> Result<(Kernel, &Tensor, &Tensor)> {
            let Some(st) = &streamed else {
                let source = Source {
                    data: &dataset,
                    items: data.items(),
                    features,
                    bytes: matches!(data.values(), Values::Bytes(_)),
                };
                let k = gather_rows(gpu, source, &indices, &real, width)?;
                let table = cond.as_ref().map_or(&indices, |k| k.table());
                return Ok((k, table, &indices));
            };
            let (rows, labels) = &st.slots[j];
            let source = Source {
                data: rows,
                items: b,
                features,
                bytes: true,
            };
            Ok((
                gather_rows(gpu, source, &identity, &real, width)?,
                labels,
                &identity,
            ))
        };
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
        let row = |column| metrics.row(&counters, column);

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
        // D update j of a step (the same kernels for every j, unless the
        // batches are streamed into a slot each).
        let mut program = vec![Op::Kernel(adam::tick(gpu, &counters, 0)?)];
        for j in 0..k as usize {
            let mut d_update = Vec::new();
            if k > 1 {
                d_update.push(Op::Kernel(adam::tick(gpu, &counters, 1)?));
            }
            d_update.push(Op::Kernel(random::normal(
                gpu,
                &d_stream(streams::Z_D),
                &counters,
                0.0,
                1.0,
                &z,
            )?));
            if streamed.is_none() {
                d_update.push(Op::Kernel(random::indices(
                    gpu,
                    &d_stream(streams::INDICES),
                    &counters,
                    data.items() as u32,
                    &indices,
                )?));
            }
            let (gather_kernel, table, rows) = gather(j)?;
            d_update.push(Op::Kernel(gather_kernel));
            if let Some(k) = &cond {
                d_update.extend(
                    k.label_d_update(
                        gpu,
                        &d_stream(streams::LABELS_D),
                        &counters,
                        (table, rows),
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
                &metrics.rows,
                &row(0),
            )?));
            d_update.extend(d_pass.backward.iter().cloned().map(Op::Kernel));
            d_update.extend(
                adam_steps(gpu, &adam_d, c.norm_lr, &d, &counters, d_slot)?
                    .into_iter()
                    .map(Op::Kernel),
            );
            d_update.extend(mirror_ops(&d));
            program.extend(d_update);
        }
        program.push(Op::Kernel(random::normal(
            gpu,
            &stream(streams::Z_G),
            &counters,
            0.0,
            1.0,
            &z,
        )?));
        if let Some(k) = &cond {
            program.extend(
                k.label_g_step(gpu, &stream(streams::LABELS_G), &counters, &z)?
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
            &metrics.rows,
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
        program.extend(mirror_ops(&g));

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
            streamed,
        })
    }

    /// Where the real samples live.
    pub fn placement(&self) -> Placement {
        match self.streamed {
            Some(_) => Placement::Stream,
            None => Placement::Device,
        }
    }

    /// After the nets' weights were written from the host (a checkpoint
    /// restored): their texture copies are refreshed.
    pub fn weights_written(&self) -> Result<()> {
        self.g.sync_mirrors(self.gpu)?;
        self.d.sync_mirrors(self.gpu)
    }

    /// The number of dispatches in one step.
    pub fn dispatches_per_step(&self) -> usize {
        self.kernels().map(Kernel::dispatches).sum()
    }

    /// The number of kernels in one step (a kernel records one dispatch,
    /// or two for a split product: see `Kernel::then`).
    pub fn kernels_per_step(&self) -> usize {
        self.kernels().count()
    }

    fn kernels(&self) -> impl Iterator<Item = &Kernel> {
        self.program.iter().filter_map(|op| match op {
            Op::Kernel(k) => Some(k),
            Op::Copy { .. } | Op::Mirror { .. } => None,
        })
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
        let mut encoder = self.begin_step()?;
        self.record(&mut encoder, None);
        self.end_step(encoder, copy_metrics)
    }

    /// One training step, as [`Trainer::step`], with each kernel in a pass
    /// of its own between two GPU timestamps: (label, seconds) of every
    /// kernel, in order (a kernel's chained dispatches timed together).
    /// `None` where the adapter has no timestamp queries. For the
    /// benchmark: the sum of the kernels beside the wall time of a step
    /// shows what the dispatches themselves cost.
    pub fn timed_step(&mut self) -> Result<Option<Vec<(String, f64)>>> {
        let gpu = self.gpu;
        if !gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Ok(None);
        }
        let n = self.kernels_per_step();
        let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("step timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * n as u32,
        });
        let bytes = 16 * n as u64;
        let buffer = |usage| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("step timestamps"),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        let resolve = buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
        let read = buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        let mut encoder = self.begin_step()?;
        self.record(&mut encoder, Some(&set));
        encoder.resolve_query_set(&set, 0..2 * n as u32, &resolve, 0);
        encoder.copy_buffer_to_buffer(&resolve, 0, &read, 0, bytes);
        self.end_step(encoder, false)?;
        let ticks: Vec<u64> = bytemuck::cast_slice(&gpu.read_mapped(&read)?).to_vec();
        let period = gpu.queue.get_timestamp_period() as f64 * 1e-9;
        let labels = self.kernels().map(|k| k.label.clone());
        Ok(Some(
            labels
                .zip(ticks.chunks(2))
                .map(|(label, t)| (label, t[1].saturating_sub(t[0]) as f64 * period))
                .collect(),
        ))
    }

    fn begin_step(&mut self) -> Result<wgpu::CommandEncoder> {
        if let Some(st) = &mut self.streamed {
            st.upload(self.gpu, self.step + 1)?;
        }
        Ok(self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("step"),
            }))
    }

    /// Records the step's program: its kernels in one compute pass between
    /// copies, or, with `timestamps`, each kernel in its own pass between
    /// the set's queries 2i and 2i + 1.
    fn record(&self, encoder: &mut wgpu::CommandEncoder, timestamps: Option<&wgpu::QuerySet>) {
        let mut pass: Option<wgpu::ComputePass<'static>> = None;
        let mut i = 0;
        for op in &self.program {
            match op {
                Op::Kernel(k) => {
                    if let Some(set) = timestamps {
                        let mut p = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some(&k.label),
                            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                                query_set: set,
                                beginning_of_pass_write_index: Some(2 * i),
                                end_of_pass_write_index: Some(2 * i + 1),
                            }),
                        });
                        k.record(&mut p);
                        i += 1;
                        continue;
                    }
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
                Op::Mirror { src, dst } => {
                    drop(pass.take());
                    dst.record_fill(encoder, src);
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
    }

    fn end_step(&mut self, mut encoder: wgpu::CommandEncoder, copy_metrics: bool) -> Result<()> {
        self.step += 1;
        let copy = copy_metrics && !self.metrics.busy();
        if copy {
            self.metrics.copy(&mut encoder, self.step);
        }
        self.gpu.queue.submit([encoder.finish()]);
        if copy {
            self.metrics.map();
        }
        self.gpu.check()
    }

    /// Every step's metrics not yet returned, waiting for the GPU: before a
    /// checkpoint, so that a diverged state is never saved.
    pub fn flush_metrics(&mut self) -> Result<Vec<StepMetrics>> {
        let mut out = self.poll_metrics(true)?;
        if self.metrics.last_copied < self.step {
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            self.metrics.copy(&mut encoder, self.step);
            self.gpu.queue.submit([encoder.finish()]);
            self.metrics.map();
            out.extend(self.poll_metrics(true)?);
        }
        Ok(out)
    }

    /// The metrics of the steps the last copy holds, once the GPU has
    /// finished them; empty until then. With `wait`, blocks until then.
    pub fn poll_metrics(&mut self, wait: bool) -> Result<Vec<StepMetrics>> {
        self.metrics.poll(self.gpu, wait)
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
        self.metrics.last_copied = step;
        Ok(())
    }

    /// A sampler: the generator at `n` rows, with batch norm on the running
    /// statistics (eval) or, with `batch_stats`, on the batch's own; in a
    /// conditional GAN, row i draws class i mod classes.
    pub fn sampler(&self, n: usize, batch_stats: bool) -> Result<Sampler> {
        Sampler::for_config(self.gpu, &self.g, &self.config, n, batch_stats)
    }
}

/// The copies that refresh a net's weight textures after its Adam (the
/// net checked each pair when it made the texture).
fn mirror_ops(net: &Net) -> impl Iterator<Item = Op> {
    (net.mirror_copies().into_iter()).map(|(src, dst)| Op::Mirror { src, dst })
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
