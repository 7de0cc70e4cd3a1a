//! Batches gathered on the GPU from an 8-bit data set (shaders/data.wgsl).

use bytemuck::{Pod, Zeroable};

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::{Access, Entry, Kernel};
use crate::shaders;
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    features: u32,
    stride: u32,
    _pad: u32,
}

const BINDINGS: &[(u32, Access)] = &[(1, Access::Read), (2, Access::Read), (3, Access::ReadWrite)];

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

const BINDINGS_F32: &[(u32, Access)] =
    &[(4, Access::Read), (2, Access::Read), (3, Access::ReadWrite)];

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
    let (op, entry, data_len) = if src.bytes {
        let e = Entry::new("data.wgsl", shaders::DATA, "gather", BINDINGS);
        ("gather", e, n.div_ceil(4))
    } else {
        let e = Entry::new("data.wgsl", shaders::DATA, "gather_f32", BINDINGS_F32);
        ("gather f32", e, n)
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
    let p = Params {
        rows: expect_u32(op, "rows", indices.len())?,
        features: expect_u32(op, "features", features)?,
        stride: expect_u32(op, "stride", stride)?,
        _pad: 0,
    };
    expect_u32(op, "rows x stride", out.len())?;
    let n = expect_u32(op, "rows x features", indices.len() * features)?;
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[data, indices, out],
        gpu.grid(n.div_ceil(256)),
    )
}
