//! The learning-rate range test (Smith 2015, as in fastai's `lr_find`): train from fresh
//! weights while the learning rate grows exponentially each step, and watch the loss. The
//! suggestion is the rate where the smoothed loss falls fastest, before it turns up.

use crate::data::{epoch_batches, Dataset};
use crate::project::Project;
use crate::train::{mode_step, Control, StepResult, TrainError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrFinderOptions {
    pub min_lr: f64,
    pub max_lr: f64,
    pub steps: usize,
    /// Stop once the smoothed loss is this many times its best.
    pub blow_up: f64,
}

impl Default for LrFinderOptions {
    fn default() -> Self {
        Self {
            min_lr: 1e-6,
            max_lr: 1.0,
            steps: 100,
            blow_up: 4.0,
        }
    }
}

/// What the range test measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LrCurve {
    /// (learning rate, batch loss) per step.
    pub raw: Vec<[f64; 2]>,
    /// (learning rate, smoothed loss) per step.
    pub smoothed: Vec<[f64; 2]>,
    /// The rate to train at, where the smoothed loss fell fastest (None: it never fell).
    pub suggested: Option<f64>,
    /// The ramp stopped early because the loss blew up or went non-finite.
    pub blew_up: bool,
}

/// Runs the range test on `project`'s data (`data` if already loaded). Stops early when
/// `control` says so.
pub fn find_lr(
    project: &Project,
    project_dir: Option<&Path>,
    data: Option<Arc<Dataset>>,
    opts: &LrFinderOptions,
    control: &Control,
) -> Result<LrCurve, TrainError> {
    if !(opts.min_lr > 0.0 && opts.max_lr > opts.min_lr && opts.steps >= 2) {
        return Err(TrainError::Settings(
            "the LR finder needs 0 < lowest rate < highest rate and at least 2 steps".into(),
        ));
    }
    project.training.validate()?;
    let data = match data {
        Some(d) => d,
        None => Arc::new(Dataset::load(&project.data, project_dir)?),
    };
    let mut mode = mode_step(project, data.clone(), None)?;
    let ratio = (opts.max_lr / opts.min_lr).powf(1.0 / (opts.steps - 1) as f64);
    let mut rng = ChaCha8Rng::seed_from_u64(project.training.seed.wrapping_add(1));
    let mut batches = Vec::new();
    let mut curve = LrCurve::default();
    let (mut ema, mut weight, mut best) = (0.0, 0.0, f64::INFINITY);
    const BETA: f64 = 0.9;
    for i in 0..opts.steps {
        if control.stopped() {
            break;
        }
        if batches.is_empty() {
            batches = epoch_batches(&data.train, project.training.batch_size, &mut rng);
            batches.reverse();
            if batches.is_empty() {
                return Err(TrainError::Settings("there are no training samples".into()));
            }
        }
        let batch = batches.pop().expect("refilled above");
        let lr = opts.min_lr * ratio.powi(i as i32);
        let loss = match mode.step(&batch, lr, false)? {
            StepResult::Done(o) => o.loss as f64,
            StepResult::Diverged(_) => f64::NAN,
        };
        if !loss.is_finite() {
            curve.blew_up = true;
            break;
        }
        ema = BETA * ema + (1.0 - BETA) * loss;
        weight = BETA * weight + (1.0 - BETA);
        let smooth = ema / weight;
        curve.raw.push([lr, loss]);
        curve.smoothed.push([lr, smooth]);
        best = best.min(smooth);
        if i > 5 && smooth > opts.blow_up * best {
            curve.blew_up = true;
            break;
        }
    }
    curve.suggested = suggest(&curve.smoothed);
    Ok(curve)
}

/// The rate with the steepest fall of the smoothed loss against log(lr), looking only up to
/// the minimum (past it the loss is already climbing).
pub fn suggest(smoothed: &[[f64; 2]]) -> Option<f64> {
    let min_at = smoothed
        .iter()
        .enumerate()
        .min_by(|a, b| a.1[1].total_cmp(&b.1[1]))?
        .0;
    // Skip the first few steps: their smoothing has not settled.
    let start = (smoothed.len() / 10).max(1);
    (start..=min_at)
        .filter_map(|i| {
            let (a, b) = (smoothed[i - 1], smoothed[i]);
            let slope = (b[1] - a[1]) / (b[0].ln() - a[0].ln());
            (slope < 0.0).then_some((i, slope))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| smoothed[i][0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_steepest_fall_before_the_minimum() {
        // Flat, then a steep fall around lr = 1e-3, a minimum at 1e-2, then a blow-up.
        let pts: Vec<[f64; 2]> = (0..50)
            .map(|i| {
                let lr = 1e-6 * 10f64.powf(i as f64 / 8.0);
                let x = lr.log10();
                let loss = 2.0 - 1.5 / (1.0 + (-(x + 3.0) * 4.0).exp())
                    + if x > -2.0 { (x + 2.0) * 5.0 } else { 0.0 };
                [lr, loss]
            })
            .collect();
        let s = suggest(&pts).unwrap();
        assert!((3e-4..3e-3).contains(&s), "{s}");
        assert_eq!(suggest(&[[1e-3, 1.0], [1e-2, 2.0]]), None);
    }
}
