//! Times the matmul kernel with several tile shapes on the chosen adapter
//! and prints GFLOP/s, the data behind `MatmulTiles::for_adapter`.
//!
//!     cargo run --release --example matmul_tiles -- [size] [repeats]
//!
//! With QUICK=1 only the adapter's default shape is timed; with ROWS=1
//! the tuner's candidates for the adapter.

use shadergan::ops::matmul::tiles::time;
use shadergan::ops::matmul::{Form, MatmulTiles, tiles};
use shadergan::ops::matmul::tiles as tile_search;
use shadergan::{Gpu, GpuOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let repeats: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let gpu = Gpu::new(&GpuOptions::default())?;
    println!("{}", gpu.describe());
    println!("default tile: {}", tiles(&gpu));
    let quick = std::env::var("QUICK").is_ok();
    let mut candidates = vec![tiles(&gpu)];
    if let Ok(list) = std::env::var("TILES") {
        // "wx,wy,tm,tn,bk;..."
        for t in list.split(';') {
            let v: Vec<u32> = t.split(',').map(|x| x.parse().expect("a number")).collect();
            candidates.push(MatmulTiles::new(v[0], v[1], v[2], v[3], v[4]));
        }
    } else if std::env::var("ROWS").is_ok() {
        // The tuner's own candidates for this adapter.
        candidates = tile_search::candidates(gpu.info.device_type);
    } else if !quick {
        for (wx, wy) in [(8, 1), (8, 2), (16, 16), (8, 8)] {
            for (tm, tn) in [(2, 4), (4, 4), (4, 8), (8, 4), (8, 8), (6, 4)] {
                for bk in [8, 16, 32] {
                    candidates.push(MatmulTiles::new(wx, wy, tm, tn, bk));
                }
            }
        }
    }

    let flop = 2.0 * (size as f64).powi(3);
    for form in [Form::NT, Form::NN, Form::TN] {
        for t in candidates.iter().copied().filter(|t| t.fits(&gpu.limits)) {
            let seconds = time(&gpu, t, &[(form, size, size, size)], repeats)?[0];
            println!(
                "{form:?} {size}^3  {:<58} {:7.2} ms  {:6.1} GFLOP/s",
                t.to_string(),
                seconds * 1e3,
                flop / seconds / 1e9
            );
        }
    }
    Ok(())
}
