use rand::RngExt;
use shadergan::ops::activation::Activation;
use shadergan::ops::conv::{self, Conv2d, reference as conv_ref};
use shadergan::ops::matmul::MatmulTiles;
use shadergan::ops::reduce::{self, reference as reduce_ref};

use crate::*;

/// Convolutions at awkward shapes: batch 1 and 3; sides 1, 7 and 13;
/// channels 1, 3, 5 and 33; kernels 1, 3, 4, 5 and 7; strides 1 and 2;
/// padding 0 to 3. Each drawn at random among those whose kernel fits.
fn shapes(rng: &mut rand::rngs::StdRng, count: usize) -> Vec<Conv2d> {
    let mut out = Vec::new();
    while out.len() < count {
        let pick = |rng: &mut rand::rngs::StdRng, v: &[usize]| v[rng.random_range(0..v.len())];
        let g = Conv2d {
            batch: pick(rng, &[1, 3]),
            in_c: pick(rng, &[1, 3, 5, 33]),
            in_h: pick(rng, &[1, 7, 13]),
            in_w: pick(rng, &[1, 7, 13]),
            out_c: pick(rng, &[1, 3, 5, 33]),
            kernel_h: pick(rng, &[1, 3, 4, 5, 7]),
            kernel_w: pick(rng, &[1, 3, 4, 5, 7]),
            stride: pick(rng, &[1, 2]),
            pad: pick(rng, &[0, 1, 2, 3]),
            tiles: None,
        };
        if g.check("test").is_ok() && g.y_len() * g.kernel_h * g.kernel_w * g.in_c < 4_000_000 {
            out.push(g);
        }
    }
    out
}

/// Every layout the adapters use: the CPU's rows kernel and shared tiles.
/// The CPU layout (32 rows a thread) with and without its subgroup form,
/// with 16 and 8 rows, and two GPU shapes.
const TILES: [MatmulTiles; 6] = [
    MatmulTiles::CPU,
    MatmulTiles::GPU_SMALL,
    MatmulTiles::CPU.alone(),
    MatmulTiles::SAFE,
    MatmulTiles::rows(8).with_rows(16),
    MatmulTiles::rows(8),
];

/// max |Σ |terms|| of a product, the scale an f32 sum is accurate to.
fn scale_of(v: &[f64]) -> f64 {
    max_abs(v) + 1e-30
}

#[test]
fn forward_matches_reference_with_bias_and_activation() {
    let (mut rng, seed) = rng();
    for (i, g) in shapes(&mut rng, 24).into_iter().enumerate() {
        let x = random(&mut rng, g.x_len(), -1.0, 1.0);
        let w = random(&mut rng, g.w_len(), -1.0, 1.0);
        let b = random(&mut rng, g.out_c, -1.0, 1.0);
        let act = [
            Activation::None,
            Activation::LeakyRelu(0.2),
            Activation::Tanh,
        ][i % 3];
        let tiles = TILES[i % TILES.len()];
        let g = Conv2d {
            tiles: Some(tiles),
            ..g
        };
        let y = nan_tensor(g.y_len());
        let k = conv::forward(
            gpu(),
            &g,
            &upload(&x),
            &upload(&w),
            Some(&upload(&b)),
            &y,
            act,
        )
        .unwrap();
        run(&[&k]);
        let lin = conv_ref::forward(&g, &x, &w, Some(&b));
        let want: Vec<f64> = lin
            .iter()
            .map(|&v| shadergan::ops::activation::reference::activate(act, v))
            .collect();
        let scale = scale_of(&conv_ref::forward(&g, &abs(&x), &abs(&w), Some(&abs(&b))));
        assert_close_scaled(
            &format!("conv2d {g:?} {act:?}"),
            seed,
            &read(&y),
            &want,
            scale,
            1e-5,
        );
    }
}

#[test]
fn input_gradient_is_the_transpose_with_bias_as_conv_transpose_forward() {
    let (mut rng, seed) = rng();
    for (i, g) in shapes(&mut rng, 24).into_iter().enumerate() {
        let dy = random(&mut rng, g.y_len(), -1.0, 1.0);
        let w = random(&mut rng, g.w_len(), -1.0, 1.0);
        let b = random(&mut rng, g.in_c, -1.0, 1.0);
        let g = Conv2d {
            tiles: Some(TILES[i % TILES.len()]),
            ..g
        };
        let bias = (i % 2 == 0).then_some(&b[..]);
        let dx = nan_tensor(g.x_len());
        let bias_t = bias.map(upload);
        let k = conv::input_grad(
            gpu(),
            &g,
            &upload(&dy),
            &upload(&w),
            bias_t.as_ref(),
            &dx,
            Activation::None,
        )
        .unwrap();
        run(&[&k]);
        let want = conv_ref::input_grad(&g, &dy, &w, bias);
        let ab = abs(&b);
        let scale = scale_of(&conv_ref::input_grad(
            &g,
            &abs(&dy),
            &abs(&w),
            bias.map(|_| &ab[..]),
        ));
        assert_close_scaled(
            &format!("conv2d input grad {g:?}"),
            seed,
            &read(&dx),
            &want,
            scale,
            1e-5,
        );
    }
}

#[test]
fn weight_gradient_matches_reference_and_accumulates() {
    let (mut rng, seed) = rng();
    for (i, g) in shapes(&mut rng, 24).into_iter().enumerate() {
        let dy = random(&mut rng, g.y_len(), -1.0, 1.0);
        let x = random(&mut rng, g.x_len(), -1.0, 1.0);
        let g = Conv2d {
            tiles: Some(TILES[i % TILES.len()]),
            ..g
        };
        let old = random(&mut rng, g.w_len(), -1.0, 1.0);
        let accumulate = i % 2 == 1;
        let dw = if accumulate {
            upload(&old)
        } else {
            nan_tensor(g.w_len())
        };
        let k = conv::weight_grad(gpu(), &g, &upload(&dy), &upload(&x), &dw, accumulate).unwrap();
        run(&[&k]);
        let mut want = conv_ref::weight_grad(&g, &dy, &x);
        if accumulate {
            for (w, o) in want.iter_mut().zip(&old) {
                *w += *o as f64;
            }
        }
        let scale = scale_of(&conv_ref::weight_grad(&g, &abs(&dy), &abs(&x))) + 1.0;
        assert_close_scaled(
            &format!("conv2d weight grad {g:?}"),
            seed,
            &read(&dw),
            &want,
            scale,
            1e-5,
        );
    }
}

#[test]
fn channel_sums_match_reference() {
    use shadergan::ops::Reduction;
    let (mut rng, seed) = rng();
    for (rows, channels, spatial) in [
        (1, 1, 1),
        (3, 5, 49),
        (7, 33, 13),
        (64, 3, 196),
        (2, 257, 1),
        (257, 7, 1),
    ] {
        let x = random(&mut rng, rows * channels * spatial, -1.0, 1.0);
        let want = reduce_ref::channel_sum(rows, channels, spatial, 0.5, &x);
        let scale = max_abs(&reduce_ref::channel_sum(
            rows,
            channels,
            spatial,
            0.5,
            &abs(&x),
        ));
        // Both forms (the tree of GPUs, the lanes of CPU adapters): the
        // reference, and the same bits.
        let mut sums = Vec::new();
        for r in [Reduction::Tree, Reduction::Lanes] {
            let out = nan_tensor(channels);
            let k =
                reduce::channel_sum_as(gpu(), r, rows, channels, spatial, 0.5, &upload(&x), &out)
                    .unwrap();
            run(&[&k]);
            let got = read(&out);
            assert_close_scaled(
                &format!("channel sum {rows}x{channels}x{spatial} {r:?}"),
                seed,
                &got,
                &want,
                scale,
                1e-5,
            );
            sums.push(got);
        }
        assert!(
            sums[0]
                .iter()
                .zip(&sums[1])
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "channel sum {rows}x{channels}x{spatial}: the two forms differ (seed {seed})"
        );
    }
}

/// L = Σ r · conv(x, w): dL/dx is the input gradient of r, dL/dw the
/// weight gradient, each checked against finite differences of the
/// reference forward at random coordinates.
#[test]
fn both_gradients_agree_with_finite_differences() {
    let (mut rng, seed) = rng();
    for g in shapes(&mut rng, 8) {
        let x = random(&mut rng, g.x_len(), -1.0, 1.0);
        let w = random(&mut rng, g.w_len(), -1.0, 1.0);
        let r = random(&mut rng, g.y_len(), -1.0, 1.0);
        let loss = |x: &[f32], w: &[f32]| dot(&conv_ref::forward(&g, x, w, None), &r);
        let (dx, dw) = (nan_tensor(g.x_len()), nan_tensor(g.w_len()));
        let (rt, wt, xt) = (upload(&r), upload(&w), upload(&x));
        let kx = conv::input_grad(gpu(), &g, &rt, &wt, None, &dx, Activation::None).unwrap();
        let kw = conv::weight_grad(gpu(), &g, &rt, &xt, &dw, false).unwrap();
        run(&[&kx, &kw]);
        let cx = coords(&mut rng, x.len(), 20);
        let fx = finite_differences(&x, &cx, 1e-2, |x| loss(x, &w));
        assert_gradient(&format!("conv dx {g:?}"), seed, &read(&dx), &cx, &fx, 1e-3);
        let cw = coords(&mut rng, w.len(), 20);
        let fw = finite_differences(&w, &cw, 1e-2, |w| loss(&x, w));
        assert_gradient(&format!("conv dw {g:?}"), seed, &read(&dw), &cw, &fw, 1e-3);
    }
}

#[test]
fn a_kernel_larger_than_its_padded_input_is_refused() {
    let g = Conv2d {
        batch: 1,
        in_c: 1,
        in_h: 3,
        in_w: 3,
        out_c: 1,
        kernel_h: 7,
        kernel_w: 7,
        stride: 1,
        pad: 1,
        tiles: None,
    };
    let t = gpu().zeros(9).unwrap();
    let e = conv::forward(gpu(), &g, &t, &t, None, &t, Activation::None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("larger than its 3x3 input padded by 1"), "{e}");
}

/// A kernel covering its whole unpadded input (DCGAN's last D layer, and
/// as a transpose its first G layer) runs as plain products: all three
/// against the reference, and the input gradient with a bias (the
/// implicit path) too.
#[test]
fn dense_convolutions_match_reference() {
    let (mut rng, seed) = rng();
    for (batch, in_c, side, out_c) in [(3, 5, 7, 1), (1, 3, 1, 33), (4, 33, 4, 7), (64, 8, 7, 1)] {
        let g = Conv2d {
            batch,
            in_c,
            in_h: side,
            in_w: side,
            out_c,
            kernel_h: side,
            kernel_w: side,
            stride: 1,
            pad: 0,
            tiles: None,
        };
        assert!(g.is_dense());
        let x = random(&mut rng, g.x_len(), -1.0, 1.0);
        let w = random(&mut rng, g.w_len(), -1.0, 1.0);
        let dy = random(&mut rng, g.y_len(), -1.0, 1.0);
        let b = random(&mut rng, g.in_c, -1.0, 1.0);
        let (xt, wt, dyt, bt) = (upload(&x), upload(&w), upload(&dy), upload(&b));
        let (y, dx, dxb, dw) = (
            nan_tensor(g.y_len()),
            nan_tensor(g.x_len()),
            nan_tensor(g.x_len()),
            nan_tensor(g.w_len()),
        );
        let none = Activation::None;
        run(&[
            &conv::forward(gpu(), &g, &xt, &wt, None, &y, none).unwrap(),
            &conv::input_grad(gpu(), &g, &dyt, &wt, None, &dx, none).unwrap(),
            &conv::input_grad(gpu(), &g, &dyt, &wt, Some(&bt), &dxb, none).unwrap(),
            &conv::weight_grad(gpu(), &g, &dyt, &xt, &dw, false).unwrap(),
        ]);
        let tag = format!("dense {g:?}");
        let k = (in_c * side * side) as f64;
        assert_close_scaled(
            &format!("{tag} y"),
            seed,
            &read(&y),
            &conv_ref::forward(&g, &x, &w, None),
            k,
            1e-5,
        );
        let want = conv_ref::input_grad(&g, &dy, &w, None);
        assert_close_scaled(
            &format!("{tag} dx"),
            seed,
            &read(&dx),
            &want,
            out_c as f64,
            1e-5,
        );
        let want = conv_ref::input_grad(&g, &dy, &w, Some(&b));
        assert_close_scaled(
            &format!("{tag} dx + bias"),
            seed,
            &read(&dxb),
            &want,
            1.0 + out_c as f64,
            1e-5,
        );
        let want = conv_ref::weight_grad(&g, &dy, &x);
        assert_close_scaled(
            &format!("{tag} dw"),
            seed,
            &read(&dw),
            &want,
            batch as f64,
            1e-5,
        );
    }
}

/// Every layout adds each output's products in the same order, so the
/// tile shape a machine tunes to never changes a bit: the CPU's kernels
/// (8 rows with the gather hoisted, or one row under 4 channels) against
/// the GPU's shared tiles, for all three products.
#[test]
fn every_tile_shape_gives_the_same_bits() {
    let (mut rng, seed) = rng();
    let mut shapes = shapes(&mut rng, 10);
    // The DCGAN's strided 4/2/1 layers, into few and many channels, and a
    // 4 x 3 kernel: on a CPU adapter's layout, the forward and input
    // products unfolded (taps a multiple of 4), a row of taps at a time and
    // not.
    // At 12 x 16 the output planes are 6 x 8, whole vec4s: the weight
    // gradient unfolded too (taps a multiple of 4).
    let sizes = [
        (13, 14, 3, 8, 4),
        (13, 14, 8, 1, 4),
        (13, 14, 5, 33, 4),
        (13, 14, 5, 12, 3),
    ];
    let more = [(12, 16, 3, 8, 4), (12, 16, 5, 33, 4)];
    for (in_h, in_w, in_c, out_c, kernel_w) in sizes.into_iter().chain(more) {
        shapes.push(Conv2d {
            batch: 3,
            in_c,
            in_h,
            in_w,
            out_c,
            kernel_h: 4,
            kernel_w,
            stride: 2,
            pad: 1,
            tiles: None,
        });
    }
    for g in shapes {
        let x = upload(&random(&mut rng, g.x_len(), -1.0, 1.0));
        let w = upload(&random(&mut rng, g.w_len(), -1.0, 1.0));
        let dy = upload(&random(&mut rng, g.y_len(), -1.0, 1.0));
        let mut first: Option<[Vec<f32>; 3]> = None;
        for tiles in TILES {
            let g = Conv2d {
                tiles: Some(tiles),
                ..g
            };
            let (y, dx, dw) = (
                nan_tensor(g.y_len()),
                nan_tensor(g.x_len()),
                nan_tensor(g.w_len()),
            );
            let none = Activation::None;
            let f = conv::forward(gpu(), &g, &x, &w, None, &y, none).unwrap();
            let i = conv::input_grad(gpu(), &g, &dy, &w, None, &dx, none).unwrap();
            let wg = conv::weight_grad(gpu(), &g, &dy, &x, &dw, false).unwrap();
            run(&[&f, &i, &wg]);
            let got = [read(&y), read(&dx), read(&dw)];
            match &first {
                None => first = Some(got),
                Some(want) => {
                    for (p, (a, b)) in want.iter().zip(&got).enumerate() {
                        assert!(
                            a.iter().zip(b).all(|(u, v)| u.to_bits() == v.to_bits()),
                            "{g:?}: product {p} differs under tile {tiles} (seed {seed})"
                        );
                    }
                }
            }
        }
    }
}

/// A weight gradient summed over many positions (k = batch · out_h · out_w
/// of 4,096 and more: a discriminator's first layer) is split into slices
/// of k and added in order: against the reference, accumulating or not,
/// with every tile layout, the same bits with each.
#[test]
fn a_long_weight_gradient_is_split_and_matches_reference() {
    let (mut rng, seed) = rng();
    for (accumulate, g) in [
        (
            false,
            Conv2d {
                batch: 3,
                in_c: 1,
                in_h: 40,
                in_w: 40,
                out_c: 5,
                kernel_h: 3,
                kernel_w: 3,
                stride: 1,
                pad: 1,
                tiles: None,
            },
        ),
        (
            true,
            Conv2d {
                batch: 24,
                in_c: 3,
                in_h: 28,
                in_w: 28,
                out_c: 7,
                kernel_h: 4,
                kernel_w: 4,
                stride: 2,
                pad: 1,
                tiles: None,
            },
        ),
    ] {
        let positions = g.batch * g.out_h() * g.out_w();
        assert!(positions >= 4096, "{positions} positions are not split");
        let dy = random(&mut rng, g.y_len(), -1.0, 1.0);
        let x = random(&mut rng, g.x_len(), -1.0, 1.0);
        let old = random(&mut rng, g.w_len(), -1.0, 1.0);
        let mut want = conv_ref::weight_grad(&g, &dy, &x);
        if accumulate {
            for (w, o) in want.iter_mut().zip(&old) {
                *w += *o as f64;
            }
        }
        let scale = scale_of(&conv_ref::weight_grad(&g, &abs(&dy), &abs(&x))) + 1.0;
        let mut first: Option<Vec<f32>> = None;
        for t in TILES {
            let g = Conv2d {
                tiles: Some(t),
                ..g
            };
            let dw = if accumulate {
                upload(&old)
            } else {
                nan_tensor(g.w_len())
            };
            let k =
                conv::weight_grad(gpu(), &g, &upload(&dy), &upload(&x), &dw, accumulate).unwrap();
            let labels = k.labels().join(" ");
            assert!(
                labels.contains("::sum_slices "),
                "{g:?} is not split: {labels}"
            );
            run(&[&k]);
            let got = read(&dw);
            assert_close_scaled(
                &format!("split conv2d weight grad {g:?}"),
                seed,
                &got,
                &want,
                scale,
                1e-5,
            );
            match &first {
                None => first = Some(got),
                Some(f) => assert!(
                    f.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "split conv2d weight grad {g:?}: tile {t} gives other bits (seed {seed})"
                ),
            }
        }
    }
}
