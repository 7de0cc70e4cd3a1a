//! Times a matmul kernel variant from a WGSL file (development aid).
//!
//!     cargo run --release --example matmul_experiment -- FILE ENTRY [size] [bindings: normal|k4]

use std::time::Instant;

use bytemuck::{Pod, Zeroable};
use shadergan::kernel::{Access, Entry};
use shadergan::{Gpu, GpuOptions};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    slope: f32,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let source: &'static str = Box::leak(std::fs::read_to_string(&args[0])?.into_boxed_str());
    let entry_name: &'static str = Box::leak(args[1].clone().into_boxed_str());
    let size: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(512);
    let k4 = args.get(3).map(|s| s == "k4").unwrap_or(false);
    let gpu = Gpu::new(&GpuOptions::default())?;
    let (m, n, k) = (size, size, size);
    let a = gpu.upload(&vec![0.5; m * k])?;
    let b = gpu.upload(&vec![0.25; n * k])?;
    let c = gpu.zeros(m * n)?;
    let bindings: &'static [(u32, Access)] = if k4 {
        &[
            (1, Access::Read),
            (2, Access::Read),
            (3, Access::Read),
            (4, Access::ReadWrite),
            (5, Access::Read),
            (6, Access::Read),
        ]
    } else {
        &[
            (1, Access::Read),
            (2, Access::Read),
            (3, Access::Read),
            (4, Access::ReadWrite),
        ]
    };
    let entry = Entry::new("experiment.wgsl", source, entry_name, bindings)
        .with("WX", "8u")
        .with("WY", "1u")
        .with("TM", "8u")
        .with("TN", "8u")
        .with("TRANS_B", "true");
    let p = Params {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        slope: 0.0,
    };
    let tensors: Vec<&shadergan::Tensor> = if k4 {
        vec![&a, &b, &a, &c, &a, &b]
    } else {
        vec![&a, &b, &a, &c]
    };
    let kern = gpu.kernel(
        &entry,
        bytemuck::bytes_of(&p),
        &tensors,
        [(n as u32).div_ceil(64), (m as u32).div_ceil(8), 1],
    )?;
    gpu.run(&[&kern])?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        gpu.run(&[&kern])?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    let check = gpu.read(&c)?;
    println!(
        "{entry_name} {size}^3: {:.2} ms, {:.2} GFLOP/s (c[0] = {})",
        best * 1e3,
        2.0 * (m * n * k) as f64 / best / 1e9,
        check[0]
    );
    Ok(())
}
