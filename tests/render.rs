//! Pictures: image grids, scatter plots, loss plots and atomic PNG saving.

use std::fs;
use std::path::PathBuf;

use image::Rgb;
use shadergan::render::*;

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "shadergan-test-render-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn is_dark(p: &Rgb<u8>) -> bool {
    p.0.iter().map(|&c| c as u32).sum::<u32>() < 300
}

#[test]
fn grid_of_10_images_4_per_row_has_gaps_only_between_images() {
    // Image i is filled with the value -1 + 2·i/9: image 0 is -1, image 9 is +1.
    let (n, h, w) = (10, 28, 28);
    let values: Vec<f32> = (0..n)
        .flat_map(|i| std::iter::repeat_n(-1.0 + 2.0 * i as f32 / 9.0, h * w))
        .collect();
    let img = image_grid(&values, n, 1, h, w, 4);
    // 4 columns and 3 rows, 2-pixel gaps between them, none at the border.
    assert_eq!(img.width() as usize, 4 * 28 + 3 * 2);
    assert_eq!(img.height() as usize, 3 * 28 + 2 * 2);

    // -1 → 0 and +1 → 255; image 9 is at row 2, column 1.
    assert_eq!(*img.get_pixel(0, 0), Rgb([0, 0, 0]));
    assert_eq!(*img.get_pixel(27, 27), Rgb([0, 0, 0]));
    let (x9, y9) = (30, 2 * 30);
    assert_eq!(*img.get_pixel(x9, y9), Rgb([255, 255, 255]));
    assert_eq!(*img.get_pixel(x9 + 27, y9 + 27), Rgb([255, 255, 255]));
    // Image 1 (value -7/9) starts right after the first gap.
    let v1 = ((-1.0f32 + 2.0 / 9.0 + 1.0) * 127.5).round() as u8;
    assert_eq!(*img.get_pixel(30, 0), Rgb([v1; 3]));
    // The gaps and the two unused cells of the last row are gap-coloured.
    assert_eq!(*img.get_pixel(28, 0), GRID_GAP_COLOR);
    assert_eq!(*img.get_pixel(29, 10), GRID_GAP_COLOR);
    assert_eq!(*img.get_pixel(5, 28), GRID_GAP_COLOR);
    assert_eq!(*img.get_pixel(3 * 30 + 5, 2 * 30 + 5), GRID_GAP_COLOR);
    assert_eq!(*img.get_pixel(2 * 30 + 5, 2 * 30 + 5), GRID_GAP_COLOR);
}

#[test]
fn grid_maps_values_to_bytes_with_rounding_and_clamping_and_keeps_rgb() {
    // One 1×5 gray image: -1, 0, 1, out of range on both sides.
    let img = image_grid(&[-1.0, 0.0, 1.0, -3.0, 7.0], 1, 1, 1, 5, 8);
    assert_eq!((img.width(), img.height()), (5, 1));
    let row: Vec<u8> = (0..5).map(|x| img.get_pixel(x, 0).0[0]).collect();
    assert_eq!(row, [0, 128, 255, 0, 255]);

    // One 1×2 RGB image, HWC: a red pixel then a cyan one.
    let img = image_grid(&[1.0, -1.0, -1.0, 1.0, -1.0, 1.0], 1, 3, 1, 2, 1);
    assert_eq!(*img.get_pixel(0, 0), Rgb([255, 0, 0]));
    assert_eq!(*img.get_pixel(1, 0), Rgb([0, 255, 255]));

    // Nothing to draw, or too few values: no panic.
    assert_eq!(image_grid(&[], 0, 1, 28, 28, 4).dimensions(), (1, 1));
    assert_eq!(
        image_grid(&[0.0; 784], 3, 1, 28, 28, 4).dimensions(),
        (28, 28)
    );
}

#[test]
fn scatter_puts_dark_dots_at_points_red_circles_at_modes_and_leaves_far_pixels_white() {
    let extent = 1.5;
    let img = scatter(&[0.5, 0.5], &[[1.0, 0.0]], 0.001, extent);
    assert_eq!(img.dimensions(), (512, 512));
    // (0.5, 0.5) → column (0.5 + 1.5) / 3 · 512 = 341, row (1.5 − 0.5) / 3 · 512 = 170.
    let p = img.get_pixel(341, 170);
    assert!(is_dark(p), "no dark dot where the point is: {p:?}");
    assert_eq!(*p, POINT_COLOR);
    // Far from the point, the mode and the grid lines: white.
    for (x, y) in [(5, 5), (500, 500), (200, 400), (341, 300)] {
        assert_eq!(
            *img.get_pixel(x, y),
            Rgb([255, 255, 255]),
            "pixel ({x}, {y})"
        );
    }
    // The mode (1, 0) is at (426, 256); its circle has the 3 px minimum radius.
    assert_eq!(*img.get_pixel(426 + 3, 256), MODE_COLOR);
    assert_eq!(*img.get_pixel(426, 256 - 3), MODE_COLOR);
    assert_ne!(*img.get_pixel(426 + 12, 256 - 12), MODE_COLOR);
    // A light grid line at x = 1 (column 426), away from the circle.
    let g = img.get_pixel(426, 50);
    assert!(
        g.0.iter().all(|&c| (150..255).contains(&c)),
        "no grid line: {g:?}"
    );

    // Junk points and extents are skipped, not fatal.
    let junk = [f32::NAN, 0.0, f32::INFINITY, 1.0, 1e30, -1e30];
    assert_eq!(
        scatter(&junk, &[], f32::NAN, f32::NAN).dimensions(),
        (512, 512)
    );
    assert_eq!(
        scatter(&junk, &[[0.0, 0.0]], 1e9, 1e-30).dimensions(),
        (512, 512)
    );
}

#[test]
fn loss_plot_is_800_by_400_draws_both_series_and_tolerates_nan_and_inf() {
    let steps: Vec<u64> = (0..200).map(|i| i * 10).collect();
    let d: Vec<f32> = (0..200).map(|i| 1.4 - i as f32 / 400.0).collect();
    let g: Vec<f32> = (0..200)
        .map(|i| 0.7 + (i as f32 / 10.0).sin() * 0.2)
        .collect();
    let img = loss_plot(&steps, &d, &g);
    assert_eq!(img.dimensions(), (800, 400));
    let count = |c: Rgb<u8>| img.pixels().filter(|&&p| p == c).count();
    assert!(count(D_LOSS_COLOR) > 300, "D loss line missing");
    assert!(count(G_LOSS_COLOR) > 300, "G loss line missing");
    assert!(
        img.pixels().filter(|p| p.0 == [0, 0, 0]).count() > 600,
        "axes missing"
    );

    let mut bad_d = d.clone();
    bad_d[3] = f32::NAN;
    bad_d[50] = f32::INFINITY;
    bad_d[51] = f32::NEG_INFINITY;
    let mut bad_g = g.clone();
    bad_g[0] = f32::NAN;
    bad_g[199] = f32::INFINITY;
    let img = loss_plot(&steps, &bad_d, &bad_g);
    assert_eq!(img.dimensions(), (800, 400));
    assert!(img.pixels().filter(|&&p| p == D_LOSS_COLOR).count() > 300);

    // Degenerate inputs still give a picture of the stated size.
    let nan = [f32::NAN; 3];
    for (s, d, g) in [
        (&steps[..3], &nan[..], &nan[..]),
        (&[][..], &[][..], &[][..]),
        (&[5][..], &[1.0][..], &[1.0][..]),
        (&steps[..], &d[..10], &g[..]),
        (&[0, 1, 2][..], &[1e30, -1e30, 0.0][..], &[0.5; 3][..]),
    ] {
        assert_eq!(loss_plot(s, d, g).dimensions(), (800, 400));
    }
}

#[test]
fn save_png_leaves_no_tmp_file_and_reloads_identically() {
    let dir = TempDir::new("save");
    let path = dir.0.join("grid.png");
    let img = image_grid(&[-1.0, -0.5, 0.0, 0.5, 1.0, 0.25], 2, 3, 1, 1, 2);
    save_png(&img, &path).unwrap();
    // Overwriting an existing file works too.
    save_png(&img, &path).unwrap();
    let names: Vec<String> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["grid.png"], "leftover files");
    let back = image::open(&path).unwrap().to_rgb8();
    assert_eq!(back, img);

    // A folder that does not exist: an error, and nothing left behind.
    let missing = dir.0.join("no-such-folder/x.png");
    assert!(save_png(&img, &missing).is_err());
    assert!(!dir.0.join("no-such-folder").exists());
}
