//! Layers and models, and their forward and backward passes as kernels.
//!
//! A model is a list of [`Layer`]s, numbered as the modules of a PyTorch
//! `nn.Sequential`, so parameter names (`0.weight`, `1.running_mean`, ...)
//! match PyTorch's and a checkpoint loads there with `strict=True`.
//!
//! A [`Net`] holds one model's parameters on the GPU: one flat buffer of
//! parameters, one of gradients and one for each Adam moment, so one Adam
//! dispatch updates the whole model. A [`Pass`] is the net at one batch
//! size: its activation buffers and the kernels of its forward and backward
//! passes, all made once.

use serde::{Deserialize, Serialize};

use crate::cpu;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::Kernel;
use crate::ops::batchnorm::{self, BatchNorm};
use crate::ops::matmul::{Activation, Form, Matmul, matmul};
use crate::ops::{activation, reduce};
use crate::tensor::{Arena, Tensor};

/// One module of a sequential model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "layer", rename_all = "snake_case")]
pub enum Layer {
    /// y = x·Wᵀ + b, W [outputs, inputs] (torch.nn.Linear).
    Linear {
        inputs: usize,
        outputs: usize,
    },
    /// torch.nn.BatchNorm1d(features), eps 1e-5, momentum 0.1.
    BatchNorm {
        features: usize,
    },
    LeakyRelu {
        slope: f32,
    },
    Tanh,
    Sigmoid,
}

impl Layer {
    pub fn activation(&self) -> Option<Activation> {
        match *self {
            Layer::LeakyRelu { slope } => Some(Activation::LeakyRelu(slope)),
            Layer::Tanh => Some(Activation::Tanh),
            Layer::Sigmoid => Some(Activation::Sigmoid),
            _ => None,
        }
    }

    /// The learnable tensors: (PyTorch name suffix, element count).
    pub fn params(&self) -> Vec<(&'static str, usize)> {
        match *self {
            Layer::Linear { inputs, outputs } => {
                vec![("weight", outputs * inputs), ("bias", outputs)]
            }
            Layer::BatchNorm { features } => vec![("weight", features), ("bias", features)],
            _ => vec![],
        }
    }
}

/// Checks that the layers chain from `inputs` features; returns the output
/// width.
pub fn check_layers(layers: &[Layer], inputs: usize, what: &str) -> Result<usize> {
    let mut width = inputs;
    for (i, l) in layers.iter().enumerate() {
        match *l {
            Layer::Linear { inputs, outputs } => {
                if inputs != width || outputs == 0 {
                    return Err(Error::shape(
                        "model",
                        format!(
                            "{what} layer {i} (Linear {inputs} -> {outputs}) follows a width of {width}"
                        ),
                    ));
                }
                width = outputs;
            }
            Layer::BatchNorm { features } => {
                if features != width {
                    return Err(Error::shape(
                        "model",
                        format!(
                            "{what} layer {i} (BatchNorm {features}) follows a width of {width}"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(width)
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
        layers.push(Layer::Linear {
            inputs: width,
            outputs: h,
        });
        if batch_norm {
            layers.push(Layer::BatchNorm { features: h });
        }
        layers.push(Layer::LeakyRelu { slope });
        width = h;
    }
    layers.push(Layer::Linear {
        inputs: width,
        outputs,
    });
    layers.extend(output_activation);
    layers
}

/// The reference generator (DESIGN §4): z → 256 → 512 → 1024 → `outputs`,
/// batch norm and LeakyReLU(0.2) between, tanh out.
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

/// One named tensor of a net's state.
#[derive(Clone, Debug)]
pub struct Named {
    pub name: String,
    pub tensor: Tensor,
}

/// A model's parameters, gradients, Adam moments and running statistics on
/// the GPU.
pub struct Net {
    pub layers: Vec<Layer>,
    pub inputs: usize,
    pub outputs: usize,
    pub params: Arena,
    pub grads: Arena,
    pub adam_m: Arena,
    pub adam_v: Arena,
    /// Per parameter view, its PyTorch name ("3.weight").
    pub param_names: Vec<String>,
    /// Per layer, the index of its first parameter view.
    first_param: Vec<Option<usize>>,
    /// The view where batch norm's γ and β begin: they lie after every
    /// other parameter in each of the four arenas, so one Adam dispatch can
    /// give them a learning rate of their own.
    norm_first: Option<usize>,
    /// Per batch-norm layer: (running_mean, running_var), own buffers.
    pub running: Vec<Option<(Tensor, Tensor)>>,
}

impl Net {
    /// Allocates a net and initialises it as PyTorch does: Linear weights
    /// and biases uniform in ±1/√inputs, batch norm γ = 1, β = 0, running
    /// mean 0 and variance 1. The numbers come from Philox (seed, stream).
    pub fn new(gpu: &Gpu, layers: &[Layer], inputs: usize, seed: u64, stream: u32) -> Result<Net> {
        let outputs = check_layers(layers, inputs, "model")?;
        let mut lens = Vec::new();
        let mut param_names = Vec::new();
        let mut first_param = Vec::new();
        let mut is_norm = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let ps = l.params();
            first_param.push((!ps.is_empty()).then_some(lens.len()));
            for (suffix, len) in ps {
                lens.push(len);
                param_names.push(format!("{i}.{suffix}"));
                is_norm.push(matches!(l, Layer::BatchNorm { .. }));
            }
        }
        let views = 0..lens.len();
        let order: Vec<usize> = (views.clone().filter(|&v| !is_norm[v]))
            .chain(views.filter(|&v| is_norm[v]))
            .collect();
        let norm_first = is_norm.iter().position(|&n| n);
        let net = Net {
            layers: layers.to_vec(),
            inputs,
            outputs,
            params: gpu.arena_in_order(&lens, &order)?,
            grads: gpu.arena_in_order(&lens, &order)?,
            adam_m: gpu.arena_in_order(&lens, &order)?,
            adam_v: gpu.arena_in_order(&lens, &order)?,
            param_names,
            first_param,
            norm_first,
            running: layers
                .iter()
                .map(|l| match *l {
                    Layer::BatchNorm { features } => Ok(Some((
                        gpu.zeros(features)?,
                        gpu.upload(&vec![1.0; features])?,
                    ))),
                    _ => Ok(None),
                })
                .collect::<Result<_>>()?,
        };
        for (i, l) in layers.iter().enumerate() {
            match *l {
                Layer::Linear { inputs, outputs } => {
                    let bound = 1.0 / (inputs as f64).sqrt();
                    let p = net.first_param[i].unwrap();
                    let w =
                        cpu::uniform(seed, stream, 2 * i as u32, -bound, bound, outputs * inputs);
                    let b = cpu::uniform(seed, stream, 2 * i as u32 + 1, -bound, bound, outputs);
                    gpu.write(
                        &net.params.views[p],
                        &w.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                    )?;
                    gpu.write(
                        &net.params.views[p + 1],
                        &b.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                    )?;
                }
                Layer::BatchNorm { features } => {
                    let p = net.first_param[i].unwrap();
                    gpu.write(&net.params.views[p], &vec![1.0; features])?;
                }
                _ => {}
            }
        }
        Ok(net)
    }

    /// Parameter `k` (0 = weight, 1 = bias) of layer `layer`.
    pub fn param(&self, layer: usize, k: usize) -> &Tensor {
        &self.params.views[self.first_param[layer].expect("layer has parameters") + k]
    }

    fn grad(&self, layer: usize, k: usize) -> &Tensor {
        &self.grads.views[self.first_param[layer].expect("layer has parameters") + k]
    }

    /// Every tensor of the model's state with its PyTorch name: parameters,
    /// then running statistics (num_batches_tracked is kept by the caller).
    pub fn state(&self) -> Vec<Named> {
        let mut out: Vec<Named> = self
            .param_names
            .iter()
            .zip(&self.params.views)
            .map(|(n, t)| Named {
                name: n.clone(),
                tensor: t.clone(),
            })
            .collect();
        for (i, r) in self.running.iter().enumerate() {
            if let Some((mean, var)) = r {
                out.push(Named {
                    name: format!("{i}.running_mean"),
                    tensor: mean.clone(),
                });
                out.push(Named {
                    name: format!("{i}.running_var"),
                    tensor: var.clone(),
                });
            }
        }
        out
    }

    /// One of the net's four parameter-shaped arenas cut in two: every
    /// other parameter, then batch norm's γ and β. None without batch norm.
    pub fn norm_split(&self, arena: &Arena) -> Option<(Tensor, Tensor)> {
        self.norm_first.map(|v| arena.split_at_view(v))
    }

    /// The Adam moments by parameter name.
    pub fn moments(&self) -> Vec<(String, Tensor, Tensor)> {
        self.param_names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.clone(),
                    self.adam_m.views[i].clone(),
                    self.adam_v.views[i].clone(),
                )
            })
            .collect()
    }
}

/// How a pass runs.
#[derive(Clone, Copy, Debug)]
pub struct PassOptions {
    /// Batch norm with the batch's statistics (training) or the running
    /// ones (eval).
    pub train: bool,
    /// Compute weight and bias gradients into the net's gradient buffer.
    pub weight_grads: bool,
    /// Compute the gradient of the input.
    pub input_grad: bool,
}

enum Step {
    Dense {
        layer: usize,
        act: Activation,
        x: Tensor,
        y: Tensor,
        inputs: usize,
        outputs: usize,
    },
    Norm {
        layer: usize,
        x: Tensor,
        mean: Tensor,
        inv_std: Tensor,
        features: usize,
    },
    Act {
        act: Activation,
        y: Tensor,
        features: usize,
    },
}

/// A net at one batch size: activations and the kernels of both passes.
pub struct Pass {
    pub batch: usize,
    pub input: Tensor,
    pub output: Tensor,
    /// The gradient of the output, which a loss (or the next net) writes.
    pub d_output: Tensor,
    /// The gradient of the input, when asked for.
    pub d_input: Option<Tensor>,
    /// Forward kernels; batch norm updates its running statistics.
    pub forward: Vec<Kernel>,
    /// The same forward pass leaving the running statistics alone.
    pub forward_frozen: Vec<Kernel>,
    pub backward: Vec<Kernel>,
    /// The output of each Linear layer, after the activation fused into
    /// it: a classifier's penultimate features are the last but one.
    pub dense_outputs: Vec<Tensor>,
}

impl Pass {
    /// Builds the pass of `net` on `batch` rows of `input`. `d_output` is
    /// where the output's gradient will be, and `d_input` where the input's
    /// gradient goes (with `opts.input_grad`); fresh buffers if None.
    pub fn new(
        gpu: &Gpu,
        net: &Net,
        batch: usize,
        input: &Tensor,
        d_output: Option<&Tensor>,
        d_input: Option<&Tensor>,
        opts: PassOptions,
    ) -> Result<Pass> {
        if let Some(t) = d_input {
            if t.len() != input.len() {
                return Err(Error::shape(
                    "model",
                    format!(
                        "d_input has {} elements, the input {}",
                        t.len(),
                        input.len()
                    ),
                ));
            }
        }
        let given_d_input = d_input;
        if input.len() != batch * net.inputs {
            return Err(Error::shape(
                "model",
                format!(
                    "input has {} elements, expected {batch} x {}",
                    input.len(),
                    net.inputs
                ),
            ));
        }
        let mut steps = Vec::new();
        let mut forward = Vec::new();
        let mut forward_frozen = Vec::new();
        let mut x = input.clone();
        let layers = &net.layers;
        let mut i = 0;
        while i < layers.len() {
            match layers[i] {
                Layer::Linear { inputs, outputs } => {
                    // An activation right after a Linear is fused into it.
                    let act = layers
                        .get(i + 1)
                        .and_then(|l| l.activation())
                        .unwrap_or(Activation::None);
                    let y = gpu.zeros(batch * outputs)?;
                    let spec = Matmul::new(Form::NT, batch, outputs, inputs).activation(act);
                    let k = matmul(gpu, &spec, &x, net.param(i, 0), Some(net.param(i, 1)), &y)?;
                    forward.push(k.clone());
                    forward_frozen.push(k);
                    steps.push(Step::Dense {
                        layer: i,
                        act,
                        x: x.clone(),
                        y: y.clone(),
                        inputs,
                        outputs,
                    });
                    x = y;
                    i += if act == Activation::None { 1 } else { 2 };
                }
                Layer::BatchNorm { features } => {
                    let bn = BatchNorm::new(batch, features);
                    let (running_mean, running_var) =
                        net.running[i].as_ref().expect("batch norm has statistics");
                    let y = gpu.zeros(batch * features)?;
                    let (mean, inv_std) = (gpu.zeros(features)?, gpu.zeros(features)?);
                    if opts.train {
                        let t = batchnorm::TrainForward {
                            x: &x,
                            gamma: net.param(i, 0),
                            beta: net.param(i, 1),
                            y: &y,
                            saved_mean: &mean,
                            saved_inv_std: &inv_std,
                            running_mean,
                            running_var,
                        };
                        forward.push(batchnorm::train_forward(gpu, &bn, &t, true)?);
                        forward_frozen.push(batchnorm::train_forward(gpu, &bn, &t, false)?);
                    } else {
                        let k = batchnorm::eval_forward(
                            gpu,
                            &bn,
                            &x,
                            net.param(i, 0),
                            net.param(i, 1),
                            running_mean,
                            running_var,
                            &y,
                        )?;
                        forward.push(k.clone());
                        forward_frozen.push(k);
                    }
                    steps.push(Step::Norm {
                        layer: i,
                        x: x.clone(),
                        mean,
                        inv_std,
                        features,
                    });
                    x = y;
                    i += 1;
                }
                l => {
                    let act = l.activation().expect("an activation layer");
                    let features = x.len() / batch;
                    let y = gpu.zeros(batch * features)?;
                    let k = activation::forward(gpu, act, &x, &y)?;
                    forward.push(k.clone());
                    forward_frozen.push(k);
                    steps.push(Step::Act {
                        act,
                        y: y.clone(),
                        features,
                    });
                    x = y;
                    i += 1;
                }
            }
        }
        let output = x;
        let d_output = match d_output {
            Some(t) => t.clone(),
            None => gpu.zeros(output.len())?,
        };

        // Backward, last step first; `dy` is the gradient of the current
        // step's output.
        let mut backward = Vec::new();
        let mut dy = d_output.clone();
        let mut d_input = None;
        // The buffer for the gradient of step s's input.
        let grad_buffer = |s: usize, len: usize| -> Result<Tensor> {
            match (s, given_d_input) {
                (0, Some(t)) => Ok(t.clone()),
                _ => gpu.zeros(len),
            }
        };
        let last = steps.len();
        let needs_backward = opts.weight_grads || opts.input_grad;
        for (s, step) in steps.iter().enumerate().rev().filter(|_| needs_backward) {
            let first = s == 0;
            let need_dx = !first || opts.input_grad;
            match step {
                Step::Dense {
                    layer,
                    act,
                    x,
                    y,
                    inputs,
                    outputs,
                } => {
                    let g = if *act == Activation::None {
                        dy.clone()
                    } else {
                        let g = gpu.zeros(batch * outputs)?;
                        backward.push(activation::backward(gpu, *act, y, &dy, &g)?);
                        g
                    };
                    if opts.weight_grads {
                        let dw = Matmul::new(Form::TN, *outputs, *inputs, batch);
                        backward.push(matmul(gpu, &dw, &g, x, None, net.grad(*layer, 0))?);
                        backward.push(reduce::column_sum(
                            gpu,
                            batch,
                            *outputs,
                            1.0,
                            &g,
                            net.grad(*layer, 1),
                        )?);
                    }
                    if need_dx {
                        let dx = grad_buffer(s, batch * inputs)?;
                        let spec = Matmul::new(Form::NN, batch, *inputs, *outputs);
                        backward.push(matmul(gpu, &spec, &g, net.param(*layer, 0), None, &dx)?);
                        dy = dx;
                    }
                }
                Step::Norm {
                    layer,
                    x,
                    mean,
                    inv_std,
                    features,
                } => {
                    if !opts.train {
                        return Err(Error::shape(
                            "model",
                            "backward through eval-mode batch norm is not supported",
                        ));
                    }
                    let dx = grad_buffer(s, batch * features)?;
                    let scratch;
                    let (dgamma, dbeta) = if opts.weight_grads {
                        (net.grad(*layer, 0), net.grad(*layer, 1))
                    } else {
                        scratch = (gpu.zeros(*features)?, gpu.zeros(*features)?);
                        (&scratch.0, &scratch.1)
                    };
                    let t = batchnorm::Backward {
                        x,
                        gamma: net.param(*layer, 0),
                        saved_mean: mean,
                        saved_inv_std: inv_std,
                        dy: &dy,
                        dx: &dx,
                        dgamma,
                        dbeta,
                    };
                    backward.push(batchnorm::backward(
                        gpu,
                        &BatchNorm::new(batch, *features),
                        &t,
                    )?);
                    dy = dx;
                }
                Step::Act { act, y, features } => {
                    if need_dx {
                        let dx = grad_buffer(s, batch * features)?;
                        backward.push(activation::backward(gpu, *act, y, &dy, &dx)?);
                        dy = dx;
                    }
                }
            }
            if first && opts.input_grad && last > 0 {
                d_input = Some(dy.clone());
            }
        }
        let dense_outputs = steps
            .iter()
            .filter_map(|s| match s {
                Step::Dense { y, .. } => Some(y.clone()),
                _ => None,
            })
            .collect();
        Ok(Pass {
            batch,
            input: input.clone(),
            output,
            dense_outputs,
            d_output,
            d_input,
            forward,
            forward_frozen,
            backward,
        })
    }
}
