use shadergan::ops::refine;
use shadergan::ops::refine::reference as refine_ref;

use crate::*;

/// The refinement step x ← (x + rate · grad) + noise against the reference,
/// at every row count (3 features, so lengths are not multiples of the
/// workgroup), in place.
#[test]
fn refine_step_matches_reference() {
    let (mut rng, seed) = rng();
    for rows in ROWS {
        let n = rows * 3;
        let x = random(&mut rng, n, -4.0, 4.0);
        let g = random(&mut rng, n, -2.0, 2.0);
        let e = random(&mut rng, n, -0.1, 0.1);
        let rate = rng.random_range(0.001f32..0.1);
        let tx = upload(&x);
        let k = refine::ascend(gpu(), rate, &upload(&g), &upload(&e), &tx).unwrap();
        run(&[&k]);
        let f = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
        let want = refine_ref::ascend(rate as f64, &f(&x), &f(&g), &f(&e));
        assert_close(&format!("refine step n={n}"), seed, &read(&tx), &want, 1e-6);
    }
}

#[test]
fn refine_step_refuses_mismatched_lengths() {
    let x = upload(&[0.0; 7]);
    let Err(e) = refine::ascend(gpu(), 0.1, &upload(&[0.0; 6]), &upload(&[0.0; 7]), &x) else {
        panic!("a gradient of the wrong length must be refused");
    };
    assert!(e.to_string().contains("grad has 6 elements"), "{e}");
}
