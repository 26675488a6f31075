//! The part of a step every gradient-trained mode shares: backward, the divergence checks, the
//! optimiser update, and gradient health when asked.

use super::super::guard::{describe_divergence, first_bad_layer};
use super::super::optim::Optim;
use super::super::run::TrainError;
use crate::model::Model;
use crate::project::training::TrainSettings;
use crate::train::snapshot::ParamHealth;
use candle_core::Tensor;

/// A loss this many times above the first step's counts as diverged even while still finite:
/// with Adam, an absurd learning rate sends a ReLU network's loss to 1e13 without ever overflowing.
const EXPLODED_FACTOR: f32 = 1e4;

pub(crate) struct Descent {
    optim: Optim,
    first_loss: Option<f32>,
    /// Optimiser steps done (1-based after the first), for messages.
    steps: usize,
}

/// The loss value and health of a step, or the message of a divergence.
pub(crate) type Descended = Result<(f32, Option<Vec<ParamHealth>>), crate::train::TrainEvent>;

impl Descent {
    pub fn new(model: &Model, settings: &TrainSettings) -> Self {
        Self {
            optim: Optim::new(settings.optimizer, settings.weight_decay, model.updated()),
            first_loss: None,
            steps: 0,
        }
    }

    /// Updates done so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Backward through `loss` and one update of `model`'s parameters. `x` is the batch the
    /// loss came from, for naming the layer where values went bad.
    pub fn apply(
        &mut self,
        model: &Model,
        loss: &Tensor,
        x: &Tensor,
        lr: f64,
        want_health: bool,
    ) -> Result<Descended, TrainError> {
        use crate::train::TrainEvent;
        let step = self.steps + 1;
        let loss_value = loss.to_scalar::<f32>()?;
        if !loss_value.is_finite() {
            let (what, layer) = describe_divergence(model, x, loss_value);
            return Ok(Err(TrainEvent::Diverged { step, what, layer }));
        }
        let first = *self.first_loss.get_or_insert(loss_value);
        if loss_value > EXPLODED_FACTOR * first.max(1e-3) {
            let layer = first_bad_layer(model, x);
            let at = layer.as_ref().map_or(String::new(), |l| {
                format!("; the first exploding values appear in the output of {l}")
            });
            return Ok(Err(TrainEvent::Diverged {
                step,
                what: format!(
                    "the loss exploded from {first:.4} at the first step to {loss_value:.3e}: the learning rate ({lr:e}) is probably too high{at}"
                ),
                layer,
            }));
        }
        use crate::model::profile::{scope, Phase};
        let timed = scope(Phase::Step, "backward (all)");
        let grads = loss.backward()?;
        drop(timed);
        let before = if want_health {
            Some(crate::train::snapshot::param_copies(model)?)
        } else {
            None
        };
        let timed = scope(Phase::Step, "optimiser");
        let bad = self.optim.step(&grads, lr)?;
        drop(timed);
        self.steps = step;
        let health = match before {
            Some(before) => Some(crate::train::snapshot::health(model, &grads, &before)?),
            None => None,
        };
        if let Some(name) = bad {
            return Ok(Err(TrainEvent::Diverged {
                step,
                what: format!(
                    "parameter {name} holds NaN or infinite values after the update at step {step}, although the loss ({loss_value:.4}) was finite"
                ),
                layer: first_bad_layer(model, x),
            }));
        }
        Ok(Ok((loss_value, health)))
    }
}
