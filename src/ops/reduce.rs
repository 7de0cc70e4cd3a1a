//! Deterministic sums (shaders/reduce.wgsl).

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
    cols: u32,
    scale: f32,
    out_index: u32,
}

const BINDINGS: &[(u32, Access)] = &[(1, Access::Read), (2, Access::ReadWrite)];
const COLUMNS_PER_GROUP: u32 = 16;

/// out[c] = scale · Σ_r x[r, c] for a row-major [rows, cols] x: the bias
/// gradient with scale 1, column means with scale 1/rows.
pub fn column_sum(
    gpu: &Gpu,
    rows: usize,
    cols: usize,
    scale: f32,
    x: &Tensor,
    out: &Tensor,
) -> Result<Kernel> {
    const OP: &str = "column_sum";
    expect_len(OP, "x", x, rows * cols)?;
    expect_len(OP, "out", out, cols)?;
    expect_distinct(OP, &[("out", out)], &[("x", x)])?;
    let p = Params {
        rows: expect_u32(OP, "rows", rows)?,
        cols: expect_u32(OP, "cols", cols)?,
        scale,
        out_index: 0,
    };
    let entry = Entry::new("reduce.wgsl", shaders::REDUCE, "column_sum", BINDINGS);
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[x, out],
        [p.cols.div_ceil(COLUMNS_PER_GROUP), 1, 1],
    )
}

/// out[index] = scale · Σ_i x[i], in one workgroup.
pub fn total(gpu: &Gpu, scale: f32, x: &Tensor, out: &Tensor, index: usize) -> Result<Kernel> {
    const OP: &str = "total";
    if index >= out.len() {
        return Err(Error::shape(
            OP,
            format!("index {index} is outside out ({} elements)", out.len()),
        ));
    }
    expect_distinct(OP, &[("out", out)], &[("x", x)])?;
    let p = Params {
        rows: 1,
        cols: expect_u32(OP, "n", x.len())?,
        scale,
        out_index: index as u32,
    };
    let entry = Entry::new("reduce.wgsl", shaders::REDUCE, "total", BINDINGS);
    gpu.kernel(&entry, bytemuck::bytes_of(&p), &[x, out], [1, 1, 1])
}
