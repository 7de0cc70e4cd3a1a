//! Times the matmul kernel with several tile shapes on the chosen adapter
//! and prints GFLOP/s, the data behind `MatmulTiles::for_adapter`.
//!
//!     cargo run --release --example matmul_tiles -- [size] [repeats]
//!
//! With QUICK=1 only the adapter's default shape is timed; with ROWS=1
//! the tuner's candidates for the adapter; with SHAPES="TN,784,1024,64;..."
//! those products instead of size³ in each form.

use shadergan::ops::matmul::tiles as tile_search;
use shadergan::ops::matmul::tiles::time;
use shadergan::ops::matmul::{Form, MatmulTiles, tiles};
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

    // SHAPES="TN,784,1024,64;NT,64,1024,512": those products instead of
    // the three forms of size³.
    let shapes: Vec<(Form, usize, usize, usize)> = match std::env::var("SHAPES") {
        Ok(list) => list
            .split(';')
            .map(|s| {
                let v: Vec<&str> = s.split(',').collect();
                let form = match v[0] {
                    "NT" => Form::NT,
                    "NN" => Form::NN,
                    _ => Form::TN,
                };
                let n = |i: usize| v[i].parse::<usize>().expect("a number");
                (form, n(1), n(2), n(3))
            })
            .collect(),
        Err(_) => [Form::NT, Form::NN, Form::TN]
            .map(|f| (f, size, size, size))
            .to_vec(),
    };
    for (form, m, n, k) in shapes {
        let flop = 2.0 * (m * n * k) as f64;
        for t in candidates.iter().copied().filter(|t| t.fits(&gpu.limits)) {
            let seconds = time(&gpu, t, &[(form, m, n, k)], repeats)?[0];
            println!(
                "{form:?} {m}x{n}x{k}  {:<58} {:7.2} ms  {:6.1} GFLOP/s",
                t.to_string(),
                seconds * 1e3,
                flop / seconds / 1e9
            );
        }
    }
    Ok(())
}
