//! Same inputs, same sequence of kernels: the same bits, every time.

use shadergan::ops::activation::Activation;
use shadergan::ops::adam::{self, Adam};
use shadergan::ops::batchnorm::{self, BatchNorm};
use shadergan::ops::loss::{Loss, LossKind, OutRow, loss};
use shadergan::ops::matmul::{Form, Matmul, matmul};
use shadergan::ops::{random, reduce};

use crate::*;

/// A small forward and backward pass with noise, batch norm, a loss, the
/// reductions and Adam; returns every buffer it wrote.
fn pass() -> Vec<Vec<f32>> {
    let g = gpu();
    let (b, zdim, h) = (100, 17, 257);
    let counters = g.upload_u32(&[0, 3]).unwrap();
    let z = g.zeros(b * zdim).unwrap();
    let params = g.arena(&[h * zdim, h]).unwrap();
    let grads = g.arena(&[h * zdim, h]).unwrap();
    let (m, v) = (
        g.arena(&[h * zdim, h]).unwrap(),
        g.arena(&[h * zdim, h]).unwrap(),
    );
    let (w, bias) = (&params.views[0], &params.views[1]);
    let s = |stream| random::Stream {
        seed: 42,
        stream,
        slot: 1,
    };
    let init_w = random::normal(g, &s(1), &counters, 0.0, 0.1, w).unwrap();
    let noise = random::normal(g, &s(2), &counters, 0.0, 1.0, &z).unwrap();
    let y = g.zeros(b * h).unwrap();
    let fwd = matmul(g, &Matmul::new(Form::NT, b, h, zdim), &z, w, Some(bias), &y).unwrap();
    let bn = BatchNorm::new(b, h);
    let running = (
        g.upload(&vec![0.0; h]).unwrap(),
        g.upload(&vec![1.0; h]).unwrap(),
    );
    let (gamma, beta) = (
        g.upload(&vec![1.0; h]).unwrap(),
        g.upload(&vec![0.0; h]).unwrap(),
    );
    let yn = g.zeros(b * h).unwrap();
    let (mean, inv_std) = (g.zeros(h).unwrap(), g.zeros(h).unwrap());
    let bnf = batchnorm::train_forward(
        g,
        &bn,
        &batchnorm::TrainForward {
            x: &y,
            gamma: &gamma,
            beta: &beta,
            y: &yn,
            saved_mean: &mean,
            saved_inv_std: &inv_std,
            running_mean: &running.0,
            running_var: &running.1,
        },
        true,
    )
    .unwrap();
    let (dyn_, out) = (g.zeros(b * h).unwrap(), g.zeros(3).unwrap());
    let l = loss(
        g,
        &Loss::uniform(LossKind::Bce, 1.0, b * h),
        &yn,
        &dyn_,
        &out,
        &OutRow::fixed(&counters, 0),
    )
    .unwrap();
    let (dy, dg, db) = (
        g.zeros(b * h).unwrap(),
        g.zeros(h).unwrap(),
        g.zeros(h).unwrap(),
    );
    let bnb = batchnorm::backward(
        g,
        &bn,
        &batchnorm::Backward {
            x: &y,
            gamma: &gamma,
            saved_mean: &mean,
            saved_inv_std: &inv_std,
            dy: &dyn_,
            dx: &dy,
            dgamma: &dg,
            dbeta: &db,
            y: None,
        },
    )
    .unwrap();
    let dw = matmul(
        g,
        &Matmul::new(Form::TN, h, zdim, b),
        &dy,
        &z,
        None,
        &grads.views[0],
    )
    .unwrap();
    let dbias = reduce::column_sum(g, b, h, 1.0, &dy, &grads.views[1]).unwrap();
    let tick = adam::tick(g, &counters, 1).unwrap();
    let opt = adam::step(
        g,
        &Adam::default(),
        &params.whole,
        &grads.whole,
        &m.whole,
        &v.whole,
        &counters,
        1,
    )
    .unwrap();
    let act = shadergan::ops::activation::forward(g, Activation::LeakyRelu(0.2), &yn, &y).unwrap();
    g.run(&[
        &init_w, &noise, &fwd, &bnf, &l, &bnb, &dw, &dbias, &tick, &opt, &act,
    ])
    .unwrap();
    [
        &z,
        &params.whole,
        &yn,
        &out,
        &dy,
        &grads.whole,
        &m.whole,
        &v.whole,
        &running.0,
        &running.1,
        &y,
    ]
    .iter()
    .map(|t| read(t))
    .collect()
}

#[test]
fn a_sequence_of_every_kernel_is_bitwise_reproducible() {
    let first = pass();
    let second = pass();
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "buffer {i} differs between two identical runs");
    }
    assert!(first.iter().all(|t| t.iter().all(|v| v.is_finite())));
}
