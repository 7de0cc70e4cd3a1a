//! Files written whole or not at all, and safetensors files of named f32
//! tensors with shadergan's metadata: the checkpoints, the classifier and
//! the tile cache use these. Below every other floor: it knows no GPU and
//! no model.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file and a rename, so that
/// `path` is always either the old file or the complete new one. The
/// temporary name is this process's own, so two writers never share one,
/// and it is removed if anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::file(path, e.to_string());
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = temporary_name(path)?;
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// `.<name>.<pid>.<n>.tmp` beside `path`: unique to this process and call.
pub fn temporary_name(path: &Path) -> Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| Error::file(path, "not a file name"))?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{}.{}.{n}.tmp", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(tmp))
}

/// Named tensors (name, shape, dtype, little-endian bytes).
pub type Encoded = Vec<(String, Vec<usize>, Dtype, Vec<u8>)>;

/// Named tensors and the metadata `info` as a safetensors file's bytes;
/// `path` names the file in errors.
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
