//! Layers and nets, the third floor.
//!
//! A layer kind is one file that says everything about it, as llm.c
//! writes a layer: its input shape to its output shape, its parameters
//! with PyTorch's names and shapes, their initialisation, the recording of
//! its forward and backward passes on the GPU (and what the forward keeps
//! for the backward), and its f64 reference forward and backward. The
//! [`LayerKind`] trait is that list; [`Layer`] is the one place that names
//! every kind, as config.json and checkpoints spell them.
//!
//! A [`Net`] is a sequence of layers, numbered as the modules of a PyTorch
//! `nn.Sequential`, so parameter names (`0.weight`, `1.running_mean`, ...)
//! match PyTorch's and a checkpoint loads there with `strict=True`. Its
//! [`Pass`] (the net at one batch size) and its whole-net [`reference`]
//! are loops over the layers.

pub mod activation;
pub mod batchnorm;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod linear;
pub mod net;
pub mod reference;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::Kernel;
use crate::gpu::tensor::{Tensor, Texture};
use crate::ops::activation::Activation;
pub use activation::{LeakyRelu, Relu, Sigmoid, Tanh};
pub use batchnorm::BatchNorm;
pub use conv_transpose2d::ConvTranspose2d;
pub use conv2d::Conv2d;
pub use linear::Linear;
pub use net::{Net, Pass, PassOptions};

/// The shape of one sample, as PyTorch's NCHW without the batch: channels,
/// height, width. A dense layer's F features are [F, 1, 1].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    pub const fn new(c: usize, h: usize, w: usize) -> Shape {
        Shape { c, h, w }
    }

    /// F features: [F, 1, 1].
    pub const fn flat(features: usize) -> Shape {
        Shape::new(features, 1, 1)
    }

    /// Values per sample.
    pub fn len(&self) -> usize {
        self.c * self.h * self.w
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<usize> for Shape {
    fn from(features: usize) -> Shape {
        Shape::flat(features)
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.h == 1 && self.w == 1 {
            write!(f, "a width of {}", self.c)
        } else {
            write!(f, "a shape of [{}, {}, {}]", self.c, self.h, self.w)
        }
    }
}

/// One module of a sequential net, as config.json and checkpoints name it
/// (`{"layer": "linear", "inputs": 784, "outputs": 512}`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "layer", rename_all = "snake_case")]
pub enum Layer {
    Linear(Linear),
    Conv2d(Conv2d),
    ConvTranspose2d(ConvTranspose2d),
    BatchNorm(BatchNorm),
    LeakyRelu(LeakyRelu),
    Relu,
    Tanh,
    Sigmoid,
}

impl Layer {
    /// What the layer does: the one place each kind is named.
    pub fn kind(&self) -> &dyn LayerKind {
        match self {
            Layer::Linear(l) => l,
            Layer::Conv2d(l) => l,
            Layer::ConvTranspose2d(l) => l,
            Layer::BatchNorm(l) => l,
            Layer::LeakyRelu(l) => l,
            Layer::Relu => &Relu,
            Layer::Tanh => &Tanh,
            Layer::Sigmoid => &Sigmoid,
        }
    }

    pub fn linear(inputs: usize, outputs: usize) -> Layer {
        Layer::Linear(Linear { inputs, outputs })
    }

    pub fn batch_norm(features: usize) -> Layer {
        Layer::BatchNorm(BatchNorm { features })
    }

    pub fn leaky_relu(slope: f32) -> Layer {
        Layer::LeakyRelu(LeakyRelu { slope })
    }

    /// Conv2d without a bias (DCGAN's: batch norm follows, or the logit).
    pub fn conv(
        inputs: usize,
        outputs: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Layer {
        Layer::Conv2d(Conv2d {
            inputs,
            outputs,
            kernel,
            stride,
            padding,
            bias: false,
        })
    }

    /// ConvTranspose2d without a bias.
    pub fn conv_transpose(
        inputs: usize,
        outputs: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Layer {
        Layer::ConvTranspose2d(ConvTranspose2d {
            inputs,
            outputs,
            kernel,
            stride,
            padding,
            bias: false,
        })
    }
}

/// How a net's parameters start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// PyTorch's defaults: weights and biases uniform in ±1/√fan_in,
    /// batch norm's γ = 1 and β = 0.
    #[default]
    Pytorch,
    /// Radford et al.'s DCGAN: weights N(0, 0.02), biases 0, batch norm's
    /// γ N(1, 0.02) and β 0.
    Dcgan,
}

/// The initial values a layer draws, from Philox (seed, stream): layer i
/// uses counters 2i and 2i + 1.
#[derive(Clone, Copy, Debug)]
pub struct Init {
    pub seed: u64,
    pub stream: u32,
    /// The layer's index in its net.
    pub layer: usize,
    pub scheme: InitScheme,
}

impl Init {
    /// n values uniform in [lo, hi) from the layer's k-th counter (k < 2).
    pub fn uniform(&self, k: u32, lo: f64, hi: f64, n: usize) -> Vec<f32> {
        let counter = 2 * self.layer as u32 + k;
        crate::ops::random::reference::uniform(self.seed, self.stream, counter, lo, hi, n)
            .into_iter()
            .map(|v| v as f32)
            .collect()
    }

    /// n values N(mean, std²) from the layer's k-th counter (k < 2).
    pub fn normal(&self, k: u32, mean: f64, std: f64, n: usize) -> Vec<f32> {
        let counter = 2 * self.layer as u32 + k;
        crate::ops::random::reference::normal(self.seed, self.stream, counter, mean, std, n)
            .into_iter()
            .map(|v| v as f32)
            .collect()
    }

    /// A weight of n values and, if it has one, a bias of that many, for
    /// a layer of fan-in `fan_in`, as the scheme says.
    pub fn weight_and_bias(&self, fan_in: usize, n: usize, bias: Option<usize>) -> Vec<Vec<f32>> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let mut out = vec![match self.scheme {
            InitScheme::Pytorch => self.uniform(0, -bound, bound, n),
            InitScheme::Dcgan => self.normal(0, 0.0, 0.02, n),
        }];
        out.extend(bias.map(|b| match self.scheme {
            InitScheme::Pytorch => self.uniform(1, -bound, bound, b),
            InitScheme::Dcgan => vec![0.0; b],
        }));
        out
    }
}

/// How a pass runs, and the layer's place in it, as its recording sees
/// them.
pub struct At<'a> {
    pub gpu: &'a Gpu,
    pub batch: usize,
    pub input: Shape,
    pub opts: PassOptions,
    /// The layer's parameters, their gradients and its other state, in the
    /// order of [`LayerKind::params`] and [`LayerKind::buffers`].
    pub params: &'a [Tensor],
    pub grads: &'a [Tensor],
    pub buffers: &'a [Tensor],
    /// A texture copy of each parameter, where the net keeps one
    /// ([`Net::mirror_weights`]).
    pub mirrors: &'a [Option<Texture>],
}

/// A layer's recorded forward pass.
pub struct Forward {
    pub y: Tensor,
    pub kernels: Vec<Kernel>,
    /// The same pass leaving running statistics alone, where it updates
    /// them (None: `kernels` leave them alone already).
    pub frozen: Option<Vec<Kernel>>,
    /// What the backward pass needs besides the input and the output.
    pub saved: Vec<Tensor>,
}

/// What a layer's backward pass is given.
pub struct Kept<'a> {
    pub x: &'a Tensor,
    pub y: &'a Tensor,
    /// The activation applied as the output was stored.
    pub fused: Activation,
    pub saved: &'a [Tensor],
}

/// A layer's f64 reference pass at one batch.
pub struct Ref<'a> {
    pub batch: usize,
    pub input: Shape,
    pub params: &'a [Vec<f64>],
    /// The rows as this many groups, each normalised on its own.
    pub groups: usize,
}

/// What a layer's reference backward pass is given: its input, its output
/// and what its forward pass kept.
pub struct RefKept<'a> {
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub kept: &'a [Vec<f64>],
}

/// A recorded backward pass.
pub type Kernels = Result<Vec<Kernel>>;

/// A reference forward pass's output and what it keeps for the backward.
pub type RefForward = (Vec<f64>, Vec<Vec<f64>>);

/// A reference backward pass's parameter gradients and input gradient.
pub type RefBackward = (Vec<Vec<f64>>, Vec<f64>);

impl Forward {
    /// A pass of one kernel that keeps nothing more.
    pub fn single(y: Tensor, kernel: Kernel) -> Forward {
        Forward {
            y,
            kernels: vec![kernel],
            frozen: None,
            saved: vec![],
        }
    }
}

/// Everything a layer kind says about itself (one file each).
pub trait LayerKind {
    /// The layer in messages: "Linear 784 -> 512".
    fn describe(&self) -> String;

    /// The shape of its output for `input`, or why it cannot take it.
    fn output(&self, input: Shape) -> std::result::Result<Shape, String>;

    /// Its learnable tensors: PyTorch's name and shape, in order.
    fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        vec![]
    }

    /// Its other state (running statistics): PyTorch's name, shape and
    /// initial value.
    fn buffers(&self) -> Vec<(&'static str, Vec<usize>, f32)> {
        vec![]
    }

    /// Initial values of its parameters, as PyTorch initialises them.
    fn init(&self, _draw: &Init) -> Vec<Vec<f32>> {
        vec![]
    }

    /// Batch norm's γ and β, which `--norm-lr` gives a rate of their own.
    fn is_norm(&self) -> bool {
        false
    }

    /// The activation the layer is, if it is only one: fused into the
    /// layer before it where that one [`LayerKind::fuses`].
    fn activation(&self) -> Option<Activation> {
        None
    }

    /// Whether it applies a following activation as it stores its output.
    fn fuses(&self) -> bool {
        false
    }

    /// The parameter its products read as their B operand, with its shape
    /// as a matrix [rows, cols], where a texture copy of it can serve them
    /// ([`Net::mirror_weights`], [`At::mirrors`]).
    fn mirrored(&self) -> Option<(usize, [usize; 2])> {
        None
    }

    /// Records the forward pass of `x`, applying `fused` to the output.
    fn forward(&self, at: &At<'_>, x: &Tensor, fused: Activation) -> Result<Forward>;

    /// Records the backward pass from `dy`, the output's gradient: the
    /// parameters' gradients (with `at.opts.weight_grads`) and the input's
    /// into `dx` where given.
    fn backward(&self, at: &At, kept: &Kept, dy: &Tensor, dx: Option<&Tensor>) -> Kernels;

    /// The f64 forward pass (training mode: batch norm on the batch's
    /// statistics, updating `buffers` when given): the output and what the
    /// backward keeps.
    fn reference_forward(&self, r: &Ref, buffers: Option<&mut [Vec<f64>]>, x: &[f64])
    -> RefForward;

    /// The f64 backward pass: each parameter's gradient and the input's.
    fn reference_backward(&self, r: &Ref, k: &RefKept, dy: &[f64]) -> RefBackward;
}

/// Checks that `layers` chain from `input`; returns the output's shape.
/// `what` names the net in the message ("generator").
pub fn check(layers: &[Layer], input: Shape, what: &str) -> Result<Shape> {
    let mut shape = input;
    for (i, l) in layers.iter().enumerate() {
        shape = l.kind().output(shape).map_err(|why| {
            Error::shape(
                "model",
                format!(
                    "{what} layer {i} ({}) follows {shape}: {why}",
                    l.kind().describe()
                ),
            )
        })?;
    }
    Ok(shape)
}

/// Linear → [BatchNorm] → LeakyReLU for each hidden width, then Linear to
/// `outputs` and `output_activation`.
pub fn mlp(
    inputs: usize,
    hidden: &[usize],
    outputs: usize,
    batch_norm: bool,
    slope: f32,
    output_activation: Option<Layer>,
) -> Vec<Layer> {
    let mut layers = Vec::new();
    let mut width = inputs;
    for &h in hidden {
        layers.push(Layer::linear(width, h));
        if batch_norm {
            layers.push(Layer::batch_norm(h));
        }
        layers.push(Layer::leaky_relu(slope));
        width = h;
    }
    layers.push(Layer::linear(width, outputs));
    layers.extend(output_activation);
    layers
}

/// The reference generator (docs/design.md, the reference workload):
/// z → 256 → 512 → 1024 → `outputs`, batch norm and LeakyReLU(0.2)
/// between, tanh out.
pub fn reference_generator(latent: usize, outputs: usize) -> Vec<Layer> {
    mlp(
        latent,
        &[256, 512, 1024],
        outputs,
        true,
        0.2,
        Some(Layer::Tanh),
    )
}

/// The reference discriminator: `inputs` → 512 → 256 → 1 logit, LeakyReLU(0.2).
pub fn reference_discriminator(inputs: usize) -> Vec<Layer> {
    mlp(inputs, &[512, 256], 1, false, 0.2, None)
}
