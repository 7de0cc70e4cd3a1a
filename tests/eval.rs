//! The quality measures of docs/design.md and the digit classifier behind them.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use shadergan::classifier::{self, Classifier, TrainConfig};
use shadergan::data::{self, Mixture};
use shadergan::eval::{FeatureStats, class_scores, frechet_distance, mixture_quality};
use shadergan::gan::refine::{self, Refine, Refiner};
use shadergan::gan::reject::{self, Rejector};
use shadergan::gan::{self, Sampler, streams};
use shadergan::nn::{Layer, Net, reference};
use shadergan::ops::random::reference::{normal, uniform};
use shadergan::ops::refine::reference::ascend;
use shadergan::sample::refine_for;
use shadergan::{Gpu, GpuOptions};

fn gpu() -> &'static Gpu {
    static GPU: std::sync::OnceLock<Gpu> = std::sync::OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

fn rng() -> (StdRng, u64) {
    let seed = rand::rng().random::<u64>();
    (StdRng::seed_from_u64(seed), seed)
}

/// Statistics of a Gaussian with a diagonal covariance.
fn diagonal(mean: &[f64], var: &[f64]) -> FeatureStats {
    let w = mean.len();
    let mut cov = vec![0.0; w * w];
    for i in 0..w {
        cov[i * w + i] = var[i];
    }
    FeatureStats {
        mean: mean.to_vec(),
        cov,
        width: w,
    }
}

#[test]
fn frechet_distance_matches_the_closed_form_for_diagonal_gaussians() {
    // For diagonal covariances: ‖μ1 − μ2‖² + Σ (σ1 − σ2)².
    let (mut rng, seed) = rng();
    for w in [1, 7, 64] {
        let m1: Vec<f64> = (0..w).map(|_| rng.random_range(-1.0..1.0)).collect();
        let m2: Vec<f64> = (0..w).map(|_| rng.random_range(-1.0..1.0)).collect();
        let v1: Vec<f64> = (0..w).map(|_| rng.random_range(0.01..4.0)).collect();
        let v2: Vec<f64> = (0..w).map(|_| rng.random_range(0.01..4.0)).collect();
        let want: f64 = (0..w)
            .map(|i| (m1[i] - m2[i]).powi(2) + (v1[i].sqrt() - v2[i].sqrt()).powi(2))
            .sum();
        let got = frechet_distance(&diagonal(&m1, &v1), &diagonal(&m2, &v2));
        assert!(
            (got - want).abs() <= 1e-9 * want.max(1.0),
            "w={w}: {got} vs {want} (seed {seed})"
        );
        let same = frechet_distance(&diagonal(&m1, &v1), &diagonal(&m1, &v1));
        assert!(same.abs() < 1e-9, "distance to itself {same}");
    }
}

#[test]
fn frechet_distance_is_rotation_invariant_for_full_covariances() {
    // Rotating both sets of features by the same angle keeps the distance;
    // the covariances are then full, which the diagonal case never tests.
    let (mut rng, seed) = rng();
    let n = 4000;
    let a: Vec<f32> = (0..2 * n)
        .map(|i| rng.random_range(-1.0..1.0) * (1 + i % 2) as f32)
        .collect();
    let b: Vec<f32> = (0..2 * n)
        .map(|i| 0.5 + rng.random_range(-1.0..1.0) * (2 - i % 2) as f32)
        .collect();
    let rotate = |v: &[f32], t: f32| -> Vec<f32> {
        v.chunks(2)
            .flat_map(|p| {
                [
                    p[0] * t.cos() - p[1] * t.sin(),
                    p[0] * t.sin() + p[1] * t.cos(),
                ]
            })
            .collect()
    };
    let plain = frechet_distance(&FeatureStats::of(&a, 2), &FeatureStats::of(&b, 2));
    let turned = frechet_distance(
        &FeatureStats::of(&rotate(&a, 0.7), 2),
        &FeatureStats::of(&rotate(&b, 0.7), 2),
    );
    assert!(plain > 0.1, "{plain}");
    assert!(
        (plain - turned).abs() < 1e-4 * plain,
        "{plain} vs {turned} (seed {seed})"
    );
}

fn one_hot(classes: &[usize]) -> Vec<f32> {
    classes
        .iter()
        .flat_map(|&c| (0..10).map(move |j| if j == c { 1.0 } else { 0.0 }))
        .collect()
}

#[test]
fn class_scores_of_perfect_and_collapsed_generators() {
    let reference = diagonal(&[0.0; 3], &[1.0; 3]);
    let features = vec![0.0f32; 3 * 1000];
    // Every class equally often, each sample certain: IS 10, KL 0.
    let all: Vec<usize> = (0..1000).map(|i| i % 10).collect();
    let s = class_scores(&one_hot(&all), 10, &features, 3, &reference);
    assert_eq!(s.classes_covered, 10);
    assert!(s.class_kl.abs() < 1e-12, "{}", s.class_kl);
    assert!(
        (s.inception_score - 10.0).abs() < 1e-9,
        "{}",
        s.inception_score
    );
    assert_eq!(s.confidence, 1.0);
    // Features all at the mean with no spread: ‖0‖² + tr(I) = 3.
    assert!((s.frechet - 3.0).abs() < 1e-9, "{}", s.frechet);
    // One class only: IS 1, KL ln 10.
    let s = class_scores(&one_hot(&[3; 1000]), 10, &features, 3, &reference);
    assert_eq!(s.classes_covered, 1);
    assert!((s.class_kl - 10f64.ln()).abs() < 1e-12);
    assert!((s.inception_score - 1.0).abs() < 1e-9);
    // Unsure samples (uniform probabilities) say nothing: IS 1.
    let s = class_scores(&vec![0.1; 10_000], 10, &features, 3, &reference);
    assert!(
        (s.inception_score - 1.0).abs() < 1e-6,
        "{}",
        s.inception_score
    );
    // A class seen in under 1% of the samples is not covered.
    let mut few: Vec<usize> = (0..1000).map(|i| i % 9).collect();
    few[..9].fill(9);
    let s = class_scores(&one_hot(&few), 10, &features, 3, &reference);
    assert_eq!(s.classes_covered, 9);
}

#[test]
fn mixture_quality_counts_modes_high_quality_samples_and_reverse_kl() {
    let ring = Mixture::ring();
    // Two samples exactly on mode 0, one on mode 1, one 2 std off mode 2,
    // one halfway between modes 3 and 4.
    let m = &ring.modes;
    let mid = [(m[3][0] + m[4][0]) / 2.0, (m[3][1] + m[4][1]) / 2.0];
    let xy = [
        m[0][0],
        m[0][1],
        m[0][0],
        m[0][1],
        m[1][0],
        m[1][1],
        m[2][0] + 0.02,
        m[2][1],
        mid[0],
        mid[1],
    ];
    let q = mixture_quality(&xy, &ring);
    assert_eq!(q.modes, 3);
    assert!((q.high_quality - 0.8).abs() < 1e-12);
    // Histogram (2, 1, 1)/4 over 8 modes against uniform.
    let want = 0.5 * (0.5f64 * 8.0).ln() + 2.0 * 0.25 * (0.25f64 * 8.0).ln();
    assert!(
        (q.reverse_kl - want).abs() < 1e-9,
        "{} vs {want}",
        q.reverse_kl
    );
    // Real samples of the mixture score as a perfect generator does.
    let real = mixture_quality(&ring.sample(2500, 1), &ring);
    assert_eq!(real.modes, 8);
    assert!(real.high_quality > 0.98, "{}", real.high_quality);
    assert!(real.reverse_kl < 0.01, "{}", real.reverse_kl);
}

/// A digits classifier's share right of the 1,000 held-out digits, which
/// must be the one its file records.
fn held_out_accuracy(c: &Classifier) -> f64 {
    let mnist = data::builtin_mnist();
    let (x, labels) = classifier::digits(&mnist).unwrap();
    let held = classifier::HELD_OUT;
    let scored = c.score(gpu(), &x[..held * classifier::FEATURES]).unwrap();
    let hits = scored
        .probs
        .chunks(classifier::CLASSES)
        .zip(&labels[..held])
        .filter(|(p, l)| classifier::top_class(p) == **l as usize)
        .count();
    let acc = hits as f64 / held as f64;
    assert_eq!(
        acc, c.held_out_accuracy,
        "the file records another accuracy"
    );
    acc
}

/// The shipped classifier is the CNN, more accurate than the MLP it
/// replaced (kept for the scores measured with it).
#[test]
fn the_shipped_classifier_is_the_cnn_and_beats_the_mlp_on_the_held_out_digits() {
    let cnn = Classifier::builtin(gpu()).unwrap();
    assert_eq!(cnn.config.arch, classifier::Arch::Cnn);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/classifier/digits-mlp.safetensors"
    );
    let mlp = Classifier::load(gpu(), std::path::Path::new(path)).unwrap();
    assert_eq!(mlp.config.arch, classifier::Arch::Mlp);
    let (a_cnn, a_mlp) = (held_out_accuracy(&cnn), held_out_accuracy(&mlp));
    eprintln!("held-out accuracy: CNN {a_cnn:.4}, MLP {a_mlp:.4}");
    assert!(a_cnn >= 0.98, "CNN {a_cnn}");
    assert!(a_mlp >= 0.97, "MLP {a_mlp}");
    assert!(a_cnn > a_mlp);
}

#[test]
fn classifier_training_learns_and_is_reproducible_bit_for_bit() {
    let mnist = data::builtin_mnist();
    let config = TrainConfig {
        hidden: vec![32],
        steps: 150,
        batch: 64,
        shift: 0,
        ..TrainConfig::default()
    };
    let a = classifier::train(gpu(), &mnist, &config, |_, _, _| {}).unwrap();
    let b = classifier::train(gpu(), &mnist, &config, |_, _, _| {}).unwrap();
    eprintln!("held-out accuracy after 150 steps: {}", a.held_out_accuracy);
    assert!(a.held_out_accuracy > 0.7, "{}", a.held_out_accuracy);
    let wa = gpu().read(&a.net.params.whole).unwrap();
    let wb = gpu().read(&b.net.params.whole).unwrap();
    assert!(wa.iter().zip(&wb).all(|(x, y)| x.to_bits() == y.to_bits()));
    // Saved and loaded, it scores the same.
    let path =
        std::env::temp_dir().join(format!("shadergan-cls-{}.safetensors", std::process::id()));
    a.save(gpu(), &path).unwrap();
    let c = Classifier::load(gpu(), &path).unwrap();
    assert_eq!(c.config, config);
    assert_eq!(c.held_out_accuracy, a.held_out_accuracy);
    let x = &classifier::digits(&mnist).unwrap().0[..50 * classifier::FEATURES];
    assert_eq!(
        c.score(gpu(), x).unwrap().probs,
        a.score(gpu(), x).unwrap().probs
    );
    std::fs::remove_file(&path).ok();
    // A file that is not a classifier says so.
    let e = Classifier::load(gpu(), std::path::Path::new("/no/such.safetensors"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("cannot read the classifier"), "{e}");
}

#[test]
fn other_data_holds_out_every_tenth_image_of_each_class_in_any_order() {
    let config = TrainConfig {
        data: "some/folder".into(),
        ..TrainConfig::default()
    };
    // Ordered round-robin by class, as the fashion fixture is: every tenth
    // item would all be of class 0.
    let labels: Vec<u8> = (0..100).map(|i| (i % 5) as u8).collect();
    let held = config.held_out(&labels);
    for class in 0..5u8 {
        let of_class: Vec<bool> = (0..100)
            .filter(|&i| labels[i] == class)
            .map(|i| held[i])
            .collect();
        assert_eq!(of_class.len(), 20);
        assert_eq!(of_class.iter().filter(|&&h| h).count(), 2, "class {class}");
        assert!(of_class[0] && of_class[10]);
    }
    // The built-in digits hold out the first 1,000, as they always have.
    let mnist = TrainConfig::default().held_out(&[0; 1200]);
    assert!(mnist[..1000].iter().all(|&h| h) && !mnist[1000..].iter().any(|&h| h));
}

#[test]
fn a_cnn_classifier_learns_labelled_images_and_keeps_its_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fashion1k-fixture-images-idx3-ubyte.gz"
    );
    let fashion = data::load(path, None, false, 0).unwrap();
    let mut config = TrainConfig::cnn_for(&fashion, path).unwrap();
    assert_eq!((config.shape, config.classes), ([1, 28, 28], 10));
    config.steps = 60;
    config.batch = 32;
    let a = classifier::train(gpu(), &fashion, &config, |_, _, _| {}).unwrap();
    eprintln!(
        "fashion fixture, held-out accuracy after 60 steps: {}",
        a.held_out_accuracy
    );
    // Chance is 10%.
    assert!(a.held_out_accuracy > 0.5, "{}", a.held_out_accuracy);
    let (stats, real) = a.reference.clone().expect("a reference of its own");
    assert_eq!(stats.width, 128);
    assert_eq!(real.samples, 100);
    assert!(
        real.inception_score > 2.0 && real.frechet.is_finite(),
        "{real:?}"
    );
    // Saved and loaded, it keeps its reference and scores the same.
    let file =
        std::env::temp_dir().join(format!("shadergan-cnn-{}.safetensors", std::process::id()));
    a.save(gpu(), &file).unwrap();
    let b = Classifier::load(gpu(), &file).unwrap();
    std::fs::remove_file(&file).ok();
    assert_eq!(b.config, config);
    let (stats_b, real_b) = b.reference.clone().unwrap();
    assert_eq!(real_b, real);
    let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    assert_eq!(as_f32(&stats_b.mean), as_f32(&stats.mean));
    assert_eq!(as_f32(&stats_b.cov), as_f32(&stats.cov));
    let x = &classifier::labelled_images(&fashion).unwrap().0[..7 * 784];
    assert_eq!(
        b.score(gpu(), x).unwrap().probs,
        a.score(gpu(), x).unwrap().probs
    );
    // The judge that eval builds on it measures against that reference.
    let judge = shadergan::eval::ImageJudge::new(gpu(), b).unwrap();
    assert_eq!(judge.real, real);
}

/// A random generator (latent 3 → 2 values in (−1, 1)) and a discriminator
/// of `pack` samples whose weights are scaled by `sharp`, so its logits
/// spread over several units and rejection has something to reject.
fn tiny_pair(seed: u64, pack: usize, sharp: f32) -> (Net, Net) {
    let g_layers = [
        Layer::linear(3, 7),
        Layer::leaky_relu(0.2),
        Layer::linear(7, 2),
        Layer::Tanh,
    ];
    let d_layers = [
        Layer::linear(2 * pack, 5),
        Layer::leaky_relu(0.2),
        Layer::linear(5, 1),
    ];
    let g = Net::new(gpu(), &g_layers, 3, seed, 1).unwrap();
    let d = Net::new(gpu(), &d_layers, 2 * pack, seed, 2).unwrap();
    let w: Vec<f32> = gpu()
        .read(&d.params.whole)
        .unwrap()
        .iter()
        .map(|v| v * sharp)
        .collect();
    gpu().write(&d.params.whole, &w).unwrap();
    (g, d)
}

/// The net's weights, read back for the CPU reference.
fn cpu_state(net: &Net) -> reference::State {
    reference::State {
        params: net
            .params
            .views
            .iter()
            .map(|t| gpu().read(t).unwrap().iter().map(|&v| v as f64).collect())
            .collect(),
        buffers: vec![vec![]; net.layers.len()],
    }
}

fn cpu_forward(net: &Net, x: &[f64], rows: usize) -> Vec<f64> {
    let mut state = cpu_state(net);
    let cache = reference::forward(&net.layers, net.input, &mut state, x, rows, false);
    cache.values.last().unwrap().clone()
}

#[test]
fn rejection_keeps_what_the_acceptance_rule_keeps() {
    let (mut rng, seed) = rng();
    let (mut rejected, mut shifted) = (0, false);
    // The last, much sharper, discriminator leaves exact rejection short
    // whatever the seed, so the shift is always exercised.
    for (n, pack, sharp) in [
        (1, 1, 8.0),
        (7, 1, 8.0),
        (100, 2, 8.0),
        (257, 3, 8.0),
        (100, 1, 40.0),
    ] {
        let (g, d) = tiny_pair(seed, pack, sharp);
        let r = Rejector::new(gpu(), &g, &d, pack, n).unwrap();
        let chunk = r.chunk_size();
        assert_eq!(chunk % pack, 0);
        assert!(chunk >= n);
        let stream = rng.random_range(0..1000);
        let chunks = (reject::POOL * n).div_ceil(chunk);

        // The logits against the CPU's D(G(z)) on every chunk.
        let mut pool = Vec::new();
        for i in 0..chunks {
            let (x, logits) = r.chunk(gpu(), seed, stream, i).unwrap();
            let z = gan::latents_at(seed, stream, i as u32, chunk, 3);
            let z: Vec<f64> = z.iter().map(|&v| v as f64).collect();
            let want_x = cpu_forward(&g, &z, chunk);
            let want_l = cpu_forward(&d, &want_x, chunk / pack);
            for (a, b) in x.iter().zip(&want_x).chain(logits.iter().zip(&want_l)) {
                assert!(
                    (*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "seed {seed}, n {n}, pack {pack}: GPU {a} vs CPU {b}"
                );
            }
            pool.push((x, logits));
        }

        // The rule, applied by hand to the GPU's logits: the kept samples
        // in order, groups of pack kept together, stopping at n.
        let max = pool
            .iter()
            .flat_map(|(_, l)| l.iter().copied())
            .fold(f32::NEG_INFINITY, f32::max);
        let all: Vec<f32> = pool.iter().flat_map(|(_, l)| l.iter().copied()).collect();
        let need = reject::MARGIN * n.div_ceil(pack) as f64;
        let expect = |g: f64| {
            all.iter()
                .map(|&l| ((l - max) as f64 + g).exp().min(1.0))
                .sum::<f64>()
        };
        let shift = reject::shift_for(&all, max, need);
        // γ is 0 when exact sampling expects enough, else just enough.
        if shift == 0.0 {
            assert!(expect(0.0) >= need);
        } else {
            assert!(
                expect(shift) >= need && expect(shift - 1e-6) < need,
                "seed {seed}"
            );
        }
        let mut want = Vec::new();
        let mut examined = 0;
        'pool: for (i, (x, logits)) in pool.iter().enumerate() {
            let u = uniform(seed, streams::ACCEPT, i as u32, 0.0, 1.0, chunk / pack);
            for (k, l) in logits.iter().enumerate() {
                examined += pack;
                if u[k] < ((l - max) as f64 + shift).exp() {
                    for s in 0..pack {
                        if want.len() / 2 == n {
                            break;
                        }
                        want.extend_from_slice(&x[(k * pack + s) * 2..(k * pack + s) * 2 + 2]);
                    }
                    if want.len() / 2 == n {
                        break 'pool;
                    }
                }
            }
        }
        let got = r.run(gpu(), seed, stream, n).unwrap();
        assert_eq!(got.samples, want, "seed {seed}, n {n}, pack {pack}");
        assert_eq!(got.kept, want.len() / 2);
        assert_eq!(got.examined, examined);
        assert_eq!(got.drawn, chunks * chunk);
        assert_eq!(got.shift, shift);
        assert_eq!(got.kept, n, "seed {seed}, n {n}, pack {pack}");
        rejected += got.examined - got.kept;
        shifted |= shift > 0.0;
    }
    // The sharpened discriminator's logits spread over units: some
    // candidates were turned down, and for some pool exact rejection
    // would not have kept enough.
    assert!(rejected > 0, "seed {seed}: nothing rejected");
    assert!(shifted, "seed {seed}: no shift");
}

#[test]
fn rejection_by_an_undecided_discriminator_keeps_the_plain_samples() {
    // A discriminator with every weight 0 gives every sample the same
    // logit, so each is kept, and the result is the generator's first n
    // samples of chunk 0: the plain evaluation's latents.
    let (mut rng, seed) = rng();
    for (n, pack) in [(1, 1), (7, 3), (100, 1)] {
        let (g, d) = tiny_pair(seed, pack, 0.0);
        let stream = rng.random_range(0..1000);
        let got = Rejector::new(gpu(), &g, &d, pack, n)
            .unwrap()
            .run(gpu(), seed, stream, n)
            .unwrap();
        let plain = Sampler::new(gpu(), &g, n, false)
            .unwrap()
            .run(gpu(), &gan::latents(seed, stream, n, 3))
            .unwrap();
        assert_eq!(got.samples, plain, "seed {seed}, n {n}, pack {pack}");
        assert_eq!((got.kept, got.examined), (n, n.div_ceil(pack) * pack));
    }
}

#[test]
fn rejection_refuses_a_mismatched_discriminator() {
    let (g, _) = tiny_pair(1, 1, 1.0);
    let (_, d) = tiny_pair(1, 2, 1.0);
    let e = Rejector::new(gpu(), &g, &d, 1, 10)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("the discriminator takes 4 values"), "{e}");
}

/// The CPU's D(x) and ∂(Σ logits)/∂x on `rows` groups of x.
fn cpu_logits_and_input_grad(net: &Net, x: &[f64], rows: usize) -> (Vec<f64>, Vec<f64>) {
    let mut state = cpu_state(net);
    let cache = reference::forward(&net.layers, net.input, &mut state, x, rows, false);
    let logits = cache.values.last().unwrap().clone();
    let (_, dx) = reference::backward(&net.layers, &state, &cache, &vec![1.0; rows], rows);
    (logits, dx)
}

#[test]
fn refinement_steps_follow_the_cpu_gradient_and_noise() {
    // Each step on the GPU (from the GPU's previous samples) against the
    // CPU's x + rate · ∂(Σ logits)/∂x + √(2 rate T) ξ, ξ the CPU's copy of
    // the noise; then the same steps in one call, which must give the
    // same bits as the step-by-step calls (call k of a one-step refiner
    // draws the noise of step k of call 0). The step-by-step calls carry
    // the rows that pad the last group of `pack` (zeros at the start, as
    // the one call pads them) from step to step.
    let (mut rng, seed) = rng();
    for (n, pack) in [(1usize, 1usize), (7, 1), (100, 2), (257, 3)] {
        let (_, d) = tiny_pair(seed, pack, 2.0);
        let rate = rng.random_range(0.01f32..0.1);
        let temperature = rng.random_range(0.1f32..1.0);
        let steps = 3u32;
        let rows: usize = n.div_ceil(pack) * pack;
        let x0: Vec<f32> = (0..n * 2).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let one = Refine {
            steps: 1,
            rate,
            temperature,
        };
        let r1 = Refiner::new(gpu(), &d, pack, 2, rows, &one, seed).unwrap();
        let std = one.noise_std() as f64;
        let mut x = x0.clone();
        x.resize(rows * 2, 0.0);
        let mut moved = 0.0f64;
        for k in 0..steps {
            let got = r1.run(gpu(), &x, k).unwrap();
            let here: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let (_, grad) = cpu_logits_and_input_grad(&d, &here, rows / pack);
            let noise = normal(seed, streams::REFINE, k, 0.0, std, rows * 2);
            let want = ascend(rate as f64, &here, &grad, &noise);
            let err = got
                .iter()
                .zip(&want)
                .map(|(&g, &w)| (g as f64 - w).abs())
                .fold(0.0, f64::max);
            assert!(
                err < 1e-5,
                "seed {seed}, n {n}, pack {pack}, step {k}: max error {err:.2e}"
            );
            moved += got
                .iter()
                .zip(&x)
                .map(|(a, b)| (a - b).abs() as f64)
                .sum::<f64>();
            x = got;
        }
        assert!(moved > 0.0, "the samples did not move (seed {seed})");
        let all = Refine {
            steps: steps as usize,
            ..one
        };
        let together = Refiner::new(gpu(), &d, pack, 2, n, &all, seed)
            .unwrap()
            .run(gpu(), &x0, 0)
            .unwrap();
        assert_eq!(together, x[..n * 2], "seed {seed}, n {n}, pack {pack}");
    }
}

#[test]
fn refinement_without_noise_climbs_the_logit() {
    // Small steps of plain gradient ascent raise every group's logit.
    let (mut rng, seed) = rng();
    let (n, pack) = (100, 2);
    let (_, d) = tiny_pair(seed, pack, 2.0);
    let x0: Vec<f32> = (0..n * 2).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let cfg = Refine {
        steps: 20,
        rate: 1e-3,
        temperature: 0.0,
    };
    let x = Refiner::new(gpu(), &d, pack, 2, n, &cfg, seed)
        .unwrap()
        .run(gpu(), &x0, 0)
        .unwrap();
    let f = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let (before, grad) = cpu_logits_and_input_grad(&d, &f(&x0), n / pack);
    let (after, _) = cpu_logits_and_input_grad(&d, &f(&x), n / pack);
    for (g, (b, a)) in before.iter().zip(&after).enumerate() {
        let slope: f64 = grad[g * 2 * pack..(g + 1) * 2 * pack]
            .iter()
            .map(|v| v * v)
            .sum();
        if slope > 1e-6 {
            assert!(a > b, "group {g}: logit {b} -> {a} (seed {seed})");
        }
    }
}

#[test]
fn refinement_of_zero_steps_is_the_identity_and_bad_settings_are_refused() {
    let (_, d) = tiny_pair(3, 1, 1.0);
    let x: Vec<f32> = (0..14).map(|i| i as f32 * 0.1).collect();
    let zero = Refine {
        steps: 0,
        ..grid_setting()
    };
    let r = Refiner::new(gpu(), &d, 1, 2, 7, &zero, 0).unwrap();
    assert_eq!(r.run(gpu(), &x, 0).unwrap(), x);
    let too_many: Vec<f32> = vec![0.0; 16];
    assert!(r.run(gpu(), &too_many, 0).is_err());
    for (bad, what) in [
        (
            Refine {
                rate: 0.0,
                ..grid_setting()
            },
            "--refine-rate must be a positive number",
        ),
        (
            Refine {
                temperature: f32::NAN,
                ..grid_setting()
            },
            "--refine-temperature must be 0 or more",
        ),
        (
            Refine {
                steps: refine::MAX_STEPS + 1,
                ..grid_setting()
            },
            "--refine-steps",
        ),
    ] {
        let e = Refiner::new(gpu(), &d, 1, 2, 7, &bad, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(what), "{e}");
    }
    let e = refine_for("mnist", None).err().unwrap().to_string();
    assert!(e.contains("give one with --refine-rate"), "{e}");
    let grid = grid_setting();
    assert!((grid.rate - 0.02).abs() < 1e-6, "{grid:?}");
    let (_, d2) = tiny_pair(3, 2, 1.0);
    let e = Refiner::new(gpu(), &d2, 1, 2, 7, &grid_setting(), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("the discriminator takes 4 values"), "{e}");
}

/// The default refinement of a grid model.
fn grid_setting() -> Refine {
    refine_for("grid", None).unwrap()
}
