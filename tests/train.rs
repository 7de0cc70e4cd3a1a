//! The GAN step against a CPU reference, checkpoints and resuming.

use std::sync::OnceLock;

use shadergan::data::{Dataset, Samples};
use shadergan::gan::{self, GanConfig, Sampler, Trainer, checkpoint, streams};
use shadergan::nn::reference::{self, Cache, State as MlpState};
use shadergan::nn::{Layer, Net};
use shadergan::ops::adam::{Adam, Decay, reference::adam};
use shadergan::ops::concat::Block;
use shadergan::ops::concat::reference::{columns, one_hot, one_hot_repeated};
use shadergan::ops::data::reference::gather;
use shadergan::ops::loss::{LossKind, reference::loss};
use shadergan::ops::random::reference::{indices, normal, uniform};
use shadergan::{Gpu, GpuOptions};

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

/// 50 random 4×4 images.
fn tiny_images() -> Dataset {
    let bytes: Vec<u8> = uniform(7, 0, 0, 0.0, 256.0, 50 * 16)
        .iter()
        .map(|&v| v as u8)
        .collect();
    Dataset {
        name: "tiny".into(),
        items: 50,
        samples: Samples::Images {
            bytes: bytes.into(),
            channels: 1,
            height: 4,
            width: 4,
        },
        labels: Some((0..50).map(|i| (i * 7 % 3) as u8).collect()),
        class_names: Vec::new(),
        notes: Vec::new(),
    }
}

fn tiny_config(pack: usize, loss: LossKind) -> GanConfig {
    GanConfig {
        latent: 5,
        generator: vec![
            Layer::linear(5, 7),
            Layer::batch_norm(7),
            Layer::leaky_relu(0.2),
            Layer::linear(7, 16),
            Layer::Tanh,
        ],
        discriminator: vec![
            Layer::linear(16 * pack, 9),
            Layer::leaky_relu(0.2),
            Layer::linear(9, 1),
        ],
        batch: 6,
        pack,
        lr_g: 2e-4,
        lr_d: 3e-4,
        decay: Default::default(),
        beta1: 0.5,
        beta2: 0.999,
        loss,
        real_label: 0.9,
        d_steps: 1,
        norm_lr: 1.0,
        classes: 0,
        init: Default::default(),
        class_names: Vec::new(),
        background: None,
        seed: 11,
        data: "tiny".into(),
        shape: vec![1, 4, 4],
    }
}

fn read_state(net: &Net) -> MlpState {
    let g = gpu();
    MlpState {
        params: net
            .params
            .views
            .iter()
            .map(|t| to64(&g.read(t).unwrap()))
            .collect(),
        buffers: net
            .buffers
            .iter()
            .map(|own| own.iter().map(|t| to64(&g.read(t).unwrap())).collect())
            .collect(),
    }
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// max |a − b| / max |b| over a list of tensors.
fn err(got: &[Vec<f64>], want: &[Vec<f64>]) -> f64 {
    let scale = want.iter().flatten().fold(1e-30f64, |m, v| m.max(v.abs()));
    got.iter()
        .flatten()
        .zip(want.iter().flatten())
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(
            0.0,
            |m: f64, e| if e.is_nan() { f64::INFINITY } else { m.max(e) },
        )
}

/// The whole-net reference forward pass on `rows` flat samples.
fn forward(layers: &[Layer], state: &mut MlpState, x: &[f64], rows: usize, update: bool) -> Cache {
    reference::forward(layers, x.len() / rows, state, x, rows, update)
}

/// D's output (the last activation of a forward pass) as the f32 logits
/// the loss takes.
fn logits_of(cache: &Cache) -> Vec<f32> {
    cache
        .values
        .last()
        .unwrap()
        .iter()
        .map(|&v| v as f32)
        .collect()
}

/// One training step (docs/design.md) on the CPU, in f64, from the same weights, noise and batch.
fn reference_step(
    c: &GanConfig,
    data: &Dataset,
    t: u32,
    g: &mut MlpState,
    d: &mut MlpState,
    gm: &mut MlpState,
    dm: &mut MlpState,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let (b, m) = (c.batch, c.pack);
    let features = data.features();
    let Samples::Images { bytes, .. } = &data.samples else {
        unreachable!()
    };
    // A conditional GAN's rows: G's latents, D's samples, each followed by
    // a one-hot label, or one-hot planes beside a convolutional D's images
    // (k = 0: unconditional).
    let classes = c.classes;
    let (gi, w, repeat) = (c.latent + classes, c.sample_width(), c.label_repeat());
    let identity: Vec<u32> = (0..classes as u32).collect();
    let table: Vec<u32> = data.labels.iter().flatten().map(|&l| l as u32).collect();
    let labels_after = |first, stride, offset| Block {
        first,
        stride,
        offset,
    };
    let label = |z: &mut Vec<f64>, d_in: &mut Vec<f64>, stream, counter, first| {
        if classes > 0 {
            let y = indices(c.seed, stream, counter, classes as u32, b);
            one_hot(&identity, &y, classes, z, labels_after(0, gi, c.latent));
            let at = labels_after(first, w, features);
            one_hot_repeated(&identity, &y, classes, repeat, d_in, at);
        }
    };
    // D's updates, numbered u from 1 across steps; D's schedule counts them,
    // so its decay runs over updates (start·k, end·k].
    let k = c.d_steps as u32;
    let d_decay = Decay {
        start: c.decay.start * k,
        end: c.decay.end * k,
        floor: c.decay.floor,
    };
    let mut d_grads_last = vec![];
    for j in 0..k {
        let u = (t - 1) * k + j + 1;
        let mut z1 = normal(c.seed, 1, u, 0.0, 1.0, b * gi);
        let idx = indices(c.seed, 3, u, data.items as u32, b);
        let real = gather(bytes, features, &idx);
        let mut d_in = vec![0.0; 2 * b * w];
        let dense = Block::dense(features);
        columns(&real, dense, &mut d_in, labels_after(0, w, 0), b, features);
        if classes > 0 {
            let at = labels_after(0, w, features);
            one_hot_repeated(&table, &idx, classes, repeat, &mut d_in, at);
        }
        label(&mut z1, &mut d_in, streams::LABELS_D, u, b);
        let fake1 = reference::forward(&c.generator, c.g_input(), g, &z1, b, false)
            .values
            .last()
            .unwrap()
            .clone();
        columns(&fake1, dense, &mut d_in, labels_after(b, w, 0), b, features);
        let rows = 2 * b / m;
        // D's batch norm normalises the real and the generated half each
        // on its own, and both update its running statistics, in turn.
        let cache =
            reference::forward_in_groups(&c.discriminator, c.d_input(), d, &d_in, rows, true, 2);
        let logits = logits_of(&cache);
        let dl = loss(c.loss, c.real_label as f64, 0.0, b / m, 1.0, &logits).dlogits;
        let (d_grads, _) = reference::backward(&c.discriminator, d, &cache, &dl, rows);
        adam_all(c.lr_d, d_decay, c, &c.discriminator, u, d, &d_grads, dm);
        d_grads_last = d_grads;
    }

    let mut z2 = normal(c.seed, 2, t, 0.0, 1.0, b * gi);
    let mut dg_in = vec![0.0; b * w];
    label(&mut z2, &mut dg_in, streams::LABELS_G, t, 0);
    let g_cache = reference::forward(&c.generator, c.g_input(), g, &z2, b, true);
    let fake2 = g_cache.values.last().unwrap().clone();
    let dense = Block::dense(features);
    columns(
        &fake2,
        dense,
        &mut dg_in,
        labels_after(0, w, 0),
        b,
        features,
    );
    let dg_cache = reference::forward(&c.discriminator, c.d_input(), d, &dg_in, b / m, true);
    let logits = logits_of(&dg_cache);
    let g_kind = if c.loss == LossKind::Hinge {
        LossKind::Linear
    } else {
        c.loss
    };
    let dl = loss(g_kind, 1.0, 1.0, b / m, 1.0, &logits).dlogits;
    let (_, d_dg_in) = reference::backward(&c.discriminator, d, &dg_cache, &dl, b / m);
    let mut d_fake = vec![0.0; b * features];
    columns(
        &d_dg_in,
        labels_after(0, w, 0),
        &mut d_fake,
        dense,
        b,
        features,
    );
    let (g_grads, _) = reference::backward(&c.generator, g, &g_cache, &d_fake, b);
    adam_all(c.lr_g, c.decay, c, &c.generator, t, g, &g_grads, gm);
    (d_grads_last, g_grads)
}

/// Adam on every tensor of a net with these layers, batch norm's at
/// lr · norm_lr; `moments.params` holds m, `moments.running` is unused, v
/// lives in the second half of the moments list.
#[allow(clippy::too_many_arguments)]
fn adam_all(
    lr: f32,
    decay: Decay,
    c: &GanConfig,
    layers: &[Layer],
    t: u32,
    net: &mut MlpState,
    grads: &[Vec<f64>],
    moments: &mut MlpState,
) {
    let cfg = Adam {
        lr,
        beta1: c.beta1,
        beta2: c.beta2,
        decay,
        ..Adam::default()
    };
    let norm = Adam {
        lr: lr * c.norm_lr,
        ..cfg
    };
    let is_norm: Vec<bool> = layers
        .iter()
        .flat_map(|l| vec![l.kind().is_norm(); l.kind().params().len()])
        .collect();
    let n = net.params.len();
    assert_eq!(is_norm.len(), n);
    let (ms, vs) = moments.params.split_at_mut(n);
    for i in 0..n {
        adam(
            if is_norm[i] { &norm } else { &cfg },
            t,
            &mut net.params[i],
            &grads[i],
            &mut ms[i],
            &mut vs[i],
        );
    }
}

fn zeros_like(s: &MlpState) -> MlpState {
    let z: Vec<Vec<f64>> = s.params.iter().map(|p| vec![0.0; p.len()]).collect();
    MlpState {
        params: z.iter().chain(&z).cloned().collect(),
        buffers: vec![],
    }
}

fn check_steps(c: &GanConfig, steps: u32) {
    let data = tiny_images();
    let mut t = Trainer::new(gpu(), c, &data).unwrap();
    let (mut g, mut d) = (read_state(&t.g), read_state(&t.d));
    let (mut gm, mut dm) = (zeros_like(&g), zeros_like(&d));
    let mut grads = (vec![], vec![]);
    for step in 1..=steps {
        t.step(false).unwrap();
        grads = reference_step(c, &data, step, &mut g, &mut d, &mut gm, &mut dm);
    }
    gpu().wait().unwrap();
    let tag = format!(
        "pack {} loss {:?} d_steps {} decay {:?} norm_lr {} classes {} after {steps} steps",
        c.pack, c.loss, c.d_steps, c.decay, c.norm_lr, c.classes
    );
    let (gpu_g, gpu_d) = (read_state(&t.g), read_state(&t.d));
    let grad = |net: &Net| -> Vec<Vec<f64>> {
        net.grads
            .views
            .iter()
            .map(|v| to64(&gpu().read(v).unwrap()))
            .collect()
    };
    // The bias of a Linear right before a batch norm has a gradient of
    // exactly zero (the norm subtracts the mean), so in floats it is
    // rounding noise, which Adam's first steps scale up to ±lr: its value
    // is arbitrary and left out; its gradient must be noise-sized.
    let noise_only = |net: &Net| -> Vec<bool> {
        let mut out = Vec::new();
        for (i, l) in net.layers.iter().enumerate() {
            let before_norm = net.layers.get(i + 1).is_some_and(|n| n.kind().is_norm());
            for (suffix, _) in l.kind().params() {
                out.push(before_norm && suffix == "bias");
            }
        }
        out
    };
    let keep = |v: &[Vec<f64>], mask: &[bool]| -> Vec<Vec<f64>> {
        v.iter()
            .zip(mask)
            .filter(|(_, m)| !**m)
            .map(|(x, _)| x.clone())
            .collect()
    };
    let (gmask, dmask) = (noise_only(&t.g), noise_only(&t.d));
    let g_grads = grad(&t.g);
    let g_scale = g_grads.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for (v, _) in g_grads.iter().zip(&gmask).filter(|(_, m)| **m) {
        assert!(
            v.iter().all(|x| x.abs() <= 1e-5 * g_scale),
            "a bias before batch norm has a real gradient: {v:?}"
        );
    }
    let checks = [
        ("D gradients", err(&grad(&t.d), &grads.0)),
        ("G gradients", err(&g_grads, &grads.1)),
        (
            "D parameters",
            err(&keep(&gpu_d.params, &dmask), &keep(&d.params, &dmask)),
        ),
        (
            "G parameters",
            err(&keep(&gpu_g.params, &gmask), &keep(&g.params, &gmask)),
        ),
        (
            "G running statistics",
            err(&gpu_g.buffers.concat(), &g.buffers.concat()),
        ),
        (
            "D running statistics",
            err(&gpu_d.buffers.concat(), &d.buffers.concat()),
        ),
    ];
    for (what, e) in checks {
        eprintln!("step vs CPU reference, {tag}: {what} max err {e:.2e}");
        assert!(
            e <= 1e-4,
            "{what} differ from the CPU reference by {e:.3e} ({tag})"
        );
    }
}

#[test]
fn one_gpu_step_equals_the_cpu_reference_step() {
    check_steps(&tiny_config(1, LossKind::Bce), 1);
}

#[test]
fn three_gpu_steps_equal_the_cpu_reference_with_packing_and_other_losses() {
    check_steps(&tiny_config(2, LossKind::Bce), 3);
    check_steps(&tiny_config(1, LossKind::LeastSquares), 3);
    check_steps(&tiny_config(3, LossKind::Hinge), 3);
}

#[test]
fn batch_norm_at_its_own_learning_rate_equals_the_cpu_reference() {
    for norm_lr in [10.0, 0.3] {
        check_steps(
            &GanConfig {
                norm_lr,
                ..tiny_config(1, LossKind::Bce)
            },
            3,
        );
    }
}

#[test]
fn steps_with_several_d_updates_equal_the_cpu_reference() {
    for (k, pack) in [(2, 1), (3, 2)] {
        check_steps(
            &GanConfig {
                d_steps: k,
                ..tiny_config(pack, LossKind::Bce)
            },
            3,
        );
    }
    // With a decay over steps (1, 3], D's rates fall over its updates (k, 3k].
    check_steps(
        &GanConfig {
            d_steps: 2,
            ..tiny_config(1, LossKind::Bce)
        }
        .decaying(1, 3, 0.25),
        3,
    );
}

/// A small DCGAN on the 4×4 images: G a transposed convolution from the
/// noise to 2×2, batch norm, ReLU, a strided transposed convolution to
/// 4×4 and tanh; D a strided convolution with padding, batch norm (the real
/// and the generated half each on its own), LeakyReLU and a convolution to
/// one logit; DCGAN's initialisation.
fn tiny_dcgan(pack: usize, loss: LossKind) -> GanConfig {
    GanConfig {
        generator: vec![
            Layer::conv_transpose(5, 3, 2, 1, 0),
            Layer::batch_norm(3),
            Layer::Relu,
            Layer::conv_transpose(3, 1, 4, 2, 1),
            Layer::Tanh,
        ],
        discriminator: vec![
            Layer::conv(pack, 3, 4, 2, 1),
            Layer::batch_norm(3),
            Layer::leaky_relu(0.2),
            Layer::conv(3, 1, 2, 1, 0),
        ],
        init: shadergan::nn::InitScheme::Dcgan,
        ..tiny_config(pack, loss)
    }
}

#[test]
fn dcgan_gpu_steps_equal_the_cpu_reference() {
    check_steps(&tiny_dcgan(1, LossKind::Bce), 3);
    check_steps(&tiny_dcgan(2, LossKind::Hinge), 2);
    // Labels as one-hot planes beside D's images, after G's noise.
    check_steps(&tiny_dcgan(1, LossKind::Bce).conditional(3), 3);
}

#[test]
fn conditional_gpu_steps_equal_the_cpu_reference() {
    // Labels 0..3 beside the latents and the samples; with packing, and
    // with several D updates.
    for (pack, d_steps) in [(1, 1), (2, 2)] {
        let c = GanConfig {
            d_steps,
            ..tiny_config(pack, LossKind::Bce).conditional(3)
        };
        check_steps(&c, 3);
    }
}

#[test]
fn a_conditional_sampler_gives_each_row_its_label() {
    let c = tiny_config(1, LossKind::Bce).conditional(3);
    let t = Trainer::new(gpu(), &c, &tiny_images()).unwrap();
    let mut g = read_state(&t.g);
    let n = 7;
    let z = gan::latents(5, 6, n, c.latent);
    let mut forward = |labels: &[u32]| -> Vec<f64> {
        let mut input = vec![0.0; n * c.g_inputs()];
        let latent_block = Block::dense(c.g_inputs());
        columns(
            &to64(&z),
            Block::dense(c.latent),
            &mut input,
            latent_block,
            n,
            c.latent,
        );
        let at = Block {
            offset: c.latent,
            ..latent_block
        };
        one_hot(&[0, 1, 2], labels, 3, &mut input, at);
        forward(&c.generator, &mut g, &input, n, false)
            .values
            .last()
            .unwrap()
            .clone()
    };
    // Row i draws class i mod 3, or the labels given (batch norm on the
    // batch's statistics, as the CPU's forward pass).
    let got = t.sampler(n, true).unwrap().run(gpu(), &z).unwrap();
    let e = err(&[to64(&got)], &[forward(&[0, 1, 2, 0, 1, 2, 0])]);
    assert!(e <= 1e-5, "cycling labels: {e:.2e}");
    let s = Sampler::for_config(gpu(), &t.g, &c, n, true)
        .unwrap()
        .with_labels(3, vec![2; n])
        .unwrap();
    let got = s.run(gpu(), &z).unwrap();
    let e = err(&[to64(&got)], &[forward(&[2; 7])]);
    assert!(e <= 1e-5, "label 2: {e:.2e}");
    // Wrong labels and latents are refused by name.
    let err = t
        .sampler(n, false)
        .unwrap()
        .with_labels(3, vec![3; n])
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("label 3 is not one of the 3 classes"),
        "{err}"
    );
    let err = t
        .sampler(n, false)
        .unwrap()
        .run(gpu(), &z[1..])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("34 latent values for 7 samples of 5"),
        "{err}"
    );
}

#[test]
fn a_conditional_gan_needs_labels_in_range() {
    let c = tiny_config(1, LossKind::Bce).conditional(3);
    let mut data = tiny_images();
    data.labels = None;
    let err = Trainer::new(gpu(), &c, &data).err().unwrap();
    assert!(err.to_string().contains("tiny has no labels"), "{err}");
    data.labels = Some(vec![3; 50]);
    let err = Trainer::new(gpu(), &c, &data).err().unwrap();
    assert!(
        err.to_string()
            .contains("has a label 3, outside the 3 classes"),
        "{err}"
    );
}

/// Every buffer of both nets, named, as bits.
fn all_state(t: &Trainer<'_>) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    for (net_name, net) in [("G", &t.g), ("D", &t.d)] {
        for (what, a) in [
            ("params", &net.params),
            ("grads", &net.grads),
            ("adam m", &net.adam_m),
            ("adam v", &net.adam_v),
        ] {
            out.push((
                format!("{net_name} {what}"),
                gpu().read_u32(&a.whole).unwrap(),
            ));
        }
        for own in &net.buffers {
            let [m, v] = &own[..] else { continue };
            out.push((
                format!("{net_name} running mean"),
                gpu().read_u32(m).unwrap(),
            ));
            out.push((
                format!("{net_name} running var"),
                gpu().read_u32(v).unwrap(),
            ));
        }
    }
    out
}

/// A step timed kernel by kernel (each in a pass of its own between
/// timestamps) trains as a plain step does, bit for bit, and names every
/// dispatch of the step once.
#[test]
fn a_timed_step_is_the_same_step_and_times_each_dispatch() {
    let c = tiny_dcgan(1, LossKind::Bce).conditional(3);
    let data = tiny_images();
    let mut plain = Trainer::new(gpu(), &c, &data).unwrap();
    let mut timed = Trainer::new(gpu(), &c, &data).unwrap();
    let mut times = None;
    for _ in 0..3 {
        plain.step(false).unwrap();
        times = timed.timed_step().unwrap();
    }
    assert_eq!(timed.step, 3);
    assert_eq!(all_state(&plain), all_state(&timed));
    if !gpu().features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        assert_eq!(times, None);
        eprintln!("skipped: the adapter has no timestamp queries");
        return;
    }
    let times = times.unwrap();
    assert_eq!(times.len(), timed.kernels_per_step());
    assert!(timed.dispatches_per_step() >= times.len());
    assert!(times.iter().all(|(_, s)| s.is_finite() && *s >= 0.0));
    assert!(times.iter().any(|(l, _)| l.starts_with("matmul.wgsl")));
    assert!(times.iter().map(|k| k.1).sum::<f64>() > 0.0);
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shadergan-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("ck.safetensors")
}

/// [`tiny_config`] with layers 64 wide, whose weights a CPU adapter's
/// trainer keeps texture copies of (Net::mirror_weights).
fn wide_config() -> GanConfig {
    GanConfig {
        generator: vec![
            Layer::linear(5, 64),
            Layer::batch_norm(64),
            Layer::leaky_relu(0.2),
            Layer::linear(64, 16),
            Layer::Tanh,
        ],
        discriminator: vec![
            Layer::linear(16, 64),
            Layer::leaky_relu(0.2),
            Layer::linear(64, 64),
            Layer::leaky_relu(0.2),
            Layer::linear(64, 1),
        ],
        ..tiny_config(1, LossKind::Bce)
    }
}

/// Weights read from their texture copies (refreshed after each Adam)
/// train as the f64 reference does.
#[test]
fn steps_reading_weight_textures_equal_the_cpu_reference() {
    let c = wide_config();
    let t = Trainer::new(gpu(), &c, &tiny_images()).unwrap();
    let mirrored =
        t.g.mirrors
            .iter()
            .chain(&t.d.mirrors)
            .filter(|m| m.is_some())
            .count();
    if gpu().info.device_type == wgpu::DeviceType::Cpu && gpu().subgroups().is_some() {
        assert_eq!(mirrored, 2, "G's 64-input layer and D's 64 x 64 one");
    } else {
        println!("the adapter keeps no weight textures: the reference check runs on buffers");
    }
    check_steps(&c, 3);
}

#[test]
fn resuming_from_a_checkpoint_continues_bit_for_bit() {
    let configs = [1, 2].map(|d_steps| GanConfig {
        d_steps,
        ..tiny_config(1, LossKind::Bce)
    });
    // A wide net's weight textures are refreshed from the restored weights.
    for c in configs.into_iter().chain([wide_config()]) {
        let d_steps = c.d_steps;
        let data = tiny_images();
        let mut straight = Trainer::new(gpu(), &c, &data).unwrap();
        for _ in 0..8 {
            straight.step(false).unwrap();
        }
        let mut first = Trainer::new(gpu(), &c, &data).unwrap();
        for _ in 0..4 {
            first.step(false).unwrap();
        }
        let path = temp(&format!("resume-{d_steps}-{}", c.discriminator.len()));
        checkpoint::save(&first, &path).unwrap();
        let mut resumed = Trainer::new(gpu(), &c, &data).unwrap();
        checkpoint::read(&path)
            .unwrap()
            .restore(&mut resumed)
            .unwrap();
        assert_eq!(resumed.step, 4);
        for _ in 0..4 {
            resumed.step(false).unwrap();
        }
        let (mut a, mut b) = (all_state(&straight), all_state(&resumed));
        for (state, t) in [(&mut a, &straight), (&mut b, &resumed)] {
            state.push(("counters".into(), gpu().read_u32(&t.counters).unwrap()));
        }
        // Gradients of D's first layer are compared too: all the state is the same.
        assert_eq!(
            a,
            b,
            "8 steps straight and 4 + resume + 4 differ (d_steps {d_steps}, {} layers)",
            c.discriminator.len()
        );
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
}

#[test]
fn a_checkpoint_written_and_read_back_is_the_same() {
    let c = tiny_config(1, LossKind::Bce);
    let data = tiny_images();
    let mut t = Trainer::new(gpu(), &c, &data).unwrap();
    for _ in 0..2 {
        t.step(false).unwrap();
    }
    let path = temp("roundtrip");
    checkpoint::save(&t, &path).unwrap();
    let ck = checkpoint::read(&path).unwrap();
    assert_eq!(ck.config, c);
    assert_eq!(ck.step, 2);
    // Every parameter, with PyTorch's name and shape.
    let w = &ck.tensors["generator.0.weight"];
    assert_eq!(w.0, vec![7, 5]);
    assert_eq!(w.1, gpu().read(t.g.param(0, 0)).unwrap());
    assert_eq!(
        ck.tensors["generator.1.running_var"].1,
        gpu().read(&t.g.buffers[1][1]).unwrap()
    );
    assert_eq!(ck.tensors["discriminator.2.bias"].0, vec![1]);
    assert!(
        ck.tensors
            .contains_key("optimizer.generator.3.weight.exp_avg_sq")
    );
    // Loading it into a fresh trainer gives back every bit.
    let mut fresh = Trainer::new(gpu(), &c, &data).unwrap();
    ck.restore(&mut fresh).unwrap();
    for ((name, x), (_, y)) in all_state(&t).iter().zip(&all_state(&fresh)) {
        // Gradients are not saved: they are recomputed by every step.
        if !name.ends_with("grads") {
            assert!(x == y, "{name} differs after a round trip");
        }
    }
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn a_truncated_checkpoint_is_refused_by_name() {
    let data = tiny_images();
    let t = Trainer::new(gpu(), &tiny_config(1, LossKind::Bce), &data).unwrap();
    let path = temp("truncated");
    checkpoint::save(&t, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for keep in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = checkpoint::read(&path)
            .err()
            .unwrap_or_else(|| panic!("{keep} bytes read as a checkpoint"));
        assert!(err.to_string().contains("ck.safetensors"), "{err}");
    }
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn a_checkpoint_of_another_architecture_names_the_tensor() {
    let data = tiny_images();
    let t = Trainer::new(gpu(), &tiny_config(1, LossKind::Bce), &data).unwrap();
    let path = temp("arch");
    checkpoint::save(&t, &path).unwrap();
    let mut other_cfg = tiny_config(1, LossKind::Bce);
    other_cfg.generator[0] = Layer::linear(5, 7);
    other_cfg.discriminator[0] = Layer::linear(16, 10);
    other_cfg.discriminator[2] = Layer::linear(10, 1);
    let mut other = Trainer::new(gpu(), &other_cfg, &data).unwrap();
    let err = checkpoint::read(&path)
        .unwrap()
        .restore(&mut other)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("tensor discriminator.0.weight has shape [9, 16], this model needs [10, 16]"),
        "{err}"
    );
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

/// A short run on the ring of 8 Gaussians finds every mode, with most
/// samples near one (the quality protocol of docs/design.md on 2,500 samples).
#[test]
fn a_short_run_on_the_ring_finds_all_8_modes() {
    use shadergan::data::{self, Samples};
    use shadergan::eval::mixture_quality;
    use shadergan::gan::{self, Sampler};

    let data = data::load("ring", None, false, 0).unwrap();
    let Samples::Points { mixture, .. } = &data.samples else {
        unreachable!()
    };
    // The defaults of `shadergan train --data ring`.
    let c = GanConfig::points("ring");
    let mut t = Trainer::new(gpu(), &c, &data).unwrap();
    for _ in 0..2000 {
        t.step(false).unwrap();
    }
    let z = gan::latents(1, streams::FIXED_Z, 2500, 2);
    let xy = Sampler::new(gpu(), &t.g, 2500, false)
        .unwrap()
        .run(gpu(), &z)
        .unwrap();
    let q = mixture_quality(&xy, mixture);
    // Which mode each sample is nearest to, among those near one.
    let mut per_mode = vec![0usize; 8];
    for p in xy.chunks_exact(2) {
        let (best, d) = mixture
            .modes
            .iter()
            .enumerate()
            .map(|(i, m)| (i, ((p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2)).sqrt()))
            .fold((0, f32::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
        if d < 0.19 {
            per_mode[best] += 1;
        }
    }
    eprintln!("ring after 2000 steps: {q:?}, near samples per mode {per_mode:?}");
    assert!(
        per_mode.iter().all(|&n| n >= 25),
        "a mode is missing: {per_mode:?}"
    );
    assert!(
        q.near >= 0.8,
        "only {:.1}% of samples are near a mode",
        100.0 * q.near
    );
}

/// A device lost in the middle of training is an error from the next
/// step, not a panic; checkpoints already on disk are untouched.
#[test]
fn a_lost_device_is_a_clear_error() {
    // A device of its own: destroying it must not touch the other tests'.
    let gpu = Gpu::new(&GpuOptions::default()).unwrap();
    let data = tiny_images();
    let mut t = Trainer::new(&gpu, &tiny_config(1, LossKind::Bce), &data).unwrap();
    t.step(false).unwrap();
    let path = temp("lost");
    checkpoint::save(&t, &path).unwrap();
    gpu.device.destroy();
    let err = (0..3)
        .find_map(|_| t.step(false).err().or_else(|| gpu.wait().err()))
        .expect("steps on a destroyed device succeeded");
    let text = err.to_string();
    assert!(text.contains("lost") || text.contains("failed"), "{text}");
    assert_eq!(checkpoint::read(&path).unwrap().step, 1);
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

/// A data set streamed from host memory gives the run of the same data set
/// on the device, bit for bit: the host draws the GPU's own indices.
#[test]
fn streamed_batches_give_the_same_run_as_batches_on_the_device() {
    use shadergan::gan::Placement;
    let data = tiny_images();
    for c in [
        tiny_config(1, LossKind::Bce),
        GanConfig {
            d_steps: 2,
            ..tiny_config(2, LossKind::LeastSquares).conditional(3)
        },
        tiny_dcgan(1, LossKind::Bce).conditional(3),
    ] {
        let mut a = Trainer::placed(gpu(), &c, &data, Placement::Device).unwrap();
        let mut b = Trainer::placed(gpu(), &c, &data, Placement::Stream).unwrap();
        assert_eq!(b.placement(), Placement::Stream);
        for _ in 0..4 {
            a.step(false).unwrap();
            b.step(false).unwrap();
        }
        assert_eq!(all_state(&a), all_state(&b), "{c:?}");
    }
}

/// A data set larger than lavapipe's 128 MiB storage binding trains,
/// streamed without being asked to be.
#[test]
fn a_data_set_larger_than_a_storage_binding_is_streamed() {
    let gpu = gpu();
    let side = 64;
    let limit = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size) as usize;
    let items = (limit / (side * side)).min(200_000) + 7;
    let mut bytes = vec![0u8; items * side * side];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2654435761) >> 13) as u8;
    }
    let data = Dataset {
        name: "large".into(),
        items,
        samples: Samples::Images {
            bytes: bytes.into(),
            channels: 1,
            height: side,
            width: side,
        },
        labels: None,
        class_names: Vec::new(),
        notes: Vec::new(),
    };
    let c = GanConfig {
        generator: shadergan::nn::mlp(5, &[8], side * side, true, 0.2, Some(Layer::Tanh)),
        discriminator: shadergan::nn::mlp(side * side, &[8], 1, false, 0.2, None),
        shape: vec![1, side, side],
        ..tiny_config(1, LossKind::Bce)
    };
    let needs = (items * side * side) as u64;
    if needs
        <= gpu
            .limits
            .max_storage_buffer_binding_size
            .min(gpu.limits.max_buffer_size)
    {
        eprintln!("this adapter binds {needs} bytes at once: nothing to stream");
        return;
    }
    let mut t = Trainer::new(gpu, &c, &data).unwrap();
    assert_eq!(t.placement(), shadergan::gan::Placement::Stream);
    for _ in 0..3 {
        t.step(true).unwrap();
    }
    let m = t.flush_metrics().unwrap();
    assert!(m.iter().all(|m| m.d_loss.is_finite()), "{m:?}");
}

#[test]
fn the_step_flop_count_is_that_of_docs_benchmarks() {
    use shadergan::bench::step_flop_per_sample;
    assert_eq!(
        step_flop_per_sample(&GanConfig::reference_mnist(64)),
        18_737_152.0
    );
    // The 28 × 28 DCGAN at w = 32, by hand, a transposed layer counted as
    // in positions × in channels × out channels × k²: G 100·128·49 +
    // 49·128·64·16 + 196·64·1·16 and D 196·32·1·16 + 49·64·32·16 + 64·49
    // multiply-adds.
    let c = GanConfig {
        classes: 0,
        ..shadergan::gan::presets::DCGAN_BENCH.config("mnist", &[1, 28, 28])
    };
    let (g1, g, d1, d) = (
        627_200.0,
        627_200.0 + 6_422_528.0 + 200_704.0,
        100_352.0,
        100_352.0 + 1_605_632.0 + 3_136.0,
    );
    assert_eq!(
        step_flop_per_sample(&c),
        2.0 * (4.0 * g - g1 + 8.0 * d - 2.0 * d1)
    );
}

/// Sampling in parts (what keeps 10,000 samples of a DCGAN inside the
/// adapter's buffers) gives the samples of one pass, bit for bit.
#[test]
fn sampling_in_parts_equals_sampling_at_once() {
    let c = tiny_dcgan(1, LossKind::Bce).conditional(3);
    let data = tiny_images();
    let mut t = Trainer::new(gpu(), &c, &data).unwrap();
    t.step(false).unwrap();
    let n = 37;
    let z = gan::latents(3, streams::FIXED_Z, n, c.latent);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
    let whole = Sampler::in_parts(gpu(), &t.g, n, n, false)
        .unwrap()
        .with_labels(3, labels.clone())
        .unwrap();
    let parts = Sampler::in_parts(gpu(), &t.g, n, 8, false)
        .unwrap()
        .with_labels(3, labels)
        .unwrap();
    assert_eq!(parts.rows(), 8);
    let a = whole.run(gpu(), &z).unwrap();
    assert_eq!(a.len(), n * 16);
    assert_eq!(a, parts.run(gpu(), &z).unwrap());
}
