use shadergan::ops::activation;
use shadergan::ops::activation::Activation;
use shadergan::ops::activation::reference as activation_ref;

use crate::*;

const ACTIVATIONS: [Activation; 3] = [
    Activation::LeakyRelu(0.2),
    Activation::Tanh,
    Activation::Sigmoid,
];

/// y = f(x) and dx = dy · f'(x) by the kernels, read back.
fn forward_backward(act: Activation, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let n = x.len();
    let (y, dx) = (nan_tensor(n), nan_tensor(n));
    let f = activation::forward(gpu(), act, &upload(x), &y).unwrap();
    let b = activation::backward(gpu(), act, &y, &upload(dy), &dx).unwrap();
    run(&[&f, &b]);
    (read(&y), read(&dx))
}

/// Forward and backward against the reference at every row count (with 37
/// features, so lengths are not multiples of the workgroup).
fn check(act: Activation) {
    let (mut rng, seed) = rng();
    for rows in ROWS {
        let n = rows * 37;
        let x = random(&mut rng, n, -4.0, 4.0);
        let dy = random(&mut rng, n, -1.0, 1.0);
        let (y, dx) = forward_backward(act, &x, &dy);
        let want_y: Vec<f64> = x
            .iter()
            .map(|&v| activation_ref::activate(act, v as f64))
            .collect();
        assert_close(&format!("{act:?} forward n={n}"), seed, &y, &want_y, 1e-6);
        let want_dx: Vec<f64> = want_y
            .iter()
            .zip(&dy)
            .map(|(&y, &d)| d as f64 * activation_ref::grad_from_output(act, y))
            .collect();
        assert_close(
            &format!("{act:?} backward n={n}"),
            seed,
            &dx,
            &want_dx,
            1e-6,
        );
    }
}

#[test]
fn leaky_relu_forward_and_backward_match_reference() {
    check(Activation::LeakyRelu(0.2));
}

#[test]
fn tanh_forward_and_backward_match_reference() {
    check(Activation::Tanh);
}

#[test]
fn sigmoid_forward_and_backward_match_reference() {
    check(Activation::Sigmoid);
}

#[test]
fn activation_backward_matches_finite_differences() {
    let (mut rng, seed) = rng();
    for act in ACTIVATIONS {
        // 256: the vec4 kernels; 257: the scalar ones.
        for n in [256, 257] {
            // Away from LeakyReLU's kink at 0, where the derivative jumps.
            let x: Vec<f32> = random(&mut rng, n, 0.05, 3.0)
                .into_iter()
                .enumerate()
                .map(|(i, v)| if i % 2 == 0 { v } else { -v })
                .collect();
            let dy = random(&mut rng, n, -1.0, 1.0);
            let (_, dx) = forward_backward(act, &x, &dy);
            let c = coords(&mut rng, n, 40);
            let fd = finite_differences(&x, &c, 1e-3, |x| {
                let y: Vec<f64> = x
                    .iter()
                    .map(|&v| activation_ref::activate(act, v as f64))
                    .collect();
                dot(&y, &dy)
            });
            assert_gradient(&format!("{act:?} n={n}"), seed, &dx, &c, &fd, 1e-3);
        }
    }
}

/// A length that is a multiple of 4 runs the vec4 kernels: the same bits,
/// element by element, as the scalar ones on a longer input (257 = 256 + 1).
#[test]
fn vec4_and_scalar_kernels_give_the_same_bits() {
    let (mut rng, seed) = rng();
    for act in ACTIVATIONS {
        let x = random(&mut rng, 257, -4.0, 4.0);
        let dy = random(&mut rng, 257, -1.0, 1.0);
        let outputs: Vec<(Vec<f32>, Vec<f32>)> = [256, 257]
            .into_iter()
            .map(|n| forward_backward(act, &x[..n], &dy[..n]))
            .collect();
        let (y, dx) = (nan_tensor(256), nan_tensor(256));
        let f = activation::forward(gpu(), act, &upload(&x[..256]), &y).unwrap();
        let b = activation::backward(gpu(), act, &y, &upload(&dy[..256]), &dx).unwrap();
        assert!(f.labels()[0].contains("forward4") && b.labels()[0].contains("backward4"));
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(
            same(&outputs[0].0, &outputs[1].0[..256]) && same(&outputs[0].1, &outputs[1].1[..256]),
            "{act:?}: the vec4 kernels give other bits (seed {seed})"
        );
    }
}

#[test]
fn tanh_and_sigmoid_stay_finite_and_saturate_for_huge_inputs() {
    let x = [-1e30f32, -1e4, -90.0, 90.0, 1e4, 1e30];
    for act in [Activation::Tanh, Activation::Sigmoid] {
        let y = nan_tensor(x.len());
        run(&[&activation::forward(gpu(), act, &upload(&x), &y).unwrap()]);
        let got = read(&y);
        let want: Vec<f64> = x
            .iter()
            .map(|&v| activation_ref::activate(act, v as f64))
            .collect();
        assert_close(&format!("{act:?} saturation"), 0, &got, &want, 1e-6);
    }
}

#[test]
fn no_activation_is_an_error_for_the_standalone_kernel() {
    let t = gpu().zeros(4).unwrap();
    let u = gpu().zeros(4).unwrap();
    assert!(activation::forward(gpu(), Activation::None, &t, &u).is_err());
}
