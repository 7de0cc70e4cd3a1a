//! Trains a GAN on a 2-D mixture and prints the mode-collapse metrics as
//! it goes: the quick loop for trying settings on ring and grid.
//!
//!     cargo run --release --example mixture -- [key=value ...]
//!
//! Keys (defaults: GanConfig::points): data=ring|grid steps lr lr_d g=128,128,128
//! d=128,128 batch latent pack seed beta1 decay_start floor every

use shadergan::data::{self, Samples};
use shadergan::eval::mixture_quality;
use shadergan::gan::presets::POINTS;
use shadergan::gan::{self, GanConfig, Sampler, Trainer};
use shadergan::ops::adam::Decay;
use shadergan::{Gpu, GpuOptions};

fn main() -> anyhow::Result<()> {
    let args: std::collections::HashMap<String, String> = std::env::args()
        .skip(1)
        .filter_map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let get = |k: &str| args.get(k).cloned();
    let num = |k: &str, d: f64| get(k).map_or(Ok(d), |v| v.parse::<f64>()).unwrap();
    let widths = |k: &str, d: &[usize]| {
        get(k).map_or(d.to_vec(), |v| {
            v.split(',').map(|w| w.parse().unwrap()).collect()
        })
    };
    let which = get("data").unwrap_or("ring".into());
    let mut c = GanConfig::points(&which);
    let steps = num("steps", 2000.0) as u64;
    c.seed = num("seed", 0.0) as u64;
    c.latent = num("latent", c.latent as f64) as usize;
    c.pack = num("pack", 1.0) as usize;
    c.batch = num("batch", c.batch as f64) as usize;
    c.lr_g = num("lr", c.lr_g as f64) as f32;
    c.lr_d = num("lr_d", c.lr_g as f64) as f32;
    c.beta1 = num("beta1", c.beta1 as f64) as f32;
    c.generator = POINTS.generator_of(&widths("g", POINTS.g_hidden), c.latent, 2);
    c.discriminator = POINTS.discriminator_of(&widths("d", POINTS.d_hidden), 2 * c.pack);
    if let Some(start) = get("decay_start") {
        c.decay = Decay {
            start: start.parse()?,
            end: steps as u32,
            floor: num("floor", 0.0) as f32,
        };
    }
    let every = num("every", 1000.0) as u64;
    let gpu = Gpu::new(&GpuOptions::default())?;
    let data = data::load(&which, None, false, c.seed)?;
    let Samples::Points { mixture, .. } = &data.samples else {
        anyhow::bail!("not a mixture")
    };
    let mut t = Trainer::new(&gpu, &c, &data)?;
    let sampler = Sampler::new(&gpu, &t.g, 2500, false)?;
    let z = gan::latents(c.seed, gan::streams::FIXED_Z, 2500, c.latent);
    let start = std::time::Instant::now();
    while t.step < steps {
        t.step(false)?;
        if t.step % every == 0 || t.step == steps {
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
