use shadergan::cpu;
use shadergan::ops::loss::{Loss, LossKind, loss};

use crate::*;

fn check(kind: LossKind, label: f32, logits: &[f32], seed: u64, tol: f64) {
    let n = logits.len();
    let (d, out) = (nan_tensor(n), nan_tensor(4));
    let spec = Loss {
        kind,
        label,
        grad_scale: 0.5,
    };
    run(&[&loss(gpu(), &spec, &upload(logits), &d, &out, 2).unwrap()]);
    let (l, p, g) = cpu::loss(kind, label as f64, 0.5, logits);
    let got = read(&out);
    let tag = format!("{kind:?} label {label} n={n}");
    assert_close(&format!("loss value {tag}"), seed, &got[2..3], &[l], tol);
    assert_close(
        &format!("loss mean sigmoid {tag}"),
        seed,
        &got[3..4],
        &[p],
        tol,
    );
    // |dl/dx| reaches 1 for BCE, hinge and linear: grad_scale / n is the
    // natural scale of dlogits even where a smoothed label cancels it to ~0.
    let scale = max_abs(&g).max(0.5 / n as f64);
    assert_close_scaled(
        &format!("loss dlogits {tag}"),
        seed,
        &read(&d),
        &g,
        scale,
        tol,
    );
    assert!(
        got[0].is_nan() && got[1].is_nan(),
        "the loss wrote outside its slots"
    );
}

#[test]
fn bce_with_logits_matches_reference_for_labels_0_1_and_smoothed() {
    let (mut rng, seed) = rng();
    for n in [1, 7, 100, 257, 1000] {
        let logits = random(&mut rng, n, -8.0, 8.0);
        for label in [0.0, 1.0, 0.9] {
            check(LossKind::Bce, label, &logits, seed, 1e-5);
        }
    }
}

#[test]
fn bce_with_logits_is_finite_and_exact_for_extreme_logits() {
    let logits = [-1e4f32, -100.0, -30.0, 30.0, 100.0, 1e4, 0.0];
    for label in [0.0, 1.0] {
        check(LossKind::Bce, label, &logits, 0, 1e-5);
    }
}

#[test]
fn least_squares_hinge_and_linear_losses_match_reference() {
    let (mut rng, seed) = rng();
    for n in [1, 7, 257, 1000] {
        let logits = random(&mut rng, n, -3.0, 3.0);
        for label in [0.0, 1.0] {
            check(LossKind::LeastSquares, label, &logits, seed, 1e-5);
            check(LossKind::Hinge, label, &logits, seed, 1e-5);
            check(LossKind::Linear, label, &logits, seed, 1e-5);
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
        for label in [0.0f32, 1.0] {
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
            let (d, out) = (nan_tensor(n), nan_tensor(2));
            let spec = Loss {
                kind,
                label,
                grad_scale: 1.0,
            };
            run(&[&loss(gpu(), &spec, &upload(&logits), &d, &out, 0).unwrap()]);
            let c = coords(&mut rng, n, 25);
            let fd = finite_differences(&logits, &c, 1e-3, |x| {
                cpu::loss(kind, label as f64, 1.0, x).0
            });
            assert_gradient(
                &format!("{kind:?} label {label}"),
                seed,
                &read(&d),
                &c,
                &fd,
                1e-3,
            );
        }
    }
}

#[test]
fn loss_output_slot_must_fit() {
    let l = gpu().zeros(4).unwrap();
    let d = gpu().zeros(4).unwrap();
    let out = gpu().zeros(2).unwrap();
    let spec = Loss {
        kind: LossKind::Bce,
        label: 1.0,
        grad_scale: 1.0,
    };
    let err = loss(gpu(), &spec, &l, &d, &out, 1).unwrap_err();
    assert!(err.to_string().contains("needs two"), "{err}");
}
