//! Sample quality on the 2-D mixtures (DESIGN §7), as PacGAN (Lin et al.
//! 2018) and VEEGAN (Srivastava et al. 2017) measure it.

use serde::Serialize;

use crate::data::Mixture;

/// The mode-collapse metrics of a set of 2-D samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MixtureQuality {
    /// Modes that are the nearest mode of at least one high-quality sample.
    pub modes: usize,
    /// Fraction of samples within 3 std of their nearest mode.
    pub high_quality: f64,
    /// KL(histogram of high-quality samples over modes ‖ uniform).
    pub reverse_kl: f64,
    /// Fraction of samples within a quarter of the closest two modes'
    /// distance of their nearest mode: near a mode, if not precisely on it.
    pub near: f64,
}

/// Scores `xy` (pairs) against the mixture.
pub fn mixture_quality(xy: &[f32], mixture: &Mixture) -> MixtureQuality {
    let k = mixture.modes.len();
    let mut counts = vec![0usize; k];
    let mut good = 0usize;
    let mut near = 0usize;
    let n = xy.len() / 2;
    let mut spacing = f32::INFINITY;
    for (i, a) in mixture.modes.iter().enumerate() {
        for b in &mixture.modes[i + 1..] {
            spacing = spacing.min(((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt());
        }
    }
    for p in xy.chunks_exact(2) {
        let (best, d2) = mixture
            .modes
            .iter()
            .enumerate()
            .map(|(i, m)| (i, (p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2)))
            .fold((0, f32::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
        if d2.sqrt() <= 0.25 * spacing {
            near += 1;
        }
        if d2.sqrt() <= 3.0 * mixture.std {
            good += 1;
            counts[best] += 1;
        }
    }
    let modes = counts.iter().filter(|&&c| c > 0).count();
    let reverse_kl = if good == 0 {
        f64::INFINITY
    } else {
        counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let q = c as f64 / good as f64;
                q * (q * k as f64).ln()
            })
            .sum()
    };
    MixtureQuality {
        modes,
        high_quality: if n == 0 { 0.0 } else { good as f64 / n as f64 },
        reverse_kl,
        near: if n == 0 { 0.0 } else { near as f64 / n as f64 },
    }
}
