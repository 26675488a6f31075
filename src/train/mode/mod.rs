//! Training modes: each supplies its own step (what a batch is, what the loss compares) behind
//! one interface; the loop in `run.rs` keeps the lifecycle, control flags, snapshots and metrics.

mod autoencoder;
mod descent;
mod gan;
mod language;
mod supervised;

pub use autoencoder::Autoencoder;
pub(crate) use descent::Descent;
pub use gan::Gan;
pub use language::LanguageModel;
pub use supervised::Supervised;

use super::event::{EvalMetrics, TrainEvent};
use super::run::{Control, TrainError};
use crate::data::Dataset;
use crate::graph::TrainingMode;
use crate::model::{Model, Weights};
use crate::project::Project;
use crate::train::snapshot::ParamHealth;
use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// What one optimiser step did.
pub struct StepOutcome {
    pub loss: f32,
    /// (correct, labelled) on the batch, where accuracy applies.
    pub correct: Option<(usize, usize)>,
    /// Per-parameter gradient health, when the step was asked for it.
    pub health: Option<Vec<ParamHealth>>,
    /// Events the step has for the UI besides its loss (a GAN's metrics and samples).
    pub events: Vec<TrainEvent>,
    /// Each sample's label probability and prediction (classifiers; for the data map), with
    /// the batch's labels.
    pub seen: Option<(Vec<u32>, super::SeenLabels)>,
}

/// A step either trains or finds the run diverged (the event says how).
pub enum StepResult {
    Done(StepOutcome),
    Diverged(TrainEvent),
}

/// One training mode: the loop calls these and nothing else.
pub trait TrainStep {
    /// The model whose weights the run reports (for a GAN, the generator and discriminator
    /// together).
    fn model(&self) -> &Model;

    /// One optimiser step on the training samples `batch` at learning rate `lr`; gradient
    /// health is measured when `want_health`.
    fn step(
        &mut self,
        batch: &[usize],
        lr: f64,
        want_health: bool,
    ) -> Result<StepResult, TrainError>;

    /// The epoch's batches of training samples: shuffled, unless the mode reads them in order.
    fn epoch_batches(
        &self,
        train: &[usize],
        batch_size: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<Vec<usize>> {
        crate::data::epoch_batches(train, batch_size, rng)
    }

    /// Loss (and accuracy) on `indices` in evaluation mode. `Ok(None)` when stopped on the
    /// way; `Ok(Some(None))` when there is nothing to evaluate.
    fn evaluate(
        &self,
        indices: &[usize],
        control: &Control,
    ) -> Result<Option<Option<EvalMetrics>>, TrainError>;

    /// The network's input for the samples `idx` (probe snapshots).
    fn input_batch(&self, idx: &[usize]) -> Result<Tensor, TrainError>;

    /// Events to send after an epoch (0-based `epoch`; `last` for the run's final one).
    fn after_epoch(
        &mut self,
        _epoch: usize,
        _step: usize,
        _last: bool,
    ) -> Result<Vec<TrainEvent>, TrainError> {
        Ok(Vec::new())
    }

    fn weights(&self) -> Result<Weights, TrainError> {
        Ok(self.model().weights()?)
    }

    /// Trainable parameters of every network the mode trains.
    fn param_count(&self) -> usize {
        self.model().param_count()
    }
}

/// A generative mode's data check: numbers, not text, and `model`'s Input (named `input` in
/// messages) shaped like one sample; `family` names the mode in messages ("an autoencoder").
pub(crate) fn check_numeric_input(
    model: &Model,
    data: &Dataset,
    family: &str,
    input: &str,
) -> Result<(), crate::model::ModelError> {
    use crate::model::ModelError;
    if data.is_tokens() {
        return Err(ModelError::Data(format!(
            "{family} works on numbers, but {} is text (token ids): pick images or a table",
            data.name
        )));
    }
    let shape = model.input_shape();
    if shape.dims != data.sample_shape {
        return Err(ModelError::Data(format!(
            "{input} has shape {shape}, but {} samples are {:?}: set the Input shape to {:?}",
            data.name, data.sample_shape, data.sample_shape
        )));
    }
    Ok(())
}

/// The step for the project's mode, with its model built on this thread and bound to `data`.
pub fn mode_step(
    project: &Project,
    data: Arc<Dataset>,
    initial_weights: Option<&Weights>,
) -> Result<Box<dyn TrainStep>, TrainError> {
    let settings = &project.training;
    if let TrainingMode::Gan { .. } = project.mode {
        return Ok(Box::new(Gan::new(project, data, initial_weights)?));
    }
    let model = Model::build(&project.graph, settings.seed)?;
    if let Some(w) = initial_weights {
        model.load_weights(w)?;
    }
    Ok(match project.mode {
        TrainingMode::Supervised if data.is_windows() => {
            Box::new(LanguageModel::new(model, data, settings, &project.data)?)
        }
        TrainingMode::Supervised => {
            Box::new(Supervised::new(model, data, settings, &project.data)?)
        }
        TrainingMode::Autoencoder { noise_std } => {
            Box::new(Autoencoder::new(model, data, settings, noise_std)?)
        }
        TrainingMode::Gan { .. } => unreachable!("returned above"),
    })
}
