use shadergan::ops::random::reference as random_ref;
use shadergan::ops::random::{self, Stream};

use crate::*;

/// Random123's known-answer vectors for Philox4x32-10.
#[test]
fn philox_reference_matches_random123_known_answers() {
    let cases = [
        (
            [0u32; 4],
            [0u32; 2],
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
        ),
        (
            [u32::MAX; 4],
            [u32::MAX; 2],
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
        ),
        (
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0],
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
        ),
    ];
    for (ctr, key, want) in cases {
        assert_eq!(random_ref::philox4x32_10(ctr, key), want);
    }
}

fn stream(seed: u64, s: u32) -> Stream {
    Stream {
        seed,
        stream: s,
        slot: 1,
    }
}

#[test]
fn gpu_philox_bits_equal_the_reference_through_uniforms_and_indices() {
    let (mut rng, _) = rng();
    let seed: u64 = rand::RngExt::random(&mut rng);
    let counters = gpu().upload_u32(&[7, 12345]).unwrap();
    for n in [1, 7, 100, 257, 1001] {
        let u = nan_tensor(n);
        let idx = gpu().zeros(n).unwrap();
        let ku = random::uniform(gpu(), &stream(seed, 3), &counters, 0.0, 1.0, &u).unwrap();
        let ki = random::indices(gpu(), &stream(seed, 4), &counters, 60_000, &idx).unwrap();
        run(&[&ku, &ki]);
        let want_u = random_ref::uniform(seed, 3, 12345, 0.0, 1.0, n);
        let got_u = read(&u);
        for (g, w) in got_u.iter().zip(&want_u) {
            assert_eq!(*g as f64, *w, "uniform bits differ (seed {seed})");
        }
        assert_eq!(
            gpu().read_u32(&idx).unwrap(),
            random_ref::indices(seed, 4, 12345, 60_000, n),
            "seed {seed}"
        );
    }
}

#[test]
fn normal_noise_matches_reference() {
    let (mut rng, _) = rng();
    let seed: u64 = rand::RngExt::random(&mut rng);
    let counters = gpu().upload_u32(&[0, 99]).unwrap();
    for n in [1, 7, 100, 257, 1000] {
        let z = nan_tensor(n);
        run(&[&random::normal(gpu(), &stream(seed, 0), &counters, 0.5, 2.0, &z).unwrap()]);
        let want = random_ref::normal(seed, 0, 99, 0.5, 2.0, n);
        // f32's log, cos and sin err in absolute terms, so the error is
        // measured against the noise's scale (its standard deviation, or
        // its largest value): a lone draw near zero (n = 1) is no scale.
        let scale = want.iter().fold(2.0f64, |m, v| m.max(v.abs()));
        assert_close_scaled(
            &format!("normal n={n}"),
            seed,
            &read(&z),
            &want,
            scale,
            1e-5,
        );
    }
}

#[test]
fn normal_noise_has_mean_zero_and_variance_one_within_statistical_bounds() {
    let (mut rng, _) = rng();
    let seed: u64 = rand::RngExt::random(&mut rng);
    let n = 1 << 20;
    let counters = gpu().upload_u32(&[0, 0]).unwrap();
    let z = nan_tensor(n);
    run(&[&random::normal(gpu(), &stream(seed, 0), &counters, 0.0, 1.0, &z).unwrap()]);
    let z = read(&z);
    let nf = n as f64;
    let mean = z.iter().map(|&v| v as f64).sum::<f64>() / nf;
    let var = z.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / nf;
    let skew = z.iter().map(|&v| (v as f64 - mean).powi(3)).sum::<f64>() / nf;
    let kurt = z.iter().map(|&v| (v as f64 - mean).powi(4)).sum::<f64>() / nf;
    // Standard errors: mean 1/√n, variance √(2/n), skew √(6/n), kurtosis √(24/n); 5σ.
    eprintln!("normal moments: mean {mean:.2e} var {var:.5} skew {skew:.2e} kurt {kurt:.4}");
    assert!(mean.abs() < 5.0 / nf.sqrt(), "mean {mean} (seed {seed})");
    assert!(
        (var - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(),
        "variance {var} (seed {seed})"
    );
    assert!(
        skew.abs() < 5.0 * (6.0 / nf).sqrt(),
        "skew {skew} (seed {seed})"
    );
    assert!(
        (kurt - 3.0).abs() < 5.0 * (96.0 / nf).sqrt(),
        "kurtosis {kurt} (seed {seed})"
    );
    assert!(z.iter().all(|v| v.is_finite()));
}

#[test]
fn uniform_noise_stays_in_range_with_uniform_moments() {
    let (mut rng, _) = rng();
    let seed: u64 = rand::RngExt::random(&mut rng);
    let n = 1 << 18;
    let counters = gpu().upload_u32(&[0, 5]).unwrap();
    let u = nan_tensor(n);
    run(&[&random::uniform(gpu(), &stream(seed, 1), &counters, -2.0, 3.0, &u).unwrap()]);
    let u = read(&u);
    assert!(u.iter().all(|&v| (-2.0..3.0).contains(&v)));
    let mean = u.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    // U(-2, 3): mean 0.5, std 5/√12.
    assert!(
        (mean - 0.5).abs() < 5.0 * (5.0 / 12f64.sqrt()) / (n as f64).sqrt(),
        "mean {mean} (seed {seed})"
    );
}

#[test]
fn sample_indices_cover_the_range_uniformly_chi_square() {
    let (mut rng, _) = rng();
    let seed: u64 = rand::RngExt::random(&mut rng);
    let (n, range) = (100_000, 10u32);
    let counters = gpu().upload_u32(&[3, 0]).unwrap();
    let idx = gpu().zeros(n).unwrap();
    run(&[&random::indices(gpu(), &stream(seed, 2), &counters, range, &idx).unwrap()]);
    let mut hist = vec![0f64; range as usize];
    for i in gpu().read_u32(&idx).unwrap() {
        assert!(i < range);
        hist[i as usize] += 1.0;
    }
    let expected = n as f64 / range as f64;
    let chi2: f64 = hist.iter().map(|h| (h - expected).powi(2) / expected).sum();
    // 9 degrees of freedom: P(χ² > 33.7) < 1e-4.
    assert!(chi2 < 33.7, "chi-square {chi2} for {hist:?} (seed {seed})");
}

#[test]
fn counter_stream_and_seed_each_change_the_draw() {
    let n = 64;
    let counters = gpu().upload_u32(&[0, 1]).unwrap();
    let draw = |s: Stream| {
        let z = nan_tensor(n);
        run(&[&random::normal(gpu(), &s, &counters, 0.0, 1.0, &z).unwrap()]);
        read(&z)
    };
    let base = draw(stream(1, 0));
    assert_eq!(base, draw(stream(1, 0)), "same inputs, same bits");
    assert_ne!(base, draw(stream(2, 0)));
    assert_ne!(base, draw(stream(1, 1)));
    assert_ne!(
        base,
        draw(Stream {
            seed: 1,
            stream: 0,
            slot: 0
        })
    );
}
