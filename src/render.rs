//! Pictures of training: grids of generated images, scatter plots of
//! generated points against the true mixture, and loss curves.
//!
//! Everything is drawn by hand on an RGB pixel buffer (Bresenham lines,
//! filled dots, a tiny built-in 3×5 digit font), so no plotting or font
//! crate is needed. None of these functions panics on odd input: NaN and
//! infinite values are skipped, short inputs are drawn as far as they go.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use image::codecs::png::PngEncoder;
use image::{Rgb, RgbImage};

/// Width in pixels of the gap between images in [`image_grid`].
pub const GRID_GAP: usize = 2;
/// Colour of the gaps in [`image_grid`] (and of unused cells).
pub const GRID_GAP_COLOR: Rgb<u8> = Rgb([40, 40, 40]);

/// Side of the square [`scatter`] picture.
pub const SCATTER_SIZE: u32 = 512;
/// Colour of the points in [`scatter`].
pub const POINT_COLOR: Rgb<u8> = Rgb([20, 40, 140]);
/// Colour of the mode circles in [`scatter`].
pub const MODE_COLOR: Rgb<u8> = Rgb([220, 30, 30]);

/// Size of the [`loss_plot`] picture.
pub const LOSS_WIDTH: u32 = 800;
pub const LOSS_HEIGHT: u32 = 400;
/// Colours of the two series in [`loss_plot`].
pub const D_LOSS_COLOR: Rgb<u8> = Rgb([31, 119, 180]);
pub const G_LOSS_COLOR: Rgb<u8> = Rgb([230, 110, 0]);

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const LIGHT_GRID: Rgb<u8> = Rgb([225, 225, 225]);
const AXIS_GRID: Rgb<u8> = Rgb([185, 185, 185]);

/// A grid of `n` images (values in [-1, 1], each channel by channel, CHW
/// as PyTorch lays them out; `channels` 1 or 3)
/// laid out `cols` per row with a 2-pixel dark gap; each pixel =
/// round((v + 1) * 127.5) clamped to 0..255; returns an RGB image.
///
/// Layout: gaps only *between* images, none around the border, so the
/// picture is `c·width + (c−1)·2` pixels wide and `r·height + (r−1)·2` high,
/// where `c = min(cols, n)` and `r = ceil(n / c)`. Unused cells of the last
/// row are gap-coloured. Image `i` sits at column `i % c`, row `i / c`.
///
/// Channels: 1 is drawn as gray, 3 as RGB; other counts use the first
/// channel as gray (2) or the first three as RGB (4 or more). If `values`
/// holds fewer than `n` images, only the complete ones are drawn; `n = 0`
/// (or zero-sized images) gives a 1×1 gap-coloured picture.
pub fn image_grid(
    values: &[f32],
    n: usize,
    channels: usize,
    height: usize,
    width: usize,
    cols: usize,
) -> RgbImage {
    let per_image = channels * height * width;
    let n = values
        .len()
        .checked_div(per_image)
        .map_or(0, |whole| n.min(whole));
    if n == 0 {
        return RgbImage::from_pixel(1, 1, GRID_GAP_COLOR);
    }
    let cols = cols.clamp(1, n);
    let rows = n.div_ceil(cols);
    let total_w = cols * width + (cols - 1) * GRID_GAP;
    let total_h = rows * height + (rows - 1) * GRID_GAP;
    let mut img = RgbImage::from_pixel(total_w as u32, total_h as u32, GRID_GAP_COLOR);

    let to_byte = |v: f32| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8; // NaN → 0
    for i in 0..n {
        let x0 = (i % cols) * (width + GRID_GAP);
        let y0 = (i / cols) * (height + GRID_GAP);
        let pixels = &values[i * per_image..(i + 1) * per_image];
        let plane = height * width;
        for p in 0..plane {
            let at = |c: usize| to_byte(pixels[c * plane + p]);
            let rgb = if channels >= 3 {
                [at(0), at(1), at(2)]
            } else {
                [at(0); 3]
            };
            let (x, y) = (x0 + p % width, y0 + p / width);
            img.put_pixel(x as u32, y as u32, Rgb(rgb));
        }
    }
    img
}

/// A scatter plot (512×512, white background, light grid lines at integers)
/// of points (x, y pairs) in the square [-extent, extent]² (y pointing up),
/// the mixture's modes drawn as red circles of radius 3·std (at least 3 px),
/// points as small dark-blue dots (3×3 pixels), the circles drawn over them.
///
/// Points outside the square or not finite are skipped. When integer grid
/// lines would be closer than 8 pixels, they are drawn every 2, 5, 10, 20,
/// ... units instead; the axes through 0 are a darker gray. A non-finite or
/// non-positive `extent` is taken as 1.
pub fn scatter(points: &[f32], modes: &[[f32; 2]], std: f32, extent: f32) -> RgbImage {
    let size = SCATTER_SIZE as i64;
    let extent = if extent.is_finite() && extent > 0.0 {
        extent as f64
    } else {
        1.0
    };
    let scale = size as f64 / (2.0 * extent); // pixels per unit
    // Data → pixel: x = -extent is column 0, y = +extent is row 0.
    let to_px = |x: f32, y: f32| -> (i64, i64) {
        let px = ((x as f64 + extent) * scale).floor();
        let py = ((extent - y as f64) * scale).floor();
        (px as i64, py as i64) // saturating casts: far-away points land off-canvas
    };
    let mut img = RgbImage::from_pixel(SCATTER_SIZE, SCATTER_SIZE, WHITE);

    // Grid lines at multiples of `step`, the smallest of 1, 2, 5, 10, 20, ...
    // that keeps them at least 8 pixels apart.
    let mut step = 1.0f64;
    for factor in [2.0, 2.5, 2.0].iter().cycle() {
        if step * scale >= 8.0 {
            break;
        }
        step *= factor;
    }
    let k_max = (extent / step).floor() as i64;
    for k in -k_max..=k_max {
        let v = (k as f64 * step) as f32;
        let color = if k == 0 { AXIS_GRID } else { LIGHT_GRID };
        let (px, py) = to_px(v, v);
        let px = px.min(size - 1); // +extent itself maps just past the edge
        let py = py.max(0);
        line(&mut img, (px, 0), (px, size - 1), color);
        line(&mut img, (0, py), (size - 1, py), color);
    }

    for p in points.chunks_exact(2) {
        if p[0].is_finite() && p[1].is_finite() {
            let (px, py) = to_px(p[0], p[1]);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    put(&mut img, px + dx, py + dy, POINT_COLOR);
                }
            }
        }
    }
    // Modes last, so that the true modes stay visible over the points.
    let radius = if std.is_finite() {
        (3.0 * std.abs() as f64 * scale).max(3.0)
    } else {
        3.0
    };
    for m in modes {
        if m[0].is_finite() && m[1].is_finite() {
            circle(&mut img, to_px(m[0], m[1]), radius, MODE_COLOR);
        }
    }

    img
}

/// A line plot (800×400) of two series over steps: D loss in blue
/// ([`D_LOSS_COLOR`]), G loss in orange ([`G_LOSS_COLOR`]), with axes, a few
/// tick marks, the y range's min and max and the step range written in a
/// tiny digit font, and a "D"/"G" legend at the top right.
///
/// The y range comes from the finite values of both series (padded when
/// flat; [0, 1] when there are none); a non-finite value breaks its line.
/// Series longer than `steps` are cut to its length.
pub fn loss_plot(steps: &[u64], d_loss: &[f32], g_loss: &[f32]) -> RgbImage {
    let (w, h) = (LOSS_WIDTH as i64, LOSS_HEIGHT as i64);
    let mut img = RgbImage::from_pixel(LOSS_WIDTH, LOSS_HEIGHT, WHITE);
    // Plot area: margins leave room for the labels.
    let (left, right, top, bottom) = (60i64, w - 20, 20i64, h - 30);

    // Ranges.
    let finite = d_loss
        .iter()
        .take(steps.len())
        .chain(g_loss.iter().take(steps.len()))
        .copied()
        .filter(|v| v.is_finite());
    let (mut y_min, mut y_max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v as f64), hi.max(v as f64))
    });
    if y_min > y_max {
        (y_min, y_max) = (0.0, 1.0);
    } else if y_max - y_min < 1e-9 * y_max.abs().max(1.0) {
        (y_min, y_max) = (y_min - 1.0, y_max + 1.0);
    }
    let s_min = steps.iter().copied().min().unwrap_or(0) as f64;
    let mut s_max = steps.iter().copied().max().unwrap_or(1) as f64;
    if s_max <= s_min {
        s_max = s_min + 1.0;
    }
    let to_px = |s: u64, v: f32| -> (i64, i64) {
        let x = left as f64 + (s as f64 - s_min) / (s_max - s_min) * (right - left) as f64;
        let y = bottom as f64 - (v as f64 - y_min) / (y_max - y_min) * (bottom - top) as f64;
        (x.round() as i64, y.round() as i64)
    };

    // Axes, tick marks (5 intervals each way) and labels.
    line(&mut img, (left, top), (left, bottom), BLACK);
    line(&mut img, (left, bottom), (right, bottom), BLACK);
    for i in 0..=5 {
        let y = bottom - (bottom - top) * i / 5;
        line(&mut img, (left - 5, y), (left, y), BLACK);
        if i > 0 {
            line(&mut img, (left + 1, y), (right, y), Rgb([238, 238, 238]));
        }
        let x = left + (right - left) * i / 5;
        line(&mut img, (x, bottom), (x, bottom + 5), BLACK);
    }
    let y_max_label = format_number(y_max);
    let y_min_label = format_number(y_min);
    text(
        &mut img,
        left - 8 - text_width(&y_max_label),
        top - 2,
        &y_max_label,
        BLACK,
    );
    text(
        &mut img,
        left - 8 - text_width(&y_min_label),
        bottom - 2,
        &y_min_label,
        BLACK,
    );
    let s_min_label = format_number(s_min);
    let s_max_label = format_number(s_max);
    text(&mut img, left, bottom + 10, &s_min_label, BLACK);
    text(
        &mut img,
        right - text_width(&s_max_label),
        bottom + 10,
        &s_max_label,
        BLACK,
    );

    // The series, each as connected segments between finite points.
    for (series, color) in [(d_loss, D_LOSS_COLOR), (g_loss, G_LOSS_COLOR)] {
        let mut prev: Option<(i64, i64)> = None;
        for (&s, &v) in steps.iter().zip(series) {
            if !v.is_finite() {
                prev = None;
                continue;
            }
            let p = to_px(s, v);
            match prev {
                Some(q) => line(&mut img, q, p, color),
                None => put(&mut img, p.0, p.1, color),
            }
            prev = Some(p);
        }
    }

    // Legend: a coloured bar and a letter for each series.
    for (row, (label, color)) in [("D", D_LOSS_COLOR), ("G", G_LOSS_COLOR)]
        .into_iter()
        .enumerate()
    {
        let y = top + 6 + 12 * row as i64;
        for dy in -1..=1 {
            line(&mut img, (right - 40, y + dy), (right - 22, y + dy), color);
        }
        text(&mut img, right - 14, y - 5, label, color);
    }
    img
}

/// Writes a PNG atomically: to "<path>.tmp" in the same folder, flush +
/// sync, then rename over `path`, so a reader never sees half a file. The
/// temporary file is removed if anything fails.
pub fn save_png(img: &RgbImage, path: &Path) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);

    let write = || -> io::Result<()> {
        let mut out = BufWriter::new(File::create(&tmp)?);
        img.write_with_encoder(PngEncoder::new(&mut out))
            .map_err(io::Error::other)?;
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

// ----------------------------------------------------------------------------
// Drawing primitives. Coordinates are i64 so that shapes may run off the
// canvas; `put` clips.

/// Sets one pixel if it lies on the canvas.
fn put(img: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>) {
    if x >= 0 && y >= 0 && x < img.width() as i64 && y < img.height() as i64 {
        img.put_pixel(x as u32, y as u32, color);
    }
}

/// A one-pixel line from `a` to `b` inclusive (Bresenham). Callers pass
/// points on (or just off) the canvas.
fn line(img: &mut RgbImage, a: (i64, i64), b: (i64, i64), color: Rgb<u8>) {
    // Safety net: clamp to a margin around the canvas so that a wild
    // coordinate cannot make us walk billions of off-canvas pixels.
    let lim = 4 * (img.width().max(img.height()) as i64);
    let (mut x0, mut y0) = (a.0.clamp(-lim, lim), a.1.clamp(-lim, lim));
    let (x1, y1) = (b.0.clamp(-lim, lim), b.1.clamp(-lim, lim));
    let dx = (x1 - x0).abs();
    let dy = -(y1 - y0).abs();
    let sx = if x0 < x1 { 1 } else { -1 };
    let sy = if y0 < y1 { 1 } else { -1 };
    let mut err = dx + dy;
    loop {
        put(img, x0, y0, color);
        if x0 == x1 && y0 == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x0 += sx;
        }
        if e2 <= dx {
            err += dx;
            y0 += sy;
        }
    }
}

/// A circle outline of the given radius (midpoint algorithm), two pixels thick.
fn circle(img: &mut RgbImage, center: (i64, i64), radius: f64, color: Rgb<u8>) {
    let r = radius
        .round()
        .min(4.0 * img.width().max(img.height()) as f64) as i64;
    for r in [r, r - 1] {
        if r < 0 {
            continue;
        }
        let (mut x, mut y, mut err) = (r, 0i64, 1 - r);
        while x >= y {
            for (dx, dy) in [
                (x, y),
                (y, x),
                (-y, x),
                (-x, y),
                (-x, -y),
                (-y, -x),
                (y, -x),
                (x, -y),
            ] {
                put(img, center.0 + dx, center.1 + dy, color);
            }
            y += 1;
            if err < 0 {
                err += 2 * y + 1;
            } else {
                x -= 1;
                err += 2 * (y - x) + 1;
            }
        }
    }
}

/// A number as a short label: integers as such, others with up to 3
/// significant decimals, huge or tiny ones in e-notation.
fn format_number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 1e5 || v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// 3×5 bitmaps, one row per u8 (bits 2..0 = left..right).
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '+' => [0b000, 0b010, 0b111, 0b010, 0b000],
        'e' => [0b000, 0b111, 0b111, 0b100, 0b111],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'G' => [0b111, 0b100, 0b101, 0b101, 0b111],
        _ => return None,
    })
}

/// Text scale: each font pixel is drawn as a 2×2 block.
const TEXT_SCALE: i64 = 2;

/// Width in pixels of `s` as drawn by [`text`].
fn text_width(s: &str) -> i64 {
    s.chars().count() as i64 * 4 * TEXT_SCALE
}

/// Draws `s` with its top-left corner at (x, y); unknown characters are blanks.
fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, color: Rgb<u8>) {
    for (i, c) in s.chars().enumerate() {
        let Some(rows) = glyph(c) else { continue };
        let cx = x + i as i64 * 4 * TEXT_SCALE;
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    for dy in 0..TEXT_SCALE {
                        for dx in 0..TEXT_SCALE {
                            put(
                                img,
                                cx + col * TEXT_SCALE + dx,
                                y + row as i64 * TEXT_SCALE + dy,
                                color,
                            );
                        }
                    }
                }
            }
        }
    }
}
