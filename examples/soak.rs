//! A long run whose memory must stay flat: process RSS and the bytes of
//! GPU buffers created, at the start and the end, with metrics read back,
//! pictures drawn and checkpoints written along the way.
//!
//!     cargo run --release --example soak -- [steps] [ring|mnist]

use shadergan::data;
use shadergan::gan::checkpoint;
use shadergan::gan::{self, GanConfig, Sampler, Trainer};
use shadergan::{Gpu, GpuOptions};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let steps: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let which = args.next().unwrap_or_else(|| "ring".into());
    let gpu = Gpu::new(&GpuOptions::default())?;
    let data = data::load(&which, None, false, 0)?;
    let c = if which == "ring" || which == "grid" {
        GanConfig::points(&which)
    } else {
        GanConfig::reference_mnist(64)
    };
    let mut t = Trainer::new(&gpu, &c, &data)?;
    let sampler = Sampler::new(&gpu, &t.g, 64, false)?;
    let z = gan::latents(0, gan::streams::FIXED_Z, 64, c.latent);
    let dir = std::env::temp_dir().join(format!("shadergan-soak-{}", std::process::id()));
    let mut logged = 0usize;
    let mut first = None;
    let start = std::time::Instant::now();
    println!(
        "{:>8} {:>10} {:>16} {:>8}",
        "step", "RSS KiB", "GPU buffers B", "seconds"
    );
    while t.step < steps {
        t.step(t.step % 50 == 0)?;
        logged += t.poll_metrics(false)?.len();
        if t.step % 1000 == 0 {
            logged += t.flush_metrics()?.len();
            sampler.run(&gpu, &z)?;
            checkpoint::save(&t, &dir.join("last.safetensors"))?;
            let row = (t.step, rss_kib(), gpu.created_bytes());
            println!(
                "{:>8} {:>10} {:>16} {:>8.1}",
                row.0,
                row.1,
                row.2,
                start.elapsed().as_secs_f64()
            );
            first.get_or_insert(row);
        }
    }
    logged += t.flush_metrics()?.len();
    let (s0, r0, g0) = first.unwrap_or((0, 0, 0));
    println!(
        "from step {s0} to {}: RSS {r0} -> {} KiB, GPU buffers created {g0} -> {} bytes; {logged} steps logged",
        t.step,
        rss_kib(),
        gpu.created_bytes()
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
