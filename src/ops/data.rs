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
    gather_strided(gpu, data, items, features, indices, out, features)
}

/// [`gather`] into rows `stride` ≥ features elements apart: out[r · stride
/// + f]; the columns past `features` are left alone (labels go there).
pub fn gather_strided(
    gpu: &Gpu,
    data: &Tensor,
    items: usize,
    features: usize,
    indices: &Tensor,
    out: &Tensor,
    stride: usize,
) -> Result<Kernel> {
    let entry = Entry::new("data.wgsl", shaders::DATA, "gather", BINDINGS);
    prepare(
        gpu,
        "gather",
        entry,
        (items * features).div_ceil(4),
        (data, items, features, stride),
        indices,
        out,
    )
}

const BINDINGS_F32: &[(u32, Access)] =
    &[(4, Access::Read), (2, Access::Read), (3, Access::ReadWrite)];

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
    gather_f32_strided(gpu, data, items, features, indices, out, features)
}

/// [`gather_f32`] into rows `stride` ≥ features elements apart.
pub fn gather_f32_strided(
    gpu: &Gpu,
    data: &Tensor,
    items: usize,
    features: usize,
    indices: &Tensor,
    out: &Tensor,
    stride: usize,
) -> Result<Kernel> {
    let entry = Entry::new("data.wgsl", shaders::DATA, "gather_f32", BINDINGS_F32);
    prepare(
        gpu,
        "gather f32",
        entry,
        items * features,
        (data, items, features, stride),
        indices,
        out,
    )
}

/// Checks the shapes of either gather (`data` must hold `data_len`
/// elements) and prepares its dispatch.
fn prepare(
    gpu: &Gpu,
    op: &'static str,
    entry: Entry,
    data_len: usize,
    (data, items, features, stride): (&Tensor, usize, usize, usize),
    indices: &Tensor,
    out: &Tensor,
) -> Result<Kernel> {
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
