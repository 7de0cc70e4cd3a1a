//! `shadergan bench`: an adapter's ceilings, every kernel at the reference
//! workload's shapes and at square sizes, and the full training step
//! (docs/design.md, the benchmark protocol).
//!
//! Kernels are timed with GPU timestamp queries around a compute pass that
//! runs the kernel many times, where the adapter offers them, else with
//! the wall clock around submit and wait; each figure is the median of
//! several such passes, with the spread (min to max) beside it. The step is
//! timed by the wall clock over many steps submitted back to back, one
//! submission each, as training runs them.

use std::time::Instant;

use serde::Serialize;

use crate::data;
use crate::error::Result;
use crate::gan::presets::DCGAN_BENCH;
use crate::gan::{GanConfig, Trainer};
use crate::gpu::Gpu;
use crate::gpu::kernel::{Entry, Kernel};
use crate::nn::{Layer, Shape};
use crate::ops::activation::Activation;
use crate::ops::adam::{self, Adam};
use crate::ops::batchnorm::{self, BatchNorm};
use crate::ops::concat::{self, Block};
use crate::ops::conv;
use crate::ops::loss::{Loss, LossKind, OutRow, loss};
use crate::ops::matmul::{self as mm, Form, Matmul, matmul};
use crate::ops::{activation, random, reduce};

/// The ceilings' shader: a chain of FMAs per thread, and a copy.
pub const WGSL: &str = include_str!("bench.wgsl");

#[derive(Clone, Debug)]
pub struct Options {
    /// Fewer sizes and repeats.
    pub quick: bool,
    /// Batch sizes of the full step.
    pub batches: Vec<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub adapter: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// "gpu timestamps" or "wall clock".
    pub kernel_clock: String,
    pub matmul_tile: String,
    /// Peak f32 FMA rate, GFLOP/s.
    pub peak_gflops: f64,
    /// Copy bandwidth (bytes read + written), GB/s.
    pub copy_gbps: f64,
    pub kernels: Vec<KernelRow>,
    pub steps: Vec<StepRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KernelRow {
    pub kernel: String,
    pub shape: String,
    /// Median milliseconds per dispatch, and min and max of the repeats.
    pub ms: f64,
    pub ms_min: f64,
    pub ms_max: f64,
    pub gflops: Option<f64>,
    pub gbps: Option<f64>,
    /// Of the measured ceiling (FMA rate for matmuls, copy bandwidth else).
    pub of_ceiling: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepRow {
    /// The GAN: "reference MLP" or "DCGAN 28x28 w=32".
    pub model: String,
    pub batch: usize,
    pub ms: f64,
    pub ms_min: f64,
    pub ms_max: f64,
    pub steps_per_s: f64,
    pub gflops: f64,
    pub dispatches: usize,
    pub submissions: usize,
    /// The GPU time of the step's kernels, summed, in the median of a few
    /// steps that time each dispatch on its own (timestamp queries); the
    /// gap to `ms` is what recording, submitting and launching cost.
    pub kernels_ms: Option<f64>,
    /// That step's dispatches: (label, ms).
    pub kernel_times: Vec<(String, f64)>,
}

/// (median, min, max) of samples.
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

struct Clock<'g> {
    gpu: &'g Gpu,
    queries: Option<(wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer)>,
}

impl<'g> Clock<'g> {
    fn new(gpu: &'g Gpu) -> Clock<'g> {
        let queries = gpu
            .features
            .contains(wgpu::Features::TIMESTAMP_QUERY)
            .then(|| {
                let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("bench"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                });
                let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: 16,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                let read = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps read"),
                    size: 16,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (set, resolve, read)
            });
        Clock { gpu, queries }
    }

    fn name(&self) -> &'static str {
        if self.queries.is_some() {
            "gpu timestamps"
        } else {
            "wall clock"
        }
    }

    /// Seconds for one pass of `reps` dispatches of `kernel`.
    fn pass(&self, kernel: &Kernel, reps: usize) -> Result<f64> {
        let gpu = self.gpu;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let writes =
                self.queries
                    .as_ref()
                    .map(|(set, _, _)| wgpu::ComputePassTimestampWrites {
                        query_set: set,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bench"),
                timestamp_writes: writes,
            });
            for _ in 0..reps {
                kernel.record(&mut pass);
            }
        }
        if let Some((set, resolve, read)) = &self.queries {
            enc.resolve_query_set(set, 0..2, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, read, 0, 16);
        }
        let start = Instant::now();
        gpu.queue.submit([enc.finish()]);
        gpu.wait()?;
        let wall = start.elapsed().as_secs_f64();
        let Some((_, _, read)) = &self.queries else {
            return Ok(wall);
        };
        let (tx, rx) = std::sync::mpsc::channel();
        read.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        gpu.wait()?;
        let ok = rx.recv().map(|r| r.is_ok()).unwrap_or(false);
        let ticks: Vec<u64> = if ok {
            let view = read
                .get_mapped_range(..)
                .map_err(|e| crate::Error::DeviceLost(e.to_string()))?;
            bytemuck::cast_slice(&view).to_vec()
        } else {
            vec![0, 0]
        };
        read.unmap();
        let ns = ticks[1].wrapping_sub(ticks[0]) as f64 * gpu.queue.get_timestamp_period() as f64;
        // A timestamp pair that reads zero or runs backwards is not to be
        // trusted: fall back to the wall clock for this pass.
        Ok(if ns > 0.0 && ns < 1e12 {
            ns * 1e-9
        } else {
            wall
        })
    }

    /// Median, min and max milliseconds per dispatch over `repeats` passes,
    /// each long enough (about 20 ms) to dwarf its own overhead.
    fn time(&self, kernel: &Kernel, repeats: usize) -> Result<(f64, f64, f64)> {
        let once = self.pass(kernel, 1)?.max(1e-7);
        let reps = ((0.02 / once) as usize).clamp(1, 1000);
        let samples = (0..repeats)
            .map(|_| Ok(self.pass(kernel, reps)? / reps as f64 * 1e3))
            .collect::<Result<Vec<f64>>>()?;
        Ok(stats(samples))
    }
}

/// Runs the whole benchmark on one adapter.
pub fn run(gpu: &Gpu, opts: &Options) -> Result<Report> {
    let clock = Clock::new(gpu);
    let repeats = if opts.quick { 3 } else { 5 };
    let info = &gpu.info;

    // Ceilings.
    let threads = 64 * 1024usize;
    let iterations = 1024u32;
    let out = gpu.zeros(threads * 4)?;
    let fma = gpu.kernel(
        &Entry::new("bench.wgsl", WGSL, "fma_peak"),
        &[
            ("n", (threads as u32).into()),
            ("iterations", iterations.into()),
        ],
        &[("out", &out)],
        gpu.grid((threads / 64) as u32),
    )?;
    let (ms, _, _) = clock.time(&fma, repeats)?;
    let peak_gflops = threads as f64 * iterations as f64 * 64.0 / (ms * 1e-3) / 1e9;
    let words = 4 << 20; // 16 MiB each way
    let (big_src, big_out) = (gpu.zeros(words)?, gpu.zeros(words)?);
    let copy = gpu.kernel(
        &Entry::new("bench.wgsl", WGSL, "copy"),
        &[
            ("n", ((words / 4) as u32).into()),
            ("iterations", 0u32.into()),
        ],
        &[("src", &big_src), ("out", &big_out)],
        gpu.grid((words / 4 / 4 / 64) as u32),
    )?;
    let (ms, _, _) = clock.time(&copy, repeats)?;
    let copy_gbps = 2.0 * words as f64 * 4.0 / (ms * 1e-3) / 1e9;

    let mut kernels = Vec::new();
    let mut add = |kernel: &str,
                   shape: String,
                   k: &Kernel,
                   flop: Option<f64>,
                   bytes: Option<f64>|
     -> Result<()> {
        let (ms, lo, hi) = clock.time(k, repeats)?;
        let gflops = flop.map(|f| f / (ms * 1e-3) / 1e9);
        let gbps = bytes.map(|b| b / (ms * 1e-3) / 1e9);
        let of_ceiling = match (gflops, gbps) {
            (Some(g), _) => g / peak_gflops,
            (_, Some(b)) => b / copy_gbps,
            _ => 0.0,
        };
        // Which of the matmul kernels ran, where it is not the tiled one.
        let ran = |entry: &str| k.labels().iter().any(|l| l.contains(entry));
        let kinds: Vec<&str> = [
            ("::unfold ", "unfolded"),
            ("::sum_slices ", "split-K"),
            ("::main_thin ", "thin"),
        ]
        .into_iter()
        .filter(|(entry, _)| ran(entry))
        .map(|(_, name)| name)
        .collect();
        let kind = if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        };
        kernels.push(KernelRow {
            kernel: format!("{kernel}{kind}"),
            shape,
            ms,
            ms_min: lo,
            ms_max: hi,
            gflops,
            gbps,
            of_ceiling,
        });
        Ok(())
    };

    // Matmuls: the reference step's layers at B = 64 (D sees 2B rows), the
    // backward forms of the largest layer, then squares.
    let mut shapes: Vec<(&str, Form, usize, usize, usize, Activation)> = vec![
        ("G1 forward", Form::NT, 64, 256, 100, Activation::None),
        ("G2 forward", Form::NT, 64, 512, 256, Activation::None),
        ("G3 forward", Form::NT, 64, 1024, 512, Activation::None),
        (
            "G4 forward + tanh",
            Form::NT,
            64,
            784,
            1024,
            Activation::Tanh,
        ),
        (
            "D1 forward + lrelu",
            Form::NT,
            128,
            512,
            784,
            Activation::LeakyRelu(0.2),
        ),
        (
            "D2 forward + lrelu",
            Form::NT,
            128,
            256,
            512,
            Activation::LeakyRelu(0.2),
        ),
        ("D3 forward", Form::NT, 128, 1, 256, Activation::None),
        ("G4 input grad", Form::NN, 64, 1024, 784, Activation::None),
        ("G4 weight grad", Form::TN, 784, 1024, 64, Activation::None),
    ];
    // 4096³ (137 GFLOP) only where the adapter is a GPU: a CPU adapter
    // takes seconds per product.
    let on_cpu = gpu.info.device_type == wgpu::DeviceType::Cpu;
    let squares: &[usize] = match (opts.quick, on_cpu) {
        (true, _) => &[256, 512],
        (false, true) => &[256, 512, 1024, 2048],
        (false, false) => &[256, 512, 1024, 2048, 4096],
    };
    for &s in squares {
        shapes.push(("square", Form::NT, s, s, s, Activation::None));
    }
    for (name, form, m, n, k, act) in shapes {
        let (ka, kb) = match form {
            Form::TN => (k * m, k * n),
            _ => (m * k, k * n),
        };
        let (a, b, c, bias) = (
            mm::tiles::operand(gpu, ka)?,
            mm::tiles::operand(gpu, kb)?,
            gpu.zeros(m * n)?,
            gpu.zeros(n)?,
        );
        let spec = Matmul::new(form, m, n, k).activation(act);
        let with_bias = form == Form::NT;
        let kern = matmul(gpu, &spec, &a, &b, with_bias.then_some(&bias), &c)?;
        add(
            &format!("matmul {form:?} {name}"),
            format!("{m}x{n}x{k}"),
            &kern,
            Some(spec.flops()),
            None,
        )?;
        // The same product with B fetched from a texture, where this
        // adapter's kernel can (CPU vec4 kernels; up to 1024³).
        let [rows, cols] = spec.b_stored();
        if on_cpu && m.max(n).max(k) <= 1024 && gpu.texture_fits(rows, cols) {
            let tex = gpu.texture(rows, cols)?;
            gpu.write_texture(&tex, &gpu.read(&b)?)?;
            let kern =
                mm::matmul_b_texture(gpu, &spec, &a, (&b, &tex), with_bias.then_some(&bias), &c)?;
            if kern.labels().iter().any(|l| l.contains("matmul_b_texture")) {
                add(
                    &format!("matmul {form:?} {name} (B from a texture)"),
                    format!("{m}x{n}x{k}"),
                    &kern,
                    Some(spec.flops()),
                    None,
                )?;
            }
        }
    }

    // Memory-bound kernels at the reference shapes.
    let (b, f) = (64usize, 1024usize);
    let t = |n: usize| gpu.zeros(n);
    let (x, y, dy, dx) = (t(b * f)?, t(b * f)?, t(b * f)?, t(b * f)?);
    let (gamma, beta, mean, inv, rm, rv, dg, db) =
        (t(f)?, t(f)?, t(f)?, t(f)?, t(f)?, t(f)?, t(f)?, t(f)?);
    let bn = BatchNorm::new(b, f);
    let bytes = (b * f * 4) as f64;
    let k = batchnorm::train_forward(
        gpu,
        &bn,
        &batchnorm::TrainForward {
            x: &x,
            gamma: &gamma,
            beta: &beta,
            y: &y,
            saved_mean: &mean,
            saved_inv_std: &inv,
            running_mean: &rm,
            running_var: &rv,
        },
        true,
    )?;
    add(
        "batch norm forward",
        format!("{b}x{f}"),
        &k,
        None,
        Some(3.0 * bytes),
    )?;
    let k = batchnorm::backward(
        gpu,
        &bn,
        &batchnorm::Backward {
            x: &x,
            gamma: &gamma,
            saved_mean: &mean,
            saved_inv_std: &inv,
            dy: &dy,
            dx: &dx,
            dgamma: &dg,
            dbeta: &db,
            y: None,
        },
    )?;
    add(
        "batch norm backward",
        format!("{b}x{f}"),
        &k,
        None,
        Some(5.0 * bytes),
    )?;
    let k = activation::forward(gpu, Activation::LeakyRelu(0.2), &x, &y)?;
    add(
        "leaky relu forward",
        format!("{b}x{f}"),
        &k,
        None,
        Some(2.0 * bytes),
    )?;
    let k = activation::backward(gpu, Activation::LeakyRelu(0.2), &y, &dy, &dx)?;
    add(
        "leaky relu backward",
        format!("{b}x{f}"),
        &k,
        None,
        Some(3.0 * bytes),
    )?;
    let k = reduce::column_sum(gpu, b, f, 1.0, &x, &db)?;
    add(
        "column sum (bias grad)",
        format!("{b}x{f}"),
        &k,
        None,
        Some(bytes),
    )?;
    let counters = gpu.upload_u32(&[1, 0])?;
    let (logits, dlogits, metrics) = (t(128)?, t(128)?, t(3)?);
    let k = loss(
        gpu,
        &Loss {
            kind: LossKind::Bce,
            label_real: 1.0,
            label_fake: 0.0,
            split: 64,
            grad_scale: 1.0,
        },
        &logits,
        &dlogits,
        &metrics,
        &OutRow::fixed(&counters, 0),
    )?;
    add("bce loss", "128".into(), &k, None, Some(2.0 * 128.0 * 4.0))?;
    // As many parameters as the reference generator has.
    let n: usize = crate::nn::reference_generator(100, 784)
        .iter()
        .flat_map(|l| l.kind().params())
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum();
    let (p, g, m1, m2) = (t(n)?, t(n)?, t(n)?, t(n)?);
    let k = adam::step(gpu, &Adam::default(), &p, &g, &m1, &m2, &counters, 0)?;
    add("adam", format!("{n}"), &k, None, Some(7.0 * n as f64 * 4.0))?;
    let z = t(64 * 100)?;
    let s = random::Stream {
        seed: 1,
        stream: 1,
        slot: 0,
    };
    let k = random::normal(gpu, &s, &counters, 0.0, 1.0, &z)?;
    add(
        "normal noise",
        "64x100".into(),
        &k,
        None,
        Some(64.0 * 100.0 * 4.0),
    )?;
    let mnist = data::builtin_mnist();
    let data::Samples::Images { bytes: pixels, .. } = &mnist.samples else {
        unreachable!("the built-in set holds images")
    };
    let dataset = gpu.upload_bytes(pixels)?;
    let idx = gpu.upload_u32(&(0..64).map(|i| i * 7).collect::<Vec<u32>>())?;
    let batch_out = t(64 * 784)?;
    let k = crate::ops::data::gather(gpu, &dataset, mnist.items, 784, &idx, &batch_out)?;
    add(
        "gather batch",
        "64x784".into(),
        &k,
        None,
        Some(64.0 * 784.0 * 5.0),
    )?;
    // A conditional GAN's samples placed beside their labels (and, the
    // same copy, their gradient taken back).
    let wide = t(64 * 794)?;
    let (from, to) = (Block::dense(784), Block::dense(794));
    let k = concat::columns(gpu, &batch_out, from, &wide, to, 64, 784)?;
    add(
        "place beside labels",
        "64x784".into(),
        &k,
        None,
        Some(64.0 * 784.0 * 8.0),
    )?;

    // Convolutions at the 28 × 28 DCGAN's shapes (w = 32, B = 64; D sees
    // 2B rows): each layer's forward and both gradients.
    let conv_shapes = [
        ("D1", 128, 1, 28, 32, 4, 2, 1),
        ("D2", 128, 32, 14, 64, 4, 2, 1),
        ("G2 transposed", 64, 64, 14, 128, 4, 2, 1),
        ("G3 transposed", 64, 1, 28, 64, 4, 2, 1),
    ];
    for (name, batch, in_c, side, out_c, k, stride, pad) in conv_shapes {
        // A transposed layer runs the convolution from its output back to
        // its input: its forward is the input product.
        let g = conv::Conv2d {
            batch,
            in_c,
            in_h: side,
            in_w: side,
            out_c,
            kernel_h: k,
            kernel_w: k,
            stride,
            pad,
            tiles: None,
        };
        let (x, w, y) = (t(g.x_len())?, t(g.w_len())?, t(g.y_len())?);
        let shape = format!("{batch}x{in_c}x{side}x{side}->{out_c}");
        let flop = Some(g.flops());
        let none = Activation::None;
        let fwd = conv::forward(gpu, &g, &x, &w, None, &y, none)?;
        let input = conv::input_grad(gpu, &g, &y, &w, None, &x, none)?;
        let weight = conv::weight_grad(gpu, &g, &y, &x, &w, false)?;
        let transposed = name.ends_with("transposed");
        let (fwd_name, input_name) = if transposed {
            ("input grad", "forward")
        } else {
            ("forward", "input grad")
        };
        add(
            &format!("conv {name} {fwd_name}"),
            shape.clone(),
            &fwd,
            flop,
            None,
        )?;
        add(
            &format!("conv {name} {input_name}"),
            shape.clone(),
            &input,
            flop,
            None,
        )?;
        add(
            &format!("conv {name} weight grad"),
            shape,
            &weight,
            flop,
            None,
        )?;
    }

    // The full steps: the reference MLP GAN, and the DCGAN.
    let mut steps = Vec::new();
    let dcgan = GanConfig {
        classes: 0,
        ..DCGAN_BENCH.config("mnist", &[1, 28, 28])
    };
    for &batch in &opts.batches {
        let reference = GanConfig::reference_mnist(batch);
        let n = if opts.quick { 5 } else { 20 };
        steps.push(time_step(
            gpu,
            &mnist,
            "reference MLP",
            &reference,
            n,
            repeats,
        )?);
    }
    for &batch in &opts.batches {
        let c = GanConfig {
            batch,
            ..dcgan.clone()
        };
        let (n, reps) = if opts.quick { (2, 3) } else { (5, 3) };
        let name = format!("DCGAN 28x28 w={}", DCGAN_BENCH.g_width);
        steps.push(time_step(gpu, &mnist, &name, &c, n, reps)?);
    }
    Ok(Report {
        adapter: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        kernel_clock: clock.name().to_string(),
        matmul_tile: mm::tiles(gpu).to_string(),
        peak_gflops,
        copy_gbps,
        kernels,
        steps,
    })
}

/// Multiply-adds per sample of one forward pass of `layers` from `input`:
/// the matmuls and convolutions (the rest is elementwise), and those of
/// the first layer alone.
fn forward_macs(layers: &[Layer], input: Shape) -> (f64, f64) {
    let (mut total, mut first, mut shape) = (0.0, None, input);
    for l in layers {
        let out = l.kind().output(shape).unwrap_or(shape);
        let macs = match l {
            Layer::Linear(d) => (d.inputs * d.outputs) as f64,
            Layer::Conv2d(c) => (out.len() * c.inputs * c.kernel * c.kernel) as f64,
            Layer::ConvTranspose2d(c) => (shape.len() * c.outputs * c.kernel * c.kernel) as f64,
            _ => 0.0,
        };
        if macs > 0.0 && first.is_none() {
            first = Some(macs);
        }
        total += macs;
        shape = out;
    }
    (total, first.unwrap_or(0.0))
}

/// FLOP of one training step per sample, counting matmuls and
/// convolutions only (docs/benchmarks.md): with S the forward
/// multiply-adds of a net and S₁ those of its first layer,
/// 2 · (4·S_G − S_G₁ + 8·S_D − 2·S_D₁). 18,737,152 for the reference GAN.
pub fn step_flop_per_sample(c: &GanConfig) -> f64 {
    let (sg, sg1) = forward_macs(&c.generator, c.g_input());
    let (sd, sd1) = forward_macs(&c.discriminator, c.d_input());
    2.0 * (4.0 * sg - sg1 + 8.0 * sd - 2.0 * sd1)
}

/// The step of `config` on `data`, `steps` at a time, `repeats` times.
pub fn time_step(
    gpu: &Gpu,
    data: &data::Dataset,
    model: &str,
    config: &GanConfig,
    steps: usize,
    repeats: usize,
) -> Result<StepRow> {
    let mut t = Trainer::new(gpu, config, data)?;
    for _ in 0..3 {
        t.step(false)?;
    }
    gpu.wait()?;
    let samples = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..steps {
                t.step(false)?;
            }
            gpu.wait()?;
            Ok(start.elapsed().as_secs_f64() * 1e3 / steps as f64)
        })
        .collect::<Result<Vec<f64>>>()?;
    let (ms, lo, hi) = stats(samples);
    let mut timed = Vec::new();
    for _ in 0..3 {
        if let Some(ks) = t.timed_step()? {
            let sum: f64 = ks.iter().map(|k| k.1).sum();
            timed.push((sum * 1e3, ks));
        }
    }
    timed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let median = (!timed.is_empty()).then(|| timed.swap_remove(timed.len() / 2));
    let batch = config.batch;
    Ok(StepRow {
        model: model.to_string(),
        batch,
        ms,
        ms_min: lo,
        ms_max: hi,
        steps_per_s: 1e3 / ms,
        gflops: step_flop_per_sample(config) * batch as f64 / (ms * 1e-3) / 1e9,
        dispatches: t.dispatches_per_step(),
        submissions: 1,
        kernels_ms: median.as_ref().map(|m| m.0),
        kernel_times: median
            .map(|m| m.1.into_iter().map(|(l, s)| (l, s * 1e3)).collect())
            .unwrap_or_default(),
    })
}

/// The readable table of one or more reports (adapters side by side in the
/// step table).
pub fn table(reports: &[Report]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for r in reports {
        let _ = writeln!(
            s,
            "adapter: {} ({}, {}, {})",
            r.adapter, r.backend, r.device_type, r.driver
        );
        let _ = writeln!(
            s,
            "kernel timing: {}; matmul tile: {}",
            r.kernel_clock, r.matmul_tile
        );
        let _ = writeln!(
            s,
            "ceilings: peak f32 FMA {:.1} GFLOP/s, copy {:.1} GB/s (read + written)\n",
            r.peak_gflops, r.copy_gbps
        );
        let _ = writeln!(
            s,
            "{:<44} {:>14} {:>10} {:>19} {:>14} {:>8}",
            "kernel", "shape", "ms", "min..max", "rate", "of peak"
        );
        for k in &r.kernels {
            let rate = match (k.gflops, k.gbps) {
                (Some(g), _) => format!("{g:.2} GFLOP/s"),
                (_, Some(b)) => format!("{b:.2} GB/s"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "{:<44} {:>14} {:>10.4} {:>9.4}..{:<9.4} {:>14} {:>7.1}%",
                k.kernel,
                k.shape,
                k.ms,
                k.ms_min,
                k.ms_max,
                rate,
                100.0 * k.of_ceiling
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "{:<40} {:<20} {:>6} {:>10} {:>17} {:>9} {:>9} {:>11} {:>11}",
        "training step",
        "model",
        "batch",
        "ms/step",
        "min..max",
        "steps/s",
        "GFLOP/s",
        "dispatches",
        "kernels ms"
    );
    for r in reports {
        for st in &r.steps {
            let _ = writeln!(
                s,
                "{:<40} {:<20} {:>6} {:>10.2} {:>8.2}..{:<8.2} {:>9.2} {:>9.2} {:>5} in {} {:>11}",
                format!("{} ({})", r.adapter, r.backend),
                st.model,
                st.batch,
                st.ms,
                st.ms_min,
                st.ms_max,
                st.steps_per_s,
                st.gflops,
                st.dispatches,
                st.submissions,
                st.kernels_ms.map_or("-".into(), |k| format!("{k:.2}"))
            );
        }
    }
    s
}
