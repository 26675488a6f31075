//! Autoencoder: the target is the input itself. Optional denoising (noise on the input only),
//! and a variational autoencoder when the graph has a Sampling node (its KL term joins the
//! training loss; validation and test report the reconstruction loss alone).

use super::super::batch::EVAL_BATCH;
use super::super::event::EvalMetrics;
use super::super::run::{Control, TrainError};
use super::{Descent, StepOutcome, StepResult, TrainStep};
use crate::data::Dataset;
use crate::graph::Loss;
use crate::model::{ForwardCtx, Model, ModelError, TargetBatch};
use crate::project::training::TrainSettings;
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::sync::Arc;

pub struct Autoencoder {
    model: Model,
    data: Arc<Dataset>,
    descent: Descent,
    noise: Option<Normal<f32>>,
    noise_rng: ChaCha8Rng,
    dropout_rng: ChaCha8Rng,
}

impl Autoencoder {
    pub fn new(
        model: Model,
        data: Arc<Dataset>,
        settings: &TrainSettings,
        noise_std: f32,
    ) -> Result<Self, TrainError> {
        check_fit(&model, &data)?;
        if !(noise_std.is_finite() && noise_std >= 0.0) {
            return Err(TrainError::Settings(format!(
                "the denoising noise is {noise_std}: it must be a number of at least 0"
            )));
        }
        let noise = (noise_std > 0.0)
            .then(|| Normal::new(0.0, noise_std).ok())
            .flatten();
        Ok(Self {
            descent: Descent::new(&model, settings),
            model,
            data,
            noise,
            noise_rng: ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(4)),
            dropout_rng: ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(2)),
        })
    }

    /// The clean inputs of `idx` as they enter the network, and as the target (prediction's
    /// shape).
    fn batch(&self, idx: &[usize]) -> candle_core::Result<(Vec<f32>, Tensor)> {
        let mut xs = Vec::new();
        self.data.gather_features(idx, &mut xs);
        let shape = self.model.prediction_shape().with_batch(idx.len());
        let target = Tensor::from_vec(xs.clone(), shape, &Device::Cpu)?;
        Ok((xs, target))
    }

    fn input(&self, xs: Vec<f32>, n: usize) -> candle_core::Result<Tensor> {
        Tensor::from_vec(xs, self.model.input_shape().with_batch(n), &Device::Cpu)
    }
}

/// An autoencoder's output must have as many values as its input, and its loss must compare
/// values.
fn check_fit(model: &Model, data: &Dataset) -> Result<(), ModelError> {
    super::check_numeric_input(model, data, "an autoencoder", "the Input")?;
    let input = model.input_shape();
    let pred = model.prediction_shape();
    if pred.numel() != input.numel() {
        return Err(ModelError::Data(format!(
            "an autoencoder's output must have as many values as its input: {} gives {pred} ({} values) for an input of {input} ({} values); end the decoder with {} values",
            model.prediction_node(),
            pred.numel(),
            input.numel(),
            input.numel()
        )));
    }
    if model.loss_kind() == Loss::CrossEntropy {
        return Err(ModelError::Data(
            "an autoencoder compares its output with its input: set the Output's loss to mean squared error or binary cross-entropy".into(),
        ));
    }
    Ok(())
}

impl TrainStep for Autoencoder {
    fn model(&self) -> &Model {
        &self.model
    }

    fn step(
        &mut self,
        batch: &[usize],
        lr: f64,
        want_health: bool,
    ) -> Result<StepResult, TrainError> {
        let (mut xs, target) = self.batch(batch)?;
        if let Some(noise) = &self.noise {
            xs.iter_mut()
                .for_each(|v| *v += noise.sample(&mut self.noise_rng));
        }
        let x = self.input(xs, batch.len())?;
        let mut ctx = ForwardCtx::train(Some(&mut self.dropout_rng));
        let pred = self.model.forward(&x, &mut ctx)?;
        let mut loss = self.model.loss(&pred, &TargetBatch::Values(target))?;
        if let Some(p) = ctx.penalty()? {
            // The KL term is per sample; the reconstruction loss is a mean over its values.
            loss = (loss + (p / self.model.prediction_shape().numel() as f64)?)?;
        }
        match self
            .descent
            .apply(&self.model, &loss, &x, lr, want_health)?
        {
            Ok((loss, health)) => Ok(StepResult::Done(StepOutcome {
                loss,
                correct: None,
                health,
                events: Vec::new(),
                seen: None,
            })),
            Err(diverged) => Ok(StepResult::Diverged(diverged)),
        }
    }

    fn evaluate(
        &self,
        indices: &[usize],
        control: &Control,
    ) -> Result<Option<Option<EvalMetrics>>, TrainError> {
        if indices.is_empty() {
            return Ok(Some(None));
        }
        let mut loss_sum = 0f64;
        for chunk in indices.chunks(EVAL_BATCH) {
            if control.stopped() {
                return Ok(None);
            }
            let (xs, target) = self.batch(chunk)?;
            let x = self.input(xs, chunk.len())?;
            let pred = self.model.forward(&x, &mut ForwardCtx::eval())?.detach();
            let loss = self.model.loss(&pred, &TargetBatch::Values(target))?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        }
        Ok(Some(Some(EvalMetrics {
            loss: (loss_sum / indices.len() as f64) as f32,
            accuracy: None,
            samples: indices.len(),
            regression: None,
        })))
    }

    fn input_batch(&self, idx: &[usize]) -> Result<Tensor, TrainError> {
        let (xs, _) = self.batch(idx)?;
        Ok(self.input(xs, idx.len())?)
    }
}
