//! One thin wrapper per shader family. Each function checks shapes, then
//! returns a prepared [`Kernel`](crate::kernel::Kernel): nothing runs until
//! it is recorded.

pub mod activation;
pub mod adam;
pub mod batchnorm;
pub mod concat;
pub mod data;
pub mod loss;
pub mod matmul;
pub mod random;
pub mod reduce;
pub mod refine;
pub mod softmax;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Fails unless `t` holds exactly `len` elements.
pub(crate) fn expect_len(op: &'static str, name: &str, t: &Tensor, len: usize) -> Result<()> {
    if t.len() != len {
        return Err(Error::shape(
            op,
            format!("{name} has {} elements, expected {len}", t.len()),
        ));
    }
    Ok(())
}

/// Fails if a tensor the dispatch writes shares a buffer with one it only
/// reads (a buffer is bound either read-write or read-only in a dispatch),
/// or overlaps another written tensor. `all` lists every tensor, written
/// ones included.
pub(crate) fn expect_distinct(
    op: &'static str,
    written: &[(&str, &Tensor)],
    all: &[(&str, &Tensor)],
) -> Result<()> {
    for (wn, w) in written {
        for (n, t) in all {
            if wn == n {
                continue;
            }
            let also_written = written.iter().any(|(x, _)| x == n);
            if also_written && w.overlaps(t) {
                return Err(Error::shape(
                    op,
                    format!("{wn} and {n} overlap, and both are written"),
                ));
            }
            if !also_written && std::ptr::eq(w.buffer(), t.buffer()) {
                return Err(Error::shape(
                    op,
                    format!("{wn} is written, so it must live in a different buffer from {n}"),
                ));
            }
        }
    }
    Ok(())
}

/// Fails if an element count does not fit the kernels' 32-bit indices.
pub(crate) fn expect_u32(op: &'static str, what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::shape(op, format!("{what} = {n} exceeds 2^32 - 1")))
}
