//! Numeric targets standardised for training (mean 0, spread 1 on the training split), so a
//! regression's last layer starts near its answer whatever the target's units; everything a
//! user reads (metrics, predictions, plots) is restored to the target's own units.

use serde::{Deserialize, Serialize};

/// Whether numeric targets are standardised while training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetScaling {
    /// Mean 0 and standard deviation 1 on the training split; reports in the target's units.
    /// Targets that are all 0 or 1 (binary labels for a sigmoid) are left as they are.
    #[default]
    Standardize,
    /// The target's own units (the loss is then in those units squared).
    Raw,
}

impl TargetScaling {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Per target dimension: standardised = (raw - mean) / std.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetScale {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl TargetScale {
    /// The scale of `values` (`dim` per sample) over the samples `train`; None when there is
    /// nothing to standardise (no samples, or 0/1 targets only).
    pub fn fit(values: &[f32], dim: usize, train: &[usize]) -> Option<Self> {
        if dim == 0 || train.is_empty() {
            return None;
        }
        let rows = || train.iter().map(|&i| &values[i * dim..(i + 1) * dim]);
        if rows().flatten().all(|&v| v == 0.0 || v == 1.0) {
            return None;
        }
        let n = train.len() as f64;
        let mut mean = vec![0f64; dim];
        rows().for_each(|r| r.iter().zip(&mut mean).for_each(|(&v, m)| *m += v as f64));
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; dim];
        rows().for_each(|r| {
            r.iter()
                .zip(&mean)
                .zip(&mut var)
                .for_each(|((&v, m), s)| *s += (v as f64 - m).powi(2))
        });
        // A constant target keeps a spread of 1 (no division by zero; nothing to learn anyway).
        let std = var
            .iter()
            .map(|s| (s / n).sqrt())
            .map(|s| if s > 1e-12 { s as f32 } else { 1.0 })
            .collect();
        Some(Self {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        })
    }

    /// Raw values (sample after sample, `mean.len()` each) to standardised ones, in place.
    pub fn standardize(&self, values: &mut [f32]) {
        let dim = self.mean.len();
        for (j, v) in values.iter_mut().enumerate() {
            *v = (*v - self.mean[j % dim]) / self.std[j % dim];
        }
    }

    /// Standardised values back to the target's units, in place.
    pub fn restore(&self, values: &mut [f32]) {
        let dim = self.mean.len();
        for (j, v) in values.iter_mut().enumerate() {
            *v = *v * self.std[j % dim] + self.mean[j % dim];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardises_on_the_training_rows_and_restores_exactly() {
        // Two dims; row 2 is not in training and must not move the scale.
        let values = [10.0, 0.0, 20.0, 2.0, 1000.0, -50.0];
        let s = TargetScale::fit(&values, 2, &[0, 1]).unwrap();
        assert_eq!(s.mean, vec![15.0, 1.0]);
        assert_eq!(s.std, vec![5.0, 1.0]);
        let mut v = values.to_vec();
        s.standardize(&mut v);
        assert_eq!(&v[..4], &[-1.0, -1.0, 1.0, 1.0]);
        s.restore(&mut v);
        for (a, b) in v.iter().zip(values) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn binary_targets_and_constants_are_left_alone() {
        assert!(TargetScale::fit(&[0.0, 1.0, 1.0], 1, &[0, 1, 2]).is_none());
        let s = TargetScale::fit(&[3.0, 3.0], 1, &[0, 1]).unwrap();
        assert_eq!(s.std, vec![1.0]);
        assert!(TargetScale::fit(&[3.0], 1, &[]).is_none());
    }
}
