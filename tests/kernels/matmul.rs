use shadergan::ops::activation::Activation;
use shadergan::ops::matmul::reference as matmul_ref;
use shadergan::ops::matmul::{Form, Layout, Matmul, MatmulTiles, matmul};
use shadergan::ops::{activation, reduce};

use crate::*;

/// (K, N) pairs tried at every row count: inner sizes that are not
/// multiples of any tile, and (K, N both multiples of 4) the shapes of the
/// vec4 kernels.
const SHAPES: [(usize, usize); 8] = [
    (1, 1),
    (7, 100),
    (100, 7),
    (257, 257),
    (100, 1),
    (784, 33),
    (100, 36),
    (256, 100),
];

fn check_form(form: Form) {
    let (mut rng, seed) = rng();
    for m in ROWS {
        for (k, n) in SHAPES {
            let a = random(&mut rng, m * k, -1.0, 1.0);
            let b = random(&mut rng, k * n, -1.0, 1.0);
            let (ta, tb) = (upload(&a), upload(&b));
            let c = nan_tensor(m * n);
            let kern = matmul(gpu(), &Matmul::new(form, m, n, k), &ta, &tb, None, &c).unwrap();
            run(&[&kern]);
            let want = matmul_ref::matmul(form, m, n, k, &a, &b);
            let scale = max_abs(&matmul_ref::matmul(form, m, n, k, &abs(&a), &abs(&b)));
            assert_close_scaled(
                &format!("matmul {form:?} {m}x{n}x{k}"),
                seed,
                &read(&c),
                &want,
                scale,
                1e-5,
            );
        }
    }
}

#[test]
fn nt_forward_form_matches_reference_at_awkward_sizes() {
    check_form(Form::NT);
}

#[test]
fn nn_input_gradient_form_matches_reference_at_awkward_sizes() {
    check_form(Form::NN);
}

#[test]
fn tn_weight_gradient_form_matches_reference_at_awkward_sizes() {
    check_form(Form::TN);
}

/// Every form, with N odd and N a multiple of 4 (where the CPU adapters'
/// NN and TN kernels store four outputs at a time).
fn check_epilogue(act: Activation, accumulate: bool) {
    let (mut rng, seed) = rng();
    let cases = ROWS
        .into_iter()
        .flat_map(|m| [Form::NT, Form::NN, Form::TN].map(move |f| (f, m)));
    for ((form, m), n) in cases.flat_map(|c| [(c, 257), (c, 256)]) {
        let k = 100;
        let a = random(&mut rng, m * k, -1.0, 1.0);
        let b = random(&mut rng, n * k, -0.3, 0.3);
        let bias = random(&mut rng, n, -1.0, 1.0);
        let old = random(&mut rng, m * n, -1.0, 1.0);
        let c = if accumulate {
            upload(&old)
        } else {
            nan_tensor(m * n)
        };
        let spec = Matmul::new(form, m, n, k)
            .activation(act)
            .accumulate(accumulate);
        let kern = matmul(
            gpu(),
            &spec,
            &upload(&a),
            &upload(&b),
            Some(&upload(&bias)),
            &c,
        )
        .unwrap();
        run(&[&kern]);
        let want = matmul_ref::matmul_fused(
            form,
            m,
            n,
            k,
            &a,
            &b,
            Some(&bias),
            accumulate.then_some(&old[..]),
            act,
        );
        // Every activation here has slope ≤ 1, so the scale of the sum bounds the output's error.
        let scale = max_abs(&matmul_ref::matmul(form, m, n, k, &abs(&a), &abs(&b))) + 2.0;
        assert_close_scaled(
            &format!("matmul {form:?} + bias + {act:?} (accumulate {accumulate}) {m}x{n}x{k}"),
            seed,
            &read(&c),
            &want,
            scale,
            1e-5,
        );
    }
}

#[test]
fn bias_and_leaky_relu_epilogue_matches_reference() {
    check_epilogue(Activation::LeakyRelu(0.2), false);
}

#[test]
fn bias_and_tanh_epilogue_matches_reference() {
    check_epilogue(Activation::Tanh, false);
}

#[test]
fn bias_and_sigmoid_epilogue_matches_reference() {
    check_epilogue(Activation::Sigmoid, false);
}

#[test]
fn accumulate_mode_adds_to_the_existing_output() {
    check_epilogue(Activation::None, true);
}

#[test]
fn every_tile_shape_gives_the_reference_product() {
    let (mut rng, seed) = rng();
    let shapes = [
        MatmulTiles::CPU,
        MatmulTiles::CPU.tall(),
        MatmulTiles::rows(1),
        MatmulTiles::rows(3),
        MatmulTiles::rows(16),
        MatmulTiles::rows(16).tall(),
        MatmulTiles::rows(8).with_rows(16),
        MatmulTiles::GPU,
        MatmulTiles::GPU_SMALL,
        MatmulTiles::SAFE,
        MatmulTiles::new(1, 1, 1, 4, 1),
        MatmulTiles::new(4, 4, 8, 8, 8),
        MatmulTiles::new(8, 2, 4, 16, 4),
    ];
    let (m, n, k) = (100, 257, 33);
    let a = random(&mut rng, m * k, -1.0, 1.0);
    let b = random(&mut rng, k * n, -1.0, 1.0);
    let (ta, tb) = (upload(&a), upload(&b));
    for form in [Form::NT, Form::NN, Form::TN] {
        let want = matmul_ref::matmul(form, m, n, k, &a, &b);
        let scale = max_abs(&matmul_ref::matmul(form, m, n, k, &abs(&a), &abs(&b)));
        for t in shapes {
            let c = nan_tensor(m * n);
            let kern = matmul(
                gpu(),
                &Matmul::new(form, m, n, k).tiles(t),
                &ta,
                &tb,
                None,
                &c,
            )
            .unwrap();
            run(&[&kern]);
            assert_close_scaled(
                &format!("matmul {form:?} tile {t}"),
                seed,
                &read(&c),
                &want,
                scale,
                1e-5,
            );
        }
    }
}

/// A dense layer y = tanh(X·Wᵀ + b) differentiated by the kernels a layer's
/// backward uses (activation backward, NN, TN, column sum) against finite
/// differences of the CPU forward of L = Σ w ⊙ y.
#[test]
fn dense_layer_backward_matches_finite_differences() {
    let (mut rng, seed) = rng();
    for m in [1, 7, 100] {
        let (k, n) = (13, 9);
        let act = Activation::Tanh;
        let x = random(&mut rng, m * k, -1.0, 1.0);
        let w = random(&mut rng, n * k, -0.5, 0.5);
        let b = random(&mut rng, n, -0.5, 0.5);
        let dy = random(&mut rng, m * n, -1.0, 1.0);
        let (tx, tw, tb, tdy) = (upload(&x), upload(&w), upload(&b), upload(&dy));
        let (y, g) = (nan_tensor(m * n), nan_tensor(m * n));
        let (dx, dw, db) = (nan_tensor(m * k), nan_tensor(n * k), nan_tensor(n));
        let gpu = gpu();
        let forward = matmul(
            gpu,
            &Matmul::new(Form::NT, m, n, k).activation(act),
            &tx,
            &tw,
            Some(&tb),
            &y,
        )
        .unwrap();
        let act_back = activation::backward(gpu, act, &y, &tdy, &g).unwrap();
        let input = matmul(gpu, &Matmul::new(Form::NN, m, k, n), &g, &tw, None, &dx).unwrap();
        let weight = matmul(gpu, &Matmul::new(Form::TN, n, k, m), &g, &tx, None, &dw).unwrap();
        let bias = reduce::column_sum(gpu, m, n, 1.0, &g, &db).unwrap();
        run(&[&forward, &act_back, &input, &weight, &bias]);

        let loss = |x: &[f32], w: &[f32], b: &[f32]| {
            dot(
                &matmul_ref::matmul_fused(Form::NT, m, n, k, x, w, Some(b), None, act),
                &dy,
            )
        };
        let cx = coords(&mut rng, m * k, 20);
        let fd = finite_differences(&x, &cx, 1e-3, |x| loss(x, &w, &b));
        assert_gradient(&format!("dense dX m={m}"), seed, &read(&dx), &cx, &fd, 1e-3);
        let cw = coords(&mut rng, n * k, 20);
        let fd = finite_differences(&w, &cw, 1e-3, |w| loss(&x, w, &b));
        assert_gradient(&format!("dense dW m={m}"), seed, &read(&dw), &cw, &fd, 1e-3);
        let cb: Vec<usize> = (0..n).collect();
        let fd = finite_differences(&b, &cb, 1e-3, |b| loss(&x, &w, b));
        assert_gradient(&format!("dense db m={m}"), seed, &read(&db), &cb, &fd, 1e-3);
    }
}

#[test]
fn mismatched_shapes_are_an_error_not_a_panic() {
    let a = gpu().zeros(6).unwrap();
    let b = gpu().zeros(6).unwrap();
    let c = gpu().zeros(4).unwrap();
    let err = matmul(gpu(), &Matmul::new(Form::NT, 2, 2, 4), &a, &b, None, &c).unwrap_err();
    assert!(
        err.to_string().contains("A has 6 elements, expected 8"),
        "{err}"
    );
    let err = matmul(gpu(), &Matmul::new(Form::NT, 2, 2, 0), &a, &b, None, &c).unwrap_err();
    assert!(err.to_string().contains("empty product"), "{err}");
}

#[test]
fn output_sharing_a_buffer_with_an_input_is_refused() {
    let arena = gpu().arena(&[4, 4, 4]).unwrap();
    let [a, b, c] = [&arena.views[0], &arena.views[1], &arena.views[2]];
    let err = matmul(gpu(), &Matmul::new(Form::NT, 2, 2, 2), a, b, None, c).unwrap_err();
    assert!(err.to_string().contains("different buffer"), "{err}");
}

/// Tuning picks a tile shape per machine; every shape adds each output's
/// products in the same order, so the choice never changes a bit.
/// The tile shapes, and each CPU shape again without its subgroup form.
fn with_alone(tiles: Vec<MatmulTiles>) -> Vec<MatmulTiles> {
    let alone: Vec<MatmulTiles> = tiles
        .iter()
        .filter(|t| t.layout == Layout::Rows)
        .map(|t| t.alone())
        .collect();
    tiles.into_iter().chain(alone).collect()
}

/// Where the adapter has subgroups of 8 lanes or more, the CPU layout's
/// kernels share A's rows across them (matmul_lanes.wgsl), and `alone`
/// turns that off; the tests above compare the two forms' bits.
#[test]
fn the_cpu_layout_shares_rows_across_subgroups_where_it_can() {
    let Some((min, _)) = gpu().subgroups().filter(|&(min, _)| min >= 8) else {
        println!("skipped: the adapter has no subgroups of 8 lanes or more");
        return;
    };
    let (a, b, c) = (
        upload(&[0.0; 64 * 64]),
        upload(&[0.0; 64 * 64]),
        nan_tensor(64 * 64),
    );
    for (form, lanes) in [
        (Form::NT, true),
        (Form::NN, true),
        (Form::TN, true),
        (Form::NT, false),
    ] {
        let t = MatmulTiles::rows(8 * min);
        let t = if lanes { t } else { t.alone() };
        let spec = Matmul::new(form, 64, 64, 64).tiles(t);
        let kernel = matmul(gpu(), &spec, &a, &b, None, &c).unwrap();
        let label = kernel.labels().join(" ");
        let file = if lanes {
            "matmul_lanes.wgsl"
        } else {
            "matmul_alone.wgsl"
        };
        assert!(label.contains(file), "{form:?} {t}: {label}");
    }
}

#[test]
fn every_tile_shape_gives_the_same_bits() {
    let (mut rng, seed) = rng();
    // Odd lengths, and multiples of 4 (the vec4 kernels on CPU adapters).
    for (m, n, k) in [(100, 257, 333), (100, 256, 332)] {
        let a = upload(&random(&mut rng, m * k, -1.0, 1.0));
        let b = upload(&random(&mut rng, k * n, -1.0, 1.0));
        let bias = upload(&random(&mut rng, n, -1.0, 1.0));
        for form in [Form::NT, Form::NN, Form::TN] {
            let mut first: Option<Vec<f32>> = None;
            for t in with_alone(shadergan::ops::matmul::tiles::candidates(
                wgpu::DeviceType::DiscreteGpu,
            )) {
                let c = nan_tensor(m * n);
                let spec = Matmul::new(form, m, n, k)
                    .activation(Activation::Tanh)
                    .tiles(t);
                run(&[&matmul(gpu(), &spec, &a, &b, Some(&bias), &c).unwrap()]);
                let got = read(&c);
                match &first {
                    None => first = Some(got),
                    Some(f) => assert!(
                        f.iter().zip(&got).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{form:?} {m}x{n}x{k}: tile {t} gives other bits (seed {seed})"
                    ),
                }
            }
        }
    }
}

/// Products with few outputs and a long k are split into slices of k
/// (split-K), the slices added in order by a second pass that applies the
/// epilogue: against the reference, every form, with bias and tanh, and
/// accumulating.
#[test]
fn split_k_products_match_reference_with_their_epilogue() {
    use shadergan::ops::matmul::split_k;
    let (mut rng, seed) = rng();
    for (m, n, k) in [(3, 5, 4099), (7, 13, 8192), (33, 1, 5001), (1, 1, 4096)] {
        for form in [Form::NT, Form::NN, Form::TN] {
            for accumulate in [false, true] {
                let a = random(&mut rng, m * k, -1.0, 1.0);
                let b = random(&mut rng, k * n, -1.0, 1.0);
                let bias = random(&mut rng, n, -1.0, 1.0);
                let old = random(&mut rng, m * n, -1.0, 1.0);
                let spec = Matmul::new(form, m, n, k)
                    .activation(Activation::Tanh)
                    .accumulate(accumulate);
                assert!(split_k(&spec).is_some(), "{m}x{n}x{k} is not split");
                let c = if accumulate {
                    upload(&old)
                } else {
                    nan_tensor(m * n)
                };
                let kern = matmul(
                    gpu(),
                    &spec,
                    &upload(&a),
                    &upload(&b),
                    Some(&upload(&bias)),
                    &c,
                )
                .unwrap();
                assert_eq!(kern.dispatches(), 2);
                run(&[&kern]);
                let want = matmul_ref::matmul_fused(
                    form,
                    m,
                    n,
                    k,
                    &a,
                    &b,
                    Some(&bias),
                    accumulate.then_some(&old[..]),
                    Activation::Tanh,
                );
                let scale = max_abs(&matmul_ref::matmul(form, m, n, k, &abs(&a), &abs(&b))) + 1.0;
                assert_close_scaled(
                    &format!("split matmul {form:?} {m}x{n}x{k} accumulate {accumulate}"),
                    seed,
                    &read(&c),
                    &want,
                    scale,
                    1e-5,
                );
            }
        }
    }
}

/// The rows `rows` and columns `cols` of a row-major matrix of `width`
/// columns.
fn take(v: &[f32], width: usize, rows: usize, cols: usize) -> Vec<f32> {
    (0..rows)
        .flat_map(|r| v[r * width..r * width + cols].to_vec())
        .collect()
}

/// A thin product (M or N of 1 to 4: one thread an output) sums each
/// output as the tiled kernels do: its outputs are bitwise those of the
/// same rows (or columns) of a wider product, with every tile shape, split
/// or not, with bias and activation.
#[test]
fn thin_products_give_the_bits_of_the_tiled_kernels() {
    use shadergan::ops::matmul::is_thin;
    let (mut rng, seed) = rng();
    for (m, n, k, thin_m, thin_n) in [
        (9, 33, 100, 3, 33),
        (9, 33, 100, 9, 1),
        (6, 40, 4100, 1, 40),
        (12, 6, 260, 12, 4),
    ] {
        assert!(is_thin(thin_m, thin_n) && !is_thin(m, n));
        for form in [Form::NT, Form::NN, Form::TN] {
            let a = random(&mut rng, m * k, -1.0, 1.0);
            let b = random(&mut rng, k * n, -1.0, 1.0);
            let bias = random(&mut rng, n, -1.0, 1.0);
            // The thin product's operands: the first rows of op(A), the
            // first columns of op(B), as each form stores them.
            let (a_thin, b_thin) = match form {
                Form::NT => (take(&a, k, thin_m, k), take(&b, k, thin_n, k)),
                Form::NN => (take(&a, k, thin_m, k), take(&b, n, k, thin_n)),
                Form::TN => (take(&a, m, k, thin_m), take(&b, n, k, thin_n)),
            };
            for t in shadergan::ops::matmul::tiles::candidates(wgpu::DeviceType::DiscreteGpu) {
                let product = |m, n, a: &[f32], b: &[f32]| {
                    let c = nan_tensor(m * n);
                    let spec = Matmul::new(form, m, n, k)
                        .activation(Activation::LeakyRelu(0.2))
                        .tiles(t);
                    let bias = upload(&bias[..n]);
                    run(&[&matmul(gpu(), &spec, &upload(a), &upload(b), Some(&bias), &c).unwrap()]);
                    read(&c)
                };
                let wide = take(&product(m, n, &a, &b), n, thin_m, thin_n);
                let thin = product(thin_m, thin_n, &a_thin, &b_thin);
                assert!(
                    wide.iter()
                        .zip(&thin)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{form:?} {thin_m}x{thin_n}x{k} thin against {m}x{n}x{k} with tile {t}: other bits (seed {seed})"
                );
            }
        }
    }
}

/// A split product gives the same bits with every tile shape.
#[test]
fn split_k_gives_the_same_bits_with_every_tile_shape() {
    let (mut rng, seed) = rng();
    let (m, n, k) = (20, 33, 4100);
    let a = upload(&random(&mut rng, m * k, -1.0, 1.0));
    let b = upload(&random(&mut rng, k * n, -1.0, 1.0));
    for form in [Form::NT, Form::NN, Form::TN] {
        let mut first: Option<Vec<f32>> = None;
        for t in with_alone(shadergan::ops::matmul::tiles::candidates(
            wgpu::DeviceType::DiscreteGpu,
        )) {
            let c = nan_tensor(m * n);
            run(&[&matmul(
                gpu(),
                &Matmul::new(form, m, n, k).tiles(t),
                &a,
                &b,
                None,
                &c,
            )
            .unwrap()]);
            let got = read(&c);
            match &first {
                None => first = Some(got),
                Some(f) => assert!(
                    f.iter().zip(&got).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "split {form:?} {m}x{n}x{k}: tile {t} gives other bits (seed {seed})"
                ),
            }
        }
    }
}

/// B fetched from a texture (its copy as stored) gives the bits of B from
/// its buffer, in every form, at awkward row counts and with the vec4
/// kernels' lengths, with the epilogue; the kernel is the texture one
/// wherever the adapter's is a CPU vec4 kernel with subgroups.
#[test]
fn b_from_a_texture_gives_the_bits_of_b_from_its_buffer() {
    use shadergan::ops::matmul::matmul_b_texture;
    let (mut rng, seed) = rng();
    let lanes = gpu().subgroups().is_some_and(|(min, _)| min >= 8)
        && shadergan::ops::matmul::tiles(gpu()).layout == Layout::Rows;
    for m in [1, 3, 7, 13, 33, 257] {
        for (k, n) in [(4, 4), (100, 36), (36, 100), (256, 260)] {
            let a = upload(&random(&mut rng, m * k, -1.0, 1.0));
            let b = random(&mut rng, k * n, -1.0, 1.0);
            let tb = upload(&b);
            let bias = upload(&random(&mut rng, n, -1.0, 1.0));
            for form in [Form::NT, Form::NN, Form::TN] {
                // op(A) is m x k whatever the form: A is [m, k] or [k, m],
                // both m * k elements; B as stored is [n, k] or [k, n].
                let (rows, cols) = if form == Form::NT { (n, k) } else { (k, n) };
                let tex = gpu().texture(rows, cols).unwrap();
                gpu().write_texture(&tex, &b).unwrap();
                let spec = Matmul::new(form, m, n, k).activation(Activation::LeakyRelu(0.2));
                let (c_buf, c_tex) = (nan_tensor(m * n), nan_tensor(m * n));
                let plain = matmul(gpu(), &spec, &a, &tb, Some(&bias), &c_buf).unwrap();
                let fetched =
                    matmul_b_texture(gpu(), &spec, &a, (&tb, &tex), Some(&bias), &c_tex).unwrap();
                let label = fetched.labels().join(" ");
                // The vec4 kernels: multiples of 4 along what they read as vec4s.
                let vec4 = match form {
                    Form::NT => k % 4 == 0,
                    Form::NN => k % 4 == 0 && n % 4 == 0,
                    Form::TN => m % 4 == 0 && n % 4 == 0,
                };
                let tiled = m >= 4 && !shadergan::ops::matmul::is_thin(m, n);
                if lanes && vec4 && tiled && shadergan::ops::matmul::split_k(&spec).is_none() {
                    assert!(
                        label.contains("matmul_b_texture.wgsl"),
                        "{form:?} {m}x{n}x{k}: {label}"
                    );
                }
                run(&[&plain, &fetched]);
                let (want, got) = (read(&c_buf), read(&c_tex));
                assert!(
                    want.iter()
                        .zip(&got)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{form:?} {m}x{n}x{k}: B from a texture gives other bits (seed {seed})"
                );
            }
        }
    }
    // A texture that is not B as stored is refused.
    let tex = gpu().texture(4, 8).unwrap();
    let (a, b, c) = (upload(&[0.0; 16]), upload(&[0.0; 32]), nan_tensor(32));
    let product = |form| {
        let spec = Matmul::new(form, 4, 8, 4);
        matmul_b_texture(gpu(), &spec, &a, (&b, &tex), None, &c)
    };
    assert!(product(Form::NN).is_ok(), "NN reads B [K, N] = [4, 8]");
    let err = product(Form::NT).unwrap_err();
    assert!(err.to_string().contains("texture"), "{err}");
}
