//! The ops, the second floor: one module per shader family, each with its
//! WGSL beside it (`<op>.wgsl`), a thin Rust wrapper and its f64 reference
//! (`<op>::reference`). A wrapper checks shapes, then returns a prepared
//! [`Kernel`](crate::gpu::kernel::Kernel): nothing runs until it is
//! recorded. An op knows tensors and counters, never the model above it.

pub mod activation;
pub mod adam;
pub mod batchnorm;
pub mod concat;
pub mod conv;
pub mod data;
pub mod loss;
pub mod matmul;
pub mod random;
pub mod reduce;
pub mod refine;
pub mod softmax;

/// (file name, source) of every op's shader, and of the prelude they share.
pub const SHADERS: &[(&str, &str)] = &[
    ("activation.wgsl", activation::WGSL),
    ("adam.wgsl", adam::WGSL),
    ("batchnorm.wgsl", batchnorm::WGSL),
    ("concat.wgsl", concat::WGSL),
    ("data.wgsl", data::WGSL),
    ("loss.wgsl", loss::WGSL),
    matmul::SHADER,
    matmul::SHADER_LANES,
    matmul::SHADER_LANES_TEXTURE,
    ("random.wgsl", random::WGSL),
    ("reduce.wgsl", reduce::WGSL),
    ("refine.wgsl", refine::WGSL),
    ("softmax.wgsl", softmax::WGSL),
];

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::tensor::Tensor;

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
/// Calls `f` with `tensors` under the names of their vec4 bindings (`x`
/// → `x4`), for the entry points that read whole vec4s.
pub(crate) fn with_vec4_names<'a, R>(
    tensors: &[(&str, &'a Tensor)],
    f: impl FnOnce(&[(&str, &'a Tensor)]) -> R,
) -> R {
    let named: Vec<(String, &Tensor)> = tensors
        .iter()
        .map(|&(name, t)| (format!("{name}4"), t))
        .collect();
    let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    f(&refs)
}

pub(crate) fn expect_u32(op: &'static str, what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::shape(op, format!("{what} = {n} exceeds 2^32 - 1")))
}

/// How batch norm and the column sums add up a channel (a column). Both
/// give the same bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// 16 lanes a channel, combined by a tree in workgroup memory (GPUs).
    Tree,
    /// One thread a channel, no workgroup memory and no barrier (CPU
    /// adapters, where a barrier suspends every SIMD slice).
    Lanes,
}

impl Reduction {
    pub fn for_adapter(gpu: &Gpu) -> Self {
        match gpu.info.device_type {
            wgpu::DeviceType::Cpu => Reduction::Lanes,
            _ => Reduction::Tree,
        }
    }
}
