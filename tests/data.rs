//! Training data sets: the built-in MNIST, IDX files, image folders, the
//! Gaussian mixtures, and the errors that bad input must give.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use shadergan::data::*;

// ---------------------------------------------------------------------------
// Helpers

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "shadergan-test-data-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An IDX file of unsigned bytes with the given dimensions and data.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Loads `spec` with default options and returns the error message,
/// failing the test if it loaded.
fn load_err(spec: &Path) -> String {
    match load(spec.to_str().unwrap(), None, false, 0) {
        Ok(set) => panic!("{} loaded ({set:?}) but should have failed", spec.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(msg: &str, needles: &[&str]) {
    for n in needles {
        assert!(msg.contains(n), "error message lacks {n:?}: {msg}");
    }
}

/// A PNG chunk: length, type, data, CRC-32 of type + data.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    out
}

/// A well-formed PNG header claiming a `width`×`height` 8-bit grayscale
/// image, followed by a tiny IDAT and IEND (far too little pixel data).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // depth 8, gray, deflate, filter 0, no interlace
    out.extend(png_chunk(b"IHDR", &ihdr));
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(&[0u8; 64]).unwrap();
    out.extend(png_chunk(b"IDAT", &z.finish().unwrap()));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

fn image_bytes(set: &Dataset) -> (&[u8], usize, usize, usize) {
    match &set.samples {
        Samples::Images {
            bytes,
            channels,
            height,
            width,
        } => (bytes, *channels, *height, *width),
        Samples::Points { .. } => panic!("{} holds points, not images", set.name),
    }
}

fn label_counts(labels: &[u8]) -> Vec<usize> {
    let mut counts = vec![0; 10];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

// ---------------------------------------------------------------------------
// Built-in MNIST and Fashion-MNIST

#[test]
fn builtin_mnist_has_10000_gray_28x28_digits_with_provenance_label_counts() {
    let set = builtin_mnist();
    assert_eq!(set.items, 10_000);
    let (bytes, channels, height, width) = image_bytes(&set);
    assert_eq!((channels, height, width), (1, 28, 28));
    assert_eq!(bytes.len(), 10_000 * 784);
    assert_eq!(set.features(), 784);
    // PROVENANCE.md: full 0..255 grayscale, all 256 levels occur.
    let mut seen = [false; 256];
    bytes.iter().for_each(|&b| seen[b as usize] = true);
    assert!(seen.iter().all(|&s| s), "not every gray level occurs");
    let labels = set.labels.as_ref().expect("built-in MNIST has labels");
    assert_eq!(labels.len(), 10_000);
    assert_eq!(
        label_counts(labels),
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
    // Round-robin order by label: the first ten are the digits 0..9.
    assert_eq!(&labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn load_mnist_returns_the_builtin_set() {
    let set = load("mnist", None, false, 0).unwrap();
    assert_eq!(set.name, "mnist (built in)");
    assert!(
        set == builtin_mnist(),
        "load(\"mnist\") differs from builtin_mnist()"
    );
}

#[test]
fn fashion_fixture_loads_by_path_with_its_labels() {
    let path = fixture("fashion1k-fixture-images-idx3-ubyte.gz");
    let set = load(path.to_str().unwrap(), None, false, 0).unwrap();
    assert_eq!(set.items, 1000);
    let (bytes, channels, height, width) = image_bytes(&set);
    assert_eq!((channels, height, width), (1, 28, 28));
    assert_eq!(bytes.len(), 1000 * 784);
    assert!(bytes.iter().any(|&b| b > 200), "all pixels dark");
    let labels = set
        .labels
        .as_ref()
        .expect("sibling labels file was not loaded");
    assert_eq!(label_counts(labels), [100; 10]);
}

#[test]
fn fashion_loads_from_a_folder_holding_t10k_and_explains_how_to_install_when_absent() {
    let dir = TempDir::new("fashion");
    let err = load_fashion_from(dir.path()).unwrap_err().to_string();
    assert_mentions(
        &err,
        &[
            &dir.path().display().to_string(),
            "apt-get install dataset-fashion-mnist",
            "--data",
        ],
    );

    for (from, to) in [
        (
            "fashion1k-fixture-images-idx3-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
        ),
        (
            "fashion1k-fixture-labels-idx1-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ),
    ] {
        fs::copy(fixture(from), dir.join(to)).unwrap();
    }
    let set = load_fashion_from(dir.path()).unwrap();
    assert_eq!(set.items, 1000);
    assert!(set.name.starts_with("fashion"), "{}", set.name);
    assert_eq!(label_counts(set.labels.as_ref().unwrap()), [100; 10]);

    // The real location: either installed (and then it loads) or a helpful error.
    match load("fashion", None, false, 0) {
        Ok(set) => assert!(set.items >= 10_000 && set.labels.is_some()),
        Err(e) => assert_mentions(&e.to_string(), &["apt-get install dataset-fashion-mnist"]),
    }
}

// ---------------------------------------------------------------------------
// IDX files

#[test]
fn idx_round_trip_plain_and_gzip_with_labels_sibling() {
    let dir = TempDir::new("idx");
    let (n, h, w) = (5u32, 3u32, 4u32);
    let pixels: Vec<u8> = (0..n * h * w).map(|i| (i * 7 % 256) as u8).collect();
    let labels = [3u8, 1, 4, 1, 5];
    let images_idx = idx(&[n, h, w], &pixels);
    let labels_idx = idx(&[n], &labels);

    for gz in [false, true] {
        let suffix = if gz { ".gz" } else { "" };
        let wrap = |b: &[u8]| if gz { gzip(b) } else { b.to_vec() };
        let images_path = dir.join(&format!("tiny-images-idx3-ubyte{suffix}"));
        fs::write(&images_path, wrap(&images_idx)).unwrap();
        fs::write(
            dir.join(&format!("tiny-labels-idx1-ubyte{suffix}")),
            wrap(&labels_idx),
        )
        .unwrap();

        let set = load(images_path.to_str().unwrap(), None, false, 0).unwrap();
        assert_eq!(set.items, 5, "gz {gz}");
        let (bytes, channels, height, width) = image_bytes(&set);
        assert_eq!((channels, height, width), (1, 3, 4));
        assert_eq!(bytes, &pixels[..], "gz {gz}");
        assert_eq!(set.labels.as_deref(), Some(&labels[..]), "gz {gz}");
        assert_eq!(read_maybe_gzip(&images_path).unwrap(), images_idx);
    }

    // Without a labels sibling the images still load, unlabelled.
    let lone = dir.join("lone-images-idx3-ubyte");
    fs::write(&lone, &images_idx).unwrap();
    let set = load(lone.to_str().unwrap(), None, false, 0).unwrap();
    assert_eq!(set.items, 5);
    assert!(set.labels.is_none());
}

#[test]
fn parse_idx_returns_dimensions_and_data() {
    let (dims, data) = parse_idx(&idx(&[2, 3], &[1, 2, 3, 4, 5, 6]), "t").unwrap();
    assert_eq!(dims, [2, 3]);
    assert_eq!(data, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn idx_with_wrong_magic_names_the_file_and_the_magic() {
    let dir = TempDir::new("magic");
    let path = dir.join("bad-images-idx3-ubyte");
    let mut bytes = idx(&[1, 2, 2], &[0; 4]);
    bytes[0] = 0x12;
    bytes[1] = 0x34;
    fs::write(&path, &bytes).unwrap();
    let err = load_err(&path);
    assert_mentions(
        &err,
        &[&path.display().to_string(), "wrong magic number 0x12340803"],
    );

    // A file too short to hold a magic number at all.
    fs::write(&path, [0u8, 0]).unwrap();
    assert_mentions(
        &load_err(&path),
        &[&path.display().to_string(), "wrong magic"],
    );
}

#[test]
fn idx_of_non_byte_type_is_refused_with_the_type_named() {
    let mut bytes = idx(&[1], &[0, 0, 0, 0]);
    bytes[2] = 0x0D; // f32
    let err = parse_idx(&bytes, "floats.idx").unwrap_err().to_string();
    assert_mentions(
        &err,
        &["floats.idx", "0x0d", "32-bit float", "unsigned bytes"],
    );
}

#[test]
fn truncated_gzip_names_the_file_and_says_truncated() {
    let dir = TempDir::new("gz");
    let path = dir.join("cut-images-idx3-ubyte.gz");
    let whole = gzip(&idx(&[10, 28, 28], &vec![7u8; 7840]));
    fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    let err = load_err(&path);
    assert_mentions(&err, &[&path.display().to_string(), "gzip", "truncated"]);
    assert!(read_maybe_gzip(&path).is_err());
}

#[test]
fn idx_promising_more_items_than_present_says_how_many_and_how_many_bytes() {
    let dir = TempDir::new("short");
    let path = dir.join("short-images-idx3-ubyte");
    // Promises 100 images of 28×28 (78,400 bytes) but holds 3 images' worth.
    fs::write(&path, idx(&[100, 28, 28], &vec![1u8; 3 * 784])).unwrap();
    let err = load_err(&path);
    assert_mentions(
        &err,
        &[
            &path.display().to_string(),
            "truncated",
            "100 items",
            "78400",
            "2352",
        ],
    );

    // A header cut short inside its dimensions.
    let err = parse_idx(&[0, 0, 8, 3, 0, 0, 0, 1], "cut.idx")
        .unwrap_err()
        .to_string();
    assert_mentions(&err, &["cut.idx", "header", "16", "8 bytes"]);
}

#[test]
fn idx_header_promising_gigabytes_is_refused_before_allocating() {
    // 65,535 × 65,535 × 65,535 bytes: about 2.8e14, far over 2 GiB.
    let err = parse_idx(&idx(&[65_535, 65_535, 65_535], &[]), "huge.idx")
        .unwrap_err()
        .to_string();
    assert_mentions(&err, &["huge.idx", "281462092005375"]);
    // Dimensions whose product overflows 64 bits.
    let err = parse_idx(&idx(&[u32::MAX; 5], &[]), "overflow.idx")
        .unwrap_err()
        .to_string();
    assert_mentions(&err, &["overflow.idx", "more than 2^64"]);
}

#[test]
fn labels_file_with_a_different_count_is_refused() {
    let dir = TempDir::new("labels");
    let images = dir.join("x-images-idx3-ubyte");
    let labels = dir.join("x-labels-idx1-ubyte");
    fs::write(&images, idx(&[4, 2, 2], &[0; 16])).unwrap();
    fs::write(&labels, idx(&[3], &[0, 1, 2])).unwrap();
    let err = load_err(&images);
    assert_mentions(
        &err,
        &[
            &images.display().to_string(),
            &labels.display().to_string(),
            "3 labels",
            "4 images",
        ],
    );
}

#[test]
fn labels_file_given_as_images_is_refused() {
    let dir = TempDir::new("labels-as-images");
    let path = dir.join("x-labels-idx1-ubyte");
    fs::write(&path, idx(&[3], &[0, 1, 2])).unwrap();
    assert_mentions(
        &load_err(&path),
        &[&path.display().to_string(), "labels file"],
    );
}

// ---------------------------------------------------------------------------
// Paths, flags and image folders

#[test]
fn nonexistent_path_names_it_and_lists_what_data_accepts() {
    let path = std::env::temp_dir().join("shadergan-definitely-not-here/nothing-images-idx3-ubyte");
    let err = load_err(&path);
    assert_mentions(
        &err,
        &[&path.display().to_string(), "no such file", "mnist", "ring"],
    );
    let err = read_maybe_gzip(&path).unwrap_err().to_string();
    assert_mentions(&err, &[&path.display().to_string()]);
}

#[test]
fn size_flag_out_of_range_is_refused() {
    let err = load("mnist", Some(0), false, 0).unwrap_err().to_string();
    assert_mentions(&err, &["--size 0"]);
    assert!(load("mnist", Some(100_000), false, 0).is_err());
}

#[test]
fn empty_folder_is_refused_hidden_files_do_not_count() {
    let dir = TempDir::new("empty");
    let err = load_err(dir.path());
    assert_mentions(&err, &[&dir.path().display().to_string(), "no images"]);
    fs::write(dir.join(".DS_Store"), b"junk").unwrap();
    let err = load_err(dir.path());
    assert_mentions(&err, &[&dir.path().display().to_string(), "no images"]);
}

#[test]
fn a_file_named_as_an_image_that_is_not_one_is_named_and_others_are_skipped() {
    let dir = TempDir::new("notimage");
    image::GrayImage::from_pixel(8, 8, image::Luma([9]))
        .save(dir.join("a.png"))
        .unwrap();
    // Not images by name: skipped and counted, as ImageFolder skips them.
    fs::write(dir.join("README"), "these are my digits\n").unwrap();
    fs::write(dir.join("PROVENANCE.md"), "from my camera\n").unwrap();
    let set = load(dir.path().to_str().unwrap(), None, false, 0).unwrap();
    assert_eq!(set.items, 1);
    assert!(
        set.notes.iter().any(|n| n.contains("skipped 2 files")),
        "{:?}",
        set.notes
    );
    // Named as an image but not one: an error naming it.
    let fake = dir.join("b.png");
    fs::write(&fake, "these are my digits\n").unwrap();
    let err = load_err(dir.path());
    assert_mentions(&err, &[&fake.display().to_string(), "cannot be decoded"]);
}

#[test]
fn png_claiming_enormous_dimensions_is_refused_by_the_size_limit() {
    let dir = TempDir::new("bomb");
    let bomb = dir.join("bomb.png");
    fs::write(&bomb, png_claiming(100_000, 100_000)).unwrap();
    let err = load_err(dir.path());
    assert_mentions(&err, &[&bomb.display().to_string(), "too large", "8192"]);
}

#[test]
fn image_folder_of_mixed_sizes_loads_as_gray_28_and_as_rgb_16() {
    let dir = TempDir::new("folder");
    // Written out of order: loading must sort by name.
    image::RgbImage::from_pixel(40, 30, image::Rgb([255, 0, 0]))
        .save(dir.join("c-red.png"))
        .unwrap();
    image::GrayImage::from_pixel(10, 10, image::Luma([255]))
        .save(dir.join("a-white.png"))
        .unwrap();
    image::GrayImage::from_pixel(28, 28, image::Luma([0]))
        .save(dir.join("b-black.png"))
        .unwrap();
    image::RgbImage::from_pixel(20, 33, image::Rgb([128, 128, 128]))
        .save(dir.join("d-gray.jpg"))
        .unwrap();
    fs::write(dir.join(".hidden.txt"), "not an image, but hidden").unwrap();
    fs::create_dir(dir.join("subfolder")).unwrap();

    let gray = load(dir.path().to_str().unwrap(), None, false, 0).unwrap();
    assert_eq!(gray.items, 4);
    assert!(gray.labels.is_none());
    let (bytes, channels, height, width) = image_bytes(&gray);
    assert_eq!((channels, height, width), (1, 28, 28));
    assert_eq!(gray.features(), 784);
    let img = |i: usize| &bytes[i * 784..(i + 1) * 784];
    // Resizing a flat image keeps it flat, up to rounding.
    assert!(img(0).iter().all(|&b| b >= 250), "a-white is not white");
    assert!(img(1).iter().all(|&b| b == 0), "b-black is not black");
    // Red in luma: about 0.2126·255 ≈ 54.
    assert!(
        img(2).iter().all(|&b| (40..=70).contains(&b)),
        "c-red has wrong gray"
    );
    assert!(
        img(3).iter().all(|&b| b.abs_diff(128) <= 4),
        "d-gray.jpg has wrong gray"
    );

    let rgb = load(dir.path().to_str().unwrap(), Some(16), true, 0).unwrap();
    assert_eq!(rgb.items, 4);
    let (bytes, channels, height, width) = image_bytes(&rgb);
    assert_eq!((channels, height, width), (3, 16, 16));
    assert_eq!(bytes.len(), 4 * 16 * 16 * 3);
    // Channel by channel (CHW): red's first plane full, the others empty.
    let red = &bytes[2 * 768..3 * 768];
    assert!(
        red[..256].iter().all(|&b| b >= 250) && red[256..].iter().all(|&b| b <= 5),
        "c-red is not red"
    );
    let white = &bytes[..768];
    assert!(white.iter().all(|&b| b >= 250), "a-white is not white");
}

// ---------------------------------------------------------------------------
// Gaussian mixtures

fn nearest_mode(modes: &[[f32; 2]], p: &[f32]) -> (usize, f32) {
    modes
        .iter()
        .enumerate()
        .map(|(k, m)| (k, ((p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2)).sqrt()))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
}

#[test]
fn ring_has_8_modes_on_the_unit_circle_and_grid_has_25_on_the_lattice() {
    let ring = Mixture::ring();
    assert_eq!(ring.modes.len(), 8);
    assert_eq!(ring.std, 0.01);
    for (k, m) in ring.modes.iter().enumerate() {
        let a = 2.0 * std::f32::consts::PI * k as f32 / 8.0;
        assert!(
            (m[0] - a.cos()).abs() < 1e-6 && (m[1] - a.sin()).abs() < 1e-6,
            "mode {k}: {m:?}"
        );
    }
    assert_eq!(ring.extent(), 1.5);

    let grid = Mixture::grid();
    assert_eq!(grid.modes.len(), 25);
    assert_eq!(grid.std, 0.05);
    for x in [-4.0, -2.0, 0.0, 2.0, 4.0] {
        for y in [-4.0, -2.0, 0.0, 2.0, 4.0] {
            assert!(grid.modes.contains(&[x, y]), "grid lacks mode ({x}, {y})");
        }
    }
    assert_eq!(grid.extent(), 6.0);
}

#[test]
fn mixture_samples_lie_near_modes_and_every_mode_gets_its_share() {
    for mixture in [Mixture::ring(), Mixture::grid()] {
        let n = 10_000;
        let xy = mixture.sample(n, 42);
        assert_eq!(xy.len(), 2 * n);
        let mut counts = vec![0usize; mixture.modes.len()];
        for p in xy.chunks(2) {
            let (k, d) = nearest_mode(&mixture.modes, p);
            assert!(
                d <= 6.0 * mixture.std,
                "point {p:?} is {d} from its nearest mode"
            );
            counts[k] += 1;
        }
        let expected = n / mixture.modes.len();
        for (k, &c) in counts.iter().enumerate() {
            assert!(
                c > expected / 2 && c < expected * 3 / 2,
                "mode {k} got {c} of {n} samples (expected about {expected})"
            );
        }
        // The spread is the stated std: mean squared offset per coordinate ≈ std².
        let var: f32 = xy
            .chunks(2)
            .map(|p| nearest_mode(&mixture.modes, p).1.powi(2) / 2.0)
            .sum::<f32>()
            / n as f32;
        let ratio = var.sqrt() / mixture.std;
        assert!((0.95..1.05).contains(&ratio), "sample std / std = {ratio}");
    }
}

#[test]
fn mixture_samples_are_deterministic_per_seed_and_differ_between_seeds() {
    let grid = Mixture::grid();
    assert_eq!(grid.sample(1000, 7), grid.sample(1000, 7));
    assert_ne!(grid.sample(1000, 7), grid.sample(1000, 8));
    let (xy, modes) = grid.sample_with_modes(1000, 7);
    assert_eq!(xy, grid.sample(1000, 7));
    assert_eq!(modes.len(), 1000);
}

#[test]
fn load_ring_and_grid_give_100000_labelled_points() {
    for (name, mixture) in [("ring", Mixture::ring()), ("grid", Mixture::grid())] {
        let set = load(name, None, false, 11).unwrap();
        assert_eq!(set.name, name);
        assert_eq!(set.items, 100_000);
        assert_eq!(set.features(), 2);
        let Samples::Points { xy, mixture: m } = &set.samples else {
            panic!("{name} is not points")
        };
        assert_eq!(m, &mixture);
        assert_eq!(xy.len(), 200_000);
        assert_eq!(xy, &mixture.sample(100_000, 11));
        let labels = set.labels.as_ref().unwrap();
        for (p, &l) in xy.chunks(2).zip(labels).take(1000) {
            assert_eq!(nearest_mode(&mixture.modes, p).0, l as usize);
        }
        assert!(
            load(name, None, false, 12).unwrap() != set,
            "{name}: seed ignored"
        );
    }
}

// ---------------------------------------------------------------------------
// Image folders with classes (torchvision's ImageFolder layout)

#[test]
fn class_folders_label_their_images_in_sorted_order_with_alpha_on_a_background() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/emoji");
    let set = load(fixture.to_str().unwrap(), Some(16), true, 0).unwrap();
    assert_eq!(set.items, 27);
    assert_eq!(
        set.class_names,
        [
            "activities",
            "animals-nature",
            "flags",
            "food-drink",
            "objects",
            "people-body",
            "smileys-emotion",
            "symbols",
            "travel-places"
        ]
    );
    let labels = set.labels.clone().unwrap();
    assert_eq!(label_counts(&labels)[..9], [3; 9]);
    assert!(labels.windows(2).all(|w| w[0] <= w[1]), "{labels:?}");
    let (bytes, channels, height, width) = image_bytes(&set);
    assert_eq!((channels, height, width), (3, 16, 16));
    // The corners are transparent: white on the default background, black
    // on --background black.
    assert_eq!([bytes[0], bytes[256], bytes[512]], [255, 255, 255]);
    let opts = shadergan::data::LoadOptions {
        size: Some(16),
        color: true,
        background: shadergan::data::parse_background("black").unwrap(),
        seed: 0,
    };
    let black = shadergan::data::load_with(fixture.to_str().unwrap(), &opts).unwrap();
    let (bytes, ..) = image_bytes(&black);
    assert_eq!([bytes[0], bytes[256], bytes[512]], [0, 0, 0]);
    assert_eq!(
        shadergan::data::parse_background("#102030").unwrap(),
        [16, 32, 48]
    );
    assert!(
        shadergan::data::parse_background("purple")
            .unwrap_err()
            .to_string()
            .contains("#rrggbb")
    );
}

#[test]
fn an_empty_or_single_image_class_folder_is_refused_by_name() {
    let dir = TempDir::new("classes");
    for class in ["cats", "dogs"] {
        fs::create_dir(dir.join(class)).unwrap();
    }
    for i in 0..3 {
        image::GrayImage::from_pixel(8, 8, image::Luma([9]))
            .save(dir.join(&format!("cats/{i}.png")))
            .unwrap();
    }
    let err = load_err(dir.path());
    assert_mentions(
        &err,
        &[
            &dir.join("dogs").display().to_string(),
            "no PNG or JPEG image",
            "at least 2",
        ],
    );
    image::GrayImage::from_pixel(8, 8, image::Luma([200]))
        .save(dir.join("dogs/a.jpg"))
        .unwrap();
    let err = load_err(dir.path());
    assert_mentions(
        &err,
        &[&dir.join("dogs").display().to_string(), "a single image"],
    );
    image::GrayImage::from_pixel(8, 8, image::Luma([200]))
        .save(dir.join("dogs/b.png"))
        .unwrap();
    // Loose images beside the class folders are skipped, and said so.
    image::GrayImage::from_pixel(8, 8, image::Luma([0]))
        .save(dir.join("loose.png"))
        .unwrap();
    let set = load(dir.path().to_str().unwrap(), None, false, 0).unwrap();
    assert_eq!(set.items, 5);
    assert_eq!(set.labels.unwrap(), [0, 0, 0, 1, 1]);
    assert!(
        set.notes
            .iter()
            .any(|n| n.contains("not in a class folder")),
        "{:?}",
        set.notes
    );
}
