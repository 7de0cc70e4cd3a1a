use shadergan::ops::data::gather;
use shadergan::ops::data::reference as data_ref;

use crate::*;

#[test]
fn gather_maps_bytes_to_minus_one_one_at_awkward_sizes() {
    let (mut rng, seed) = rng();
    for features in [1, 7, 100, 785] {
        let items = 257;
        let bytes: Vec<u8> = (0..items * features)
            .map(|_| rand::RngExt::random(&mut rng))
            .collect();
        let data = gpu().upload_bytes(&bytes).unwrap();
        for rows in ROWS {
            let idx: Vec<u32> = (0..rows)
                .map(|_| rand::RngExt::random_range(&mut rng, 0..items as u32))
                .collect();
            let out = nan_tensor(rows * features);
            let k = gather(
                gpu(),
                &data,
                items,
                features,
                &gpu().upload_u32(&idx).unwrap(),
                &out,
            )
            .unwrap();
            run(&[&k]);
            let want = data_ref::gather(&bytes, features, &idx);
            // Outputs lie in [-1, 1]: one f32 rounding is 6e-8 of that range.
            assert_close_scaled(
                &format!("gather {rows}x{features}"),
                seed,
                &read(&out),
                &want,
                1.0,
                1.2e-7,
            );
        }
    }
}

#[test]
fn gather_hits_the_ends_exactly() {
    let data = gpu().upload_bytes(&[0, 255, 128]).unwrap();
    let out = nan_tensor(3);
    let k = gather(
        gpu(),
        &data,
        3,
        1,
        &gpu().upload_u32(&[0, 1, 2]).unwrap(),
        &out,
    )
    .unwrap();
    run(&[&k]);
    assert_eq!(read(&out), vec![-1.0, 1.0, 128.0 / 127.5 - 1.0]);
}

#[test]
fn gather_refuses_a_data_set_of_the_wrong_size() {
    let data = gpu().upload_bytes(&[0; 10]).unwrap();
    let idx = gpu().upload_u32(&[0]).unwrap();
    let out = gpu().zeros(4).unwrap();
    let err = gather(gpu(), &data, 4, 4, &idx, &out).unwrap_err();
    assert!(
        err.to_string().contains("data has 3 elements, expected 4"),
        "{err}"
    );
}

#[test]
fn gather_f32_copies_rows_of_points() {
    let (mut rng, seed) = rng();
    for features in [1, 2, 7] {
        let items = 100;
        let data = random(&mut rng, items * features, -5.0, 5.0);
        let idx: Vec<u32> = (0..257)
            .map(|_| rand::RngExt::random_range(&mut rng, 0..items as u32))
            .collect();
        let out = nan_tensor(idx.len() * features);
        let k = shadergan::ops::data::gather_f32(
            gpu(),
            &upload(&data),
            items,
            features,
            &gpu().upload_u32(&idx).unwrap(),
            &out,
        )
        .unwrap();
        run(&[&k]);
        let want: Vec<f64> = idx
            .iter()
            .flat_map(|&i| {
                data[i as usize * features..(i as usize + 1) * features]
                    .iter()
                    .map(|&v| v as f64)
            })
            .collect();
        assert_close(
            &format!("gather f32 257x{features}"),
            seed,
            &read(&out),
            &want,
            0.0,
        );
    }
}
