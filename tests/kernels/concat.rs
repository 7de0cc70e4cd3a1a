use shadergan::ops::concat::reference as concat_ref;
use shadergan::ops::concat::{Block, columns, one_hot};
use shadergan::ops::data::reference as data_ref;
use shadergan::ops::data::{Source, gather_rows};

use crate::*;

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A block of `width` columns at a random offset in rows a few elements
/// wider, from a random first row.
fn random_block(rng: &mut rand::rngs::StdRng, width: usize) -> Block {
    let extra = rand::RngExt::random_range(rng, 0..5usize);
    Block {
        first: rand::RngExt::random_range(rng, 0..4usize),
        stride: width + extra,
        offset: rand::RngExt::random_range(rng, 0..=extra),
    }
}

/// The buffer's length: the block's rows and one row more.
fn len_of(b: Block, rows: usize) -> usize {
    (b.first + rows + 1) * b.stride
}

#[test]
fn one_hot_writes_its_block_and_nothing_else() {
    let (mut rng, seed) = rng();
    for classes in [1, 7, 10, 100] {
        // A table of 257 items; one label out of range gives a row of zeros.
        let mut table: Vec<u32> = (0..257)
            .map(|_| rand::RngExt::random_range(&mut rng, 0..classes as u32))
            .collect();
        table[3] = classes as u32;
        let table_t = gpu().upload_u32(&table).unwrap();
        for rows in ROWS {
            let mut idx: Vec<u32> = (0..rows)
                .map(|_| rand::RngExt::random_range(&mut rng, 0..table.len() as u32))
                .collect();
            idx[0] = 3;
            let to = random_block(&mut rng, classes);
            let before = random(&mut rng, len_of(to, rows), -2.0, 2.0);
            let out = upload(&before);
            let k = one_hot(
                gpu(),
                &table_t,
                &gpu().upload_u32(&idx).unwrap(),
                classes,
                &out,
                to,
            )
            .unwrap();
            run(&[&k]);
            let mut want = to64(&before);
            concat_ref::one_hot(&table, &idx, classes, &mut want, to);
            assert_close(
                &format!("one-hot {rows} rows of {classes} at {to:?}"),
                seed,
                &read(&out),
                &want,
                0.0,
            );
        }
    }
}

#[test]
fn columns_copy_a_block_and_their_backward_is_the_adjoint() {
    let (mut rng, seed) = rng();
    for width in [1, 2, 7, 100, 785] {
        for rows in ROWS {
            let (from, to) = (random_block(&mut rng, width), random_block(&mut rng, width));
            let x = random(&mut rng, len_of(from, rows), -2.0, 2.0);
            let before = random(&mut rng, len_of(to, rows), -2.0, 2.0);
            let out = upload(&before);
            let k = columns(gpu(), &upload(&x), from, &out, to, rows, width).unwrap();
            run(&[&k]);
            let y = read(&out);
            let mut want = to64(&before);
            concat_ref::columns(&to64(&x), from, &mut want, to, rows, width);
            let what = format!("columns {rows}x{width} from {from:?} to {to:?}");
            assert_close(&what, seed, &y, &want, 0.0);

            // Backward: for L = Σ w ⊙ (the block of the output), ∂L/∂x is
            // w's block copied back (the same kernel, blocks swapped) and
            // zero elsewhere: checked whole against the CPU's copy, and at
            // 50 random elements against L's finite differences (exact for
            // a copy, up to the rounding of the sums).
            let w = random(&mut rng, len_of(to, rows), -1.0, 1.0);
            let grad = upload(&vec![0.0; x.len()]);
            let k = columns(gpu(), &upload(&w), to, &grad, from, rows, width).unwrap();
            run(&[&k]);
            let got = read(&grad);
            let mut want = vec![0.0; x.len()];
            concat_ref::columns(&to64(&w), to, &mut want, from, rows, width);
            assert_close(&format!("{what}, backward"), seed, &got, &want, 0.0);
            let loss = |x: &[f64]| -> f64 {
                let mut y = vec![0.0; w.len()];
                concat_ref::columns(x, from, &mut y, to, rows, width);
                (0..rows)
                    .flat_map(|r| (0..width).map(move |c| to.at(r, c)))
                    .map(|i| w[i] as f64 * y[i])
                    .sum()
            };
            let x64 = to64(&x);
            let picks: Vec<usize> = (0..50)
                .map(|_| rand::RngExt::random_range(&mut rng, 0..x.len()))
                .collect();
            let fd: Vec<f64> = picks
                .iter()
                .map(|&i| {
                    let mut p = x64.clone();
                    p[i] += 0.5;
                    let mut m = x64.clone();
                    m[i] -= 0.5;
                    loss(&p) - loss(&m)
                })
                .collect();
            let got: Vec<f32> = picks.iter().map(|&i| got[i]).collect();
            // The differences of two sums of up to 10⁶ f64 terms: rounding at 1e-12.
            assert_close(
                &format!("{what}, finite differences"),
                seed,
                &got,
                &fd,
                1e-9,
            );
        }
    }
}

#[test]
fn gather_into_wider_rows_leaves_the_other_columns_alone() {
    let (mut rng, seed) = rng();
    for features in [1, 7, 785] {
        let items = 100;
        let bytes: Vec<u8> = (0..items * features)
            .map(|_| rand::RngExt::random(&mut rng))
            .collect();
        let points = random(&mut rng, items * features, -5.0, 5.0);
        for rows in [1, 7, 257] {
            let idx: Vec<u32> = (0..rows)
                .map(|_| rand::RngExt::random_range(&mut rng, 0..items as u32))
                .collect();
            let stride = features + 1 + rows % 10;
            let before = random(&mut rng, rows * stride, -2.0, 2.0);
            let idx_t = gpu().upload_u32(&idx).unwrap();
            // The rows gathered, placed into `before`'s wider rows.
            let placed = |rows_of: &[f64]| {
                let mut want = to64(&before);
                let (from, to) = (Block::dense(features), Block::dense(stride));
                concat_ref::columns(rows_of, from, &mut want, to, rows, features);
                want
            };
            let gathered = |data: &shadergan::Tensor, bytes| {
                let out = upload(&before);
                let src = Source {
                    data,
                    items,
                    features,
                    bytes,
                };
                run(&[&gather_rows(gpu(), src, &idx_t, &out, stride).unwrap()]);
                read(&out)
            };

            let got = gathered(&gpu().upload_bytes(&bytes).unwrap(), true);
            let want = placed(&data_ref::gather(&bytes, features, &idx));
            let what = format!("gather {rows}x{features} into rows of {stride}");
            assert_close_scaled(&what, seed, &got, &want, 1.0, 1.2e-7);

            let got = gathered(&upload(&points), false);
            let rows_of: Vec<f64> = idx
                .iter()
                .flat_map(|&i| to64(&points[i as usize * features..][..features]))
                .collect();
            let want = placed(&rows_of);
            assert_close(&format!("f32 {what}"), seed, &got, &want, 0.0);
        }
    }
}

#[test]
fn blocks_that_do_not_fit_are_refused_by_name() {
    let t = gpu().zeros(20).unwrap();
    let other = gpu().zeros(20).unwrap();
    let table = gpu().upload_u32(&[0, 1]).unwrap();
    let idx = gpu().upload_u32(&[0, 1, 0]).unwrap();
    let wide = Block {
        first: 0,
        stride: 5,
        offset: 2,
    };
    let err = one_hot(gpu(), &table, &idx, 4, &t, wide).unwrap_err();
    assert!(
        err.to_string()
            .contains("columns 2..6 do not fit rows 5 wide"),
        "{err}"
    );
    let late = Block {
        first: 3,
        stride: 5,
        offset: 0,
    };
    let err = columns(gpu(), &other, Block::dense(5), &t, late, 2, 5).unwrap_err();
    assert!(
        err.to_string()
            .contains("out has 20 elements; rows 3..5 of 5 need 25"),
        "{err}"
    );
    let err = one_hot(gpu(), &table, &idx, 0, &t, Block::dense(5)).unwrap_err();
    assert!(err.to_string().contains("no classes"), "{err}");
    let src = Source {
        data: &gpu().upload_bytes(&[0; 8]).unwrap(),
        items: 2,
        features: 4,
        bytes: true,
    };
    let err = gather_rows(gpu(), src, &idx, &t, 3).unwrap_err();
    assert!(
        err.to_string()
            .contains("rows 3 apart cannot hold 4 features"),
        "{err}"
    );
}

#[test]
fn one_hot_planes_write_each_class_as_a_constant_channel() {
    let (mut rng, _) = rng();
    for (rows, classes, repeat) in [(1, 1, 1), (3, 10, 49), (7, 3, 4096)] {
        let (c, s) = (2, repeat);
        let stride = (c + classes) * s;
        let labels: Vec<u32> = (0..rows)
            .map(|_| rng.random_range(0..classes as u32 + 1))
            .collect();
        let idx: Vec<u32> = (0..rows as u32).collect();
        let before = random(&mut rng, rows * stride, -1.0, 1.0);
        let out = upload(&before);
        let to = Block {
            first: 0,
            stride,
            offset: c * s,
        };
        let table_t = gpu().upload_u32(&labels).unwrap();
        let k = shadergan::ops::concat::one_hot_repeated(
            gpu(),
            &table_t,
            &gpu().upload_u32(&idx).unwrap(),
            classes,
            repeat,
            &out,
            to,
        )
        .unwrap();
        run(&[&k]);
        let mut want: Vec<f64> = before.iter().map(|&v| v as f64).collect();
        concat_ref::one_hot_repeated(&labels, &idx, classes, repeat, &mut want, to);
        let got: Vec<f64> = read(&out).iter().map(|&v| v as f64).collect();
        assert_eq!(got, want, "planes {rows}x{classes}x{repeat}");
    }
}
