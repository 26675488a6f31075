//! How a served model is watched: when an input feature (or the predictions) counts as drifted
//! from the training data. Kept in the project so a model ships with its own thresholds.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServingSettings {
    /// Watch inputs and predictions for drift at all (off: nothing is recorded or measured
    /// per request; `glassbox bench serve` measures what watching costs).
    pub drift: bool,
    /// Population stability index from which a feature counts as drifted (0.1: some shift,
    /// 0.2: a real one, by the usual rule of thumb)...
    pub drift_psi: f64,
    /// ...when the two-sample Kolmogorov–Smirnov test also finds it unlikely to be sampling
    /// noise (p below this): a small window's PSI alone is noisy.
    pub drift_ks_p: f64,
    /// Recent inputs compared with the training data.
    pub drift_window: usize,
    /// Inputs needed in the window before drift is judged.
    pub drift_min_samples: usize,
}

impl Default for ServingSettings {
    fn default() -> Self {
        Self {
            drift: true,
            drift_psi: 0.2,
            drift_ks_p: 0.01,
            drift_window: 500,
            drift_min_samples: 100,
        }
    }
}

impl ServingSettings {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}
