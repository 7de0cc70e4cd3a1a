//! A net's state on the GPU ([`Net`]) and the net at one batch size
//! ([`Pass`]): loops over its layers, each of which records its own part.
//!
//! A [`Net`] holds one model's parameters: one flat buffer of parameters,
//! one of gradients and one for each Adam moment, so one Adam dispatch
//! updates the whole model. A [`Pass`] is the net at one batch size: its
//! activation buffers and the kernels of its forward and backward passes,
//! all made once.

use super::{At, Init, InitScheme, Kept, Layer, Shape, check};
use crate::error::{Error, Result};
use crate::files::{Encoded, Tensors};
use crate::gpu::Gpu;
use crate::gpu::kernel::Kernel;
use crate::gpu::tensor::{Arena, Tensor, Texture};
use crate::ops::activation::Activation;
use crate::ops::matmul;

/// One named tensor of a net's state.
#[derive(Clone, Debug)]
pub struct Named {
    pub name: String,
    /// PyTorch's shape.
    pub shape: Vec<usize>,
    pub tensor: Tensor,
}

/// A model's parameters, gradients, Adam moments and running statistics on
/// the GPU.
pub struct Net {
    pub layers: Vec<Layer>,
    pub input: Shape,
    pub output: Shape,
    pub params: Arena,
    pub grads: Arena,
    pub adam_m: Arena,
    pub adam_v: Arena,
    /// Per parameter view, its PyTorch name ("3.weight") and shape.
    pub param_names: Vec<String>,
    pub param_shapes: Vec<Vec<usize>>,
    /// Per layer, the index of its first parameter view.
    first_param: Vec<usize>,
    /// The view where batch norm's γ and β begin: they lie after every
    /// other parameter in each of the four arenas, so one Adam dispatch can
    /// give them a learning rate of their own.
    norm_first: Option<usize>,
    /// Per layer, its other state (running statistics), own buffers.
    pub buffers: Vec<Vec<Tensor>>,
    /// Per parameter view, a copy of it as a texture, which the layer's
    /// products read in place of the buffer where they can
    /// ([`Net::mirror_weights`]); refreshed by the copies of
    /// [`Net::mirror_copies`].
    pub mirrors: Vec<Option<Texture>>,
}

impl Net {
    /// Allocates a net on input shape `input` and initialises it as
    /// PyTorch does (each layer's [`LayerKind::init`](super::LayerKind::init)),
    /// drawing from Philox (seed, stream).
    pub fn new(
        gpu: &Gpu,
        layers: &[Layer],
        input: impl Into<Shape>,
        seed: u64,
        stream: u32,
    ) -> Result<Net> {
        Net::initialised(gpu, layers, input, seed, stream, InitScheme::Pytorch)
    }

    /// [`Net::new`], initialised as `scheme` says.
    pub fn initialised(
        gpu: &Gpu,
        layers: &[Layer],
        input: impl Into<Shape>,
        seed: u64,
        stream: u32,
        scheme: InitScheme,
    ) -> Result<Net> {
        let input = input.into();
        let output = check(layers, input, "model")?;
        let (mut lens, mut param_names, mut param_shapes) = (Vec::new(), Vec::new(), Vec::new());
        let (mut first_param, mut is_norm) = (Vec::new(), Vec::new());
        for (i, l) in layers.iter().enumerate() {
            first_param.push(lens.len());
            for (suffix, shape) in l.kind().params() {
                lens.push(shape.iter().product());
                param_names.push(format!("{i}.{suffix}"));
                param_shapes.push(shape);
                is_norm.push(l.kind().is_norm());
            }
        }
        let views = 0..lens.len();
        let order: Vec<usize> = (views.clone().filter(|&v| !is_norm[v]))
            .chain(views.filter(|&v| is_norm[v]))
            .collect();
        let mut buffers = Vec::new();
        for l in layers {
            let mut own = Vec::new();
            for (_, shape, value) in l.kind().buffers() {
                own.push(gpu.upload(&vec![value; shape.iter().product()])?);
            }
            buffers.push(own);
        }
        let net = Net {
            layers: layers.to_vec(),
            input,
            output,
            params: gpu.arena_in_order(&lens, &order)?,
            grads: gpu.arena_in_order(&lens, &order)?,
            adam_m: gpu.arena_in_order(&lens, &order)?,
            adam_v: gpu.arena_in_order(&lens, &order)?,
            param_names,
            param_shapes,
            first_param,
            norm_first: is_norm.iter().position(|&n| n),
            buffers,
            mirrors: vec![None; lens.len()],
        };
        for (i, l) in layers.iter().enumerate() {
            let draw = Init {
                seed,
                stream,
                layer: i,
                scheme,
            };
            for (k, values) in l.kind().init(&draw).iter().enumerate() {
                gpu.write(net.param(i, k), values)?;
            }
        }
        Ok(net)
    }

    /// Values per sample in and out.
    pub fn inputs(&self) -> usize {
        self.input.len()
    }

    pub fn outputs(&self) -> usize {
        self.output.len()
    }

    /// Parameter `k` (in [`LayerKind::params`](super::LayerKind::params)'
    /// order) of layer `layer`.
    pub fn param(&self, layer: usize, k: usize) -> &Tensor {
        &self.layer_params(layer)[k]
    }

    /// The parameter views of one layer.
    pub fn layer_params(&self, layer: usize) -> &[Tensor] {
        &self.params.views[self.param_range(layer)]
    }

    fn param_range(&self, layer: usize) -> std::ops::Range<usize> {
        let first = self.first_param[layer];
        first..first + self.layers[layer].kind().params().len()
    }

    /// [`Net::state`] with names `prefix.<name>`, as files hold them.
    pub fn state_in(&self, prefix: &str) -> Vec<Named> {
        let mut state = self.state();
        for n in &mut state {
            n.name = format!("{prefix}.{}", n.name);
        }
        state
    }

    /// Every tensor of the model's state with its PyTorch name and shape:
    /// parameters, then running statistics (num_batches_tracked is kept by
    /// the caller).
    pub fn state(&self) -> Vec<Named> {
        let mut out: Vec<Named> = (self.param_names.iter())
            .zip(&self.param_shapes)
            .zip(&self.params.views)
            .map(|((name, shape), t)| Named {
                name: name.clone(),
                shape: shape.clone(),
                tensor: t.clone(),
            })
            .collect();
        for (i, (l, own)) in self.layers.iter().zip(&self.buffers).enumerate() {
            for ((suffix, shape, _), t) in l.kind().buffers().into_iter().zip(own) {
                out.push(Named {
                    name: format!("{i}.{suffix}"),
                    shape,
                    tensor: t.clone(),
                });
            }
        }
        out
    }

    /// The indices of the layers that keep running statistics (batch norm).
    pub fn with_buffers(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.layers.len()).filter(|&i| !self.buffers[i].is_empty())
    }

    /// One of the net's four parameter-shaped arenas cut in two: every
    /// other parameter, then batch norm's γ and β. None without batch norm.
    pub fn norm_split(&self, arena: &Arena) -> Option<(Tensor, Tensor)> {
        self.norm_first.map(|v| arena.split_at_view(v))
    }

    /// The Adam moments by parameter name, with their shapes.
    pub fn moments(&self) -> Vec<(Named, Tensor)> {
        (0..self.param_names.len())
            .map(|i| {
                let m = Named {
                    name: self.param_names[i].clone(),
                    shape: self.param_shapes[i].clone(),
                    tensor: self.adam_m.views[i].clone(),
                };
                (m, self.adam_v.views[i].clone())
            })
            .collect()
    }
}

/// Tensors read back as f32 entries of a safetensors file.
pub fn read_entries(gpu: &Gpu, named: &[Named]) -> Result<Encoded> {
    named
        .iter()
        .map(|n| {
            let values = gpu.read(&n.tensor)?;
            let bytes = bytemuck::cast_slice(&values).to_vec();
            Ok((
                n.name.clone(),
                n.shape.clone(),
                safetensors::Dtype::F32,
                bytes,
            ))
        })
        .collect()
}

/// The values of tensor `name` of a file, which must have `shape`.
pub fn get<'a>(tensors: &'a Tensors, name: &str, shape: &[usize]) -> Result<&'a [f32]> {
    let (s, v) = tensors.get(name).ok_or_else(|| {
        Error::shape(
            "checkpoint",
            format!("has no tensor {name}: it was written for another architecture"),
        )
    })?;
    if s != shape {
        return Err(Error::shape(
            "checkpoint",
            format!("tensor {name} has shape {s:?}, this model needs {shape:?}"),
        ));
    }
    Ok(v)
}

impl Net {
    /// Writes the net's parameters and running statistics from a file's
    /// tensors named `prefix.<name>`.
    pub fn load(&self, gpu: &Gpu, tensors: &Tensors, prefix: &str) -> Result<()> {
        for n in self.state_in(prefix) {
            gpu.write(&n.tensor, get(tensors, &n.name, &n.shape)?)?;
        }
        self.sync_mirrors(gpu)
    }

    /// Gives each parameter that a layer's products read as B
    /// ([`LayerKind::mirrored`](super::LayerKind::mirrored)) a copy as a
    /// texture, where this adapter's products fetch B faster from one
    /// (`matmul::reads_b_textures`: CPU adapters with subgroups) and its rows copy
    /// whole (a multiple of 64 columns). Whoever changes the parameters
    /// afterwards refreshes the copies ([`Net::mirror_copies`],
    /// [`Net::sync_mirrors`]).
    pub fn mirror_weights(&mut self, gpu: &Gpu) -> Result<()> {
        if !matmul::reads_b_textures(gpu) {
            return Ok(());
        }
        for (i, l) in self.layers.iter().enumerate() {
            let Some((k, [rows, cols])) = l.kind().mirrored() else {
                continue;
            };
            if Gpu::copies_to_texture(cols) && gpu.texture_fits(rows, cols) {
                self.mirrors[self.first_param[i] + k] = Some(gpu.texture(rows, cols)?);
            }
        }
        self.sync_mirrors(gpu)
    }

    /// (weight, its texture) for each mirrored weight: the copies to
    /// record after anything that changes the weights (Adam).
    pub fn mirror_copies(&self) -> Vec<(Tensor, Texture)> {
        (self.params.views.iter())
            .zip(&self.mirrors)
            .filter_map(|(w, t)| Some((w.clone(), t.clone()?)))
            .collect()
    }

    /// Refreshes the texture copies now (queued before later submits):
    /// after the weights were written from the host.
    pub fn sync_mirrors(&self, gpu: &Gpu) -> Result<()> {
        let copies = self.mirror_copies();
        if copies.is_empty() {
            return Ok(());
        }
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        for (w, t) in &copies {
            gpu.copy_to_texture(&mut encoder, w, t)?;
        }
        gpu.queue.submit([encoder.finish()]);
        Ok(())
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
    /// Batch norm normalises the rows as this many equal groups, each on
    /// its own (1: the whole batch).
    pub groups: usize,
}

impl PassOptions {
    /// Training: batch statistics, weight gradients, one group.
    pub const TRAIN: PassOptions = PassOptions {
        train: true,
        weight_grads: true,
        input_grad: false,
        groups: 1,
    };

    /// Inference: running statistics, no backward.
    pub const EVAL: PassOptions = PassOptions {
        train: false,
        weight_grads: false,
        input_grad: false,
        groups: 1,
    };
}

/// One recorded layer of a pass (an activation fused into it included).
struct Step {
    layer: usize,
    input: Shape,
    x: Tensor,
    y: Tensor,
    fused: Activation,
    saved: Vec<Tensor>,
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
    /// After each layer, its output (the layer's last one where an
    /// activation was fused into a layer).
    outputs: Vec<Tensor>,
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
        if let Some(t) = d_input
            && t.len() != input.len()
        {
            return Err(Error::shape(
                "model",
                format!(
                    "d_input has {} elements, the input {}",
                    t.len(),
                    input.len()
                ),
            ));
        }
        if input.len() != batch * net.inputs() {
            return Err(Error::shape(
                "model",
                format!(
                    "input has {} elements, expected {batch} x {}",
                    input.len(),
                    net.inputs()
                ),
            ));
        }
        let at = |layer: usize, input: Shape| At {
            gpu,
            batch,
            input,
            opts,
            params: net.layer_params(layer),
            grads: &net.grads.views[net.param_range(layer)],
            buffers: &net.buffers[layer],
            mirrors: &net.mirrors[net.param_range(layer)],
        };

        // Forward, layer by layer; an activation after a layer that fuses
        // it is applied as that layer stores its output.
        let (mut steps, mut forward, mut forward_frozen) = (Vec::new(), Vec::new(), Vec::new());
        let mut outputs = Vec::new();
        let (mut x, mut shape) = (input.clone(), net.input);
        let layers = &net.layers;
        let mut i = 0;
        while i < layers.len() {
            let kind = layers[i].kind();
            let next = layers.get(i + 1).and_then(|l| l.kind().activation());
            let fused = match next {
                Some(a) if kind.fuses() => a,
                _ => Activation::None,
            };
            let f = kind.forward(&at(i, shape), &x, fused)?;
            forward_frozen.extend(f.frozen.unwrap_or_else(|| f.kernels.clone()));
            forward.extend(f.kernels);
            let out_shape = kind.output(shape).map_err(|e| Error::shape("model", e))?;
            steps.push(Step {
                layer: i,
                input: shape,
                x: x.clone(),
                y: f.y.clone(),
                fused,
                saved: f.saved,
            });
            outputs.push(f.y.clone());
            if fused != Activation::None {
                outputs.push(f.y.clone());
                i += 1;
            }
            (x, shape) = (f.y, out_shape);
            i += 1;
        }
        let output = x;
        let d_output = match d_output {
            Some(t) => t.clone(),
            None => gpu.zeros(output.len())?,
        };

        // Backward, last step first; `dy` is the gradient of the current
        // step's output. Step 0's input gradient goes to `d_input` if given.
        let mut backward = Vec::new();
        let mut dy = d_output.clone();
        let needs_backward = opts.weight_grads || opts.input_grad;
        for (s, step) in steps.iter().enumerate().rev().filter(|_| needs_backward) {
            let need_dx = s > 0 || opts.input_grad;
            let dx = match (s, d_input) {
                _ if !need_dx => None,
                (0, Some(t)) => Some(t.clone()),
                _ => Some(gpu.zeros(step.x.len())?),
            };
            let kept = Kept {
                x: &step.x,
                y: &step.y,
                fused: step.fused,
                saved: &step.saved,
            };
            let kind = layers[step.layer].kind();
            backward.extend(kind.backward(&at(step.layer, step.input), &kept, &dy, dx.as_ref())?);
            if let Some(dx) = dx {
                dy = dx;
            }
        }
        let d_input = (opts.input_grad && !steps.is_empty()).then(|| dy.clone());
        Ok(Pass {
            batch,
            input: input.clone(),
            output,
            d_output,
            d_input,
            forward,
            forward_frozen,
            backward,
            outputs,
        })
    }

    /// The output of layer `layer` (for an activation fused into the layer
    /// before it, the output of both).
    pub fn output_of(&self, layer: usize) -> &Tensor {
        &self.outputs[layer]
    }
}
