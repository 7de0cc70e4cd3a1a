//! Checkpoints in safetensors, in PyTorch's layout and names.
//!
//! `generator.<i>.weight`, `generator.<i>.running_mean`, ... (and the same
//! under `discriminator.`) are the state dicts of the nets' `nn.Sequential`
//! (scripts/pytorch_check.py builds them): f32 tensors of PyTorch's shapes,
//! and an int64 `num_batches_tracked` per batch norm. The Adam moments are
//! `optimizer.<net>.<i>.<weight|bias>.exp_avg` and `.exp_avg_sq`. The
//! metadata entry `shadergan` holds {format, step, config} as JSON; the
//! random state is (seed, step), so nothing else is needed to continue bit
//! for bit.

use std::path::Path;

use safetensors::Dtype;

use super::{GanConfig, Trainer};
use crate::error::{Error, Result};
use crate::files::{self, TensorFile, Tensors, parse_tensors, write_atomic};

use crate::gpu::Gpu;
use crate::nn::Net;
use crate::nn::net::{Named, get, read_entries};

pub const FORMAT: &str = "shadergan-checkpoint-1";

/// A checkpoint read from disk.
pub struct Checkpoint {
    pub config: GanConfig,
    pub step: u64,
    pub tensors: Tensors,
}

/// Every f32 tensor a trainer's checkpoint holds, by its full name.
fn entries(t: &Trainer<'_>) -> Vec<Named> {
    let mut out = Vec::new();
    for (prefix, net) in [("generator", &t.g), ("discriminator", &t.d)] {
        out.extend(net.state_in(prefix));
        for (m, v) in net.moments() {
            let name = |moment| format!("optimizer.{prefix}.{}.{moment}", m.name);
            out.push(Named {
                name: name("exp_avg"),
                ..m.clone()
            });
            out.push(Named {
                name: name("exp_avg_sq"),
                tensor: v,
                ..m
            });
        }
    }
    out
}

/// Writes a checkpoint of the trainer atomically: to a temporary name in
/// the same folder, flushed and synced, then renamed over `path`.
pub fn save(t: &Trainer<'_>, path: &Path) -> Result<()> {
    let mut data = read_entries(t.gpu, &entries(t))?;
    // The running statistics' updates so far, as PyTorch counts them: G's
    // once a step (its forward in G's step), D's three times a D update
    // and G step (the real half, the generated half, and G's step).
    let d_calls = 2 * t.config.d_steps as u64 + 1;
    for (prefix, net, per_step) in [("generator", &t.g, 1), ("discriminator", &t.d, d_calls)] {
        let tracked = ((t.step * per_step) as i64).to_le_bytes().to_vec();
        for i in net.with_buffers() {
            let name = format!("{prefix}.{i}.num_batches_tracked");
            data.push((name, vec![], Dtype::I64, tracked.clone()));
        }
    }
    let info = serde_json::json!({ "format": FORMAT, "step": t.step, "config": t.config });
    let bytes = files::encode(path, data, info)?;
    write_atomic(path, &bytes)
}

/// Reads and checks a checkpoint file.
pub fn read(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::file(path, format!("cannot read the checkpoint: {e}")))?;
    parse(&bytes, path)
}

/// Checks and decodes the bytes of a checkpoint; `path` names it in errors.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let TensorFile { info, tensors } = parse_tensors(bytes, path, FORMAT)?;
    let bad = |m: String| Error::file(path, m);
    let config: GanConfig = serde_json::from_value(info["config"].clone())
        .map_err(|e| bad(format!("the config in the metadata does not parse: {e}")))?;
    let step = info["step"]
        .as_u64()
        .ok_or_else(|| bad("no step in the metadata".into()))?;
    // A diverged state would sample NaN and resume into more of it.
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    if let Some(name) = names
        .into_iter()
        .find(|n| tensors[*n].1.iter().any(|v| !v.is_finite()))
    {
        return Err(bad(format!(
            "{name} holds non-finite values: it was saved from a diverged run; \
             use an earlier checkpoint"
        )));
    }
    Ok(Checkpoint {
        config,
        step,
        tensors,
    })
}

impl Checkpoint {
    fn get(&self, name: &str, shape: &[usize]) -> Result<&[f32]> {
        get(&self.tensors, name, shape)
    }

    /// Restores a trainer built from this checkpoint's configuration:
    /// weights, Adam moments, running statistics and the step.
    ///
    /// Every tensor is checked before any is written: a checkpoint of
    /// another architecture is refused with the first tensor that does not
    /// match and how.
    pub fn restore(&self, t: &mut Trainer<'_>) -> Result<()> {
        let wanted = entries(t);
        for n in &wanted {
            self.get(&n.name, &n.shape)?;
        }
        if let Some(extra) = self
            .tensors
            .keys()
            .filter(|k| !wanted.iter().any(|n| &n.name == *k))
            .min()
        {
            return Err(Error::shape(
                "checkpoint",
                format!(
                    "tensor {extra} is in the checkpoint but not in this model: it was written for another architecture"
                ),
            ));
        }
        for n in wanted {
            t.gpu.write(&n.tensor, self.get(&n.name, &n.shape)?)?;
        }
        t.weights_written()?;
        t.set_step(self.step)
    }

    /// The generator alone, for sampling.
    pub fn generator(&self, gpu: &Gpu) -> Result<Net> {
        let g = Net::new(gpu, &self.config.generator, self.config.g_input(), 0, 0)?;
        g.load(gpu, &self.tensors, "generator")?;
        Ok(g)
    }

    /// The discriminator alone, for rejection sampling: it takes `pack`
    /// samples (each with its label in a conditional GAN) at once.
    pub fn discriminator(&self, gpu: &Gpu) -> Result<Net> {
        let d = Net::new(gpu, &self.config.discriminator, self.config.d_input(), 0, 0)?;
        d.load(gpu, &self.tensors, "discriminator")?;
        Ok(d)
    }
}
