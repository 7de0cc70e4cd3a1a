//! shadergan: a GAN trainer in which every tensor operation is a WGSL
//! compute shader dispatched through wgpu.
//!
//! The crate is built in floors, each importing only the floors below it
//! (docs/design.md draws them):
//! 1. [`gpu`]: the adapter and device, tensors, WGSL made into prepared
//!    dispatches (with the prelude every shader shares);
//! 2. [`ops`]: one module per shader family, its WGSL, wrapper and f64
//!    reference side by side;
//! 3. [`nn`]: layers (one file per kind) and nets, their passes and their
//!    whole-net reference;
//! 4. [`gan`]: configurations and presets, the training step, samplers,
//!    checkpoints;
//! 5. [`data`], [`eval`], [`classifier`], [`train`] (a run and its folder),
//!    [`bench`], [`render`]; the command line sits on top, in main.rs.
//!
//! [`error`], [`files`] and [`npy`] serve every floor.

pub mod bench;
pub mod classifier;
pub mod data;
pub mod error;
pub mod eval;
pub mod files;
pub mod gan;
pub mod gpu;
pub mod health;
pub mod nn;
pub mod npy;
pub mod ops;
pub mod render;
pub mod sample;
pub mod train;

pub use error::{Error, Result};
pub use gpu::kernel::Kernel;
pub use gpu::tensor::Tensor;
pub use gpu::{BackendChoice, Gpu, GpuOptions};
