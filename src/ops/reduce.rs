//! Deterministic sums (reduce.wgsl).

use super::{Reduction, expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("reduce.wgsl");

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
    channel_sum(gpu, rows, cols, 1, scale, x, out)
}

/// out[c] = scale · Σ_{r, s} x[r, c, s] for an NCHW x of `channels`
/// planes of `spatial` values: a convolution's bias gradient.
pub fn channel_sum(
    gpu: &Gpu,
    rows: usize,
    channels: usize,
    spatial: usize,
    scale: f32,
    x: &Tensor,
    out: &Tensor,
) -> Result<Kernel> {
    let r = Reduction::for_adapter(gpu);
    channel_sum_as(gpu, r, rows, channels, spatial, scale, x, out)
}

/// [`channel_sum`] in the form `r`, whatever the adapter (the same bits).
#[allow(clippy::too_many_arguments)]
pub fn channel_sum_as(
    gpu: &Gpu,
    r: Reduction,
    rows: usize,
    channels: usize,
    spatial: usize,
    scale: f32,
    x: &Tensor,
    out: &Tensor,
) -> Result<Kernel> {
    const OP: &str = "column_sum";
    expect_len(OP, "x", x, rows * channels * spatial)?;
    expect_len(OP, "out", out, channels)?;
    expect_distinct(OP, &[("out", out)], &[("x", x)])?;
    expect_u32(OP, "elements", x.len())?;
    let cols = expect_u32(OP, "cols", channels)?;
    let uniforms = [
        ("rows", expect_u32(OP, "rows", rows)?.into()),
        ("cols", cols.into()),
        ("scale", scale.into()),
        ("out_index", 0u32.into()),
        ("spatial", expect_u32(OP, "spatial", spatial.max(1))?.into()),
    ];
    // Columns per workgroup, set here for both forms (see Reduction).
    let (entry, per_group) = match r {
        Reduction::Tree => (
            Entry::new("reduce.wgsl", WGSL, "column_sum").with("CW", "16u"),
            16,
        ),
        Reduction::Lanes => (
            Entry::new("reduce.wgsl", WGSL, "column_sum_lanes")
                .with("LW", "8u")
                .with("SPATIAL", format!("{}u", spatial.max(1))),
            8,
        ),
    };
    let groups = [cols.div_ceil(per_group), 1, 1];
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
        ("spatial", 1u32.into()),
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
        channel_sum(rows, cols, 1, scale, x)
    }

    /// Σ over rows and positions of each channel of an NCHW x, times scale.
    pub fn channel_sum<T: Copy + Into<f64>>(
        rows: usize,
        channels: usize,
        spatial: usize,
        scale: f64,
        x: &[T],
    ) -> Vec<f64> {
        let members = |c: usize| {
            (0..rows).flat_map(move |r| (0..spatial).map(move |s| (r * channels + c) * spatial + s))
        };
        (0..channels)
            .map(|c| scale * members(c).map(|i| x[i].into()).sum::<f64>())
            .collect()
    }
}
