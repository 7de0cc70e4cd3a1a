//! Times each kernel of the reference GAN step on its own.
//!
//!     cargo run --release --example step_profile -- [batch] [data] [d_steps]
//!
//! data: mnist (the reference GAN, default), dcgan (the DCGAN on the
//! built-in digits) or ring / grid (their defaults).

use shadergan::data;
use shadergan::gan::{GanConfig, Trainer};
use shadergan::{Gpu, GpuOptions};

fn main() -> anyhow::Result<()> {
    let batch: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(64);
    let gpu = Gpu::new(&GpuOptions::default())?;
    println!("{}", gpu.describe());
    // The tile shape `shadergan train` would use (the cached choice).
    let tiles = shadergan::ops::matmul::tune(&gpu, shadergan::ops::matmul::Tuning::CacheOnly)?;
    println!("{tiles}");
    let name = std::env::args().nth(2).unwrap_or_else(|| "mnist".into());
    let (data, config) = match name.as_str() {
        "mnist" => (data::builtin_mnist(), GanConfig::reference_mnist(batch)),
        "dcgan" => (
            data::builtin_mnist(),
            GanConfig {
                batch,
                ..shadergan::gan::presets::DCGAN_BENCH.config("mnist", &[1, 28, 28])
            },
        ),
        points => (
            data::load(points, None, false, 0)?,
            GanConfig {
                batch,
                ..GanConfig::points_for(points, shadergan::gan::presets::POINTS.steps)
            },
        ),
    };
    let d_steps = std::env::args()
        .nth(3)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1);
    let config = GanConfig { d_steps, ..config };
    let mut t = Trainer::new(&gpu, &config, &data)?;
    for _ in 0..3 {
        t.step(false)?;
    }
    gpu.wait()?;
    let start = std::time::Instant::now();
    let steps = 10;
    for _ in 0..steps {
        t.step(false)?;
    }
    gpu.wait()?;
    let step = start.elapsed().as_secs_f64() / steps as f64;
    // Each kernel repeated on its own (wall clock), and each inside one
    // step between GPU timestamps, where the adapter has them.
    let prof = t.profile(10)?;
    let timed = t.timed_step()?;
    let total: f64 = prof.iter().map(|p| p.1).sum();
    println!("{:>9} {:>9}  kernel", "alone ms", "step ms");
    for (i, (label, s)) in prof.iter().enumerate() {
        let in_step = timed
            .as_ref()
            .map_or("-".into(), |t| format!("{:.3}", t[i].1 * 1e3));
        println!("{:9.3} {in_step:>9}  {label}", s * 1e3);
    }
    let in_step = timed.map_or("-".into(), |t| {
        format!("{:.1} ms", t.iter().map(|k| k.1).sum::<f64>() * 1e3)
    });
    println!(
        "{} dispatches; kernels alone {:.1} ms, in the step {in_step}; whole step {:.1} ms",
        t.dispatches_per_step(),
        total * 1e3,
        step * 1e3
    );
    Ok(())
}
