//! Adam over one flat parameter buffer (adam.wgsl), and the step counter
//! on the GPU that it and the noise draws read.

use super::{expect_distinct, expect_len, expect_u32};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel, Value};
use crate::gpu::tensor::Tensor;

pub const WGSL: &str = include_str!("adam.wgsl");

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
        if !(0.0..1.0).contains(&b) {
            return Err(Error::shape(
                OP,
                format!("{name} = {b} must be at least 0 and less than 1"),
            ));
        }
    }
    // Whole vec4s when the length allows: a quarter of the memory operations.
    let vec4 = n.is_multiple_of(4);
    let n = expect_u32(OP, "n", if vec4 { n / 4 } else { n })?;
    let uniforms = uniforms(n, slot_params(OP, counters, slot)?, cfg);
    let (entry, names) = if vec4 {
        ("step4", ["param4", "grad4", "m14", "m24"])
    } else {
        ("step", ["param", "grad", "m1", "m2"])
    };
    let tensors = [
        (names[0], param),
        (names[1], grad),
        (names[2], m),
        (names[3], v),
        ("counters", counters),
    ];
    // step4: two vec4s an invocation.
    let threads = if vec4 { n.div_ceil(2) } else { n };
    let entry = Entry::new("adam.wgsl", WGSL, entry);
    gpu.kernel(&entry, &uniforms, &tensors, gpu.grid(threads.div_ceil(256)))
}

/// counters[slot] += 1: advances the step number once per training step.
pub fn tick(gpu: &Gpu, counters: &Tensor, slot: usize) -> Result<Kernel> {
    const OP: &str = "adam tick";
    let slot = slot_params(OP, counters, slot)?;
    let entry = Entry::new("adam.wgsl", WGSL, "tick");
    let uniforms = uniforms(1, slot, &Adam::default());
    gpu.kernel(&entry, &uniforms, &[("counters_rw", counters)], [1, 1, 1])
}

/// The uniform block of every entry point (`tick` reads only the slot).
fn uniforms(n: u32, slot: u32, cfg: &Adam) -> [(&'static str, Value); 12] {
    [
        ("n", n.into()),
        ("step_slot", slot.into()),
        ("lr", cfg.lr.into()),
        ("beta1", cfg.beta1.into()),
        ("beta2", cfg.beta2.into()),
        ("eps", cfg.eps.into()),
        ("weight_decay", cfg.weight_decay.into()),
        // ln 0 = −∞ held finite (shaders need not keep infinities): the
        // correction 1 − βᵗ is then 1, as it is for β = 0.
        ("ln_beta1", (ln_beta(cfg.beta1) as f32).into()),
        ("ln_beta2", (ln_beta(cfg.beta2) as f32).into()),
        ("decay_start", cfg.decay.start.into()),
        ("decay_end", cfg.decay.end.into()),
        ("decay_floor", cfg.decay.floor.into()),
    ]
}

fn ln_beta(b: f32) -> f64 {
    (b as f64).ln().max(-1e20)
}

/// The f64 reference.
pub mod reference {
    use super::Adam;

    /// One Adam step at 1-based step t, in place, as torch.optim.Adam.
    pub fn adam(cfg: &Adam, t: u32, param: &mut [f64], grad: &[f64], m: &mut [f64], v: &mut [f64]) {
        let (b1, b2) = (cfg.beta1 as f64, cfg.beta2 as f64);
        let bc1 = 1.0 - b1.powi(t as i32);
        let bc2 = 1.0 - b2.powi(t as i32);
        let lr = cfg.lr as f64 * cfg.decay.factor(t) as f64;
        for i in 0..param.len() {
            let g = grad[i] + cfg.weight_decay as f64 * param[i];
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            param[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + cfg.eps as f64);
        }
    }
}
