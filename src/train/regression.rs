//! How close numeric predictions come, in the target's own units: MAE, RMSE and R²
//! (the share of the target's variance the model explains; 0 is predicting the mean).

/// Regression figures over a set of samples, in the target's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegressionMetrics {
    /// Mean absolute error.
    pub mae: f32,
    /// Root mean squared error.
    pub rmse: f32,
    /// Coefficient of determination, averaged over the target's dimensions.
    pub r2: f32,
}

impl RegressionMetrics {
    /// Exactly these figures, for a line of text.
    pub fn line(&self) -> String {
        format!(
            "R² {:.3}  RMSE {}  MAE {}",
            self.r2,
            short(self.rmse),
            short(self.mae)
        )
    }
}

/// A batch's predictions `pred` and the true values of its samples `chunk`, both flat and in
/// the target's own units (the model learns them standardised).
pub fn in_target_units(
    data: &crate::data::Dataset,
    chunk: &[usize],
    pred: &candle_core::Tensor,
) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
    let mut predicted = pred.flatten_all()?.to_vec1::<f32>()?;
    data.restore_values(&mut predicted);
    let mut truth = Vec::with_capacity(predicted.len());
    data.gather_raw_values(chunk, &mut truth);
    Ok((predicted, truth))
}

/// A figure with four significant digits whatever its units.
fn short(v: f32) -> String {
    let digits = (3 - v.abs().max(1e-9).log10().floor() as i32).clamp(0, 6) as usize;
    format!("{v:.digits$}")
}

/// Sums for `RegressionMetrics`, filled batch by batch.
#[derive(Clone, Debug, Default)]
pub struct RegressionTally {
    values: usize,
    abs: f64,
    /// Per dimension: squared error, sum and sum of squares of the truth, samples.
    sse: Vec<f64>,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    rows: usize,
}

impl RegressionTally {
    /// Adds predictions and true values (sample after sample, `dim` each, same units).
    pub fn add(&mut self, predicted: &[f32], truth: &[f32], dim: usize) {
        let dim = dim.max(1);
        if self.sse.len() != dim {
            *self = Self {
                sse: vec![0.0; dim],
                sum: vec![0.0; dim],
                sum_sq: vec![0.0; dim],
                ..Self::default()
            };
        }
        for (j, (&p, &t)) in predicted.iter().zip(truth).enumerate() {
            let (p, t, d) = (p as f64, t as f64, j % dim);
            self.abs += (p - t).abs();
            self.sse[d] += (p - t).powi(2);
            self.sum[d] += t;
            self.sum_sq[d] += t * t;
        }
        self.values += predicted.len().min(truth.len());
        self.rows += predicted.len().min(truth.len()) / dim;
    }

    /// The figures, or None when nothing was added.
    pub fn finish(&self) -> Option<RegressionMetrics> {
        if self.values == 0 {
            return None;
        }
        let n = self.rows.max(1) as f64;
        let sse: f64 = self.sse.iter().sum();
        let r2s: Vec<f64> = (0..self.sse.len())
            .filter_map(|d| {
                let sst = self.sum_sq[d] - self.sum[d] * self.sum[d] / n;
                (sst > 1e-12).then(|| 1.0 - self.sse[d] / sst)
            })
            .collect();
        let r2 = if r2s.is_empty() {
            0.0
        } else {
            r2s.iter().sum::<f64>() / r2s.len() as f64
        };
        Some(RegressionMetrics {
            mae: (self.abs / self.values as f64) as f32,
            rmse: (sse / self.values as f64).sqrt() as f32,
            r2: r2 as f32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_match_their_definitions() {
        let truth = [1.0, 2.0, 3.0, 4.0];
        let mut t = RegressionTally::default();
        t.add(&[1.5, 2.0], &truth[..2], 1);
        t.add(&[2.0, 5.0], &truth[2..], 1);
        let m = t.finish().unwrap();
        // Errors 0.5, 0, -1, 1: MAE 0.625, MSE 2.25/4, SST 5.
        assert!((m.mae - 0.625).abs() < 1e-6);
        assert!((m.rmse - (2.25f32 / 4.0).sqrt()).abs() < 1e-6);
        assert!((m.r2 - (1.0 - 2.25 / 5.0)).abs() < 1e-6);
    }

    #[test]
    fn the_mean_scores_zero_and_the_truth_one() {
        let truth = [2.0, 4.0, 6.0];
        let mut mean = RegressionTally::default();
        mean.add(&[4.0; 3], &truth, 1);
        assert!(mean.finish().unwrap().r2.abs() < 1e-6);
        let mut exact = RegressionTally::default();
        exact.add(&truth, &truth, 1);
        let m = exact.finish().unwrap();
        assert_eq!((m.mae, m.rmse, m.r2), (0.0, 0.0, 1.0));
        assert!(RegressionTally::default().finish().is_none());
    }

    #[test]
    fn short_figures_keep_four_digits() {
        assert_eq!(short(2.82849), "2.828");
        assert_eq!(short(1234.5), "1234");
        assert_eq!(short(0.012345), "0.01235");
    }
}
