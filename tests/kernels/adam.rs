use shadergan::ops::adam::reference as adam_ref;
use shadergan::ops::adam::{self, Adam, Decay};

use crate::*;

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn adam_matches_reference_over_several_steps_with_bias_correction() {
    let (mut rng, seed) = rng();
    // The last case decays lr linearly over steps (2, 4] to a fifth, so
    // steps 3, 4 and 5 run at 0.6, 0.2 and 0.2 of it.
    let decay = Decay {
        start: 2,
        end: 4,
        floor: 0.2,
    };
    // β1 = 0 (SAGAN, BigGAN, StyleGAN2): no first moment, no correction.
    // Lengths of 4, 1000 and 100 take the vec4 kernel: 1, 250 and 25 vec4s
    // (two an invocation, the last one alone where the count is odd).
    for (n, weight_decay, decay, beta1) in [
        (1, 0.0, Decay::NONE, 0.5),
        (7, 0.0, Decay::NONE, 0.5),
        (4, 0.0, Decay::NONE, 0.9),
        (1000, 0.0, Decay::NONE, 0.9),
        (257, 0.01, Decay::NONE, 0.5),
        (100, 0.0, decay, 0.5),
        (33, 0.0, Decay::NONE, 0.0),
    ] {
        let cfg = Adam {
            lr: 1e-2,
            weight_decay,
            decay,
            beta1,
            ..Adam::default()
        };
        let p0 = random(&mut rng, n, -1.0, 1.0);
        let (p, m, v) = (
            upload(&p0),
            gpu().zeros(n).unwrap(),
            gpu().zeros(n).unwrap(),
        );
        let g = gpu().zeros(n).unwrap();
        let counters = gpu().upload_u32(&[0, 0]).unwrap();
        let step = adam::step(gpu(), &cfg, &p, &g, &m, &v, &counters, 1).unwrap();
        let tick = adam::tick(gpu(), &counters, 1).unwrap();
        let (mut rp, mut rm, mut rv) = (to64(&p0), vec![0.0; n], vec![0.0; n]);
        for t in 1..=5 {
            let grad = random(&mut rng, n, -1.0, 1.0);
            gpu().write(&g, &grad).unwrap();
            // tick first: the step number is 1-based.
            run(&[&tick, &step]);
            adam_ref::adam(&cfg, t, &mut rp, &to64(&grad), &mut rm, &mut rv);
        }
        assert_eq!(gpu().read_u32(&counters).unwrap(), vec![0, 5]);
        let tag = format!("n={n} wd={weight_decay} {decay:?} beta1={beta1}");
        assert_close(&format!("adam param {tag}"), seed, &read(&p), &rp, 1e-5);
        assert_close(&format!("adam m {tag}"), seed, &read(&m), &rm, 1e-5);
        assert_close(&format!("adam v {tag}"), seed, &read(&v), &rv, 1e-5);
    }
}

#[test]
fn adam_updates_a_flat_arena_and_leaves_its_padding_at_zero() {
    let (mut rng, seed) = rng();
    let lens = [7, 100, 1, 257];
    let cfg = Adam::default();
    let params = gpu().arena(&lens).unwrap();
    let grads = gpu().arena(&lens).unwrap();
    let m = gpu().arena(&lens).unwrap();
    let v = gpu().arena(&lens).unwrap();
    let mut p0 = Vec::new();
    let mut g0 = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        p0.push(random(&mut rng, len, -1.0, 1.0));
        g0.push(random(&mut rng, len, -1.0, 1.0));
        gpu().write(&params.views[i], &p0[i]).unwrap();
        gpu().write(&grads.views[i], &g0[i]).unwrap();
    }
    let counters = gpu().upload_u32(&[1]).unwrap();
    let step = adam::step(
        gpu(),
        &cfg,
        &params.whole,
        &grads.whole,
        &m.whole,
        &v.whole,
        &counters,
        0,
    )
    .unwrap();
    run(&[&step]);
    for (i, &len) in lens.iter().enumerate() {
        let (mut rp, mut rm, mut rv) = (to64(&p0[i]), vec![0.0; len], vec![0.0; len]);
        adam_ref::adam(&cfg, 1, &mut rp, &to64(&g0[i]), &mut rm, &mut rv);
        assert_close(
            &format!("adam arena view {i} ({len})"),
            seed,
            &read(&params.views[i]),
            &rp,
            1e-5,
        );
    }
    // Padding between views has zero gradient, so it stays exactly zero.
    let whole = read(&params.whole);
    let mut covered = vec![false; whole.len()];
    for view in &params.views {
        let start = (view.offset() / 4) as usize;
        covered[start..start + view.len()]
            .iter_mut()
            .for_each(|c| *c = true);
    }
    assert!(whole.iter().zip(&covered).all(|(&w, &c)| c || w == 0.0));
}

#[test]
fn adam_refuses_a_learning_rate_that_is_not_finite_and_positive() {
    let t = |n| gpu().zeros(n).unwrap();
    let (p, g, m, v) = (t(3), t(3), t(3), t(3));
    let c = gpu().upload_u32(&[1]).unwrap();
    for lr in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let cfg = Adam {
            lr,
            ..Adam::default()
        };
        let err = adam::step(gpu(), &cfg, &p, &g, &m, &v, &c, 0).unwrap_err();
        assert!(err.to_string().contains("learning rate"), "{err}");
    }
}
