//! Batch normalisation (batchnorm.wgsl): torch.nn.BatchNorm1d over the
//! rows of a matrix, BatchNorm2d over the rows and positions of an NCHW
//! tensor, optionally in groups of rows each normalised on its own.

pub use super::Reduction;
use super::activation::Activation;
use super::{expect_distinct, expect_len, expect_u32, with_vec4_names};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel, Value};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("batchnorm.wgsl");

/// rows = batch, cols = features (channels), spatial = positions per
/// channel (1 for a matrix); `groups` equal groups of rows.
#[derive(Clone, Copy, Debug)]
pub struct BatchNorm {
    pub rows: usize,
    pub cols: usize,
    pub spatial: usize,
    pub groups: usize,
    pub eps: f32,
    pub momentum: f32,
    /// How a channel's sums are taken; `None`: the adapter's choice.
    pub reduction: Option<Reduction>,
    /// Applied to the output as it is stored (the forward passes).
    pub activation: Activation,
}

impl BatchNorm {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1; one value per channel
    /// and row, one group.
    pub fn new(rows: usize, cols: usize) -> Self {
        BatchNorm {
            rows,
            cols,
            spatial: 1,
            groups: 1,
            eps: 1e-5,
            momentum: 0.1,
            reduction: None,
            activation: Activation::None,
        }
    }

    /// The forward passes apply `a` to the output as they store it.
    pub fn activation(self, a: Activation) -> Self {
        BatchNorm {
            activation: a,
            ..self
        }
    }

    /// Sums taken as `r` says, whatever the adapter.
    pub fn reduction(self, r: Reduction) -> Self {
        BatchNorm {
            reduction: Some(r),
            ..self
        }
    }

    /// Over `spatial` positions per channel too (BatchNorm2d).
    pub fn spatial(self, spatial: usize) -> Self {
        BatchNorm { spatial, ..self }
    }

    /// The rows as `groups` groups, each normalised by its own statistics.
    pub fn groups(self, groups: usize) -> Self {
        BatchNorm { groups, ..self }
    }

    /// Values of x.
    pub fn len(&self) -> usize {
        self.rows * self.cols * self.spatial
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn uniforms(
        &self,
        op: &'static str,
        update_running: bool,
    ) -> Result<[(&'static str, Value); 8]> {
        if self.groups == 0 || self.spatial == 0 || !self.rows.is_multiple_of(self.groups) {
            return Err(Error::shape(
                op,
                format!(
                    "{} rows do not make {} equal groups",
                    self.rows, self.groups
                ),
            ));
        }
        expect_u32(op, "values", self.len())?;
        Ok([
            ("rows", expect_u32(op, "rows", self.rows)?.into()),
            ("cols", expect_u32(op, "cols", self.cols)?.into()),
            ("eps", self.eps.into()),
            ("momentum", self.momentum.into()),
            ("update_running", (update_running as u32).into()),
            ("spatial", expect_u32(op, "spatial", self.spatial)?.into()),
            ("groups", expect_u32(op, "groups", self.groups)?.into()),
            ("slope", self.activation.slope().into()),
        ])
    }

    /// The kernel of entry point `name` (or its `_lanes` or `_lanes4`
    /// form) specialised to this shape, on `tensors` named as the scalar
    /// form names them.
    fn kernel(
        &self,
        gpu: &Gpu,
        name: &'static str,
        uniforms: &[(&str, Value)],
        tensors: &[(&str, &Tensor)],
    ) -> Result<Kernel> {
        let reduction = self
            .reduction
            .unwrap_or_else(|| Reduction::for_adapter(gpu));
        // A CPU adapter's BatchNorm1d of a multiple of 4 features: four
        // channels a thread, as vec4s.
        let vec4 =
            reduction == Reduction::Lanes && self.spatial == 1 && self.cols.is_multiple_of(4);
        // Channels per workgroup: CW of the tree form, LW of the lanes
        // form (a CPU adapter's SIMD width), set here for both.
        let (name, width, per_group) = match (reduction, name, vec4) {
            (Reduction::Tree, _, _) => (name, "CW", 16),
            (Reduction::Lanes, "train_forward", false) => ("train_forward_lanes", "LW", 8),
            (Reduction::Lanes, "train_forward", true) => ("train_forward_lanes4", "LW", 8),
            (Reduction::Lanes, _, false) => ("backward_lanes", "LW", 8),
            (Reduction::Lanes, _, true) => ("backward_lanes4", "LW", 8),
        };
        let entry = self.specialised(name).with(width, format!("{per_group}u"));
        let threads = if vec4 { self.cols / 4 } else { self.cols } as u32;
        let groups = [threads.div_ceil(per_group), 1, 1];
        if vec4 {
            with_vec4_names(tensors, |t| gpu.kernel(&entry, uniforms, t, groups))
        } else {
            gpu.kernel(&entry, uniforms, tensors, groups)
        }
    }

    /// The entry point `name` with this shape's positions and activation.
    fn specialised(&self, name: &'static str) -> Entry {
        Entry::new("batchnorm.wgsl", WGSL, name)
            .with("SPATIAL", format!("{}u", self.spatial))
            .with("ACT", format!("{}u", self.activation.code()))
    }
}

/// The tensors of a training-mode forward pass.
pub struct TrainForward<'a> {
    pub x: &'a Tensor,
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
    pub y: &'a Tensor,
    pub saved_mean: &'a Tensor,
    pub saved_inv_std: &'a Tensor,
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
}

/// Normalises with the batch's statistics, saves them for backward and,
/// if `update_running`, folds them into the running statistics.
pub fn train_forward(
    gpu: &Gpu,
    bn: &BatchNorm,
    t: &TrainForward<'_>,
    update_running: bool,
) -> Result<Kernel> {
    const OP: &str = "batch norm (training)";
    if bn.groups > 0 && bn.rows / bn.groups * bn.spatial < 2 {
        return Err(Error::shape(
            OP,
            format!(
                "a batch of {} row cannot be normalised by its own statistics; use a batch of at least 2",
                bn.rows / bn.groups.max(1)
            ),
        ));
    }
    let c = bn.cols;
    expect_len(OP, "x", t.x, bn.len())?;
    expect_len(OP, "y", t.y, bn.len())?;
    for (name, v) in [
        ("gamma", t.gamma),
        ("beta", t.beta),
        ("running_mean", t.running_mean),
        ("running_var", t.running_var),
    ] {
        expect_len(OP, name, v, c)?;
    }
    expect_len(OP, "saved_mean", t.saved_mean, c * bn.groups)?;
    expect_len(OP, "saved_inv_std", t.saved_inv_std, c * bn.groups)?;
    let all = [
        ("x", t.x),
        ("gamma", t.gamma),
        ("beta", t.beta),
        ("y", t.y),
        ("saved_mean", t.saved_mean),
        ("saved_inv_std", t.saved_inv_std),
        ("running_mean", t.running_mean),
        ("running_var", t.running_var),
    ];
    expect_distinct(OP, &all[3..], &all)?;
    bn.kernel(
        gpu,
        "train_forward",
        &bn.uniforms(OP, update_running)?,
        &all,
    )
}

/// Normalises with the running statistics (inference).
#[allow(clippy::too_many_arguments)]
pub fn eval_forward(
    gpu: &Gpu,
    bn: &BatchNorm,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    y: &Tensor,
) -> Result<Kernel> {
    const OP: &str = "batch norm (eval)";
    let c = bn.cols;
    expect_len(OP, "x", x, bn.len())?;
    expect_len(OP, "y", y, bn.len())?;
    for (name, v) in [
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ] {
        expect_len(OP, name, v, c)?;
    }
    let all = [
        ("x", x),
        ("gamma", gamma),
        ("beta", beta),
        ("y", y),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ];
    expect_distinct(OP, &all[3..], &all)?;
    let entry = bn.specialised("eval_forward");
    let n = expect_u32(OP, "values", bn.len())?;
    let groups = gpu.grid(n.div_ceil(256));
    gpu.kernel(&entry, &bn.uniforms(OP, false)?, &all, groups)
}

/// The tensors of a backward pass.
pub struct Backward<'a> {
    pub x: &'a Tensor,
    pub gamma: &'a Tensor,
    pub saved_mean: &'a Tensor,
    pub saved_inv_std: &'a Tensor,
    pub dy: &'a Tensor,
    pub dx: &'a Tensor,
    pub dgamma: &'a Tensor,
    pub dbeta: &'a Tensor,
    /// The forward's output, where `bn` has an activation: dy is the
    /// gradient after it, and its derivative is taken from y.
    pub y: Option<&'a Tensor>,
}

/// dx, dγ and dβ of a training-mode forward pass (through its fused
/// activation, if `bn` has one).
pub fn backward(gpu: &Gpu, bn: &BatchNorm, t: &Backward<'_>) -> Result<Kernel> {
    const OP: &str = "batch norm backward";
    let c = bn.cols;
    expect_len(OP, "x", t.x, bn.len())?;
    expect_len(OP, "dy", t.dy, bn.len())?;
    expect_len(OP, "dx", t.dx, bn.len())?;
    for (name, v) in [("gamma", t.gamma), ("dgamma", t.dgamma), ("dbeta", t.dbeta)] {
        expect_len(OP, name, v, c)?;
    }
    expect_len(OP, "saved_mean", t.saved_mean, c * bn.groups)?;
    expect_len(OP, "saved_inv_std", t.saved_inv_std, c * bn.groups)?;
    // Without an activation the shader never reads y, but still binds it.
    let y = match (bn.activation, t.y) {
        (Activation::None, _) => t.x,
        (_, Some(y)) => y,
        (a, None) => {
            return Err(Error::shape(
                OP,
                format!("the derivative of its {a:?} needs the forward's output y"),
            ));
        }
    };
    expect_len(OP, "y", y, bn.len())?;
    let all = [
        ("x", t.x),
        ("gamma", t.gamma),
        ("mean_in", t.saved_mean),
        ("inv_std_in", t.saved_inv_std),
        ("dy", t.dy),
        ("y_out", y),
        ("dx", t.dx),
        ("dgamma", t.dgamma),
        ("dbeta", t.dbeta),
    ];
    expect_distinct(OP, &all[6..], &all)?;
    bn.kernel(gpu, "backward", &bn.uniforms(OP, false)?, &all)
}

/// The f64 references.
pub mod reference {
    use super::BatchNorm;

    /// The outputs of a training-mode batch-norm forward pass; mean and
    /// inv_std per (group, channel).
    pub struct BatchNormTrain {
        pub y: Vec<f64>,
        pub mean: Vec<f64>,
        pub inv_std: Vec<f64>,
        pub running_mean: Vec<f64>,
        pub running_var: Vec<f64>,
    }

    /// The indices of channel c's values in group g.
    fn members(bn: &BatchNorm, g: usize, c: usize) -> impl Iterator<Item = usize> + Clone {
        let (per, cols, s) = (bn.rows / bn.groups, bn.cols, bn.spatial);
        (g * per..(g + 1) * per).flat_map(move |r| (0..s).map(move |j| (r * cols + c) * s + j))
    }

    /// The training forward of `bn` (its eps and momentum taken in f64).
    pub fn train<T: Copy + Into<f64>>(
        bn: &BatchNorm,
        x: &[T],
        gamma: &[T],
        beta: &[T],
        running_mean: &[T],
        running_var: &[T],
    ) -> BatchNormTrain {
        let (eps, momentum) = (bn.eps as f64, bn.momentum as f64);
        let cols = bn.cols;
        let mut out = BatchNormTrain {
            y: vec![0.0; bn.len()],
            mean: vec![0.0; cols * bn.groups],
            inv_std: vec![0.0; cols * bn.groups],
            running_mean: running_mean.iter().map(|&v| v.into()).collect(),
            running_var: running_var.iter().map(|&v| v.into()).collect(),
        };
        for g in 0..bn.groups {
            for c in 0..cols {
                let idx = members(bn, g, c);
                let n = idx.clone().count() as f64;
                let mean = idx.clone().map(|i| x[i].into()).sum::<f64>() / n;
                let var = idx
                    .clone()
                    .map(|i| (x[i].into() - mean).powi(2))
                    .sum::<f64>()
                    / n;
                let inv_std = 1.0 / (var + eps).sqrt();
                for i in idx {
                    out.y[i] = (x[i].into() - mean) * inv_std * gamma[c].into() + beta[c].into();
                }
                out.mean[g * cols + c] = mean;
                out.inv_std[g * cols + c] = inv_std;
                let (rm, rv) = (&mut out.running_mean[c], &mut out.running_var[c]);
                *rm = (1.0 - momentum) * *rm + momentum * mean;
                *rv = (1.0 - momentum) * *rv + momentum * var * n / (n - 1.0).max(1.0);
            }
        }
        out
    }

    /// The eval forward: the running statistics.
    pub fn eval<T: Copy + Into<f64>>(
        bn: &BatchNorm,
        x: &[T],
        gamma: &[T],
        beta: &[T],
        running_mean: &[T],
        running_var: &[T],
    ) -> Vec<f64> {
        let eps = bn.eps as f64;
        (0..bn.len())
            .map(|i| {
                let c = i / bn.spatial % bn.cols;
                (x[i].into() - running_mean[c].into()) / (running_var[c].into() + eps).sqrt()
                    * gamma[c].into()
                    + beta[c].into()
            })
            .collect()
    }

    /// (dx, dγ, dβ) of the training forward, by the closed form.
    pub fn backward<T: Copy + Into<f64>>(
        bn: &BatchNorm,
        x: &[T],
        gamma: &[T],
        dy: &[T],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let eps = bn.eps as f64;
        let mut dx = vec![0.0; bn.len()];
        let mut dgamma = vec![0.0; bn.cols];
        let mut dbeta = vec![0.0; bn.cols];
        for g in 0..bn.groups {
            for c in 0..bn.cols {
                let idx = members(bn, g, c);
                let n = idx.clone().count() as f64;
                let mean = idx.clone().map(|i| x[i].into()).sum::<f64>() / n;
                let var = idx
                    .clone()
                    .map(|i| (x[i].into() - mean).powi(2))
                    .sum::<f64>()
                    / n;
                let inv_std = 1.0 / (var + eps).sqrt();
                let xhat = |i: usize| (x[i].into() - mean) * inv_std;
                let db: f64 = idx.clone().map(|i| dy[i].into()).sum();
                let dg: f64 = idx.clone().map(|i| dy[i].into() * xhat(i)).sum();
                for i in idx {
                    dx[i] = gamma[c].into() * inv_std / n * (n * dy[i].into() - db - xhat(i) * dg);
                }
                dgamma[c] += dg;
                dbeta[c] += db;
            }
        }
        (dx, dgamma, dbeta)
    }

    /// [`train`] of a matrix [rows, cols] with eps and momentum in f64.
    #[allow(clippy::too_many_arguments)]
    pub fn batchnorm_train<T: Copy + Into<f64>>(
        rows: usize,
        cols: usize,
        eps: f64,
        momentum: f64,
        x: &[T],
        gamma: &[T],
        beta: &[T],
        running_mean: &[T],
        running_var: &[T],
    ) -> BatchNormTrain {
        let bn = BatchNorm {
            eps: eps as f32,
            momentum: momentum as f32,
            ..BatchNorm::new(rows, cols)
        };
        train(&bn, x, gamma, beta, running_mean, running_var)
    }

    /// [`eval`] of a matrix of `cols` columns.
    pub fn batchnorm_eval<T: Copy + Into<f64>>(
        cols: usize,
        eps: f64,
        x: &[T],
        gamma: &[T],
        beta: &[T],
        running_mean: &[T],
        running_var: &[T],
    ) -> Vec<f64> {
        let bn = BatchNorm {
            eps: eps as f32,
            ..BatchNorm::new(x.len() / cols.max(1), cols)
        };
        eval(&bn, x, gamma, beta, running_mean, running_var)
    }

    /// [`backward`] of a matrix [rows, cols].
    pub fn batchnorm_backward<T: Copy + Into<f64>>(
        rows: usize,
        cols: usize,
        eps: f64,
        x: &[T],
        gamma: &[T],
        dy: &[T],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let bn = BatchNorm {
            eps: eps as f32,
            ..BatchNorm::new(rows, cols)
        };
        backward(&bn, x, gamma, dy)
    }
}
