//! Supervised learning: the network's output against the data set's labels or target values.

use super::super::batch::{evaluate, make_batch, make_batch_augmented};
use super::super::event::EvalMetrics;
use super::super::run::{Control, TrainError};
use super::{Descent, StepOutcome, StepResult, TrainStep};
use crate::data::{Augmentation, DataSettings, Dataset};
use crate::model::{correct, CarriedState, ForwardCtx, Model, TargetEncoding};
use crate::project::training::TrainSettings;
use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

pub struct Supervised {
    model: Model,
    data: Arc<Dataset>,
    encoding: TargetEncoding,
    descent: Descent,
    augmentation: Augmentation,
    dropout_rng: ChaCha8Rng,
    augment_rng: ChaCha8Rng,
}

impl Supervised {
    pub fn new(
        model: Model,
        data: Arc<Dataset>,
        settings: &TrainSettings,
        data_settings: &DataSettings,
    ) -> Result<Self, TrainError> {
        let encoding = model.bind_data(&data)?;
        Ok(Self {
            descent: Descent::new(&model, settings),
            model,
            data,
            encoding,
            augmentation: data_settings.augmentation.clone(),
            dropout_rng: ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(2)),
            augment_rng: ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(3)),
        })
    }

    pub fn data(&self) -> &Dataset {
        &self.data
    }

    pub fn encoding(&self) -> TargetEncoding {
        self.encoding
    }

    /// One step whose recurrent layers start from (and update) `carry`.
    pub fn step_carrying(
        &mut self,
        batch: &[usize],
        lr: f64,
        want_health: bool,
        carry: Option<&mut CarriedState>,
    ) -> Result<StepResult, TrainError> {
        let augment =
            (!self.augmentation.is_off()).then_some((&self.augmentation, &mut self.augment_rng));
        let timed = crate::model::profile::scope(crate::model::profile::Phase::Step, "batch");
        let (x, target, labels) =
            make_batch_augmented(&self.data, batch, self.encoding, &self.model, augment)?;
        drop(timed);
        let mut ctx = ForwardCtx::train(Some(&mut self.dropout_rng));
        ctx.carry = carry;
        let pred = self.model.forward(&x, &mut ctx)?;
        let mut loss = self.model.loss(&pred, &target)?;
        if let Some(p) = ctx.penalty()? {
            loss = (loss + p)?;
        }
        let (loss, health) = match self
            .descent
            .apply(&self.model, &loss, &x, lr, want_health)?
        {
            Ok(done) => done,
            Err(diverged) => return Ok(StepResult::Diverged(diverged)),
        };
        let right = correct(self.model.loss_kind(), &pred, &labels)?;
        let seen = match self.model.loss_kind() {
            crate::graph::Loss::CrossEntropy | crate::graph::Loss::BinaryCrossEntropy => {
                super::super::SeenLabels::of(&pred, &labels)?
            }
            crate::graph::Loss::Mse => None,
        };
        Ok(StepResult::Done(StepOutcome {
            loss,
            correct: right.map(|c| (c, labels.len())),
            health,
            events: Vec::new(),
            seen: seen.map(|s| (labels, s)),
        }))
    }
}

impl TrainStep for Supervised {
    fn model(&self) -> &Model {
        &self.model
    }

    fn step(
        &mut self,
        batch: &[usize],
        lr: f64,
        want_health: bool,
    ) -> Result<StepResult, TrainError> {
        self.step_carrying(batch, lr, want_health, None)
    }

    fn evaluate(
        &self,
        indices: &[usize],
        control: &Control,
    ) -> Result<Option<Option<EvalMetrics>>, TrainError> {
        Ok(evaluate(
            &self.model,
            &self.data,
            indices,
            self.encoding,
            control,
        )?)
    }

    fn input_batch(&self, idx: &[usize]) -> Result<Tensor, TrainError> {
        Ok(make_batch(&self.data, idx, self.encoding, &self.model)?.0)
    }
}
