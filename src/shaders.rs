//! The WGSL sources of shaders/, embedded in the binary.

/// (file name, source) of every shader.
pub const ALL: &[(&str, &str)] = &[
    ("activation.wgsl", ACTIVATION),
    ("adam.wgsl", ADAM),
    ("batchnorm.wgsl", BATCHNORM),
    ("bench.wgsl", BENCH),
    ("concat.wgsl", CONCAT),
    ("data.wgsl", DATA),
    ("loss.wgsl", LOSS),
    ("matmul.wgsl", MATMUL),
    ("random.wgsl", RANDOM),
    ("reduce.wgsl", REDUCE),
    ("refine.wgsl", REFINE),
    ("softmax.wgsl", SOFTMAX),
];

pub const ACTIVATION: &str = include_str!("../shaders/activation.wgsl");
pub const ADAM: &str = include_str!("../shaders/adam.wgsl");
pub const BENCH: &str = include_str!("../shaders/bench.wgsl");
pub const BATCHNORM: &str = include_str!("../shaders/batchnorm.wgsl");
pub const CONCAT: &str = include_str!("../shaders/concat.wgsl");
pub const DATA: &str = include_str!("../shaders/data.wgsl");
pub const LOSS: &str = include_str!("../shaders/loss.wgsl");
pub const MATMUL: &str = include_str!("../shaders/matmul.wgsl");
pub const RANDOM: &str = include_str!("../shaders/random.wgsl");
pub const REDUCE: &str = include_str!("../shaders/reduce.wgsl");
pub const REFINE: &str = include_str!("../shaders/refine.wgsl");
pub const SOFTMAX: &str = include_str!("../shaders/softmax.wgsl");
