//! GAN: a generator (what the Noise node feeds) against a discriminator (Input → Output),
//! updated in turn with an Adam each. The discriminator learns to tell real samples (1) from
//! generated ones (0); the generator learns to make the discriminator say 1 (the
//! non-saturating loss). Both losses, D(x) and D(G(z)) go out as metrics every step, and the
//! generator's samples from a fixed noise batch a few times a second.

use super::super::batch::EVAL_BATCH;
use super::super::event::{EvalMetrics, TrainEvent};
use super::super::run::{Control, TrainError};
use super::{Descent, StepOutcome, StepResult, TrainStep};
use crate::data::Dataset;
use crate::graph::{gan_parts, Loss, TrainingMode};
use crate::model::{ForwardCtx, Model, ModelError, TargetBatch, Weights};
use crate::project::training::{Optimizer, TrainSettings};
use crate::project::Project;
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;
use std::time::Instant;

/// Samples in the fixed-noise grid (10 × 10).
pub const GRID_SAMPLES: usize = 100;
/// Seconds between grids while training.
const GRID_EVERY_S: f64 = 1.5;
pub struct Gan {
    generator: Model,
    discriminator: Model,
    data: Arc<Dataset>,
    g_descent: Descent,
    d_descent: Descent,
    /// Learning rates relative to the project's base rate (the schedule scales both).
    g_scale: f64,
    d_scale: f64,
    noise_dim: usize,
    noise_rng: ChaCha8Rng,
    dropout_rng: ChaCha8Rng,
    fixed_noise: Tensor,
    last_grid: Option<Instant>,
}

impl Gan {
    pub fn new(
        project: &Project,
        data: Arc<Dataset>,
        initial_weights: Option<&Weights>,
    ) -> Result<Self, TrainError> {
        let TrainingMode::Gan {
            generator_lr,
            discriminator_lr,
            beta1,
        } = project.mode
        else {
            return Err(TrainError::Settings("not a GAN project".into()));
        };
        let rate_ok = |r: f64| r.is_finite() && r > 0.0;
        if !(rate_ok(generator_lr) && rate_ok(discriminator_lr)) {
            return Err(TrainError::Settings(format!(
                "the GAN's learning rates are {generator_lr} (generator) and {discriminator_lr} (discriminator): both must be numbers above 0"
            )));
        }
        if !(0.0..1.0).contains(&beta1) {
            return Err(TrainError::Settings(format!(
                "the GAN's Adam β1 is {beta1}: it must be at least 0 and below 1"
            )));
        }
        let settings = &project.training;
        let parts = gan_parts(&project.graph).map_err(ModelError::Gan)?;
        let generator = Model::build(&parts.generator, settings.seed)?;
        let discriminator = Model::build(&parts.discriminator, settings.seed.wrapping_add(7))?;
        check_fit(&generator, &discriminator, &data)?;
        if let Some(w) = initial_weights {
            for model in [&generator, &discriminator] {
                model.load_weights(&w.only(&model.variable_names()))?;
            }
        }
        let adam = TrainSettings {
            optimizer: Optimizer::Adam {
                beta1,
                beta2: 0.999,
                eps: 1e-8,
            },
            ..settings.clone()
        };
        let base = settings.lr.max(f64::MIN_POSITIVE);
        let mut noise_rng = ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(5));
        let fixed_noise = normal(GRID_SAMPLES, parts.noise_dim, &mut noise_rng)?;
        Ok(Self {
            g_descent: Descent::new(&generator, &adam),
            d_descent: Descent::new(&discriminator, &adam),
            generator,
            discriminator,
            data,
            g_scale: generator_lr / base,
            d_scale: discriminator_lr / base,
            noise_dim: parts.noise_dim,
            noise_rng,
            dropout_rng: ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(2)),
            fixed_noise,
            last_grid: None,
        })
    }

    fn real(&self, idx: &[usize]) -> candle_core::Result<Tensor> {
        let mut xs = Vec::new();
        self.data.gather_features(idx, &mut xs);
        Tensor::from_vec(
            xs,
            self.discriminator.input_shape().with_batch(idx.len()),
            &Device::Cpu,
        )
    }

    fn bce(&self, logits: &Tensor, target: f32) -> candle_core::Result<Tensor> {
        let t = Tensor::full(target, logits.shape(), &Device::Cpu)?;
        self.discriminator.loss(logits, &TargetBatch::Values(t))
    }

    /// The fixed noise's samples, each flat.
    pub fn grid(&self) -> candle_core::Result<Vec<Vec<f32>>> {
        let y = self
            .generator
            .forward(&self.fixed_noise, &mut ForwardCtx::eval())?;
        y.flatten_from(1)?
            .to_dtype(candle_core::DType::F32)?
            .to_vec2()
    }

    fn grid_event(&mut self, step: usize) -> candle_core::Result<TrainEvent> {
        self.last_grid = Some(Instant::now());
        Ok(TrainEvent::Samples {
            step,
            dims: self.data.sample_shape.clone(),
            images: self.grid()?,
        })
    }
}

/// The generator must make samples of the data's size; the discriminator must read them and
/// end in one score with binary cross-entropy.
fn check_fit(g: &Model, d: &Model, data: &Dataset) -> Result<(), ModelError> {
    super::check_numeric_input(d, data, "a GAN", "the discriminator's Input")?;
    let input = d.input_shape();
    let sample = g.prediction_shape();
    if sample.numel() != input.numel() {
        return Err(ModelError::Data(format!(
            "the generator's last layer '{}' makes {sample} ({} values) but a sample of {} has {} values: end the generator with {} values",
            g.prediction_node(),
            sample.numel(),
            data.name,
            input.numel(),
            input.numel()
        )));
    }
    let score = d.prediction_shape();
    if d.loss_kind() != Loss::BinaryCrossEntropy || score.dims != [1] {
        return Err(ModelError::Data(format!(
            "the discriminator must end in one score (it gives {score}) and an Output with binary cross-entropy: real or generated"
        )));
    }
    Ok(())
}

/// Samples of `g` shaped as `d`'s input.
fn generate_fake(
    g: &Model,
    d: &Model,
    z: &Tensor,
    ctx: &mut ForwardCtx,
) -> candle_core::Result<Tensor> {
    let n = z.dim(0)?;
    g.forward(z, ctx)?.reshape(d.input_shape().with_batch(n))
}

fn normal(n: usize, dim: usize, rng: &mut ChaCha8Rng) -> candle_core::Result<Tensor> {
    let v: Vec<f32> = (0..n * dim).map(|_| StandardNormal.sample(rng)).collect();
    Tensor::from_vec(v, (n, dim), &Device::Cpu)
}

fn mean_sigmoid(logits: &Tensor) -> candle_core::Result<f32> {
    candle_nn::ops::sigmoid(logits)?
        .mean_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_scalar()
}

impl TrainStep for Gan {
    /// The discriminator: it reads the data, so probe snapshots show it.
    fn model(&self) -> &Model {
        &self.discriminator
    }

    fn step(
        &mut self,
        batch: &[usize],
        lr: f64,
        want_health: bool,
    ) -> Result<StepResult, TrainError> {
        let n = batch.len();
        let real = self.real(batch)?;
        // Discriminator: real → 1, generated (held fixed) → 0.
        let z = normal(n, self.noise_dim, &mut self.noise_rng)?;
        let mut ctx = ForwardCtx::train(Some(&mut self.dropout_rng));
        let fake = generate_fake(&self.generator, &self.discriminator, &z, &mut ctx)?.detach();
        let d_real = self.discriminator.forward(&real, &mut ctx)?;
        let d_fake = self.discriminator.forward(&fake, &mut ctx)?;
        let d_loss = (self.bce(&d_real, 1.0)? + self.bce(&d_fake, 0.0)?)?;
        let (d_loss, health) = match self.d_descent.apply(
            &self.discriminator,
            &d_loss,
            &real,
            lr * self.d_scale,
            want_health,
        )? {
            Ok(done) => done,
            Err(diverged) => return Ok(StepResult::Diverged(diverged)),
        };
        // Generator: make the (frozen) discriminator say 1 for fresh samples.
        let z = normal(n, self.noise_dim, &mut self.noise_rng)?;
        let frozen_d = self.discriminator.frozen();
        let mut ctx = ForwardCtx::train(Some(&mut self.dropout_rng));
        let fake = generate_fake(&self.generator, &self.discriminator, &z, &mut ctx)?;
        let judged = frozen_d.forward(&fake, &mut ctx)?;
        let g_loss = self.bce(&judged, 1.0)?;
        let d_of_g = mean_sigmoid(&judged)?;
        let g_loss =
            match self
                .g_descent
                .apply(&self.generator, &g_loss, &z, lr * self.g_scale, false)?
            {
                Ok((loss, _)) => loss,
                Err(diverged) => return Ok(StepResult::Diverged(diverged)),
            };
        let step = self.d_descent.steps();
        let mut events = vec![TrainEvent::Metrics {
            step,
            values: vec![
                ("discriminator loss".into(), d_loss),
                ("generator loss".into(), g_loss),
                ("D(x)".into(), mean_sigmoid(&d_real)?),
                ("D(G(z))".into(), d_of_g),
            ],
        }];
        if self
            .last_grid
            .is_none_or(|t| t.elapsed().as_secs_f64() >= GRID_EVERY_S)
        {
            events.push(self.grid_event(step)?);
        }
        Ok(StepResult::Done(StepOutcome {
            loss: d_loss + g_loss,
            correct: None,
            health,
            events,
            seen: None,
        }))
    }

    /// The discriminator's loss on `indices` (real) and as many generated samples, and how
    /// often it tells them apart.
    fn evaluate(
        &self,
        indices: &[usize],
        control: &Control,
    ) -> Result<Option<Option<EvalMetrics>>, TrainError> {
        if indices.is_empty() {
            return Ok(Some(None));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let (mut loss_sum, mut right) = (0f64, 0usize);
        for chunk in indices.chunks(EVAL_BATCH) {
            if control.stopped() {
                return Ok(None);
            }
            let n = chunk.len();
            let z = normal(n, self.noise_dim, &mut rng)?;
            let fake = generate_fake(
                &self.generator,
                &self.discriminator,
                &z,
                &mut ForwardCtx::eval(),
            )?;
            let real = self.real(chunk)?;
            for (x, label) in [(real, 1.0f32), (fake, 0.0)] {
                let logits = self.discriminator.forward(&x, &mut ForwardCtx::eval())?;
                loss_sum += self.bce(&logits, label)?.to_scalar::<f32>()? as f64 * n as f64;
                let said = logits.flatten_all()?.to_vec1::<f32>()?;
                right += said.iter().filter(|&&v| (v > 0.0) == (label > 0.5)).count();
            }
        }
        let total = 2 * indices.len();
        Ok(Some(Some(EvalMetrics {
            loss: (loss_sum / indices.len() as f64) as f32,
            accuracy: Some(right as f32 / total as f32),
            samples: total,
            regression: None,
        })))
    }

    fn input_batch(&self, idx: &[usize]) -> Result<Tensor, TrainError> {
        Ok(self.real(idx)?)
    }

    fn after_epoch(
        &mut self,
        _epoch: usize,
        step: usize,
        _last: bool,
    ) -> Result<Vec<TrainEvent>, TrainError> {
        Ok(vec![self.grid_event(step)?])
    }

    fn param_count(&self) -> usize {
        self.generator.param_count() + self.discriminator.param_count()
    }

    fn weights(&self) -> Result<Weights, TrainError> {
        let mut w = self.generator.weights()?;
        w.tensors.extend(self.discriminator.weights()?.tensors);
        Ok(w)
    }
}
