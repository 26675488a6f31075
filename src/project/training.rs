//! Optimiser, schedule and loop settings as they are stored in a project.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Optimizer {
    Sgd {
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        nesterov: bool,
    },
    Adam {
        #[serde(default = "beta1")]
        beta1: f64,
        #[serde(default = "beta2")]
        beta2: f64,
        #[serde(default = "adam_eps")]
        eps: f64,
    },
    /// Adam with decoupled weight decay.
    AdamW {
        #[serde(default = "beta1")]
        beta1: f64,
        #[serde(default = "beta2")]
        beta2: f64,
        #[serde(default = "adam_eps")]
        eps: f64,
    },
    RmsProp {
        #[serde(default = "rms_alpha")]
        alpha: f64,
        #[serde(default = "adam_eps")]
        eps: f64,
        #[serde(default)]
        momentum: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn adam_eps() -> f64 {
    1e-8
}
fn rms_alpha() -> f64 {
    0.99
}

impl Optimizer {
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "SGD",
            Optimizer::Adam { .. } => "Adam",
            Optimizer::AdamW { .. } => "AdamW",
            Optimizer::RmsProp { .. } => "RMSprop",
        }
    }

    pub fn adam() -> Self {
        Optimizer::Adam {
            beta1: beta1(),
            beta2: beta2(),
            eps: adam_eps(),
        }
    }

    pub fn adamw() -> Self {
        Optimizer::AdamW {
            beta1: beta1(),
            beta2: beta2(),
            eps: adam_eps(),
        }
    }

    pub fn sgd(momentum: f64, nesterov: bool) -> Self {
        Optimizer::Sgd { momentum, nesterov }
    }

    pub fn rmsprop() -> Self {
        Optimizer::RmsProp {
            alpha: rms_alpha(),
            eps: adam_eps(),
            momentum: 0.0,
        }
    }
}

/// How the learning rate changes over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Schedule {
    #[default]
    Constant,
    /// Multiply by `gamma` every `every_epochs` epochs.
    Step { every_epochs: usize, gamma: f64 },
    /// Cosine decay from the base rate to `min_lr` over the whole run.
    Cosine {
        #[serde(default)]
        min_lr: f64,
    },
}

impl Schedule {
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Step { .. } => "step",
            Schedule::Cosine { .. } => "cosine",
        }
    }

    /// Learning rate at `step` (0-based) of a run of `total_steps` with `steps_per_epoch`.
    pub fn lr_at(
        &self,
        base_lr: f64,
        step: usize,
        steps_per_epoch: usize,
        total_steps: usize,
    ) -> f64 {
        match *self {
            Schedule::Constant => base_lr,
            Schedule::Step {
                every_epochs,
                gamma,
            } => {
                let epoch = step / steps_per_epoch.max(1);
                base_lr * gamma.powi((epoch / every_epochs.max(1)) as i32)
            }
            Schedule::Cosine { min_lr } => {
                let t = step as f64 / total_steps.max(1) as f64;
                min_lr
                    + 0.5 * (base_lr - min_lr) * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSettings {
    pub optimizer: Optimizer,
    pub lr: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    pub batch_size: usize,
    pub epochs: usize,
    /// Seeds weights, shuffling and dropout: the same seed gives the same curve.
    pub seed: u64,
    /// Start from the tensors of this weight file that fit by node id and shape (transfer
    /// learning); the rest start fresh. Relative paths resolve like data paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
    /// Stop when the validation figure stops improving (None: train every epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
}

/// Which validation figure a run watches for its best epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Monitor {
    #[default]
    ValLoss,
    ValAccuracy,
    /// A regression's validation R² (higher is better).
    ValR2,
}

impl Monitor {
    pub const ALL: [Monitor; 3] = [Monitor::ValLoss, Monitor::ValAccuracy, Monitor::ValR2];

    pub fn name(&self) -> &'static str {
        match self {
            Monitor::ValLoss => "validation loss",
            Monitor::ValAccuracy => "validation accuracy",
            Monitor::ValR2 => "validation R²",
        }
    }

    /// The tag a run folder's scalars keep the figure under.
    pub fn tag(&self) -> &'static str {
        match self {
            Monitor::ValLoss => "val/loss",
            Monitor::ValAccuracy => "val/accuracy",
            Monitor::ValR2 => "val/r2",
        }
    }

    /// Whether a larger figure is a better one.
    pub fn higher_is_better(&self) -> bool {
        !matches!(self, Monitor::ValLoss)
    }

    /// The watched figure of a validation pass's loss, accuracy and R² (None: no such figure).
    pub fn value(&self, loss: f32, accuracy: Option<f32>, r2: Option<f32>) -> Option<f64> {
        match self {
            Monitor::ValLoss => Some(loss as f64),
            Monitor::ValAccuracy => accuracy.map(f64::from),
            Monitor::ValR2 => r2.map(f64::from),
        }
    }

    /// Whether `new` beats `best` by more than `min_delta`.
    pub fn improves(&self, new: f64, best: f64, min_delta: f64) -> bool {
        if self.higher_is_better() {
            new > best + min_delta
        } else {
            new < best - min_delta
        }
    }

    /// `a` against `b`, the better figure last (for `max_by`).
    pub fn cmp_figures(&self, a: f64, b: f64) -> std::cmp::Ordering {
        if self.higher_is_better() {
            a.total_cmp(&b)
        } else {
            b.total_cmp(&a)
        }
    }
}

/// Keras-style early stopping: after `patience_epochs` epochs without an improvement of more
/// than `min_delta`, the run ends (as Finished), with the best epoch's weights if asked.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EarlyStopping {
    pub monitor: Monitor,
    pub patience_epochs: usize,
    pub min_delta: f64,
    pub restore_best: bool,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            monitor: Monitor::ValLoss,
            patience_epochs: 3,
            min_delta: 0.0,
            restore_best: true,
        }
    }
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::adam(),
            lr: 1e-3,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            batch_size: 64,
            epochs: 3,
            seed: 1,
            init_from: None,
            early_stopping: None,
        }
    }
}

/// Optimisation steps a new project's settings aim for: enough for a small network to learn
/// (three epochs of 64 on a 180-row table are six steps, and learn nothing).
pub const FRESH_STEPS: usize = 400;

impl TrainSettings {
    /// A new project's loop for `train_samples`: batches of 16 to 64 by the data's size,
    /// epochs for about `FRESH_STEPS` steps (3 to 200), and early stopping on (patience 10,
    /// best weights kept), so the extra epochs cost nothing once the network stops improving.
    pub fn sized_for(train_samples: usize) -> Self {
        let batch_size = match train_samples {
            0..=499 => 16,
            500..=1999 => 32,
            _ => 64,
        };
        let steps_per_epoch = train_samples.div_ceil(batch_size).max(1);
        Self {
            batch_size,
            epochs: FRESH_STEPS.div_ceil(steps_per_epoch).clamp(3, 200),
            early_stopping: Some(EarlyStopping {
                patience_epochs: 10,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// The most epochs a run may ask for.
pub const MAX_EPOCHS: usize = 1_000_000;

/// A training setting no run can use, named with its value and the range it must be in.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("the learning rate is {0}; it must be a positive number")]
    LearningRate(f64),
    #[error("weight decay is {0}; it must be 0 or more")]
    WeightDecay(f64),
    #[error("the batch size is 0; it must be at least 1")]
    NoBatch,
    #[error("epochs is {0}; it must be 1 to {MAX_EPOCHS}")]
    Epochs(usize),
    #[error("the step schedule needs 'every epochs' of at least 1")]
    StepEvery,
    #[error("early stopping needs a patience of at least 1 epoch")]
    Patience,
    #[error("early stopping's minimum change is {0}; it must be 0 or more")]
    MinDelta(f64),
}

impl TrainSettings {
    /// Plain-words problems with the numbers, before any work starts.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(SettingsError::LearningRate(self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(SettingsError::WeightDecay(self.weight_decay));
        }
        if self.batch_size == 0 {
            return Err(SettingsError::NoBatch);
        }
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(SettingsError::Epochs(self.epochs));
        }
        if let Schedule::Step {
            every_epochs: 0, ..
        } = self.schedule
        {
            return Err(SettingsError::StepEvery);
        }
        if let Some(es) = &self.early_stopping {
            if es.patience_epochs == 0 {
                return Err(SettingsError::Patience);
            }
            if !(es.min_delta.is_finite() && es.min_delta >= 0.0) {
                return Err(SettingsError::MinDelta(es.min_delta));
            }
        }
        Ok(())
    }
}
