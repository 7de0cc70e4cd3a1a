//! Errors a user can act on: each names what is wrong and how to fix it.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error(
        "no GPU adapter found ({backends}).\n\
         Install a GPU driver, or a software adapter: on Debian or Ubuntu \
         `apt-get install mesa-vulkan-drivers` provides Mesa's lavapipe, a \
         Vulkan driver that runs on the CPU."
    )]
    NoAdapter { backends: String },

    #[error(
        "no adapter matches --adapter {wanted:?}{backend}. Adapters found:\n{available}\n\
         Pass a part of one of these names, or leave --adapter out."
    )]
    AdapterNotFound {
        wanted: String,
        backend: String,
        available: String,
    },

    #[error("unknown backend {0:?}: use one of vulkan, metal, dx12, gl")]
    UnknownBackend(String),

    #[error("could not open a device on adapter {adapter:?}: {reason}")]
    Device { adapter: String, reason: String },

    #[error("{op}: {problem}")]
    Shape { op: &'static str, problem: String },

    #[error(
        "{what} needs {bytes} bytes, more than this adapter allows ({limit} bytes, {limit_name}); \
         use a smaller batch or layer size"
    )]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },

    #[error("the GPU ran out of memory allocating {what}: {reason}")]
    OutOfMemory { what: String, reason: String },

    #[error("shader {shader} ({entry}) is invalid: {reason}")]
    Shader {
        shader: String,
        entry: String,
        reason: String,
    },

    #[error("{path}: {problem}")]
    File { path: String, problem: String },

    /// A data set that cannot be used; the message names the file.
    #[error("{0}")]
    Data(String),

    #[error("the GPU device was lost or failed: {0}")]
    DeviceLost(String),

    /// A run stopped by a signal after writing its checkpoint; the process
    /// exits with 128 + the signal's number.
    #[error(
        "interrupted by {signal} after step {step}; {checkpoint} holds the run: \
         `shadergan train --resume {checkpoint}` continues it"
    )]
    Interrupted {
        signal: &'static str,
        number: i32,
        step: u64,
        checkpoint: String,
    },
}

impl Error {
    pub fn file(path: impl AsRef<std::path::Path>, problem: impl Into<String>) -> Self {
        Error::File {
            path: path.as_ref().display().to_string(),
            problem: problem.into(),
        }
    }

    pub fn shape(op: &'static str, problem: impl Into<String>) -> Self {
        Error::Shape {
            op,
            problem: problem.into(),
        }
    }
}
