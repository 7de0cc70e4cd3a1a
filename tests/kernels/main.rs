//! Every kernel against its CPU reference, on the default adapter (lavapipe
//! in CI). A missing adapter fails these tests with the error a user would
//! see; nothing is skipped.
//!
//! Inputs are fresh random numbers each run; the seed is printed with every
//! failure and can be fixed with SHADERGAN_TEST_SEED=<n>.

mod activation;
mod adam;
mod batchnorm;
mod concat;
mod conv;
mod data;
mod determinism;
mod loss;
mod matmul;
mod random;
mod reduce;
mod refine;
mod softmax;

use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use shadergan::{Gpu, GpuOptions, Tensor};

/// The rows (batch sizes) every kernel is tried at.
pub const ROWS: [usize; 5] = [1, 7, 100, 257, 1000];

pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("adapter: {}", gpu.describe());
        gpu
    })
}

/// A random generator and its seed (fresh unless SHADERGAN_TEST_SEED is set).
pub fn rng() -> (StdRng, u64) {
    let seed = std::env::var("SHADERGAN_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random::<u64>());
    (StdRng::seed_from_u64(seed), seed)
}

pub fn random(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// A tensor of n NaNs: an element a kernel never writes stays NaN and fails
/// the comparison.
pub fn nan_tensor(n: usize) -> Tensor {
    let t = gpu().zeros(n).unwrap();
    gpu().fill(&t, f32::NAN).unwrap();
    t
}

pub fn upload(v: &[f32]) -> Tensor {
    gpu().upload(v).unwrap()
}

pub fn read(t: &Tensor) -> Vec<f32> {
    gpu().read(t).unwrap()
}

pub fn run(kernels: &[&shadergan::Kernel]) {
    gpu().run(kernels).unwrap();
}

/// max |gpu − ref| / max |ref| (relative to the tensor's scale); NaN or a
/// length mismatch gives infinity.
pub fn max_err(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
    max_err_scaled(got, want, scale)
}

/// max |gpu − ref| / scale. For sums, the scale is the largest sum of
/// absolute terms: an f32 sum is accurate relative to that, not to a
/// result that cancels to near zero.
pub fn max_err_scaled(got: &[f32], want: &[f64], scale: f64) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        let e = (*g as f64 - w).abs() / scale;
        if e.is_nan() {
            return f64::INFINITY;
        }
        worst = worst.max(e);
    }
    worst
}

/// Asserts max_err ≤ tol and prints the error for the record.
pub fn assert_close(what: &str, seed: u64, got: &[f32], want: &[f64], tol: f64) {
    let e = max_err(got, want);
    eprintln!("max err {what}: {e:.2e}");
    assert!(
        e <= tol,
        "{what}: max relative error {e:.3e} > {tol:.0e} (seed {seed})"
    );
}

/// Asserts max_err_scaled ≤ tol and prints the error for the record.
pub fn assert_close_scaled(what: &str, seed: u64, got: &[f32], want: &[f64], scale: f64, tol: f64) {
    let e = max_err_scaled(got, want, scale);
    eprintln!("max err {what}: {e:.2e}");
    assert!(
        e <= tol,
        "{what}: max error {e:.3e} (relative to {scale:.3e}) > {tol:.0e} (seed {seed})"
    );
}

pub fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(1e-30f64, |m, x| m.max(x.abs()))
}

/// Central finite differences of `f` at `coords` of `x`, with the step
/// applied in f32 and the difference taken from the rounded inputs.
pub fn finite_differences(
    x: &[f32],
    coords: &[usize],
    h: f32,
    f: impl Fn(&[f32]) -> f64,
) -> Vec<f64> {
    coords
        .iter()
        .map(|&i| {
            let mut xp = x.to_vec();
            let mut xm = x.to_vec();
            xp[i] += h;
            xm[i] -= h;
            (f(&xp) - f(&xm)) / (xp[i] as f64 - xm[i] as f64)
        })
        .collect()
}

/// Compares a GPU gradient with finite differences at some coordinates,
/// relative to the gradient's largest element.
pub fn assert_gradient(
    what: &str,
    seed: u64,
    grad: &[f32],
    coords: &[usize],
    fd: &[f64],
    tol: f64,
) {
    let scale = grad.iter().fold(1e-12f64, |m, g| m.max(g.abs() as f64));
    let mut worst = 0.0f64;
    for (&i, &d) in coords.iter().zip(fd) {
        let e = (grad[i] as f64 - d).abs() / scale;
        worst = if e.is_nan() {
            f64::INFINITY
        } else {
            worst.max(e)
        };
    }
    eprintln!("finite-difference err {what}: {worst:.2e}");
    assert!(
        worst <= tol,
        "{what}: gradient differs from finite differences by {worst:.3e} > {tol:.0e} (seed {seed})"
    );
}

/// Up to `k` distinct random coordinates below n.
pub fn coords(rng: &mut StdRng, n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    let mut c: Vec<usize> = (0..k).map(|_| rng.random_range(0..n)).collect();
    c.sort();
    c.dedup();
    c
}

pub fn dot(a: &[f64], w: &[f32]) -> f64 {
    a.iter().zip(w).map(|(x, y)| x * *y as f64).sum()
}
