//! A character language model: next-character training exactly as supervised learning, plus a
//! text sample generated after each epoch so the user sees it improve. When epochs are much
//! shorter than a sample takes, samples are spaced out so they stay a small part of the run.

use super::super::batch::{evaluate_carrying_state, StateCarrier};
use super::super::event::{EvalMetrics, TrainEvent};
use super::super::run::{Control, TrainError};
use super::{StepResult, Supervised, TrainStep};
use crate::data::{stream_batches, DataSettings, DataSource, Dataset};
use crate::model::{check_language_model, generate, Model, SampleOptions};
use crate::project::training::TrainSettings;
use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Characters of each epoch's sample, and of the validation text its prompt is taken from.
const SAMPLE_CHARS: usize = 200;
const PROMPT_CHARS: usize = 24;

/// Sampling may take at most this share of the run's time (the last epoch always samples).
const SAMPLE_SHARE: f64 = 0.1;

pub struct LanguageModel {
    inner: Supervised,
    /// Generation needs a language model's shapes; a sequence classifier over windows trains
    /// without samples.
    can_generate: bool,
    /// When the last sample ended and how long it took.
    last_sample: Option<(Instant, Duration)>,
    /// Windows read in order with recurrent state carried across them (the data's
    /// `carry_state`), with the window stride.
    carrier: Option<StateCarrier>,
}

impl LanguageModel {
    pub fn new(
        model: Model,
        data: Arc<Dataset>,
        settings: &TrainSettings,
        data_settings: &DataSettings,
    ) -> Result<Self, TrainError> {
        let can_generate = data
            .vocab
            .as_ref()
            .is_some_and(|v| check_language_model(&model, v).is_ok());
        let carrier = match data_settings.source {
            DataSource::TextLm {
                carry_state: true,
                stride,
                ..
            } => Some(StateCarrier::new(stride)),
            _ => None,
        };
        Ok(Self {
            inner: Supervised::new(model, data, settings, data_settings)?,
            can_generate,
            last_sample: None,
            carrier,
        })
    }

    /// The start of the first validation (else training) window, as text.
    fn prompt(&self) -> Option<String> {
        let data = self.inner.data();
        let vocab = data.vocab.as_ref()?;
        let first = data.val.first().or(data.train.first())?;
        let mut ids = Vec::new();
        data.gather_tokens(&[*first], &mut ids);
        Some(
            ids.iter()
                .take(PROMPT_CHARS)
                .filter_map(|&i| vocab.get(i as usize).map(String::as_str))
                .collect(),
        )
    }
}

impl TrainStep for LanguageModel {
    fn model(&self) -> &Model {
        self.inner.model()
    }

    fn step(
        &mut self,
        batch: &[usize],
        lr: f64,
        want_health: bool,
    ) -> Result<StepResult, TrainError> {
        let carry = self.carrier.as_mut().map(|c| c.before(batch));
        self.inner.step_carrying(batch, lr, want_health, carry)
    }

    fn epoch_batches(
        &self,
        train: &[usize],
        batch_size: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<Vec<usize>> {
        match self.carrier {
            Some(_) => stream_batches(train, batch_size),
            None => crate::data::epoch_batches(train, batch_size, rng),
        }
    }

    fn evaluate(
        &self,
        indices: &[usize],
        control: &Control,
    ) -> Result<Option<Option<EvalMetrics>>, TrainError> {
        let Some(carrier) = &self.carrier else {
            return self.inner.evaluate(indices, control);
        };
        let data = self.inner.data();
        let (model, encoding) = (self.model(), self.inner.encoding());
        Ok(evaluate_carrying_state(
            model,
            data,
            indices,
            encoding,
            control,
            carrier.stride(),
        )?)
    }

    fn input_batch(&self, idx: &[usize]) -> Result<Tensor, TrainError> {
        self.inner.input_batch(idx)
    }

    fn after_epoch(
        &mut self,
        epoch: usize,
        step: usize,
        last: bool,
    ) -> Result<Vec<TrainEvent>, TrainError> {
        let due = self.last_sample.is_none_or(|(at, took)| {
            at.elapsed().as_secs_f64() * SAMPLE_SHARE >= took.as_secs_f64()
        });
        if !(due || last) {
            return Ok(Vec::new());
        }
        let (true, Some(prompt), Some(vocab)) = (
            self.can_generate,
            self.prompt(),
            self.inner.data().vocab.as_ref(),
        ) else {
            return Ok(Vec::new());
        };
        let opts = SampleOptions {
            length: SAMPLE_CHARS,
            seed: epoch as u64 + 1,
            carry_state: self.carrier.is_some(),
            ..SampleOptions::default()
        };
        let started = Instant::now();
        // A model whose shapes cannot take a shorter prompt still trains; it just has no sample.
        let Ok(text) = generate(self.model(), vocab, &prompt, &opts) else {
            self.can_generate = false;
            return Ok(Vec::new());
        };
        self.last_sample = Some((Instant::now(), started.elapsed()));
        Ok(vec![TrainEvent::Generated {
            epoch: epoch + 1,
            step,
            prompt,
            text,
        }])
    }
}
