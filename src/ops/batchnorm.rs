//! Batch normalisation over the batch dimension (batchnorm.wgsl), the
//! computation of torch.nn.BatchNorm1d.

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel, Value};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("batchnorm.wgsl");

/// rows = batch, cols = features.
#[derive(Clone, Copy, Debug)]
pub struct BatchNorm {
    pub rows: usize,
    pub cols: usize,
    pub eps: f32,
    pub momentum: f32,
}

impl BatchNorm {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1.
    pub fn new(rows: usize, cols: usize) -> Self {
        BatchNorm {
            rows,
            cols,
            eps: 1e-5,
            momentum: 0.1,
        }
    }

    fn uniforms(
        &self,
        op: &'static str,
        update_running: bool,
    ) -> Result<[(&'static str, Value); 5]> {
        Ok([
            ("rows", expect_u32(op, "rows", self.rows)?.into()),
            ("cols", expect_u32(op, "cols", self.cols)?.into()),
            ("eps", self.eps.into()),
            ("momentum", self.momentum.into()),
            ("update_running", (update_running as u32).into()),
        ])
    }

    fn groups(&self) -> [u32; 3] {
        [(self.cols as u32).div_ceil(COLUMNS_PER_GROUP), 1, 1]
    }
}

const COLUMNS_PER_GROUP: u32 = 16;

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
    if bn.rows < 2 {
        return Err(Error::shape(
            OP,
            format!(
                "a batch of {} row cannot be normalised by its own statistics; use a batch of at least 2",
                bn.rows
            ),
        ));
    }
    let (r, c) = (bn.rows, bn.cols);
    expect_len(OP, "x", t.x, r * c)?;
    expect_len(OP, "y", t.y, r * c)?;
    for (name, v) in [
        ("gamma", t.gamma),
        ("beta", t.beta),
        ("saved_mean", t.saved_mean),
        ("saved_inv_std", t.saved_inv_std),
        ("running_mean", t.running_mean),
        ("running_var", t.running_var),
    ] {
        expect_len(OP, name, v, c)?;
    }
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
    let entry = Entry::new("batchnorm.wgsl", WGSL, "train_forward");
    gpu.kernel(&entry, &bn.uniforms(OP, update_running)?, &all, bn.groups())
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
    let (r, c) = (bn.rows, bn.cols);
    expect_len(OP, "x", x, r * c)?;
    expect_len(OP, "y", y, r * c)?;
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
    let entry = Entry::new("batchnorm.wgsl", WGSL, "eval_forward");
    let n = expect_u32(OP, "rows x cols", r * c)?;
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
}

/// dx, dγ and dβ of a training-mode forward pass.
pub fn backward(gpu: &Gpu, bn: &BatchNorm, t: &Backward<'_>) -> Result<Kernel> {
    const OP: &str = "batch norm backward";
    let (r, c) = (bn.rows, bn.cols);
    expect_len(OP, "x", t.x, r * c)?;
    expect_len(OP, "dy", t.dy, r * c)?;
    expect_len(OP, "dx", t.dx, r * c)?;
    for (name, v) in [
        ("gamma", t.gamma),
        ("saved_mean", t.saved_mean),
        ("saved_inv_std", t.saved_inv_std),
        ("dgamma", t.dgamma),
        ("dbeta", t.dbeta),
    ] {
        expect_len(OP, name, v, c)?;
    }
    let all = [
        ("x", t.x),
        ("gamma", t.gamma),
        ("mean_in", t.saved_mean),
        ("inv_std_in", t.saved_inv_std),
        ("dy", t.dy),
        ("dx", t.dx),
        ("dgamma", t.dgamma),
        ("dbeta", t.dbeta),
    ];
    expect_distinct(OP, &all[5..], &all)?;
    let entry = Entry::new("batchnorm.wgsl", WGSL, "backward");
    gpu.kernel(&entry, &bn.uniforms(OP, false)?, &all, bn.groups())
}

/// The f64 references.
pub mod reference {

    /// The outputs of a training-mode batch-norm forward pass.
    pub struct BatchNormTrain {
        pub y: Vec<f64>,
        pub mean: Vec<f64>,
        pub inv_std: Vec<f64>,
        pub running_mean: Vec<f64>,
        pub running_var: Vec<f64>,
    }

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
        let n = rows as f64;
        let mut out = BatchNormTrain {
            y: vec![0.0; rows * cols],
            mean: vec![0.0; cols],
            inv_std: vec![0.0; cols],
            running_mean: vec![0.0; cols],
            running_var: vec![0.0; cols],
        };
        for c in 0..cols {
            let col = || (0..rows).map(|r| x[r * cols + c].into());
            let mean = col().sum::<f64>() / n;
            let var = col().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            let inv_std = 1.0 / (var + eps).sqrt();
            for r in 0..rows {
                out.y[r * cols + c] =
                    (x[r * cols + c].into() - mean) * inv_std * gamma[c].into() + beta[c].into();
            }
            out.mean[c] = mean;
            out.inv_std[c] = inv_std;
            out.running_mean[c] = (1.0 - momentum) * running_mean[c].into() + momentum * mean;
            out.running_var[c] =
                (1.0 - momentum) * running_var[c].into() + momentum * var * n / (n - 1.0).max(1.0);
        }
        out
    }

    pub fn batchnorm_eval<T: Copy + Into<f64>>(
        cols: usize,
        eps: f64,
        x: &[T],
        gamma: &[T],
        beta: &[T],
        running_mean: &[T],
        running_var: &[T],
    ) -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = i % cols;
                (v.into() - running_mean[c].into()) / (running_var[c].into() + eps).sqrt()
                    * gamma[c].into()
                    + beta[c].into()
            })
            .collect()
    }

    /// (dx, dγ, dβ) of the training-mode forward pass, by the closed form.
    pub fn batchnorm_backward<T: Copy + Into<f64>>(
        rows: usize,
        cols: usize,
        eps: f64,
        x: &[T],
        gamma: &[T],
        dy: &[T],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let n = rows as f64;
        let mut dx = vec![0.0; rows * cols];
        let mut dgamma = vec![0.0; cols];
        let mut dbeta = vec![0.0; cols];
        for c in 0..cols {
            let mean = (0..rows).map(|r| x[r * cols + c].into()).sum::<f64>() / n;
            let var = (0..rows)
                .map(|r| (x[r * cols + c].into() - mean).powi(2))
                .sum::<f64>()
                / n;
            let inv_std = 1.0 / (var + eps).sqrt();
            let xhat = |r: usize| (x[r * cols + c].into() - mean) * inv_std;
            let db: f64 = (0..rows).map(|r| dy[r * cols + c].into()).sum();
            let dg: f64 = (0..rows).map(|r| dy[r * cols + c].into() * xhat(r)).sum();
            for r in 0..rows {
                dx[r * cols + c] = gamma[c].into() * inv_std / n
                    * (n * dy[r * cols + c].into() - db - xhat(r) * dg);
            }
            dgamma[c] = dg;
            dbeta[c] = db;
        }
        (dx, dgamma, dbeta)
    }
}
