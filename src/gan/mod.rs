//! The GAN, the fourth floor: what defines a run ([`config`]) and the
//! presets it starts from ([`presets`]), the training step ([`step`]) with
//! its conditioning and its metrics ring, the samplers that draw from a
//! trained generator (plain, with discriminator rejection, with
//! discriminator refinement), checkpoints, and the table of random
//! streams.

pub mod checkpoint;
pub mod conditioning;
pub mod config;
pub mod metrics;
pub mod presets;
pub mod refine;
pub mod reject;
pub mod sampler;
pub mod step;
pub mod streams;

pub use config::GanConfig;
pub use metrics::StepMetrics;
pub use sampler::{Sampler, latents, latents_at};
pub use step::{Placement, Trainer};

/// The real samples a GAN trains on, as the floor above (the data sets)
/// hands them over.
pub trait TrainingData {
    /// The data set's name, for messages.
    fn name(&self) -> &str;
    /// The number of samples.
    fn items(&self) -> usize;
    /// Values per sample.
    fn features(&self) -> usize;
    /// items × features values, sample by sample.
    fn values(&self) -> Values<'_>;
    /// One class per sample, where known.
    fn labels(&self) -> Option<&[u8]>;

    /// The bytes of `values`, shared, where they are bytes: what a step
    /// streams its batches from when the set is larger than a GPU buffer.
    fn shared_bytes(&self) -> Option<std::sync::Arc<Vec<u8>>> {
        None
    }
}

/// A data set's values: bytes 0..=255 (images, mapped to [-1, 1] as they
/// are gathered) or f32 as they are (points).
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    Bytes(&'a [u8]),
    Floats(&'a [f32]),
}
