//! Trains a GAN on a 2-D mixture and prints the mode-collapse metrics as
//! it goes: the quick loop behind the ring test's settings.
//!
//!     cargo run --release --example mixture -- [ring|grid] [steps] [lr] [g_width] [d_width] [batch] [seed]

use shadergan::data::{self, Samples};
use shadergan::eval::mixture_quality;
use shadergan::gan::{self, GanConfig, Sampler, Trainer};
use shadergan::model;
use shadergan::{Gpu, GpuOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let which = arg(0, "ring");
    let steps: u64 = arg(1, "2000").parse()?;
    let lr: f32 = arg(2, "1e-3").parse()?;
    let gw: usize = arg(3, "128").parse()?;
    let dw: usize = arg(4, "128").parse()?;
    let batch: usize = arg(5, "100").parse()?;
    let seed: u64 = arg(6, "0").parse()?;
    let gpu = Gpu::new(&GpuOptions::default())?;
    let data = data::load(&which, None, false, seed)?;
    let Samples::Points { mixture, .. } = &data.samples else {
        anyhow::bail!("not a mixture")
    };
    let mut c = GanConfig::reference(2);
    c.data = which.clone();
    c.shape = vec![2];
    c.latent = 2;
    c.generator = model::mlp(2, &[gw; 3], 2, true, 0.0, None);
    c.discriminator = model::mlp(2, &[dw; 2], 1, false, 0.2, None);
    c.batch = batch;
    c.lr_g = lr;
    c.lr_d = lr;
    c.seed = seed;
    let mut t = Trainer::new(&gpu, &c, &data)?;
    let sampler = Sampler::new(&gpu, &t.g, 2500, false)?;
    let z = gan::latents(seed, gan::STREAM_FIXED_Z, 2500, c.latent);
    let start = std::time::Instant::now();
    while t.step < steps {
        t.step(false)?;
        if t.step % 250 == 0 {
            let q = mixture_quality(&sampler.run(&gpu, &z)?, mixture);
            println!(
                "step {:5}  {:5.1}s  modes {}  high quality {:5.1}%  reverse KL {:.3}  near {:5.1}%",
                t.step,
                start.elapsed().as_secs_f64(),
                q.modes,
                100.0 * q.high_quality,
                q.reverse_kl,
                100.0 * q.near
            );
        }
    }
    Ok(())
}
