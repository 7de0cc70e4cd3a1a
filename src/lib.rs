//! shadergan: a GAN trainer in which every tensor operation is a WGSL
//! compute shader dispatched through wgpu.
//!
//! The layers of the crate, bottom up:
//! - [`gpu`]: the instance, the adapter choice, the device and its limits;
//! - [`tensor`]: f32 / u32 buffers on the GPU and their transfers;
//! - [`kernel`]: shader sources, specialisation, the pipeline cache and the
//!   prepared dispatch ([`kernel::Kernel`]) that every op produces;
//! - [`ops`]: one thin wrapper per shader family;
//! - [`cpu`]: plain f64 references of every op, for tests and checks.

pub mod bench;
pub mod checkpoint;
pub mod classifier;
pub mod cpu;
pub mod data;
pub mod error;
pub mod eval;
pub mod gan;
pub mod gpu;
pub mod kernel;
pub mod model;
pub mod npy;
pub mod ops;
pub mod refine;
pub mod reject;
pub mod render;
pub mod shaders;
pub mod tensor;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
pub use gpu::{BackendChoice, Gpu, GpuOptions};
pub use kernel::Kernel;
pub use tensor::Tensor;
