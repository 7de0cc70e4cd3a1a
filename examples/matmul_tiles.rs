//! Times the matmul kernel with several tile shapes on the chosen adapter
//! and prints GFLOP/s, the data behind `MatmulTiles::for_adapter`.
//!
//!     cargo run --release --example matmul_tiles -- [size] [repeats]

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
    let candidates = [
        MatmulTiles::new(16, 16, 4, 4, 16),
        MatmulTiles::new(8, 8, 8, 8, 16),
        MatmulTiles::new(4, 4, 16, 16, 16),
        MatmulTiles::new(2, 4, 16, 32, 16),
        MatmulTiles::new(4, 2, 16, 32, 16),
        MatmulTiles::new(8, 1, 8, 16, 16),
        MatmulTiles::new(8, 1, 16, 16, 32),
        MatmulTiles::new(8, 2, 8, 16, 16),
        MatmulTiles::new(2, 4, 16, 32, 32),
        MatmulTiles::new(8, 1, 32, 8, 16),
    ];
    for form in [Form::NT, Form::NN, Form::TN] {
        for t in candidates.into_iter().filter(|t| t.fits(&gpu.limits)) {
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
