use shadergan::ops::loss::reference as loss_ref;
use shadergan::ops::loss::{Loss, LossKind, OutRow, loss};

use crate::*;

/// Runs the loss with the real/fake split at `split` and checks all it writes.
fn check(kind: LossKind, labels: (f32, f32), split: usize, logits: &[f32], seed: u64, tol: f64) {
    let n = logits.len();
    let (d, out) = (nan_tensor(n), nan_tensor(6));
    let counters = gpu().upload_u32(&[0]).unwrap();
    let spec = Loss {
        kind,
        label_real: labels.0,
        label_fake: labels.1,
        split,
        grad_scale: 0.5,
    };
    run(&[&loss(
        gpu(),
        &spec,
        &upload(logits),
        &d,
        &out,
        &OutRow::fixed(&counters, 2),
    )
    .unwrap()]);
    let want = loss_ref::loss(kind, labels.0 as f64, labels.1 as f64, split, 0.5, logits);
    let got = read(&out);
    let tag = format!("{kind:?} labels {labels:?} split {split} n={n}");
    // The linear loss is a signed mean of the logits, which can cancel to
    // near zero: an f32 sum is accurate relative to the mean size of its
    // terms, not to the result. The other losses' terms are all ≥ 0, so
    // for them that is the result itself.
    let loss_scale = match kind {
        LossKind::Linear => {
            let mean_size = logits.iter().map(|x| x.abs() as f64).sum::<f64>() / n as f64;
            want.loss.abs().max(mean_size)
        }
        _ => want.loss.abs(),
    };
    assert_close_scaled(
        &format!("loss value {tag}"),
        seed,
        &got[2..3],
        &[want.loss],
        loss_scale.max(1e-30),
        tol,
    );
    assert_close(
        &format!("loss mean D(real) {tag}"),
        seed,
        &got[3..4],
        &[want.prob_real],
        tol,
    );
    assert_close(
        &format!("loss mean D(fake) {tag}"),
        seed,
        &got[4..5],
        &[want.prob_fake],
        tol,
    );
    // |dl/dx| reaches 1 for BCE, hinge and linear: grad_scale / n is the
    // natural scale of dlogits even where a smoothed label cancels it to ~0.
    let scale = max_abs(&want.dlogits).max(0.5 / n as f64);
    assert_close_scaled(
        &format!("loss dlogits {tag}"),
        seed,
        &read(&d),
        &want.dlogits,
        scale,
        tol,
    );
    assert!(
        got[0].is_nan() && got[1].is_nan() && got[5].is_nan(),
        "the loss wrote outside its row"
    );
}

#[test]
fn bce_with_logits_matches_reference_for_labels_0_1_and_smoothed() {
    let (mut rng, seed) = rng();
    for n in [1, 7, 100, 257, 1000] {
        let logits = random(&mut rng, n, -8.0, 8.0);
        for label in [0.0, 1.0, 0.9] {
            check(LossKind::Bce, (label, label), n, &logits, seed, 1e-5);
        }
    }
}

#[test]
fn bce_with_logits_is_finite_and_exact_for_extreme_logits() {
    let logits = [-1e4f32, -100.0, -30.0, 30.0, 100.0, 1e4, 0.0];
    for label in [0.0, 1.0] {
        check(
            LossKind::Bce,
            (label, label),
            logits.len(),
            &logits,
            0,
            1e-5,
        );
    }
}

#[test]
fn real_and_fake_halves_get_their_own_labels_and_means() {
    let (mut rng, seed) = rng();
    for (n, split) in [(2, 1), (14, 7), (200, 100), (1000, 257)] {
        let logits = random(&mut rng, n, -4.0, 4.0);
        for kind in [LossKind::Bce, LossKind::LeastSquares, LossKind::Hinge] {
            check(kind, (1.0, 0.0), split, &logits, seed, 1e-5);
        }
        check(LossKind::Bce, (0.9, 0.0), split, &logits, seed, 1e-5);
    }
}

#[test]
fn least_squares_hinge_and_linear_losses_match_reference() {
    let (mut rng, seed) = rng();
    for n in [1, 7, 257, 1000] {
        let logits = random(&mut rng, n, -3.0, 3.0);
        for label in [0.0, 1.0] {
            for kind in [LossKind::LeastSquares, LossKind::Hinge, LossKind::Linear] {
                check(kind, (label, label), n, &logits, seed, 1e-5);
            }
        }
    }
}

#[test]
fn loss_gradient_matches_finite_differences() {
    let (mut rng, seed) = rng();
    let n = 100;
    for kind in [
        LossKind::Bce,
        LossKind::LeastSquares,
        LossKind::Hinge,
        LossKind::Linear,
    ] {
        // Hinge is kinked at ±1: keep logits away from it.
        let logits: Vec<f32> = random(&mut rng, n, -3.0, 3.0)
            .into_iter()
            .map(|v| {
                if (v.abs() - 1.0).abs() < 0.05 {
                    v + 0.2
                } else {
                    v
                }
            })
            .collect();
        let (d, out) = (nan_tensor(n), nan_tensor(3));
        let counters = gpu().upload_u32(&[0]).unwrap();
        let spec = Loss {
            kind,
            label_real: 1.0,
            label_fake: 0.0,
            split: 37,
            grad_scale: 1.0,
        };
        run(&[&loss(
            gpu(),
            &spec,
            &upload(&logits),
            &d,
            &out,
            &OutRow::fixed(&counters, 0),
        )
        .unwrap()]);
        let c = coords(&mut rng, n, 25);
        let fd = finite_differences(&logits, &c, 1e-3, |x| {
            loss_ref::loss(kind, 1.0, 0.0, 37, 1.0, x).loss
        });
        assert_gradient(&format!("{kind:?}"), seed, &read(&d), &c, &fd, 1e-3);
    }
}

#[test]
fn each_step_writes_its_own_row_of_the_ring() {
    let logits = upload(&[0.0, 1.0]);
    let d = nan_tensor(2);
    let (ring, stride, base) = (4, 5, 1);
    let out = nan_tensor(base + ring * stride);
    let counters = gpu().upload_u32(&[0, 6]).unwrap();
    let at = OutRow {
        counters: &counters,
        slot: 1,
        ring,
        stride,
        base,
    };
    run(&[&loss(
        gpu(),
        &Loss::uniform(LossKind::Bce, 1.0, 2),
        &logits,
        &d,
        &out,
        &at,
    )
    .unwrap()]);
    let got = read(&out);
    // counter 6 → row 6 % 4 = 2 → elements 1 + 2·5 .. +3.
    for (i, v) in got.iter().enumerate() {
        assert_eq!(v.is_nan(), !(11..14).contains(&i), "element {i} = {v}");
    }
}

#[test]
fn loss_output_row_must_fit() {
    let l = gpu().zeros(4).unwrap();
    let d = gpu().zeros(4).unwrap();
    let out = gpu().zeros(3).unwrap();
    let counters = gpu().upload_u32(&[0]).unwrap();
    let err = loss(
        gpu(),
        &Loss::uniform(LossKind::Bce, 1.0, 4),
        &l,
        &d,
        &out,
        &OutRow::fixed(&counters, 1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("do not fit"), "{err}");
}
