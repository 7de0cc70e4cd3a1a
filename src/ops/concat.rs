//! Rows built side by side for the class-conditional GAN
//! (concat.wgsl): one-hot labels written beside the latents or the
//! samples, and blocks of columns copied between row-strided matrices.

use super::{expect_distinct, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel, Value};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("concat.wgsl");

/// Where a block of columns lies in a matrix stored row by row: its rows
/// begin at row `first`, rows are `stride` elements apart, and the block's
/// first column is `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub first: usize,
    pub stride: usize,
    pub offset: usize,
}

impl Block {
    /// A whole matrix of rows `width` wide, from row 0.
    pub fn dense(width: usize) -> Block {
        Block {
            first: 0,
            stride: width,
            offset: 0,
        }
    }

    /// The flat index of (row r, column c) of the block.
    pub fn at(&self, r: usize, c: usize) -> usize {
        (self.first + r) * self.stride + self.offset + c
    }

    /// Fails unless `rows` × `width` columns of the block fit in `t`.
    fn check(
        &self,
        op: &'static str,
        name: &str,
        t: &Tensor,
        rows: usize,
        width: usize,
    ) -> Result<()> {
        if self.offset + width > self.stride {
            return Err(Error::shape(
                op,
                format!(
                    "{name}: columns {}..{} do not fit rows {} wide",
                    self.offset,
                    self.offset + width,
                    self.stride
                ),
            ));
        }
        let needed = (self.first + rows) * self.stride;
        if rows > 0 && needed > t.len() {
            return Err(Error::shape(
                op,
                format!(
                    "{name} has {} elements; rows {}..{} of {} need {needed}",
                    t.len(),
                    self.first,
                    self.first + rows,
                    self.stride
                ),
            ));
        }
        Ok(())
    }
}

const WG: u32 = 256;
/// A kernel's uniform values, and the workgroups that cover them.
type Launch = ([(&'static str, Value); 9], [u32; 3]);

/// The uniform block, and the workgroups that cover rows × width.
fn uniforms(
    gpu: &Gpu,
    op: &'static str,
    rows: usize,
    width: usize,
    repeat: usize,
    to: Block,
    from: Block,
) -> Result<Launch> {
    let u = |what, n| expect_u32(op, what, n).map(Value::from);
    let all = expect_u32(op, "rows x width", rows * width * repeat)?;
    u("output size", (to.first + rows) * to.stride)?;
    u("input size", (from.first + rows) * from.stride)?;
    let values = [
        ("rows", u("rows", rows)?),
        ("width", u("width", width)?),
        ("first", u("first row", to.first)?),
        ("stride", u("stride", to.stride)?),
        ("offset", u("offset", to.offset)?),
        ("src_first", u("first row", from.first)?),
        ("src_stride", u("stride", from.stride)?),
        ("src_offset", u("offset", from.offset)?),
        ("repeat", u("repeat", repeat)?),
    ];
    Ok((values, gpu.grid(all.div_ceil(WG))))
}

/// Row r of block `to` of `out` (`classes` columns) becomes the one-hot
/// code of class table[indices[r]], for every r < indices.len(). A class
/// of `classes` or more gives a row of zeros.
pub fn one_hot(
    gpu: &Gpu,
    table: &Tensor,
    indices: &Tensor,
    classes: usize,
    out: &Tensor,
    to: Block,
) -> Result<Kernel> {
    one_hot_repeated(gpu, table, indices, classes, 1, out, to)
}

/// [`one_hot`] with each class's value repeated `repeat` times: `classes`
/// constant planes of `repeat` values (an NCHW image's H·W) per row.
pub fn one_hot_repeated(
    gpu: &Gpu,
    table: &Tensor,
    indices: &Tensor,
    classes: usize,
    repeat: usize,
    out: &Tensor,
    to: Block,
) -> Result<Kernel> {
    const OP: &str = "one-hot";
    let rows = indices.len();
    if classes == 0 || table.is_empty() || repeat == 0 {
        return Err(Error::shape(OP, "there are no classes"));
    }
    to.check(OP, "out", out, rows, classes * repeat)?;
    expect_distinct(
        OP,
        &[("out", out)],
        &[("out", out), ("table", table), ("indices", indices)],
    )?;
    let (values, groups) = uniforms(gpu, OP, rows, classes, repeat, to, Block::dense(0))?;
    let entry = Entry::new("concat.wgsl", WGSL, "one_hot");
    let tensors = [("table", table), ("indices", indices), ("out", out)];
    gpu.kernel(&entry, &values, &tensors, groups)
}

/// Copies `rows` × `width` values from block `from` of `src` to block `to`
/// of `out`. Forward, it places the generator's samples beside their
/// labels; backward, the same copy with `from` and `to` swapped takes
/// their gradient back.
pub fn columns(
    gpu: &Gpu,
    src: &Tensor,
    from: Block,
    out: &Tensor,
    to: Block,
    rows: usize,
    width: usize,
) -> Result<Kernel> {
    const OP: &str = "columns";
    from.check(OP, "src", src, rows, width)?;
    to.check(OP, "out", out, rows, width)?;
    expect_distinct(OP, &[("out", out)], &[("out", out), ("src", src)])?;
    let (values, groups) = uniforms(gpu, OP, rows, width, 1, to, from)?;
    let entry = Entry::new("concat.wgsl", WGSL, "columns");
    gpu.kernel(&entry, &values, &[("src", src), ("out", out)], groups)
}

/// The f64 references.
pub mod reference {
    use super::Block;

    /// Row r of block `to` of `out` becomes the one-hot code of class
    /// table[indices[r]] (zeros for a class of `classes` or more).
    pub fn one_hot(table: &[u32], indices: &[u32], classes: usize, out: &mut [f64], to: Block) {
        one_hot_repeated(table, indices, classes, 1, out, to)
    }

    /// [`one_hot`] with each class's value repeated `repeat` times.
    pub fn one_hot_repeated(
        table: &[u32],
        indices: &[u32],
        classes: usize,
        repeat: usize,
        out: &mut [f64],
        to: Block,
    ) {
        for (r, &i) in indices.iter().enumerate() {
            for c in 0..classes {
                let hot = if table[i as usize] as usize == c {
                    1.0
                } else {
                    0.0
                };
                for s in 0..repeat {
                    out[to.at(r, c * repeat + s)] = hot;
                }
            }
        }
    }

    /// Copies `rows` × `width` values from block `from` of `src` to block `to`
    /// of `out`.
    pub fn columns(
        src: &[f64],
        from: Block,
        out: &mut [f64],
        to: Block,
        rows: usize,
        width: usize,
    ) {
        for r in 0..rows {
            for c in 0..width {
                out[to.at(r, c)] = src[from.at(r, c)];
            }
        }
    }
}
