//! Times the matmul kernel with several tile shapes on the chosen adapter
//! and prints GFLOP/s, the data behind `MatmulTiles::for_adapter`.
//!
//!     cargo run --release --example matmul_tiles -- [size] [repeats]
//!
//! With QUICK=1 only the adapter's default shape is timed.

use std::time::Instant;

use shadergan::ops::matmul::{Form, Matmul, MatmulTiles, matmul};
use shadergan::{Gpu, GpuOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let repeats: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let gpu = Gpu::new(&GpuOptions::default())?;
    println!("{}", gpu.describe());
    println!("default tile: {}", gpu.tiles);
    let (m, n, k) = (size, size, size);
    let a = gpu.upload(&vec![0.5; m * k])?;
    let b = gpu.upload(&vec![0.25; n * k])?;
    let c = gpu.zeros(m * n)?;
    let quick = std::env::var("QUICK").is_ok();
    let mut candidates = vec![gpu.tiles];
    if let Ok(list) = std::env::var("TILES") {
        // "wx,wy,tm,tn,bk;..."
        for t in list.split(';') {
            let v: Vec<u32> = t.split(',').map(|x| x.parse().expect("a number")).collect();
            candidates.push(MatmulTiles::new(v[0], v[1], v[2], v[3], v[4]));
        }
    } else if !quick {
        for (wx, wy) in [(8, 1), (8, 2), (16, 16), (8, 8)] {
            for (tm, tn) in [(2, 4), (4, 4), (4, 8), (8, 4), (8, 8), (6, 4)] {
                for bk in [8, 16, 32] {
                    candidates.push(MatmulTiles::new(wx, wy, tm, tn, bk));
                }
            }
        }
    }

    for form in [Form::NT, Form::NN, Form::TN] {
        for t in candidates.iter().copied().filter(|t| t.fits(&gpu.limits)) {
            let spec = Matmul::new(form, m, n, k).tiles(t);
            let kern = matmul(&gpu, &spec, &a, &b, None, &c)?;
            gpu.run(&[&kern])?; // compile and warm up
            let mut times = Vec::new();
            for _ in 0..repeats {
                let start = Instant::now();
                gpu.run(&[&kern])?;
                times.push(start.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!(
                "{form:?} {size}^3  {:<58} {:7.2} ms  {:6.1} GFLOP/s",
                t.to_string(),
                median * 1e3,
                spec.flops() / median / 1e9
            );
        }
    }
    Ok(())
}
