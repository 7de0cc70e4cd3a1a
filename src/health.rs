//! Whether a run is going wrong, from what it already reads back: the
//! losses and D's outputs of every step, and the samples it draws on its
//! fixed latents for each picture. A run that diverges by size stops, as a
//! NaN stops it; a discriminator or a generator that wins, and a
//! generator that collapses, are warned about (or, with `--health stop`,
//! stop the run). The bounds and why they are what they are:
//! docs/quality.md, "When a run goes wrong".

use std::collections::VecDeque;

use serde::Serialize;

use crate::data::{Dataset, Samples};
use crate::gan::StepMetrics;

/// What `--health` asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthMode {
    /// Only a non-finite loss stops the run.
    Off,
    /// Divergence stops the run; the rest is warned about.
    #[default]
    Warn,
    /// Every finding stops the run.
    Stop,
}

/// A loss this large in magnitude is a diverged run: healthy runs of every
/// loss stay below 20 (docs/quality.md).
pub const DIVERGED_LOSS: f32 = 1000.0;
/// Steps whose mean D outputs decide who wins.
pub const WINDOW: usize = 500;
/// D(x) above this and D(G(z)) below 1 − it, over a window: D wins.
pub const SURE: f32 = 0.99;
/// Samples on the fixed latents spread less than this share of the
/// data's: the generator collapsed.
pub const COLLAPSED: f64 = 0.1;

/// What the health check found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// diverged, discriminator_wins, generator_wins or collapse.
    pub kind: &'static str,
    pub step: u64,
    /// The numbers that decided it.
    pub values: Vec<(&'static str, f64)>,
    /// What happened and what to try, in a sentence.
    pub advice: String,
}

impl Finding {
    /// Whether the run stops for it under `mode`.
    pub fn stops(&self, mode: HealthMode) -> bool {
        match mode {
            HealthMode::Off => false,
            HealthMode::Warn => self.kind == "diverged",
            HealthMode::Stop => true,
        }
    }

    /// `{"kind", "advice", and the values}` for metrics.jsonl.
    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "kind": self.kind, "advice": self.advice });
        for (name, x) in &self.values {
            v[*name] = serde_json::json!(x);
        }
        v
    }

    /// One line for the progress bar or the error.
    pub fn line(&self) -> String {
        let values: Vec<String> = self
            .values
            .iter()
            .map(|(n, x)| format!("{n} {}", short(*x)))
            .collect();
        format!(
            "step {}: {} ({}): {}",
            self.step,
            self.kind.replace('_', " "),
            values.join(", "),
            self.advice
        )
    }
}

fn short(x: f64) -> String {
    if x.abs() >= 1e4 {
        format!("{x:.2e}")
    } else {
        format!("{x:.3}")
    }
}

/// The health check of one run.
pub struct Health {
    mode: HealthMode,
    recent: VecDeque<StepMetrics>,
    /// The data's spread ([`spread`] of its samples), if known.
    data_spread: Option<f64>,
    /// Kinds warned about and not yet cleared: each is said once.
    raised: Vec<&'static str>,
    lr: f32,
}

impl Health {
    /// `lr`: the run's learning rate, which the divergence advice names.
    pub fn new(mode: HealthMode, data_spread: Option<f64>, lr: f32) -> Health {
        Health {
            mode,
            recent: VecDeque::with_capacity(WINDOW),
            data_spread,
            raised: Vec::new(),
            lr,
        }
    }

    /// The metrics of one step; a finding the first time a condition holds.
    pub fn observe(&mut self, m: &StepMetrics) -> Option<Finding> {
        if self.mode == HealthMode::Off {
            return None;
        }
        let loss = m.d_loss.abs().max(m.g_loss.abs());
        if loss > DIVERGED_LOSS {
            return Some(Finding {
                kind: "diverged",
                step: m.step,
                values: vec![("d_loss", m.d_loss as f64), ("g_loss", m.g_loss as f64)],
                advice: format!(
                    "a loss past {DIVERGED_LOSS} is a diverged run; lower --lr (it is {})",
                    self.lr
                ),
            });
        }
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(*m);
        if self.recent.len() < WINDOW {
            return None;
        }
        let n = WINDOW as f64;
        let d_real = self.recent.iter().map(|m| m.d_real as f64).sum::<f64>() / n;
        let d_fake = self.recent.iter().map(|m| m.d_fake as f64).sum::<f64>() / n;
        let values = vec![("d_real", d_real), ("d_fake", d_fake), ("window", n)];
        let sure = SURE as f64;
        let d_wins = d_real > sure && d_fake < 1.0 - sure;
        let g_wins = d_fake > sure;
        let found = self.raise("discriminator_wins", d_wins, || Finding {
            kind: "discriminator_wins",
            step: m.step,
            values: values.clone(),
            advice: "D tells every sample apart, so G learns little from it; try \
                         --loss hinge or lsgan, a smaller discriminator (--d-hidden, \
                         --d-width) or a lower --lr"
                .into(),
        });
        found.or_else(|| {
            self.raise("generator_wins", g_wins, || Finding {
                kind: "generator_wins",
                step: m.step,
                values: values.clone(),
                advice: "D takes G's samples for real, so it no longer teaches G; try \
                         --d-steps 2 or a larger discriminator"
                    .into(),
            })
        })
    }

    /// The samples drawn on the fixed latents at `step` (rows of
    /// `features` values): a finding if they spread far less than the data.
    pub fn observe_samples(
        &mut self,
        step: u64,
        values: &[f32],
        features: usize,
    ) -> Option<Finding> {
        let data = self.data_spread.filter(|&d| d > 0.0)?;
        // A generator starts narrow (small initial weights); it is judged
        // once it has had a window of steps to spread out.
        if self.mode == HealthMode::Off || step < WINDOW as u64 {
            return None;
        }
        let ratio = spread(values, features) / data;
        self.raise("collapse", ratio < COLLAPSED, || Finding {
            kind: "collapse",
            step,
            values: vec![("spread", ratio)],
            advice: format!(
                "G's samples spread {:.0}% as much as the data: it draws a few things only; \
                 try --pack 2 (PacGAN) or --loss hinge, or --conditional on labelled data",
                100.0 * ratio
            ),
        })
    }

    /// `make()` the first time `holds` is true since it last was not.
    fn raise(
        &mut self,
        kind: &'static str,
        holds: bool,
        make: impl FnOnce() -> Finding,
    ) -> Option<Finding> {
        let raised = self.raised.contains(&kind);
        match (holds, raised) {
            (true, false) => {
                self.raised.push(kind);
                Some(make())
            }
            (false, true) => {
                self.raised.retain(|&k| k != kind);
                None
            }
            _ => None,
        }
    }
}

/// The mean over features of the standard deviation across rows: how far
/// apart a set of samples lie.
pub fn spread(values: &[f32], features: usize) -> f64 {
    let rows = values.len() / features.max(1);
    if rows < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for f in 0..features {
        let column = (0..rows).map(|r| values[r * features + f] as f64);
        let mean = column.clone().sum::<f64>() / rows as f64;
        let var = column.map(|v| (v - mean) * (v - mean)).sum::<f64>() / (rows - 1) as f64;
        total += var.sqrt();
    }
    total / features as f64
}

/// [`spread`] of a data set, as the generator draws it (images in
/// [-1, 1]), over at most 10,000 of its items spaced evenly.
pub fn data_spread(data: &Dataset) -> f64 {
    let features = data.features();
    let every = data.items.div_ceil(10_000).max(1);
    let values: Vec<f32> = match &data.samples {
        Samples::Images { bytes, .. } => bytes
            .chunks_exact(features)
            .step_by(every)
            .flat_map(|row| row.iter().map(|&b| b as f32 / 127.5 - 1.0))
            .collect(),
        Samples::Points { xy, .. } => xy
            .chunks_exact(features)
            .step_by(every)
            .flatten()
            .copied()
            .collect(),
    };
    spread(&values, features)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(step: u64, d_loss: f32, d_real: f32, d_fake: f32) -> StepMetrics {
        StepMetrics {
            step,
            d_loss,
            g_loss: 1.0,
            d_real,
            d_fake,
            d_fake_g: d_fake,
        }
    }

    #[test]
    fn a_loss_past_the_bound_is_divergence_and_stops_unless_off() {
        let mut h = Health::new(HealthMode::Warn, None, 1000.0);
        assert_eq!(h.observe(&m(1, 0.7, 0.5, 0.5)), None);
        let f = h.observe(&m(2, 1.3e12, 1.0, 1.0)).unwrap();
        assert_eq!((f.kind, f.step), ("diverged", 2));
        assert!(f.advice.contains("lower --lr (it is 1000)"), "{}", f.line());
        assert!(f.stops(HealthMode::Warn) && f.stops(HealthMode::Stop));
        let mut off = Health::new(HealthMode::Off, None, 1.0);
        assert_eq!(off.observe(&m(2, 1.3e12, 1.0, 1.0)), None);
    }

    #[test]
    fn a_discriminator_that_wins_over_a_window_is_warned_about_once() {
        let mut h = Health::new(HealthMode::Warn, None, 1e-3);
        let mut found = Vec::new();
        for step in 1..=3 * WINDOW as u64 {
            // Winning from step WINDOW on; not before.
            let (r, f) = if step > WINDOW as u64 {
                (0.999, 0.001)
            } else {
                (0.7, 0.3)
            };
            found.extend(h.observe(&m(step, 0.1, r, f)));
        }
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, "discriminator_wins");
        // It is said when the window's mean crosses, not at the first step.
        assert!(found[0].step > WINDOW as u64 + 1 && found[0].step < 2 * WINDOW as u64);
        assert!(!found[0].stops(HealthMode::Warn) && found[0].stops(HealthMode::Stop));
        // Cleared, then winning again: said again.
        for step in 3 * WINDOW as u64 + 1..=4 * WINDOW as u64 {
            assert_eq!(h.observe(&m(step, 0.1, 0.6, 0.4)), None);
        }
        let again = (4 * WINDOW as u64 + 1..=5 * WINDOW as u64)
            .filter_map(|s| h.observe(&m(s, 0.1, 0.999, 0.001)))
            .count();
        assert_eq!(again, 1);
    }

    #[test]
    fn a_generator_that_wins_is_warned_about() {
        let mut h = Health::new(HealthMode::Warn, None, 1e-3);
        let found: Vec<Finding> = (1..=WINDOW as u64)
            .filter_map(|s| h.observe(&m(s, 0.1, 0.999, 0.995)))
            .collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, "generator_wins");
    }

    #[test]
    fn samples_that_spread_far_less_than_the_data_are_a_collapse() {
        // The data: 100 points spread over a ring; a collapsed generator:
        // all near one point.
        let ring: Vec<f32> = (0..100)
            .flat_map(|i| {
                let a = i as f32 * 0.0628;
                [a.cos(), a.sin()]
            })
            .collect();
        let one: Vec<f32> = (0..100)
            .flat_map(|i| [1.0 + 0.001 * i as f32, 0.0])
            .collect();
        let mut h = Health::new(HealthMode::Warn, Some(spread(&ring, 2)), 1e-3);
        let late = WINDOW as u64;
        // Not judged before a window of steps.
        assert_eq!(h.observe_samples(late - 1, &one, 2), None);
        assert_eq!(h.observe_samples(late, &ring, 2), None);
        let f = h.observe_samples(late + 10, &one, 2).unwrap();
        assert_eq!((f.kind, f.step), ("collapse", late + 10));
        assert!(f.values[0].1 < 0.05, "{f:?}");
        // Without the data's spread there is nothing to compare.
        let mut blind = Health::new(HealthMode::Warn, None, 1e-3);
        assert_eq!(blind.observe_samples(late + 10, &one, 2), None);
    }

    #[test]
    fn spread_is_the_mean_standard_deviation_of_the_features() {
        // Feature 0: 0, 2 (std √2); feature 1: constant.
        let s = spread(&[0.0, 5.0, 2.0, 5.0], 2);
        assert!((s - 2f64.sqrt() / 2.0).abs() < 1e-12, "{s}");
        assert_eq!(spread(&[1.0, 2.0], 2), 0.0);
    }
}
