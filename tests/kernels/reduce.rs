use shadergan::ops::reduce;
use shadergan::ops::reduce::reference as reduce_ref;

use crate::*;

#[test]
fn column_sum_matches_reference_at_awkward_sizes() {
    let (mut rng, seed) = rng();
    for rows in ROWS {
        for cols in [1, 7, 100, 257] {
            let x = random(&mut rng, rows * cols, -1.0, 1.0);
            let out = nan_tensor(cols);
            run(&[&reduce::column_sum(gpu(), rows, cols, 1.0, &upload(&x), &out).unwrap()]);
            let want = reduce_ref::column_sum(rows, cols, 1.0, &x);
            let scale = max_abs(&reduce_ref::column_sum(rows, cols, 1.0, &abs(&x)));
            assert_close_scaled(
                &format!("column sum {rows}x{cols}"),
                seed,
                &read(&out),
                &want,
                scale,
                1e-5,
            );
        }
    }
}

/// The two forms of the sum (a tree across threads on GPUs, a thread a
/// column on CPU adapters) give the same bits.
#[test]
fn column_sum_forms_give_the_same_bits() {
    use shadergan::ops::Reduction;
    let (mut rng, seed) = rng();
    for (rows, cols) in [(1, 4), (7, 100), (257, 256), (1000, 12), (33, 257)] {
        let x = upload(&random(&mut rng, rows * cols, -1.0, 1.0));
        let sums: Vec<Vec<f32>> = [Reduction::Tree, Reduction::Lanes]
            .into_iter()
            .map(|r| {
                let out = nan_tensor(cols);
                run(&[&reduce::channel_sum_as(gpu(), r, rows, cols, 1, 0.5, &x, &out).unwrap()]);
                read(&out)
            })
            .collect();
        assert!(
            sums[0]
                .iter()
                .zip(&sums[1])
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "column sum {rows}x{cols}: the forms differ (seed {seed})"
        );
    }
}

#[test]
fn column_mean_scales_the_sum() {
    let (mut rng, seed) = rng();
    let (rows, cols) = (257, 100);
    let x = random(&mut rng, rows * cols, 0.0, 2.0);
    let out = nan_tensor(cols);
    let scale = 1.0 / rows as f32;
    run(&[&reduce::column_sum(gpu(), rows, cols, scale, &upload(&x), &out).unwrap()]);
    let want = reduce_ref::column_sum(rows, cols, scale as f64, &x);
    assert_close("column mean 257x100", seed, &read(&out), &want, 1e-5);
}

#[test]
fn total_matches_reference_and_writes_only_its_slot() {
    let (mut rng, seed) = rng();
    for n in [1, 7, 100, 257, 1000, 100_003] {
        let x = random(&mut rng, n, -1.0, 1.0);
        let out = nan_tensor(3);
        run(&[&reduce::total(gpu(), 0.5, &upload(&x), &out, 1).unwrap()]);
        let got = read(&out);
        let want = 0.5 * x.iter().map(|&v| v as f64).sum::<f64>();
        let scale = 0.5 * x.iter().map(|&v| v.abs() as f64).sum::<f64>();
        assert_close_scaled(
            &format!("total n={n}"),
            seed,
            &got[1..2],
            &[want],
            scale,
            1e-5,
        );
        assert!(
            got[0].is_nan() && got[2].is_nan(),
            "total wrote outside its slot"
        );
    }
}
