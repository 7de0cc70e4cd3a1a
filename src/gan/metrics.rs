//! A step's numbers, read back without a wait: the losses and D's mean
//! outputs of step t land in row t mod [`RING`] of a GPU buffer, which the
//! host copies out every few steps and maps when the GPU is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::tensor::Tensor;
use crate::ops::loss::OutRow;

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

/// Rows of the ring: the most steps between two reads.
pub const RING: usize = 256;
/// A row: D's loss, D(x), D(G(z)) (D's loss kernel), G's loss, D(G(z))
/// (G's), and one unused.
const ROW: usize = 6;

/// The ring on the GPU and its staging copy.
pub struct MetricsRing {
    pub rows: Tensor,
    staging: wgpu::Buffer,
    /// Steps whose rows the pending copy holds, first..=last.
    pending: Option<(u64, u64)>,
    ready: Arc<AtomicBool>,
    /// The last step whose row has been copied out.
    pub last_copied: u64,
}

impl MetricsRing {
    pub fn new(gpu: &Gpu) -> Result<MetricsRing> {
        let rows = gpu.zeros(RING * ROW)?;
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("metrics readback"),
            size: rows.byte_len(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(MetricsRing {
            rows,
            staging,
            pending: None,
            ready: Default::default(),
            last_copied: 0,
        })
    }

    /// Where a loss kernel writes its three means: D's at column 0, G's
    /// at 3, in the row of the step number in counters[0].
    pub fn row<'a>(&'a self, counters: &'a Tensor, column: usize) -> OutRow<'a> {
        OutRow {
            counters,
            slot: 0,
            ring: RING,
            stride: ROW,
            base: column,
        }
    }

    /// Whether a copy is waiting to be read.
    pub fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Records the copy of the ring for the steps since the last copy, up
    /// to `step`.
    pub fn copy(&mut self, encoder: &mut wgpu::CommandEncoder, step: u64) {
        encoder.copy_buffer_to_buffer(
            self.rows.buffer(),
            0,
            &self.staging,
            0,
            self.rows.byte_len(),
        );
        let first = (self.last_copied + 1).max(step.saturating_sub(RING as u64 - 1));
        self.pending = Some((first, step));
        self.last_copied = step;
    }

    /// Maps the staging buffer once the submitted copy has run.
    pub fn map(&mut self) {
        let ready = self.ready.clone();
        ready.store(false, Ordering::SeqCst);
        self.staging.map_async(wgpu::MapMode::Read, .., move |r| {
            if r.is_ok() {
                ready.store(true, Ordering::SeqCst);
            }
        });
    }

    /// The metrics of the steps the last copy holds, once the GPU has
    /// finished them; empty until then. With `wait`, blocks until then.
    pub fn poll(&mut self, gpu: &Gpu, wait: bool) -> Result<Vec<StepMetrics>> {
        let Some((first, last)) = self.pending else {
            return Ok(Vec::new());
        };
        let poll = if wait {
            wgpu::PollType::wait_indefinitely()
        } else {
            wgpu::PollType::Poll
        };
        gpu.device
            .poll(poll)
            .map_err(|e| Error::DeviceLost(e.to_string()))?;
        if !self.ready.load(Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        let rows: Vec<f32> = {
            let view = self
                .staging
                .get_mapped_range(..)
                .map_err(|e| Error::DeviceLost(e.to_string()))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        self.staging.unmap();
        self.pending = None;
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
}
