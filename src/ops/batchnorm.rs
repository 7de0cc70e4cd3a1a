//! Batch normalisation over the batch dimension (shaders/batchnorm.wgsl),
//! the computation of torch.nn.BatchNorm1d.

use bytemuck::{Pod, Zeroable};

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::{Access, Entry, Kernel};
use crate::shaders;
use crate::tensor::Tensor;

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

    fn params(&self, op: &'static str, update_running: bool) -> Result<Params> {
        Ok(Params {
            rows: expect_u32(op, "rows", self.rows)?,
            cols: expect_u32(op, "cols", self.cols)?,
            eps: self.eps,
            momentum: self.momentum,
            update_running: update_running as u32,
            _pad: [0; 3],
        })
    }

    fn groups(&self) -> [u32; 3] {
        [(self.cols as u32).div_ceil(COLUMNS_PER_GROUP), 1, 1]
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    momentum: f32,
    update_running: u32,
    _pad: [u32; 3],
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

const TRAIN: &[(u32, Access)] = &[
    (1, Access::Read),
    (2, Access::Read),
    (3, Access::Read),
    (4, Access::ReadWrite),
    (5, Access::ReadWrite),
    (6, Access::ReadWrite),
    (7, Access::ReadWrite),
    (8, Access::ReadWrite),
];

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
    let entry = Entry::new("batchnorm.wgsl", shaders::BATCHNORM, "train_forward", TRAIN);
    let p = bn.params(OP, update_running)?;
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[
            t.x,
            t.gamma,
            t.beta,
            t.y,
            t.saved_mean,
            t.saved_inv_std,
            t.running_mean,
            t.running_var,
        ],
        bn.groups(),
    )
}

const EVAL: &[(u32, Access)] = &[
    (1, Access::Read),
    (2, Access::Read),
    (3, Access::Read),
    (4, Access::ReadWrite),
    (7, Access::ReadWrite),
    (8, Access::ReadWrite),
];

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
    let entry = Entry::new("batchnorm.wgsl", shaders::BATCHNORM, "eval_forward", EVAL);
    let p = bn.params(OP, false)?;
    let n = expect_u32(OP, "rows x cols", r * c)?;
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[x, gamma, beta, y, running_mean, running_var],
        gpu.grid(n.div_ceil(256)),
    )
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

const BACKWARD: &[(u32, Access)] = &[
    (1, Access::Read),
    (2, Access::Read),
    (9, Access::Read),
    (10, Access::Read),
    (11, Access::Read),
    (12, Access::ReadWrite),
    (13, Access::ReadWrite),
    (14, Access::ReadWrite),
];

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
        ("saved_mean", t.saved_mean),
        ("saved_inv_std", t.saved_inv_std),
        ("dy", t.dy),
        ("dx", t.dx),
        ("dgamma", t.dgamma),
        ("dbeta", t.dbeta),
    ];
    expect_distinct(OP, &all[5..], &all)?;
    let entry = Entry::new("batchnorm.wgsl", shaders::BATCHNORM, "backward", BACKWARD);
    let p = bn.params(OP, false)?;
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[
            t.x,
            t.gamma,
            t.saved_mean,
            t.saved_inv_std,
            t.dy,
            t.dx,
            t.dgamma,
            t.dbeta,
        ],
        bn.groups(),
    )
}
