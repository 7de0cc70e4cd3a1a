//! Batches gathered on the GPU from a data set (data.wgsl).

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("data.wgsl");

/// out[r, f] = data[indices[r] · features + f] / 127.5 − 1, where `data`
/// holds `items · features` bytes packed four to an element (see
/// [`Gpu::upload_bytes`]). Indices must be below `items`.
pub fn gather(
    gpu: &Gpu,
    data: &Tensor,
    items: usize,
    features: usize,
    indices: &Tensor,
    out: &Tensor,
) -> Result<Kernel> {
    let src = Source {
        data,
        items,
        features,
        bytes: true,
    };
    gather_rows(gpu, src, indices, out, features)
}

/// out[r, f] = data[indices[r] · features + f] for a data set of f32
/// samples (`items · features` elements).
pub fn gather_f32(
    gpu: &Gpu,
    data: &Tensor,
    items: usize,
    features: usize,
    indices: &Tensor,
    out: &Tensor,
) -> Result<Kernel> {
    let src = Source {
        data,
        items,
        features,
        bytes: false,
    };
    gather_rows(gpu, src, indices, out, features)
}

/// A data set on the GPU: `items` samples of `features` values, as bytes
/// packed four to an element (images) or as f32 (points).
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub data: &'a Tensor,
    pub items: usize,
    pub features: usize,
    pub bytes: bool,
}

/// [`gather`] or [`gather_f32`] into rows `stride` ≥ features elements
/// apart: out[r · stride + f]; the columns past `features` are left alone
/// (a conditional GAN's labels go there).
pub fn gather_rows(
    gpu: &Gpu,
    src: Source<'_>,
    indices: &Tensor,
    out: &Tensor,
    stride: usize,
) -> Result<Kernel> {
    let n = src.items * src.features;
    let (op, entry, data_name, data_len) = if src.bytes {
        ("gather", "gather", "data", n.div_ceil(4))
    } else {
        ("gather f32", "gather_f32", "data_f32", n)
    };
    let Source {
        data,
        items,
        features,
        ..
    } = src;
    if features == 0 || items == 0 {
        return Err(Error::shape(op, "the data set is empty"));
    }
    if stride < features {
        return Err(Error::shape(
            op,
            format!("rows {stride} apart cannot hold {features} features"),
        ));
    }
    expect_len(op, "data", data, data_len)?;
    expect_len(op, "out", out, indices.len() * stride)?;
    expect_distinct(
        op,
        &[("out", out)],
        &[("data", data), ("indices", indices), ("out", out)],
    )?;
    let uniforms = [
        ("rows", expect_u32(op, "rows", indices.len())?.into()),
        ("features", expect_u32(op, "features", features)?.into()),
        ("stride", expect_u32(op, "stride", stride)?.into()),
    ];
    expect_u32(op, "rows x stride", out.len())?;
    let n = expect_u32(op, "rows x features", indices.len() * features)?;
    let tensors = [(data_name, data), ("indices", indices), ("out", out)];
    let entry = Entry::new("data.wgsl", WGSL, entry);
    gpu.kernel(&entry, &uniforms, &tensors, gpu.grid(n.div_ceil(256)))
}

/// The f64 references.
pub mod reference {

    /// A batch of rows of a u8 data set mapped to [-1, 1].
    pub fn gather(data: &[u8], features: usize, indices: &[u32]) -> Vec<f64> {
        indices
            .iter()
            .flat_map(|&i| {
                let row = &data[i as usize * features..(i as usize + 1) * features];
                row.iter().map(|&b| b as f64 / 127.5 - 1.0)
            })
            .collect()
    }
}
