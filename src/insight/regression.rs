//! Evaluating a regression: each sample's prediction against its true value (for the
//! predicted-against-true and residual plots), and the baseline a network should beat —
//! ordinary least squares on the same split, solved exactly.

use crate::data::Dataset;
use crate::model::{ForwardCtx, Model};
use crate::train::{in_target_units, input_batch, RegressionMetrics, RegressionTally, EVAL_BATCH};
use candle_core::Result;

/// One sample's first target value and the model's prediction of it, in the target's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegressionPoint {
    /// Index into the data set.
    pub index: usize,
    pub truth: f32,
    pub predicted: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RegressionEvaluation {
    /// The target's name (its first column, when there are several).
    pub target: String,
    pub points: Vec<RegressionPoint>,
    /// Over every target value.
    pub metrics: RegressionMetrics,
}

/// Predictions for the samples `indices` of a data set with numeric targets (None: classes).
pub fn evaluate_regression(
    model: &Model,
    data: &Dataset,
    indices: &[usize],
) -> Result<Option<RegressionEvaluation>> {
    let Some(dim) = data.target_dim() else {
        return Ok(None);
    };
    let mut tally = RegressionTally::default();
    let mut points = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(EVAL_BATCH) {
        let x = input_batch(data, chunk, model)?;
        let pred = model.forward(&x, &mut ForwardCtx::eval())?;
        let (predicted, truth) = in_target_units(data, chunk, &pred)?;
        tally.add(&predicted, &truth, dim);
        points.extend(chunk.iter().enumerate().filter_map(|(r, &index)| {
            Some(RegressionPoint {
                index,
                truth: *truth.get(r * dim)?,
                predicted: *predicted.get(r * dim)?,
            })
        }));
    }
    Ok(tally.finish().map(|metrics| RegressionEvaluation {
        target: data.class_names().first().cloned().unwrap_or_default(),
        points,
        metrics,
    }))
}

/// Most input features the exact least-squares baseline solves for (its cost grows as the cube).
pub const MAX_BASELINE_FEATURES: usize = 1024;

/// Ordinary least squares (with an intercept and a vanishing ridge for collinear columns)
/// fitted on the training split, measured on `indices`. None for classes, token inputs,
/// or more than `MAX_BASELINE_FEATURES` features.
pub fn least_squares_baseline(data: &Dataset, indices: &[usize]) -> Option<RegressionMetrics> {
    let dim = data.target_dim()?;
    let f = data.sample_len();
    if data.is_tokens() || f > MAX_BASELINE_FEATURES || data.train.is_empty() {
        return None;
    }
    let rows = |idx: &[usize]| {
        let mut x = Vec::new();
        data.gather_features(idx, &mut x);
        let mut y = Vec::new();
        data.gather_raw_values(idx, &mut y);
        (x, y)
    };
    let (x, y) = rows(&data.train);
    // Normal equations over [features, 1].
    let k = f + 1;
    let mut a = vec![0f64; k * k];
    let mut b = vec![0f64; k * dim];
    for (xr, yr) in x.chunks(f).zip(y.chunks(dim)) {
        let row: Vec<f64> = xr.iter().map(|&v| v as f64).chain([1.0]).collect();
        for i in 0..k {
            for j in 0..k {
                a[i * k + j] += row[i] * row[j];
            }
            for d in 0..dim {
                b[i * dim + d] += row[i] * yr[d] as f64;
            }
        }
    }
    let ridge = 1e-8 * data.train.len() as f64;
    (0..f).for_each(|i| a[i * k + i] += ridge);
    let w = solve(a, b, k, dim)?;
    let (x, y) = rows(indices);
    let predicted: Vec<f32> = x
        .chunks(f)
        .flat_map(|xr| {
            let w = &w;
            (0..dim).map(move |d| {
                let dot: f64 = (0..f).map(|i| xr[i] as f64 * w[i * dim + d]).sum();
                (dot + w[f * dim + d]) as f32
            })
        })
        .collect();
    let mut tally = RegressionTally::default();
    tally.add(&predicted, &y, dim);
    tally.finish()
}

/// Solves `a · w = b` (a: k×k, b: k×m) by Gaussian elimination with partial pivoting;
/// None when `a` is singular.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, k: usize, m: usize) -> Option<Vec<f64>> {
    for col in 0..k {
        let pivot =
            (col..k).max_by(|&r, &s| a[r * k + col].abs().total_cmp(&a[s * k + col].abs()))?;
        if a[pivot * k + col].abs() < 1e-12 {
            return None;
        }
        for j in 0..k {
            a.swap(col * k + j, pivot * k + j);
        }
        for j in 0..m {
            b.swap(col * m + j, pivot * m + j);
        }
        for r in col + 1..k {
            let factor = a[r * k + col] / a[col * k + col];
            if factor == 0.0 {
                continue;
            }
            for j in col..k {
                a[r * k + j] -= factor * a[col * k + j];
            }
            for j in 0..m {
                b[r * m + j] -= factor * b[col * m + j];
            }
        }
    }
    let mut w = vec![0f64; k * m];
    for r in (0..k).rev() {
        for j in 0..m {
            let rest: f64 = (r + 1..k).map(|c| a[r * k + c] * w[c * m + j]).sum();
            w[r * m + j] = (b[r * m + j] - rest) / a[r * k + r];
        }
    }
    w.iter().all(|v| v.is_finite()).then_some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_system() {
        // 2x + y = 5, x + 3y = 10 → x = 1, y = 3.
        let w = solve(vec![2.0, 1.0, 1.0, 3.0], vec![5.0, 10.0], 2, 1).unwrap();
        assert!((w[0] - 1.0).abs() < 1e-12 && (w[1] - 3.0).abs() < 1e-12);
        assert!(solve(vec![1.0, 2.0, 2.0, 4.0], vec![1.0, 2.0], 2, 1).is_none());
    }
}
