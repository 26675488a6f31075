//! Input and prediction drift for a served model: the training split is the reference — per
//! input feature for tables; for images their mean intensity, for texts their length — and a
//! sliding window of recent inputs is compared with it per feature by the population stability
//! index (PSI, over the reference's deciles) and a two-sample Kolmogorov–Smirnov test; the
//! recent predicted classes are compared with the training labels by PSI.

use crate::data::Dataset;
use crate::project::serving::ServingSettings;
use std::collections::VecDeque;

/// Reference values kept per feature (an even sample of the training split).
const MAX_REFERENCE: usize = 5000;
/// Bins of the PSI (the reference's deciles).
const PSI_BINS: usize = 10;
/// Floor of a bin's share, so an empty bin does not make the PSI infinite.
const PSI_FLOOR: f64 = 1e-4;

/// One watched feature's state.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureDrift {
    pub name: String,
    pub psi: f64,
    /// Kolmogorov–Smirnov distance and its p-value against the reference.
    pub ks: f64,
    pub ks_p: f64,
    pub drifted: bool,
}

/// What the server compares recent traffic with.
pub struct DriftMonitor {
    settings: ServingSettings,
    names: Vec<String>,
    /// Sorted reference values per feature, and their decile edges.
    reference: Vec<Vec<f64>>,
    edges: Vec<Vec<f64>>,
    window: Vec<VecDeque<f64>>,
    /// Training label shares (classifiers), and recent predicted classes.
    label_shares: Vec<f64>,
    predicted: VecDeque<usize>,
    how: Summary,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Summary {
    /// Each value of a sample is a feature (tables).
    Features,
    /// One feature: the sample's mean (images).
    MeanIntensity,
    /// One feature: the number of tokens (texts).
    Length,
}

impl DriftMonitor {
    /// The reference from `data`'s training split, in the units inputs arrive in (raw).
    pub fn new(data: &Dataset, settings: ServingSettings) -> Self {
        let how = if data.is_tokens() {
            Summary::Length
        } else if data.sample_shape.len() > 1 {
            Summary::MeanIntensity
        } else {
            Summary::Features
        };
        let names = match how {
            Summary::Features => (0..data.sample_len())
                .map(|j| {
                    data.feature_names
                        .get(j)
                        .cloned()
                        .unwrap_or_else(|| format!("x{j}"))
                })
                .collect(),
            Summary::MeanIntensity => vec!["mean_intensity".to_string()],
            Summary::Length => vec!["length".to_string()],
        };
        let step = (data.train.len() / MAX_REFERENCE).max(1);
        let mut reference = vec![Vec::new(); names.len()];
        for &i in data.train.iter().step_by(step) {
            let row = match how {
                Summary::Length => {
                    let mut ids = Vec::new();
                    data.gather_tokens(&[i], &mut ids);
                    vec![ids.iter().filter(|&&t| t != 0).count() as f64]
                }
                _ => Self::summary_of(how, &data.raw_sample(i)),
            };
            for (r, v) in reference.iter_mut().zip(row) {
                r.push(v);
            }
        }
        for r in &mut reference {
            r.sort_by(f64::total_cmp);
        }
        // Deciles, each edge once: a feature with few distinct values (a count, a rounded
        // measurement) gets fewer, fuller bins instead of empty ones.
        let edges = reference
            .iter()
            .map(|r| {
                let mut e: Vec<f64> = (1..PSI_BINS)
                    .filter_map(|k| r.get(k * r.len() / PSI_BINS).copied())
                    .collect();
                e.dedup();
                e
            })
            .collect();
        let label_shares = match data.n_classes() {
            Some(k) => {
                let mut counts = vec![0f64; k];
                data.train
                    .iter()
                    .filter_map(|&i| data.label(i))
                    .for_each(|l| counts[l as usize] += 1.0);
                let total = counts.iter().sum::<f64>().max(1.0);
                counts.iter().map(|c| c / total).collect()
            }
            None => Vec::new(),
        };
        Self {
            window: vec![VecDeque::new(); names.len()],
            settings,
            names,
            reference,
            edges,
            label_shares,
            predicted: VecDeque::new(),
            how,
        }
    }

    fn summary_of(how: Summary, raw: &[f32]) -> Vec<f64> {
        match how {
            Summary::Features => raw.iter().map(|&v| v as f64).collect(),
            Summary::MeanIntensity => {
                vec![raw.iter().map(|&v| v as f64).sum::<f64>() / raw.len().max(1) as f64]
            }
            Summary::Length => vec![raw.len() as f64],
        }
    }

    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// Adds one served input (raw values, or a text's token count) and its predicted class.
    pub fn observe(&mut self, raw: &[f32], tokens: Option<usize>, predicted: Option<usize>) {
        let row = match (self.how, tokens) {
            (Summary::Length, Some(n)) => vec![n as f64],
            (Summary::Length, None) => return,
            (how, _) => Self::summary_of(how, raw),
        };
        let cap = self.settings.drift_window.max(1);
        for (w, v) in self.window.iter_mut().zip(row) {
            if w.len() == cap {
                w.pop_front();
            }
            w.push_back(v);
        }
        if let Some(c) = predicted {
            if self.predicted.len() == cap {
                self.predicted.pop_front();
            }
            self.predicted.push_back(c);
        }
    }

    /// Inputs in the window now.
    pub fn window_len(&self) -> usize {
        self.window.first().map_or(0, VecDeque::len)
    }

    /// Each feature's drift now (empty until the window holds `drift_min_samples`).
    pub fn features(&self) -> Vec<FeatureDrift> {
        if self.window_len() < self.settings.drift_min_samples.max(1) {
            return Vec::new();
        }
        (0..self.names.len())
            .map(|f| {
                let recent: Vec<f64> = self.window[f].iter().copied().collect();
                let psi = psi_binned(&self.edges[f], &self.reference[f], &recent);
                let (ks, ks_p) = ks_two_sample(&self.reference[f], &recent);
                FeatureDrift {
                    name: self.names[f].clone(),
                    psi,
                    ks,
                    ks_p,
                    drifted: psi >= self.settings.drift_psi && ks_p < self.settings.drift_ks_p,
                }
            })
            .collect()
    }

    /// Each class's share of the training labels (empty: not a classifier).
    pub fn label_shares(&self) -> Vec<f64> {
        self.label_shares.clone()
    }

    /// Each class's share of the recent predictions (empty before any, or not a classifier).
    pub fn recent_shares(&self) -> Vec<f64> {
        let k = self.label_shares.len();
        if k == 0 || self.predicted.is_empty() {
            return Vec::new();
        }
        let mut counts = vec![0f64; k];
        self.predicted
            .iter()
            .filter(|&&c| c < k)
            .for_each(|&c| counts[c] += 1.0);
        let n = self.predicted.len() as f64;
        counts.iter().map(|c| c / n).collect()
    }

    /// PSI of the recent predicted classes against the training labels (classifiers).
    pub fn prediction_psi(&self) -> Option<f64> {
        let k = self.label_shares.len();
        if k == 0 || self.predicted.len() < self.settings.drift_min_samples.max(1) {
            return None;
        }
        Some(psi(&self.label_shares, &self.recent_shares()))
    }
}

/// PSI of two distributions over the same bins (shares summing to 1).
pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(PSI_FLOOR), a.max(PSI_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// PSI of `recent` against the sorted `reference`, over bins cut at `edges`.
fn psi_binned(edges: &[f64], reference: &[f64], recent: &[f64]) -> f64 {
    // Half a count added to every bin (Laplace): an empty bin of a small window is not
    // taken for a vanished part of the distribution.
    let shares = |values: &[f64]| {
        let mut counts = vec![0.5f64; edges.len() + 1];
        for &v in values {
            counts[edges.partition_point(|&e| e <= v)] += 1.0;
        }
        let n: f64 = counts.iter().sum();
        counts.into_iter().map(|c| c / n).collect::<Vec<_>>()
    };
    psi(&shares(reference), &shares(recent))
}

/// Two-sample Kolmogorov–Smirnov distance between the sorted `a` and `b` (sorted here), and
/// its asymptotic p-value (Numerical Recipes' `probks`).
pub fn ks_two_sample(a_sorted: &[f64], b: &[f64]) -> (f64, f64) {
    let mut b = b.to_vec();
    b.sort_by(f64::total_cmp);
    let (n, m) = (a_sorted.len(), b.len());
    if n == 0 || m == 0 {
        return (0.0, 1.0);
    }
    let (mut i, mut j, mut d) = (0, 0, 0f64);
    while i < n && j < m {
        let x = a_sorted[i].min(b[j]);
        while i < n && a_sorted[i] <= x {
            i += 1;
        }
        while j < m && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n as f64 - j as f64 / m as f64).abs());
    }
    let ne = (n * m) as f64 / (n + m) as f64;
    let lambda = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    let mut p = 0.0;
    let mut sign = 1.0;
    for k in 1..=100 {
        let term = sign * (-2.0 * (k * k) as f64 * lambda * lambda).exp();
        p += term;
        if term.abs() < 1e-10 {
            break;
        }
        sign = -sign;
    }
    (d, (2.0 * p).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_is_zero_for_the_same_shares_and_grows_with_the_shift() {
        assert!(psi(&[0.5, 0.5], &[0.5, 0.5]).abs() < 1e-12);
        // (0.7 − 0.5)·ln(0.7/0.5) + (0.3 − 0.5)·ln(0.3/0.5) = 0.2·ln(7/3).
        assert!((psi(&[0.5, 0.5], &[0.7, 0.3]) - 0.2 * (7.0f64 / 3.0).ln()).abs() < 1e-12);
        let reference: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let edges: Vec<f64> = (1..10).map(|k| reference[k * 100]).collect();
        let same: Vec<f64> = (0..500).map(|i| i as f64 / 500.0).collect();
        let shifted: Vec<f64> = same.iter().map(|v| v + 0.5).collect();
        assert!(psi_binned(&edges, &reference, &same) < 0.01);
        assert!(psi_binned(&edges, &reference, &shifted) > 1.0);
    }

    #[test]
    fn ks_tells_a_shift_from_the_same_distribution() {
        let a: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let same: Vec<f64> = (0..400).map(|i| (i as f64 + 0.5) / 400.0).collect();
        let (d, p) = ks_two_sample(&a, &same);
        assert!(d < 0.01 && p > 0.99, "{d} {p}");
        let shifted: Vec<f64> = same.iter().map(|v| v + 0.3).collect();
        let (d, p) = ks_two_sample(&a, &shifted);
        assert!((d - 0.3).abs() < 0.01 && p < 1e-10, "{d} {p}");
    }
}
