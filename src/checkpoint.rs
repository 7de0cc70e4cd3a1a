//! Checkpoints in safetensors, in PyTorch's layout and names.
//!
//! `generator.<i>.weight`, `generator.<i>.running_mean`, ... (and the same
//! under `discriminator.`) are the state dicts of the `nn.Sequential`
//! modules of DESIGN §4: f32 tensors of PyTorch's shapes, and an int64
//! `num_batches_tracked` per batch norm. The Adam moments are
//! `optimizer.<net>.<i>.<weight|bias>.exp_avg` and `.exp_avg_sq`. The
//! metadata entry `shadergan` holds {format, step, config} as JSON; the
//! random state is (seed, step), so nothing else is needed to continue bit
//! for bit.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{Error, Result};
use crate::gan::{GanConfig, Trainer};
use crate::gpu::Gpu;
use crate::model::{Layer, Net};
use crate::tensor::Tensor;

pub const FORMAT: &str = "shadergan-checkpoint-1";

/// A checkpoint read from disk.
pub struct Checkpoint {
    pub config: GanConfig,
    pub step: u64,
    pub tensors: Tensors,
}

/// PyTorch's shape of a named state tensor of a layer.
fn shape_of(layer: &Layer, suffix: &str) -> Vec<usize> {
    match (*layer, suffix) {
        (Layer::Linear { inputs, outputs }, "weight") => vec![outputs, inputs],
        (Layer::Linear { outputs, .. }, _) => vec![outputs],
        (Layer::BatchNorm { features }, _) => vec![features],
        _ => vec![],
    }
}

fn layer_of<'a>(net: &'a Net, name: &str) -> (&'a Layer, String) {
    let (i, suffix) = name.split_once('.').expect("names are <layer>.<tensor>");
    (
        &net.layers[i.parse::<usize>().expect("layer index")],
        suffix.to_string(),
    )
}

/// A net's parameters and running statistics: (prefix.name, PyTorch
/// shape, GPU tensor).
pub fn net_entries(net: &Net, prefix: &str) -> Vec<(String, Vec<usize>, Tensor)> {
    net.state()
        .into_iter()
        .map(|named| {
            let (layer, suffix) = layer_of(net, &named.name);
            (
                format!("{prefix}.{}", named.name),
                shape_of(layer, &suffix),
                named.tensor,
            )
        })
        .collect()
}

/// Every f32 tensor a trainer's checkpoint holds: (name, shape, GPU tensor).
fn entries(t: &Trainer<'_>) -> Vec<(String, Vec<usize>, Tensor)> {
    let mut out = Vec::new();
    for (prefix, net) in [("generator", &t.g), ("discriminator", &t.d)] {
        out.extend(net_entries(net, prefix));
        for (name, m, v) in net.moments() {
            let (layer, suffix) = layer_of(net, &name);
            let shape = shape_of(layer, &suffix);
            out.push((
                format!("optimizer.{prefix}.{name}.exp_avg"),
                shape.clone(),
                m,
            ));
            out.push((format!("optimizer.{prefix}.{name}.exp_avg_sq"), shape, v));
        }
    }
    out
}

fn batch_norms(net: &Net) -> impl Iterator<Item = usize> + '_ {
    net.layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Layer::BatchNorm { .. }))
        .map(|(i, _)| i)
}

/// Writes a checkpoint of the trainer atomically: to a temporary name in
/// the same folder, flushed and synced, then renamed over `path`.
pub fn save(t: &Trainer<'_>, path: &Path) -> Result<()> {
    let mut data = read_f32(t.gpu, entries(t))?;
    // One running-statistics update per step (the G step's forward pass).
    let tracked = (t.step as i64).to_le_bytes().to_vec();
    for i in batch_norms(&t.g) {
        data.push((
            format!("generator.{i}.num_batches_tracked"),
            vec![],
            Dtype::I64,
            tracked.clone(),
        ));
    }
    for i in batch_norms(&t.d) {
        data.push((
            format!("discriminator.{i}.num_batches_tracked"),
            vec![],
            Dtype::I64,
            tracked.clone(),
        ));
    }
    let info = serde_json::json!({ "format": FORMAT, "step": t.step, "config": t.config });
    let bytes = encode(path, data, info)?;
    write_atomic(path, &bytes)
}

/// Named tensors (name, shape, dtype, little-endian bytes).
pub type Encoded = Vec<(String, Vec<usize>, Dtype, Vec<u8>)>;

/// Reads GPU tensors back as f32 entries of a file.
pub fn read_f32(gpu: &Gpu, entries: Vec<(String, Vec<usize>, Tensor)>) -> Result<Encoded> {
    entries
        .into_iter()
        .map(|(name, shape, tensor)| {
            let values = gpu.read(&tensor)?;
            let bytes = bytemuck::cast_slice(&values).to_vec();
            Ok((name, shape, Dtype::F32, bytes))
        })
        .collect()
}

/// Named tensors (name, shape, dtype, little-endian bytes) and the
/// metadata `info` as a safetensors file's bytes.
pub fn encode(path: &Path, data: Encoded, info: serde_json::Value) -> Result<Vec<u8>> {
    let views = data
        .iter()
        .map(|(n, s, d, b)| {
            Ok((
                n.clone(),
                TensorView::new(*d, s.clone(), b).map_err(|e| Error::file(path, e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    // One metadata entry, so that the header (a hash map) is written in
    // the same order every time and equal states give equal files.
    let meta = HashMap::from([("shadergan".to_string(), info.to_string())]);
    safetensors::serialize(views, Some(meta)).map_err(|e| Error::file(path, e.to_string()))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that
/// `path` is always either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::file(path, e.to_string());
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .ok_or_else(|| Error::file(path, "not a file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

/// Reads and checks a checkpoint file.
pub fn read(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::file(path, format!("cannot read the checkpoint: {e}")))?;
    parse(&bytes, path)
}

/// A safetensors file of shadergan's: its metadata and its f32 tensors.
pub struct TensorFile {
    pub info: serde_json::Value,
    /// Name → (shape, f32 values); int64 tensors are left out.
    pub tensors: Tensors,
}

pub type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Checks and decodes a safetensors file whose metadata says `format`;
/// `path` names it in errors.
pub fn parse_tensors(bytes: &[u8], path: &Path, format: &str) -> Result<TensorFile> {
    let bad = |m: String| Error::file(path, m);
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        bad(format!(
            "not a safetensors checkpoint, or a truncated one ({e})"
        ))
    })?;
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("unreadable header ({e})")))?;
    let info: serde_json::Value = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("shadergan"))
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| bad("no shadergan metadata: was it written by shadergan?".into()))?;
    if info["format"] != format {
        return Err(bad(format!("format {} is not {format}", info["format"])));
    }
    let mut tensors = HashMap::new();
    for name in st.names() {
        let view = st.tensor(name).map_err(|e| bad(e.to_string()))?;
        if view.dtype() == Dtype::F32 {
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            tensors.insert(name.to_string(), (view.shape().to_vec(), values));
        }
    }
    Ok(TensorFile { info, tensors })
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
    Ok(Checkpoint {
        config,
        step,
        tensors,
    })
}

/// The values of tensor `name`, which must have `shape`.
fn get<'a>(tensors: &'a Tensors, name: &str, shape: &[usize]) -> Result<&'a [f32]> {
    let (s, v) = tensors.get(name).ok_or_else(|| {
        Error::shape(
            "checkpoint",
            format!("has no tensor {name}: it was written for another architecture"),
        )
    })?;
    if s != shape {
        return Err(Error::shape(
            "checkpoint",
            format!("tensor {name} has shape {s:?}, this model needs {shape:?}"),
        ));
    }
    Ok(v)
}

/// Writes a net's parameters and running statistics from `tensors`.
pub fn load_net(tensors: &Tensors, gpu: &Gpu, net: &Net, prefix: &str) -> Result<()> {
    for (name, shape, tensor) in net_entries(net, prefix) {
        gpu.write(&tensor, get(tensors, &name, &shape)?)?;
    }
    Ok(())
}

impl Checkpoint {
    fn get(&self, name: &str, shape: &[usize]) -> Result<&[f32]> {
        get(&self.tensors, name, shape)
    }

    /// Writes a net's parameters and running statistics from this checkpoint.
    pub fn load_net(&self, gpu: &Gpu, net: &Net, prefix: &str) -> Result<()> {
        load_net(&self.tensors, gpu, net, prefix)
    }

    /// Restores a trainer built from this checkpoint's configuration:
    /// weights, Adam moments, running statistics and the step.
    ///
    /// Every tensor is checked before any is written: a checkpoint of
    /// another architecture is refused with the first tensor that does not
    /// match and how.
    pub fn restore(&self, t: &mut Trainer<'_>) -> Result<()> {
        let wanted = entries(t);
        for (name, shape, _) in &wanted {
            self.get(name, shape)?;
        }
        if let Some(extra) = self
            .tensors
            .keys()
            .filter(|k| !wanted.iter().any(|(n, _, _)| n == *k))
            .min()
        {
            return Err(Error::shape(
                "checkpoint",
                format!(
                    "tensor {extra} is in the checkpoint but not in this model: it was written for another architecture"
                ),
            ));
        }
        for (name, shape, tensor) in wanted {
            t.gpu.write(&tensor, self.get(&name, &shape)?)?;
        }
        t.set_step(self.step)
    }

    /// The generator alone, for sampling.
    pub fn generator(&self, gpu: &Gpu) -> Result<Net> {
        let g = Net::new(gpu, &self.config.generator, self.config.g_inputs(), 0, 0)?;
        self.load_net(gpu, &g, "generator")?;
        Ok(g)
    }

    /// The discriminator alone, for rejection sampling: it takes `pack`
    /// samples (each with its label in a conditional GAN) at once.
    pub fn discriminator(&self, gpu: &Gpu) -> Result<Net> {
        let inputs = self.config.sample_width() * self.config.pack.max(1);
        let d = Net::new(gpu, &self.config.discriminator, inputs, 0, 0)?;
        self.load_net(gpu, &d, "discriminator")?;
        Ok(d)
    }
}
