//! What a training run reports, as plain data the UI and CLI can keep.

use crate::model::Weights;

/// Facts about a run, sent once at the start.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub batch_size: usize,
    pub train_samples: usize,
    pub val_samples: usize,
    pub test_samples: usize,
    pub params: usize,
    pub class_names: Vec<String>,
    pub data_name: String,
    /// Time spent loading data and building the model before the first step.
    pub setup_ms: f64,
    /// The run continues from the checkpoint written after this many epochs.
    pub resumed_from_epoch: Option<usize>,
    /// What was taken from the settings' `init_from` weights (transfer learning).
    pub transfer: Option<String>,
    /// Parameters training leaves as they are (frozen nodes).
    pub frozen_params: usize,
}

/// Fewer samples than this in a split that is meant to measure something earn a warning: one
/// sample moves its accuracy by more than 5 points.
pub const MIN_MEASURED_SAMPLES: usize = 20;

impl RunInfo {
    /// What the user should know before trusting this run's figures.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, n) in [
            ("validation", self.val_samples),
            ("test", self.test_samples),
        ] {
            if (1..MIN_MEASURED_SAMPLES).contains(&n) {
                out.push(format!(
                    "only {n} {name} sample(s): one sample moves its accuracy by {:.0} points; add data or raise the {name} share",
                    100.0 / n as f64
                ));
            }
        }
        if self.val_samples == 0 && self.test_samples == 0 {
            out.push(
                "no validation or test samples: nothing measures how well the model generalises"
                    .into(),
            );
        }
        if self.params > 0 && self.frozen_params >= self.params {
            out.push("every layer is frozen: training will change nothing; unfreeze some".into());
        }
        if self.train_samples < self.batch_size {
            out.push(format!(
                "{} training sample(s), fewer than one batch of {}",
                self.train_samples, self.batch_size
            ));
        }
        out
    }
}

/// Loss and accuracy over a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalMetrics {
    pub loss: f32,
    pub accuracy: Option<f32>,
    pub samples: usize,
    /// MAE, RMSE and R² in the target's units (numeric targets only).
    pub regression: Option<super::RegressionMetrics>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    /// Steps done so far.
    pub step: usize,
    pub train_loss: f32,
    pub train_acc: Option<f32>,
    pub val: Option<EvalMetrics>,
    pub elapsed_ms: f64,
}

/// Which region of a 2-D input space to map, and how finely.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundarySpec {
    pub x: [f32; 2],
    pub y: [f32; 2],
    pub resolution: usize,
}

/// The model's predicted class over a grid of 2-D inputs (raw data units), row by row from
/// the bottom (y[0]) up.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundaryMap {
    pub spec: BoundarySpec,
    pub class: Vec<u32>,
    /// Probability of the predicted class.
    pub confidence: Vec<f32>,
    pub step: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrainEvent {
    Started(RunInfo),
    Step {
        /// 1-based count of optimiser steps done.
        step: usize,
        /// 0-based epoch the step belongs to.
        epoch: usize,
        loss: f32,
        /// Accuracy on this step's batch, where accuracy applies.
        accuracy: Option<f32>,
        lr: f64,
        /// Training samples processed so far in this run.
        samples: usize,
        elapsed_ms: f64,
    },
    Epoch(EpochMetrics),
    /// The decision boundary of a 2-D classifier, a few times a second when asked for.
    Boundary(BoundaryMap),
    /// Named figures of a step beyond its loss (a GAN's two losses, D(x), D(G(z))).
    Metrics {
        step: usize,
        values: Vec<(String, f32)>,
    },
    /// The data map after an epoch (1-based): each training sample's confidence so far.
    DataMap {
        epoch: usize,
        map: std::sync::Arc<super::DataMap>,
    },
    /// Samples a generator made from the run's fixed noise, each of `dims`.
    Samples {
        step: usize,
        dims: Vec<usize>,
        images: Vec<Vec<f32>>,
    },
    /// Text a language model generated after an epoch, starting from `prompt` (included).
    Generated {
        epoch: usize,
        step: usize,
        prompt: String,
        text: String,
    },
    /// The weights after `epoch` epochs (0: before the first), when the request asked for the
    /// path.
    Weights {
        epoch: usize,
        weights: std::sync::Arc<Weights>,
    },
    /// The epoch just ended is the best so far by the watched validation figure; its weights.
    Best {
        epoch: usize,
        monitor: super::Monitor,
        value: f64,
        weights: Weights,
    },
    /// Early stopping ended the run after `epoch` (1-based); `best_epoch`'s weights are kept
    /// when `restored`.
    EarlyStopped {
        epoch: usize,
        best_epoch: usize,
        restored: bool,
    },
    /// Something the user should know that does not end the run (the run folder could not be
    /// written, say).
    Warning(String),
    /// Every node's output on the probe batch, gradient health and (optionally) the weights.
    Snapshot(Box<crate::train::snapshot::Snapshot>),
    /// The run completed; test metrics where the data has a test split.
    Finished {
        test: Option<EvalMetrics>,
        weights: Weights,
        elapsed_ms: f64,
    },
    /// The user stopped the run; the weights are those after the last full step.
    Stopped {
        step: usize,
        weights: Weights,
    },
    Failed {
        reason: String,
    },
    /// A loss or value went NaN/Inf or exploded; `what` says which, `layer` names the first
    /// layer whose output held non-finite or exploding values.
    Diverged {
        step: usize,
        what: String,
        layer: Option<String>,
    },
}

impl TrainEvent {
    /// Finished, Stopped, Failed and Diverged end a run; exactly one of them is sent last.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            TrainEvent::Finished { .. }
                | TrainEvent::Stopped { .. }
                | TrainEvent::Failed { .. }
                | TrainEvent::Diverged { .. }
        )
    }
}
