//! Deterministic sums (reduce.wgsl).

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("reduce.wgsl");

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
    let cols = expect_u32(OP, "cols", cols)?;
    let uniforms = [
        ("rows", expect_u32(OP, "rows", rows)?.into()),
        ("cols", cols.into()),
        ("scale", scale.into()),
        ("out_index", 0u32.into()),
    ];
    let entry = Entry::new("reduce.wgsl", WGSL, "column_sum");
    let groups = [cols.div_ceil(COLUMNS_PER_GROUP), 1, 1];
    gpu.kernel(&entry, &uniforms, &[("x", x), ("out", out)], groups)
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
    let uniforms = [
        ("rows", 1u32.into()),
        ("cols", expect_u32(OP, "n", x.len())?.into()),
        ("scale", scale.into()),
        ("out_index", (index as u32).into()),
    ];
    let entry = Entry::new("reduce.wgsl", WGSL, "total");
    gpu.kernel(&entry, &uniforms, &[("x", x), ("out", out)], [1, 1, 1])
}

/// The f64 references.
pub mod reference {

    /// Σ over rows of a row-major [rows, cols] matrix, times scale.
    pub fn column_sum<T: Copy + Into<f64>>(
        rows: usize,
        cols: usize,
        scale: f64,
        x: &[T],
    ) -> Vec<f64> {
        (0..cols)
            .map(|c| scale * (0..rows).map(|r| x[r * cols + c].into()).sum::<f64>())
            .collect()
    }
}
