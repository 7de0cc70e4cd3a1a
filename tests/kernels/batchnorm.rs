use shadergan::ops::batchnorm::reference as batchnorm_ref;
use shadergan::ops::batchnorm::{self, BatchNorm};

use crate::*;

struct Case {
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    rm: Vec<f32>,
    rv: Vec<f32>,
}

fn case(rng: &mut rand::rngs::StdRng, rows: usize, cols: usize, offset: f32) -> Case {
    Case {
        x: random(rng, rows * cols, -2.0, 2.0)
            .iter()
            .map(|v| v + offset)
            .collect(),
        gamma: random(rng, cols, 0.5, 1.5),
        beta: random(rng, cols, -0.5, 0.5),
        rm: random(rng, cols, -0.1, 0.1),
        rv: random(rng, cols, 0.5, 1.5),
    }
}

/// What a training-mode forward pass wrote.
struct Outputs {
    y: Vec<f32>,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
}

/// Runs the training-mode forward pass on the GPU.
fn train_forward(rows: usize, cols: usize, c: &Case, update_running: bool) -> Outputs {
    let (y, mean, inv_std) = (nan_tensor(rows * cols), nan_tensor(cols), nan_tensor(cols));
    let (rm, rv) = (upload(&c.rm), upload(&c.rv));
    let k = batchnorm::train_forward(
        gpu(),
        &BatchNorm::new(rows, cols),
        &batchnorm::TrainForward {
            x: &upload(&c.x),
            gamma: &upload(&c.gamma),
            beta: &upload(&c.beta),
            y: &y,
            saved_mean: &mean,
            saved_inv_std: &inv_std,
            running_mean: &rm,
            running_var: &rv,
        },
        update_running,
    )
    .unwrap();
    run(&[&k]);
    Outputs {
        y: read(&y),
        mean: read(&mean),
        inv_std: read(&inv_std),
        running_mean: read(&rm),
        running_var: read(&rv),
    }
}

#[test]
fn train_forward_matches_reference_with_saved_and_running_statistics() {
    let (mut rng, seed) = rng();
    for rows in [7, 100, 257, 1000] {
        for cols in [1, 7, 100, 257] {
            let c = case(&mut rng, rows, cols, 0.3);
            let got = train_forward(rows, cols, &c, true);
            let want = batchnorm_ref::batchnorm_train(
                rows, cols, 1e-5, 0.1, &c.x, &c.gamma, &c.beta, &c.rm, &c.rv,
            );
            let tag = format!("{rows}x{cols}");
            for (what, g, w) in [
                ("y", &got.y, &want.y),
                ("inv_std", &got.inv_std, &want.inv_std),
                ("running var", &got.running_var, &want.running_var),
            ] {
                assert_close(&format!("batch norm {what} {tag}"), seed, g, w, 1e-5);
            }
            // A mean is accurate relative to the mean of |x|, not to a
            // result that cancels to near 0 (one column of 7 rows can);
            // the running mean 0.9·rm + 0.1·mean likewise.
            let abs_mean: Vec<f64> = (0..cols)
                .map(|j| {
                    (0..rows)
                        .map(|i| c.x[i * cols + j].abs() as f64)
                        .sum::<f64>()
                        / rows as f64
                })
                .collect();
            let scale = max_abs(&abs_mean);
            let rm_scale = (0..cols)
                .map(|j| 0.9 * c.rm[j].abs() as f64 + 0.1 * abs_mean[j])
                .fold(1e-30, f64::max);
            for (what, g, w, scale) in [
                ("mean", &got.mean, &want.mean, scale),
                (
                    "running mean",
                    &got.running_mean,
                    &want.running_mean,
                    rm_scale,
                ),
            ] {
                assert_close_scaled(&format!("batch norm {what} {tag}"), seed, g, w, scale, 1e-5);
            }
        }
    }
}

#[test]
fn train_forward_without_update_leaves_running_statistics_alone() {
    let (mut rng, _) = rng();
    let c = case(&mut rng, 7, 5, 0.0);
    let got = train_forward(7, 5, &c, false);
    assert_eq!(got.running_mean, c.rm);
    assert_eq!(got.running_var, c.rv);
}

#[test]
fn variance_is_accurate_far_from_zero_two_pass() {
    // E[x²] − E[x]² in f32 loses every digit of a variance of ~1 at an
    // offset of 1000; the two-pass form keeps it.
    let (mut rng, seed) = rng();
    let (rows, cols) = (1000, 7);
    let c = case(&mut rng, rows, cols, 1000.0);
    let got = train_forward(rows, cols, &c, true);
    let want = batchnorm_ref::batchnorm_train(
        rows, cols, 1e-5, 0.1, &c.x, &c.gamma, &c.beta, &c.rm, &c.rv,
    );
    assert_close(
        "batch norm inv_std at offset 1000",
        seed,
        &got.inv_std,
        &want.inv_std,
        1e-4,
    );
}

#[test]
fn eval_forward_uses_running_statistics() {
    let (mut rng, seed) = rng();
    for rows in ROWS {
        let cols = 100;
        let c = case(&mut rng, rows, cols, 0.0);
        let y = nan_tensor(rows * cols);
        let k = batchnorm::eval_forward(
            gpu(),
            &BatchNorm::new(rows, cols),
            &upload(&c.x),
            &upload(&c.gamma),
            &upload(&c.beta),
            &upload(&c.rm),
            &upload(&c.rv),
            &y,
        )
        .unwrap();
        run(&[&k]);
        let want = batchnorm_ref::batchnorm_eval(cols, 1e-5, &c.x, &c.gamma, &c.beta, &c.rm, &c.rv);
        assert_close(
            &format!("batch norm eval {rows}x{cols}"),
            seed,
            &read(&y),
            &want,
            1e-5,
        );
    }
}

/// Runs forward (to save the statistics) then backward; returns dx, dγ, dβ.
fn gpu_backward(rows: usize, cols: usize, c: &Case, dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let bn = BatchNorm::new(rows, cols);
    let (x, gamma) = (upload(&c.x), upload(&c.gamma));
    let (y, mean, inv_std) = (nan_tensor(rows * cols), nan_tensor(cols), nan_tensor(cols));
    let (rm, rv) = (upload(&c.rm), upload(&c.rv));
    let f = batchnorm::train_forward(
        gpu(),
        &bn,
        &batchnorm::TrainForward {
            x: &x,
            gamma: &gamma,
            beta: &upload(&c.beta),
            y: &y,
            saved_mean: &mean,
            saved_inv_std: &inv_std,
            running_mean: &rm,
            running_var: &rv,
        },
        true,
    )
    .unwrap();
    let (dx, dg, db) = (nan_tensor(rows * cols), nan_tensor(cols), nan_tensor(cols));
    let b = batchnorm::backward(
        gpu(),
        &bn,
        &batchnorm::Backward {
            x: &x,
            gamma: &gamma,
            saved_mean: &mean,
            saved_inv_std: &inv_std,
            dy: &upload(dy),
            dx: &dx,
            dgamma: &dg,
            dbeta: &db,
            y: None,
        },
    )
    .unwrap();
    run(&[&f, &b]);
    (read(&dx), read(&dg), read(&db))
}

/// The scales the backward sums are accurate to: the same sums with every
/// term taken by its absolute value (dβ = Σ dy, dγ = Σ dy·x̂, and dx's three
/// terms).
fn backward_scales(rows: usize, cols: usize, c: &Case, dy: &[f32]) -> (f64, f64, f64) {
    let fwd = batchnorm_ref::batchnorm_train(
        rows,
        cols,
        1e-5,
        0.1,
        &c.x,
        &vec![1.0; cols],
        &vec![0.0; cols],
        &c.rm,
        &c.rv,
    );
    let (mut sx, mut sg, mut sb) = (0.0f64, 0.0f64, 0.0f64);
    for col in 0..cols {
        let xhat = |r: usize| fwd.y[r * cols + col];
        let d = |r: usize| dy[r * cols + col].abs() as f64;
        let b: f64 = (0..rows).map(d).sum();
        let g: f64 = (0..rows).map(|r| d(r) * xhat(r).abs()).sum();
        sb = sb.max(b);
        sg = sg.max(g);
        let k = c.gamma[col].abs() as f64 * fwd.inv_std[col] / rows as f64;
        for r in 0..rows {
            sx = sx.max(k * (rows as f64 * d(r) + b + xhat(r).abs() * g));
        }
    }
    (sx, sg, sb)
}

#[test]
fn backward_matches_reference() {
    let (mut rng, seed) = rng();
    for rows in [7, 100, 257, 1000] {
        for cols in [1, 7, 257] {
            let c = case(&mut rng, rows, cols, 0.3);
            let dy = random(&mut rng, rows * cols, -1.0, 1.0);
            let (dx, dg, db) = gpu_backward(rows, cols, &c, &dy);
            let (wx, wg, wb) =
                batchnorm_ref::batchnorm_backward(rows, cols, 1e-5, &c.x, &c.gamma, &dy);
            let (sx, sg, sb) = backward_scales(rows, cols, &c, &dy);
            let tag = format!("{rows}x{cols}");
            assert_close_scaled(&format!("batch norm dx {tag}"), seed, &dx, &wx, sx, 1e-5);
            assert_close_scaled(
                &format!("batch norm dgamma {tag}"),
                seed,
                &dg,
                &wg,
                sg,
                1e-5,
            );
            assert_close_scaled(&format!("batch norm dbeta {tag}"), seed, &db, &wb, sb, 1e-5);
        }
    }
}

#[test]
fn backward_matches_finite_differences() {
    let (mut rng, seed) = rng();
    for rows in [3, 7, 100] {
        let cols = 5;
        let c = case(&mut rng, rows, cols, 0.0);
        let dy = random(&mut rng, rows * cols, -1.0, 1.0);
        let (dx, dg, db) = gpu_backward(rows, cols, &c, &dy);
        let loss = |x: &[f32], g: &[f32], b: &[f32]| {
            dot(
                &batchnorm_ref::batchnorm_train(rows, cols, 1e-5, 0.1, x, g, b, &c.rm, &c.rv).y,
                &dy,
            )
        };
        let cx = coords(&mut rng, rows * cols, 30);
        let fd = finite_differences(&c.x, &cx, 1e-3, |x| loss(x, &c.gamma, &c.beta));
        assert_gradient(
            &format!("batch norm dx rows={rows}"),
            seed,
            &dx,
            &cx,
            &fd,
            2e-3,
        );
        let cc: Vec<usize> = (0..cols).collect();
        let fd = finite_differences(&c.gamma, &cc, 1e-3, |g| loss(&c.x, g, &c.beta));
        assert_gradient(
            &format!("batch norm dgamma rows={rows}"),
            seed,
            &dg,
            &cc,
            &fd,
            1e-3,
        );
        let fd = finite_differences(&c.beta, &cc, 1e-3, |b| loss(&c.x, &c.gamma, b));
        assert_gradient(
            &format!("batch norm dbeta rows={rows}"),
            seed,
            &db,
            &cc,
            &fd,
            1e-3,
        );
    }
}

#[test]
fn training_with_a_batch_of_one_is_refused_with_a_reason() {
    let t = |n| gpu().zeros(n).unwrap();
    let (x, g, b, y, m, s, rm, rv) = (t(3), t(3), t(3), t(3), t(3), t(3), t(3), t(3));
    let err = batchnorm::train_forward(
        gpu(),
        &BatchNorm::new(1, 3),
        &batchnorm::TrainForward {
            x: &x,
            gamma: &g,
            beta: &b,
            y: &y,
            saved_mean: &m,
            saved_inv_std: &s,
            running_mean: &rm,
            running_var: &rv,
        },
        true,
    )
    .unwrap_err();
    assert!(err.to_string().contains("batch of at least 2"), "{err}");
}

/// Forward, running statistics and backward of BatchNorm2d (NCHW, over
/// rows and positions) with the rows in groups, each normalised by its own
/// statistics, against the reference; the backward against finite
/// differences too.
#[test]
fn batchnorm2d_in_groups_matches_reference_and_finite_differences() {
    let (mut rng, seed) = rng();
    for (rows, cols, spatial, groups) in [
        (2, 3, 49, 2),
        (6, 5, 1, 2),
        (8, 33, 7, 2),
        (3, 1, 13, 1),
        (128, 20, 4, 2),
    ] {
        let bn = BatchNorm::new(rows, cols).spatial(spatial).groups(groups);
        let n = bn.len();
        let c = case(&mut rng, rows * spatial, cols, 0.3);
        let dy = random(&mut rng, n, -1.0, 1.0);
        let [y, mean, inv, _, rv, dxs, dg, db] =
            <[Vec<f32>; 8]>::try_from(forward_backward_outputs(&bn, &c, &dy)).unwrap();
        let tag = format!("{rows}x{cols}x{spatial} in {groups} groups");
        let want = batchnorm_ref::train(&bn, &c.x, &c.gamma, &c.beta, &c.rm, &c.rv);
        assert_close(&format!("bn2d y {tag}"), seed, &y, &want.y, 1e-5);
        assert_close(
            &format!("bn2d inv_std {tag}"),
            seed,
            &inv,
            &want.inv_std,
            1e-5,
        );
        assert_close(
            &format!("bn2d running var {tag}"),
            seed,
            &rv,
            &want.running_var,
            1e-5,
        );
        let scale = max_abs(&c.x.iter().map(|v| v.abs() as f64).collect::<Vec<_>>());
        assert_close_scaled(
            &format!("bn2d mean {tag}"),
            seed,
            &mean,
            &want.mean,
            scale,
            1e-5,
        );
        let (wx, wg, wb) = batchnorm_ref::backward(&bn, &c.x, &c.gamma, &dy);
        let sb = (n / cols) as f64;
        assert_close_scaled(&format!("bn2d dbeta {tag}"), seed, &db, &wb, sb, 1e-5);
        assert_close_scaled(
            &format!("bn2d dgamma {tag}"),
            seed,
            &dg,
            &wg,
            3.0 * sb,
            1e-5,
        );
        let sx = max_abs(&wx) + 1.0;
        assert_close_scaled(&format!("bn2d dx {tag}"), seed, &dxs, &wx, sx, 1e-4);
        let loss = |x: &[f32]| {
            let out = batchnorm_ref::train(&bn, x, &c.gamma, &c.beta, &c.rm, &c.rv);
            dot(&out.y, &dy)
        };
        let cx = coords(&mut rng, n, 20);
        let fd = finite_differences(&c.x, &cx, 1e-3, loss);
        assert_gradient(&format!("bn2d dx {tag}"), seed, &dxs, &cx, &fd, 2e-3);
    }
}

/// Every output of a forward (updating the running statistics) and a
/// backward pass of `bn` with its sums taken as `r` says.
fn forward_backward_outputs(bn: &BatchNorm, c: &Case, dy: &[f32]) -> Vec<Vec<f32>> {
    let (n, cols, groups) = (bn.len(), bn.cols, bn.groups);
    let (x, gamma, beta) = (upload(&c.x), upload(&c.gamma), upload(&c.beta));
    let (rm, rv) = (upload(&c.rm), upload(&c.rv));
    let (y, mean, inv) = (
        nan_tensor(n),
        nan_tensor(cols * groups),
        nan_tensor(cols * groups),
    );
    let t = batchnorm::TrainForward {
        x: &x,
        gamma: &gamma,
        beta: &beta,
        y: &y,
        saved_mean: &mean,
        saved_inv_std: &inv,
        running_mean: &rm,
        running_var: &rv,
    };
    let f = batchnorm::train_forward(gpu(), bn, &t, true).unwrap();
    let (dx, dg, db) = (nan_tensor(n), nan_tensor(cols), nan_tensor(cols));
    let b = batchnorm::backward(
        gpu(),
        bn,
        &batchnorm::Backward {
            x: &x,
            gamma: &gamma,
            saved_mean: &mean,
            saved_inv_std: &inv,
            dy: &upload(dy),
            dx: &dx,
            dgamma: &dg,
            dbeta: &db,
            y: None,
        },
    )
    .unwrap();
    run(&[&f, &b]);
    [&y, &mean, &inv, &rm, &rv, &dx, &dg, &db]
        .iter()
        .map(|t| read(t))
        .collect()
}

/// The tree form (GPUs) and the one-thread-a-channel form (CPU adapters)
/// sum in the same order: the same bits, at awkward shapes, BatchNorm2d and
/// groups included (and the tree form is checked against the reference
/// through this wherever the adapter picks the other one).
#[test]
fn both_reductions_give_the_same_bits() {
    use batchnorm::Reduction;
    let (mut rng, seed) = rng();
    for (rows, cols, spatial, groups) in [
        (7, 1, 1, 1),
        (3, 13, 1, 1),
        (257, 33, 1, 1),
        (2, 3, 49, 2),
        (8, 33, 7, 2),
        (3, 1, 13, 1),
        (128, 20, 4, 2),
        (6, 5, 196, 2),
        // BatchNorm1d of a multiple of 4 features: the CPU form's vec4 kernels.
        (7, 4, 1, 1),
        (66, 12, 1, 2),
        (257, 32, 1, 1),
    ] {
        let bn = BatchNorm::new(rows, cols).spatial(spatial).groups(groups);
        let c = case(&mut rng, rows * spatial, cols, 0.3);
        let dy = random(&mut rng, bn.len(), -1.0, 1.0);
        let tree = forward_backward_outputs(&bn.reduction(Reduction::Tree), &c, &dy);
        let lanes = forward_backward_outputs(&bn.reduction(Reduction::Lanes), &c, &dy);
        for (what, t, l) in [
            "y",
            "mean",
            "inv_std",
            "running mean",
            "running var",
            "dx",
            "dgamma",
            "dbeta",
        ]
        .iter()
        .zip(tree.iter().zip(&lanes))
        .map(|(w, (t, l))| (w, t, l))
        {
            assert!(
                t.iter().all(|v| v.is_finite()),
                "{what} not written (seed {seed})"
            );
            let same = t.iter().zip(l).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "batch norm {rows}x{cols}x{spatial} in {groups} groups: {what} differs between the tree and lanes forms (seed {seed})"
            );
        }
    }
}

/// Batch norm with a fused activation (its forward applying it as it
/// stores, its backward taking the derivative as it reads dy) gives the
/// bits of batch norm and the activation kernel one after the other, in
/// both reductions; and refuses a backward without the forward's output.
#[test]
fn a_fused_activation_gives_the_bits_of_the_activation_kernel() {
    use batchnorm::Reduction;
    use shadergan::ops::activation::{self, Activation};
    let (mut rng, seed) = rng();
    for (rows, cols, spatial, groups, act) in [
        (7, 13, 1, 1, Activation::LeakyRelu(0.2)),
        (8, 5, 49, 2, Activation::LeakyRelu(0.2)),
        (3, 33, 7, 1, Activation::Tanh),
        (6, 3, 13, 2, Activation::Sigmoid),
        (34, 8, 1, 2, Activation::LeakyRelu(0.2)),
        (17, 12, 1, 1, Activation::Tanh),
    ] {
        for r in [Reduction::Tree, Reduction::Lanes] {
            let plain = BatchNorm::new(rows, cols)
                .spatial(spatial)
                .groups(groups)
                .reduction(r);
            let fused = plain.activation(act);
            let n = plain.len();
            let c = case(&mut rng, rows * spatial, cols, 0.3);
            let dy = upload(&random(&mut rng, n, -1.0, 1.0));
            let (x, gamma, beta) = (upload(&c.x), upload(&c.gamma), upload(&c.beta));
            // Both ways: (y, dx, dγ, dβ).
            let mut got = Vec::new();
            for bn in [plain, fused] {
                let (rm, rv) = (upload(&c.rm), upload(&c.rv));
                let (z, mean, inv) = (
                    nan_tensor(n),
                    nan_tensor(cols * groups),
                    nan_tensor(cols * groups),
                );
                let t = batchnorm::TrainForward {
                    x: &x,
                    gamma: &gamma,
                    beta: &beta,
                    y: &z,
                    saved_mean: &mean,
                    saved_inv_std: &inv,
                    running_mean: &rm,
                    running_var: &rv,
                };
                let mut kernels = vec![batchnorm::train_forward(gpu(), &bn, &t, true).unwrap()];
                // The separate activation, where it is not fused.
                let (y, d) = if bn.activation == Activation::None {
                    let (y, d) = (nan_tensor(n), nan_tensor(n));
                    kernels.push(activation::forward(gpu(), act, &z, &y).unwrap());
                    kernels.push(activation::backward(gpu(), act, &y, &dy, &d).unwrap());
                    (y, d)
                } else {
                    (z.clone(), dy.clone())
                };
                let (dx, dg, db) = (nan_tensor(n), nan_tensor(cols), nan_tensor(cols));
                let b = batchnorm::Backward {
                    x: &x,
                    gamma: &gamma,
                    saved_mean: &mean,
                    saved_inv_std: &inv,
                    dy: &d,
                    dx: &dx,
                    dgamma: &dg,
                    dbeta: &db,
                    y: Some(&y),
                };
                kernels.push(batchnorm::backward(gpu(), &bn, &b).unwrap());
                if bn.activation != Activation::None {
                    let refused =
                        batchnorm::backward(gpu(), &bn, &batchnorm::Backward { y: None, ..b });
                    assert!(
                        refused
                            .unwrap_err()
                            .to_string()
                            .contains("needs the forward's output")
                    );
                }
                run(&kernels.iter().collect::<Vec<_>>());
                got.push([read(&y), read(&dx), read(&dg), read(&db)]);
            }
            for (what, (a, b)) in ["y", "dx", "dgamma", "dbeta"]
                .iter()
                .zip(got[0].iter().zip(&got[1]))
            {
                assert!(
                    a.iter().all(|v| v.is_finite()),
                    "{what} not written (seed {seed})"
                );
                assert!(
                    a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{rows}x{cols}x{spatial} {act:?} {r:?}: {what} differs fused (seed {seed})"
                );
            }
        }
    }
}
