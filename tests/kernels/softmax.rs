use rand::RngExt;
use shadergan::ops::softmax::reference as softmax_ref;
use shadergan::ops::softmax::{cross_entropy, probs};

use crate::*;

fn labels(rng: &mut rand::rngs::StdRng, n: usize, classes: usize) -> Vec<usize> {
    (0..n).map(|_| rng.random_range(0..classes)).collect()
}

fn as_f32(labels: &[usize]) -> Vec<f32> {
    labels.iter().map(|&y| y as f32).collect()
}

/// Runs the fused kernel; returns (dlogits, [loss, accuracy]).
fn run_ce(logits: &[f32], classes: usize, y: &[usize], scale: f32) -> (Vec<f32>, Vec<f32>) {
    let (d, out) = (nan_tensor(logits.len()), nan_tensor(3));
    let k = cross_entropy(
        gpu(),
        &upload(logits),
        classes,
        &upload(&as_f32(y)),
        scale,
        &d,
        &out,
    )
    .unwrap();
    run(&[&k]);
    (read(&d), read(&out))
}

#[test]
fn softmax_matches_reference_and_rows_sum_to_one() {
    let (mut rng, seed) = rng();
    for n in ROWS {
        for classes in [1, 2, 10, 37] {
            let x = random(&mut rng, n * classes, -20.0, 20.0);
            let out = nan_tensor(x.len());
            run(&[&probs(gpu(), &upload(&x), classes, &out).unwrap()]);
            let got = read(&out);
            let tag = format!("n={n} classes={classes}");
            assert_close(
                &format!("softmax {tag}"),
                seed,
                &got,
                &softmax_ref::softmax(&x, classes),
                1e-5,
            );
            for row in got.chunks(classes) {
                let s: f32 = row.iter().sum();
                assert!(
                    (s - 1.0).abs() < 1e-5,
                    "softmax row sums to {s} ({tag}, seed {seed})"
                );
            }
        }
    }
}

#[test]
fn cross_entropy_matches_reference_loss_accuracy_and_gradient() {
    let (mut rng, seed) = rng();
    for n in ROWS {
        for classes in [1, 3, 10] {
            let x = random(&mut rng, n * classes, -8.0, 8.0);
            let y = labels(&mut rng, n, classes);
            let (d, out) = run_ce(&x, classes, &y, 0.5);
            let want = softmax_ref::cross_entropy(&x, classes, &y, 0.5);
            let tag = format!("n={n} classes={classes}");
            assert_close(
                &format!("ce loss {tag}"),
                seed,
                &out[..1],
                &[want.loss],
                1e-5,
            );
            assert_eq!(
                out[1] as f64, want.accuracy as f32 as f64,
                "accuracy {tag} (seed {seed})"
            );
            assert!(out[2].is_nan(), "the kernel wrote past out[1]");
            // |p - onehot| ≤ 1: grad_scale / n is the gradient's natural scale.
            let scale = max_abs(&want.dlogits).max(0.5 / n as f64);
            assert_close_scaled(
                &format!("ce dlogits {tag}"),
                seed,
                &d,
                &want.dlogits,
                scale,
                1e-5,
            );
        }
    }
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let (mut rng, seed) = rng();
    for (n, classes) in [(1, 10), (7, 3), (100, 10), (257, 7)] {
        let x = random(&mut rng, n * classes, -3.0, 3.0);
        let y = labels(&mut rng, n, classes);
        let (d, _) = run_ce(&x, classes, &y, 1.0);
        let at = coords(&mut rng, x.len(), 40);
        let fd = finite_differences(&x, &at, 1e-2, |x| {
            softmax_ref::cross_entropy(x, classes, &y, 1.0).loss
        });
        assert_gradient(
            &format!("cross entropy n={n} classes={classes}"),
            seed,
            &d,
            &at,
            &fd,
            1e-3,
        );
    }
}

#[test]
fn cross_entropy_is_finite_and_exact_for_extreme_logits() {
    // A confident right answer costs ~0, a confident wrong one ~|margin|;
    // exp never overflows because the row's maximum is subtracted first.
    let x = [80.0, -80.0, 0.0, -80.0, 80.0, 0.0, 1e30, 0.0, 0.0];
    let y = [0, 0, 2];
    let (d, out) = run_ce(&x, 3, &y, 1.0);
    let want = softmax_ref::cross_entropy(&x, 3, &y, 1.0);
    assert!(d.iter().all(|v| v.is_finite()), "{d:?}");
    assert!(out[0].is_finite() && want.loss.is_finite());
    assert!(
        (out[0] as f64 - want.loss).abs() <= 1e-6 * want.loss,
        "{} vs {}",
        out[0],
        want.loss
    );
    assert_eq!(out[1], 1.0 / 3.0);
}

#[test]
fn softmax_kernels_refuse_bad_shapes() {
    let x = upload(&[0.0; 12]);
    let msg = |r: shadergan::Result<shadergan::Kernel>| r.expect_err("accepted").to_string();
    assert!(msg(probs(gpu(), &x, 5, &nan_tensor(12))).contains("whole rows of 5"));
    assert!(msg(probs(gpu(), &x, 0, &nan_tensor(12))).contains("whole rows of 0"));
    let e = msg(cross_entropy(
        gpu(),
        &x,
        4,
        &upload(&[0.0; 2]),
        1.0,
        &nan_tensor(12),
        &nan_tensor(2),
    ));
    assert!(e.contains("labels has 2 elements, expected 3"), "{e}");
}
