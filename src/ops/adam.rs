//! Adam over one flat parameter buffer (shaders/adam.wgsl).

use bytemuck::{Pod, Zeroable};

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernel::{Access, Entry, Kernel};
use crate::shaders;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// The learning-rate schedule: lr until step `decay.start`, then falling
    /// linearly to lr · `decay.floor` at step `decay.end`, and held there.
    pub decay: Decay,
}

/// A linear learning-rate decay over steps (start, end]; none when end ≤
/// start. A pure function of the GPU's step number, so a resumed run
/// follows the same schedule bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decay {
    pub start: u32,
    pub end: u32,
    pub floor: f32,
}

impl Default for Decay {
    fn default() -> Self {
        Decay::NONE
    }
}

impl Decay {
    pub const NONE: Decay = Decay {
        start: 0,
        end: 0,
        floor: 1.0,
    };

    /// The factor on lr at step t (1-based), as the shader computes it.
    pub fn factor(&self, t: u32) -> f32 {
        if self.end <= self.start || t <= self.start {
            return 1.0;
        }
        let left = self.end.saturating_sub(t) as f32 / (self.end - self.start) as f32;
        self.floor + (1.0 - self.floor) * left
    }
}

impl Default for Adam {
    /// The GAN setting of DCGAN and the reference workload.
    fn default() -> Self {
        Adam {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decay: Decay::NONE,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    step_slot: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    ln_beta1: f32,
    ln_beta2: f32,
    decay_start: u32,
    decay_end: u32,
    decay_floor: f32,
}

const STEP4: &[(u32, Access)] = &[
    (7, Access::ReadWrite),
    (8, Access::Read),
    (9, Access::ReadWrite),
    (10, Access::ReadWrite),
    (5, Access::Read),
];
const TICK: &[(u32, Access)] = &[(6, Access::ReadWrite)];

fn slot_params(op: &'static str, counters: &Tensor, slot: usize) -> Result<u32> {
    if slot >= counters.len() {
        return Err(Error::shape(
            op,
            format!(
                "counter slot {slot} is outside counters ({} elements)",
                counters.len()
            ),
        ));
    }
    Ok(slot as u32)
}

/// One Adam update of `param` from `grad`; m and v are the moments, and
/// counters[slot] holds the 1-based step number t.
#[allow(clippy::too_many_arguments)]
pub fn step(
    gpu: &Gpu,
    cfg: &Adam,
    param: &Tensor,
    grad: &Tensor,
    m: &Tensor,
    v: &Tensor,
    counters: &Tensor,
    slot: usize,
) -> Result<Kernel> {
    const OP: &str = "adam";
    let n = param.len();
    expect_len(OP, "grad", grad, n)?;
    expect_len(OP, "m", m, n)?;
    expect_len(OP, "v", v, n)?;
    let all = [
        ("param", param),
        ("grad", grad),
        ("m", m),
        ("v", v),
        ("counters", counters),
    ];
    expect_distinct(OP, &[("param", param), ("m", m), ("v", v)], &all)?;
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        return Err(Error::shape(
            OP,
            format!("learning rate {} must be finite and positive", cfg.lr),
        ));
    }
    for (name, b) in [("beta1", cfg.beta1), ("beta2", cfg.beta2)] {
        if !(b > 0.0 && b < 1.0) {
            return Err(Error::shape(
                OP,
                format!("{name} = {b} must lie strictly between 0 and 1"),
            ));
        }
    }
    // Whole vec4s when the length allows: a quarter of the memory operations.
    let vec4 = n % 4 == 0;
    let p = Params {
        n: expect_u32(OP, "n", if vec4 { n / 4 } else { n })?,
        step_slot: slot_params(OP, counters, slot)?,
        lr: cfg.lr,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
        weight_decay: cfg.weight_decay,
        ln_beta1: (cfg.beta1 as f64).ln() as f32,
        ln_beta2: (cfg.beta2 as f64).ln() as f32,
        decay_start: cfg.decay.start,
        decay_end: cfg.decay.end,
        decay_floor: cfg.decay.floor,
    };
    let entry = if vec4 {
        Entry::new("adam.wgsl", shaders::ADAM, "step4", STEP4)
    } else {
        Entry::new("adam.wgsl", shaders::ADAM, "step", STEP)
    };
    gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &[param, grad, m, v, counters],
        gpu.grid(p.n.div_ceil(256)),
    )
}

const STEP: &[(u32, Access)] = &[
    (1, Access::ReadWrite),
    (2, Access::Read),
    (3, Access::ReadWrite),
    (4, Access::ReadWrite),
    (5, Access::Read),
];

/// counters[slot] += 1: advances the step number once per training step.
pub fn tick(gpu: &Gpu, counters: &Tensor, slot: usize) -> Result<Kernel> {
    const OP: &str = "adam tick";
    let p = Params {
        n: 1,
        step_slot: slot_params(OP, counters, slot)?,
        lr: 0.0,
        beta1: 0.0,
        beta2: 0.0,
        eps: 0.0,
        weight_decay: 0.0,
        ln_beta1: 0.0,
        ln_beta2: 0.0,
        decay_start: 0,
        decay_end: 0,
        decay_floor: 1.0,
    };
    let entry = Entry::new("adam.wgsl", shaders::ADAM, "tick", TICK);
    gpu.kernel(&entry, bytemuck::bytes_of(&p), &[counters], [1, 1, 1])
}
