//! `cargo bench`: the matmul kernel at the reference workload's largest
//! layer and at square sizes, and the full reference training step, on the
//! default adapter. Wall time per submit-and-wait (criterion); `shadergan
//! bench` gives the GPU-timestamp figures and the ceilings.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shadergan::bench::step_flop_per_sample;
use shadergan::data;
use shadergan::gan::{GanConfig, Trainer};
use shadergan::ops::activation::Activation;
use shadergan::ops::matmul::{Form, Matmul, matmul};
use shadergan::{Gpu, GpuOptions};

fn kernels(c: &mut Criterion) {
    let gpu = Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group(format!("matmul on {}", gpu.info.name));
    group.sample_size(10);
    for (name, m, n, k, act) in [
        ("G4 forward + tanh", 64, 784, 1024, Activation::Tanh),
        ("square 256", 256, 256, 256, Activation::None),
        ("square 512", 512, 512, 512, Activation::None),
    ] {
        let (a, b, out) = (
            gpu.zeros(m * k).unwrap(),
            gpu.zeros(k * n).unwrap(),
            gpu.zeros(m * n).unwrap(),
        );
        let spec = Matmul::new(Form::NT, m, n, k).activation(act);
        let kern = matmul(&gpu, &spec, &a, &b, None, &out).unwrap();
        group.throughput(Throughput::Elements(spec.flops() as u64));
        group.bench_function(name, |bench| bench.iter(|| gpu.run(&[&kern]).unwrap()));
    }
    group.finish();

    let mnist = data::builtin_mnist();
    let mut group = c.benchmark_group(format!("reference step on {}", gpu.info.name));
    group.sample_size(10);
    for batch in [64, 256] {
        let config = GanConfig::reference_mnist(batch);
        let mut t = Trainer::new(&gpu, &config, &mnist).unwrap();
        group.throughput(Throughput::Elements(
            (step_flop_per_sample(&config) * batch as f64) as u64,
        ));
        group.bench_function(format!("batch {batch}"), |bench| {
            bench.iter(|| {
                t.step(false).unwrap();
                gpu.wait().unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
