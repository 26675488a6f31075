//! The training loop itself, independent of threads: the worker, the CLI and tests all call it.

use super::event::{BoundaryMap, BoundarySpec, EpochMetrics, EvalMetrics, RunInfo, TrainEvent};
use super::optim::Optim;
use crate::data::{
    augment_batch, batches_per_epoch, epoch_batches, Augmentation, DataError, Dataset,
};
use crate::model::{correct, ForwardCtx, Model, ModelError, TargetBatch, TargetEncoding, Weights};
use crate::project::Project;
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// A loss this many times above the first step's counts as diverged even while still finite:
/// with Adam, an absurd learning rate sends a ReLU network's loss to 1e13 without ever overflowing.
const EXPLODED_FACTOR: f32 = 1e4;

/// Seconds between decision-boundary maps.
const BOUNDARY_EVERY_S: f64 = 0.3;

/// Samples per forward pass when evaluating (no gradients, so bigger than training batches).
const EVAL_BATCH: usize = 500;

/// Everything a run needs; plain data, so it can cross to the worker thread.
#[derive(Clone)]
pub struct TrainRequest {
    pub project: Project,
    /// Folder of the project file, for relative data paths.
    pub project_dir: Option<PathBuf>,
    /// Start from these weights instead of fresh ones.
    pub initial_weights: Option<Weights>,
    /// Stop (as Finished) after this many steps, e.g. for benchmarks.
    pub max_steps: Option<usize>,
    /// Data already loaded for this project (shared, not copied); loaded from the project if None.
    pub dataset: Option<Arc<Dataset>>,
    /// Map the decision boundary of a 2-D classifier over this region while training.
    pub boundary: Option<BoundarySpec>,
    /// Send snapshots of the model's insides while training.
    pub insight: Option<InsightOptions>,
}

/// How often, and on which samples, the worker looks inside the model.
#[derive(Clone, Debug, PartialEq)]
pub struct InsightOptions {
    /// Data-set indices of the probe samples.
    pub probe: Vec<usize>,
    /// Snapshot every this many steps...
    pub every_steps: usize,
    /// ...but never more often than this.
    pub min_interval_ms: u64,
    /// Include the weights, for views that run the model (saliency).
    pub weights: bool,
}

impl InsightOptions {
    /// The first `n` validation samples (or test, or training samples when there are none).
    pub fn default_probe(data: &Dataset, n: usize) -> Vec<usize> {
        [&data.val, &data.test, &data.train]
            .into_iter()
            .find(|s| !s.is_empty())
            .map(|s| s.iter().copied().take(n).collect())
            .unwrap_or_default()
    }
}

impl Default for InsightOptions {
    fn default() -> Self {
        Self {
            probe: Vec::new(),
            every_steps: 5,
            min_interval_ms: 250,
            weights: true,
        }
    }
}

impl TrainRequest {
    pub fn new(project: Project) -> Self {
        Self {
            project,
            project_dir: None,
            initial_weights: None,
            max_steps: None,
            dataset: None,
            boundary: None,
            insight: None,
        }
    }
}

/// Flags the caller flips and the loop checks between steps.
#[derive(Debug, Default)]
pub struct Control {
    pub stop: AtomicBool,
    pub pause: AtomicBool,
}

impl Control {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Waits while paused; returns the time spent waiting.
    fn wait_while_paused(&self) -> Duration {
        let t0 = Instant::now();
        while self.pause.load(Ordering::Relaxed) && !self.stopped() {
            std::thread::sleep(Duration::from_millis(10));
        }
        t0.elapsed()
    }
}

#[derive(Debug, Error)]
pub enum TrainError {
    #[error("training settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Runs a whole training and reports through `emit`; the last event is always terminal.
pub fn run_training(req: TrainRequest, control: &Control, emit: &mut dyn FnMut(TrainEvent)) {
    let terminal = match train(req, control, emit) {
        Ok(ev) => ev,
        Err(e) => TrainEvent::Failed {
            reason: e.to_string(),
        },
    };
    emit(terminal);
}

fn train(
    req: TrainRequest,
    control: &Control,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<TrainEvent, TrainError> {
    let setup_start = Instant::now();
    let settings = &req.project.training;
    settings.validate().map_err(TrainError::Settings)?;
    let data = match &req.dataset {
        Some(d) => d.clone(),
        None => Arc::new(Dataset::load(
            &req.project.data,
            req.project_dir.as_deref(),
        )?),
    };
    let model = Model::build(&req.project.graph, settings.seed)?;
    let encoding = model.bind_data(&data)?;
    if let Some(w) = &req.initial_weights {
        model.load_weights(w)?;
    }
    let mut optim = Optim::new(settings.optimizer, settings.weight_decay, model.trainable());
    let steps_per_epoch = batches_per_epoch(data.train.len(), settings.batch_size);
    let planned = steps_per_epoch * settings.epochs;
    let total_steps = req.max_steps.map_or(planned, |m| m.min(planned));
    emit(TrainEvent::Started(RunInfo {
        epochs: settings.epochs,
        steps_per_epoch,
        total_steps,
        batch_size: settings.batch_size,
        train_samples: data.train.len(),
        val_samples: data.val.len(),
        test_samples: data.test.len(),
        params: model.param_count(),
        class_names: data.class_names().to_vec(),
        data_name: data.name.clone(),
        setup_ms: setup_start.elapsed().as_secs_f64() * 1e3,
    }));

    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(1));
    let mut dropout_rng = ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(2));
    let mut augment_rng = ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(3));
    let data_settings = &req.project.data;
    let start = Instant::now();
    let mut paused = Duration::ZERO;
    let elapsed_ms =
        |paused: Duration| (start.elapsed().saturating_sub(paused)).as_secs_f64() * 1e3;
    let mut step = 0usize;
    let mut samples = 0usize;
    let mut first_loss: Option<f32> = None;
    let mut last_boundary = f64::NEG_INFINITY;
    let mut last_snapshot = f64::NEG_INFINITY;
    let probe = match &req.insight {
        Some(opts) => {
            let idx = if opts.probe.is_empty() {
                InsightOptions::default_probe(&data, 8)
            } else {
                opts.probe.clone()
            };
            let idx: Vec<usize> = idx.into_iter().filter(|&i| i < data.len()).collect();
            let x = make_batch(&data, &idx, encoding, &model)?.0;
            Some((opts.clone(), idx, x))
        }
        None => None,
    };
    let snapshot = |model: &Model,
                    step: usize,
                    health: Vec<crate::insight::ParamHealth>|
     -> Result<Option<TrainEvent>, TrainError> {
        let Some((opts, idx, x)) = &probe else {
            return Ok(None);
        };
        Ok(Some(TrainEvent::Snapshot(Box::new(
            crate::insight::Snapshot {
                step,
                probe: idx.clone(),
                activations: crate::insight::snapshot::activations(model, x)?,
                health,
                weights: if opts.weights {
                    Some(model.weights()?)
                } else {
                    None
                },
            },
        ))))
    };

    'epochs: for epoch in 0..settings.epochs {
        let (mut loss_sum, mut loss_count, mut right, mut labelled) =
            (0f64, 0usize, 0usize, 0usize);
        for batch in epoch_batches(&data.train, settings.batch_size, &mut shuffle_rng) {
            if step >= total_steps {
                break 'epochs;
            }
            paused += control.wait_while_paused();
            if control.stopped() {
                return Ok(TrainEvent::Stopped {
                    step,
                    weights: model.weights()?,
                });
            }
            let lr = settings
                .schedule
                .lr_at(settings.lr, step, steps_per_epoch, total_steps);
            let augment = (!data_settings.augmentation.is_off())
                .then_some((&data_settings.augmentation, &mut augment_rng));
            let (x, target, labels) =
                make_batch_augmented(&data, &batch, encoding, &model, augment)?;
            let mut ctx = ForwardCtx {
                train: true,
                rng: Some(&mut dropout_rng),
            };
            let pred = model.forward(&x, &mut ctx)?;
            let loss = model.loss(&pred, &target)?;
            let loss_value = loss.to_scalar::<f32>()?;
            if !loss_value.is_finite() {
                let (what, layer) = describe_divergence(&model, &x, loss_value);
                return Ok(TrainEvent::Diverged {
                    step: step + 1,
                    what,
                    layer,
                });
            }
            let first = *first_loss.get_or_insert(loss_value);
            if loss_value > EXPLODED_FACTOR * first.max(1e-3) {
                let layer = first_bad_layer(&model, &x);
                let at = layer.as_ref().map_or(String::new(), |l| {
                    format!("; the first exploding values appear in the output of {l}")
                });
                return Ok(TrainEvent::Diverged {
                    step: step + 1,
                    what: format!(
                        "the loss exploded from {first:.4} at the first step to {loss_value:.3e}: the learning rate ({lr:e}) is probably too high{at}"
                    ),
                    layer,
                });
            }
            let grads = loss.backward()?;
            let snap_due = probe.as_ref().is_some_and(|(o, _, _)| {
                (step + 1) % o.every_steps.max(1) == 0
                    && (start.elapsed().as_secs_f64() - last_snapshot) * 1e3
                        >= o.min_interval_ms as f64
            });
            let before = if snap_due {
                Some(crate::insight::snapshot::param_copies(&model)?)
            } else {
                None
            };
            optim.step(&grads, lr)?;
            step += 1;
            if let Some(before) = before {
                last_snapshot = start.elapsed().as_secs_f64();
                let health = crate::insight::snapshot::health(&model, &grads, &before)?;
                if let Some(ev) = snapshot(&model, step, health)? {
                    emit(ev);
                }
            }
            // ReLU maps NaN to 0, so a poisoned weight can hide behind a finite loss: check them.
            if let Some(name) = first_non_finite_param(&model)? {
                return Ok(TrainEvent::Diverged {
                    step,
                    what: format!(
                        "parameter {name} holds NaN or infinite values after the update at step {step}, although the loss ({loss_value:.4}) was finite"
                    ),
                    layer: first_bad_layer(&model, &x),
                });
            }
            samples += batch.len();
            loss_sum += loss_value as f64 * batch.len() as f64;
            loss_count += batch.len();
            let batch_correct = correct(model.loss_kind(), &pred, &labels)?;
            if let Some(c) = batch_correct {
                right += c;
                labelled += labels.len();
            }
            if let Some(spec) = req.boundary {
                let now = start.elapsed().as_secs_f64();
                if now - last_boundary >= BOUNDARY_EVERY_S {
                    last_boundary = now;
                    emit(TrainEvent::Boundary(boundary_map(
                        &model, &data, spec, step,
                    )?));
                }
            }
            emit(TrainEvent::Step {
                step,
                epoch,
                loss: loss_value,
                accuracy: batch_correct.map(|c| c as f32 / labels.len().max(1) as f32),
                lr,
                samples,
                elapsed_ms: elapsed_ms(paused),
            });
        }
        let val = match evaluate(&model, &data, &data.val, encoding, control)? {
            Some(v) => v,
            None if control.stopped() => {
                return Ok(TrainEvent::Stopped {
                    step,
                    weights: model.weights()?,
                })
            }
            None => None,
        };
        if let Some(ev) = snapshot(&model, step, Vec::new())? {
            emit(ev);
        }
        emit(TrainEvent::Epoch(EpochMetrics {
            epoch: epoch + 1,
            step,
            train_loss: (loss_sum / loss_count.max(1) as f64) as f32,
            train_acc: (labelled > 0).then(|| right as f32 / labelled as f32),
            val,
            elapsed_ms: elapsed_ms(paused),
        }));
    }
    if let Some(spec) = req.boundary {
        emit(TrainEvent::Boundary(boundary_map(
            &model, &data, spec, step,
        )?));
    }
    let test = match evaluate(&model, &data, &data.test, encoding, control)? {
        Some(t) => t,
        None if control.stopped() => {
            return Ok(TrainEvent::Stopped {
                step,
                weights: model.weights()?,
            })
        }
        None => None,
    };
    Ok(TrainEvent::Finished {
        test,
        weights: model.weights()?,
        elapsed_ms: elapsed_ms(paused),
    })
}

/// Input tensor, encoded targets, and class labels (for accuracy) of the samples `idx`.
pub fn make_batch(
    data: &Dataset,
    idx: &[usize],
    encoding: TargetEncoding,
    model: &Model,
) -> candle_core::Result<(Tensor, TargetBatch, Vec<u32>)> {
    make_batch_augmented(data, idx, encoding, model, None)
}

/// `make_batch`, with training-time augmentation of image samples.
pub fn make_batch_augmented(
    data: &Dataset,
    idx: &[usize],
    encoding: TargetEncoding,
    model: &Model,
    augment: Option<(&Augmentation, &mut ChaCha8Rng)>,
) -> candle_core::Result<(Tensor, TargetBatch, Vec<u32>)> {
    let shape = model.input_shape().with_batch(idx.len());
    let x = if data.is_tokens() {
        let mut ids = Vec::new();
        data.gather_tokens(idx, &mut ids);
        Tensor::from_vec(ids, shape, &Device::Cpu)?
    } else {
        let mut xs = Vec::new();
        data.gather_features(idx, &mut xs);
        if let Some((aug, rng)) = augment {
            augment_batch(&mut xs, &data.sample_shape, aug, rng);
        }
        Tensor::from_vec(xs, shape, &Device::Cpu)?
    };
    let mut labels = Vec::new();
    if encoding == TargetEncoding::SequenceLabels {
        data.gather_sequence_labels(idx, &mut labels);
    } else {
        data.gather_labels(idx, &mut labels);
    }
    let n = idx.len();
    let target = match encoding {
        TargetEncoding::Labels => {
            TargetBatch::Labels(Tensor::from_vec(labels.clone(), n, &Device::Cpu)?)
        }
        TargetEncoding::SequenceLabels => {
            let t = labels.len() / n.max(1);
            TargetBatch::Labels(Tensor::from_vec(labels.clone(), (n, t), &Device::Cpu)?)
        }
        TargetEncoding::OneHot(c) => {
            let mut v = vec![0f32; n * c];
            for (row, &l) in labels.iter().enumerate() {
                v[row * c + l as usize] = 1.0;
            }
            TargetBatch::Values(Tensor::from_vec(v, (n, c), &Device::Cpu)?)
        }
        TargetEncoding::Binary => {
            let v: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
            TargetBatch::Values(Tensor::from_vec(v, (n, 1), &Device::Cpu)?)
        }
        TargetEncoding::Values => {
            let mut v = Vec::new();
            data.gather_values(idx, &mut v);
            let shape = model.prediction_shape().with_batch(n);
            TargetBatch::Values(Tensor::from_vec(v, shape, &Device::Cpu)?)
        }
    };
    Ok((x, target, labels))
}

/// Loss and accuracy on `indices` in evaluation mode. `Ok(None)` when stopped on the way;
/// `Ok(Some(None))` when there is nothing to evaluate.
pub fn evaluate(
    model: &Model,
    data: &Dataset,
    indices: &[usize],
    encoding: TargetEncoding,
    control: &Control,
) -> candle_core::Result<Option<Option<EvalMetrics>>> {
    if indices.is_empty() {
        return Ok(Some(None));
    }
    let (mut loss_sum, mut right, mut labelled) = (0f64, 0usize, 0usize);
    for chunk in indices.chunks(EVAL_BATCH) {
        if control.stopped() {
            return Ok(None);
        }
        let (x, target, labels) = make_batch(data, chunk, encoding, model)?;
        let pred = model.forward(&x, &mut ForwardCtx::eval())?.detach();
        loss_sum += model.loss(&pred, &target)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        if let Some(c) = correct(model.loss_kind(), &pred, &labels)? {
            right += c;
            labelled += labels.len();
        }
    }
    Ok(Some(Some(EvalMetrics {
        loss: (loss_sum / indices.len() as f64) as f32,
        accuracy: (labelled > 0).then(|| right as f32 / labelled as f32),
        samples: indices.len(),
    })))
}

/// Predicted class and its probability over a grid of raw 2-D inputs.
pub fn boundary_map(
    model: &Model,
    data: &Dataset,
    spec: BoundarySpec,
    step: usize,
) -> candle_core::Result<BoundaryMap> {
    let n = spec.resolution.max(2);
    let mut xs = Vec::with_capacity(n * n * 2);
    for row in 0..n {
        let y = spec.y[0] + (spec.y[1] - spec.y[0]) * (row as f32 + 0.5) / n as f32;
        for col in 0..n {
            let x = spec.x[0] + (spec.x[1] - spec.x[0]) * (col as f32 + 0.5) / n as f32;
            xs.extend(data.normalize_raw(&[x, y]));
        }
    }
    let input = Tensor::from_vec(xs, (n * n, 2), &Device::Cpu)?;
    let pred = model.forward(&input, &mut ForwardCtx::eval())?.detach();
    let probs = if pred.dim(1)? == 1 {
        let p1 = candle_nn::ops::sigmoid(&pred)?;
        Tensor::cat(&[(p1.affine(-1.0, 1.0))?, p1], 1)?
    } else {
        candle_nn::ops::softmax(&pred, 1)?
    };
    let rows = probs.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?;
    let (class, confidence) = rows
        .iter()
        .map(|r| {
            let (k, p) = r
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (k, &p)| {
                    if p > best.1 {
                        (k, p)
                    } else {
                        best
                    }
                });
            (k as u32, p)
        })
        .unzip();
    Ok(BoundaryMap {
        spec,
        class,
        confidence,
        step,
    })
}

/// The first trainable parameter with a NaN or infinite entry (one sum per parameter: any such
/// entry makes the sum non-finite).
fn first_non_finite_param(model: &Model) -> candle_core::Result<Option<String>> {
    for (name, var) in model.trainable() {
        // x·0 is 0 for every finite x and NaN otherwise, so the sum cannot overflow.
        let sum = var
            .as_tensor()
            .affine(0.0, 0.0)?
            .sum_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_scalar::<f32>()?;
        if !sum.is_finite() {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// Activations beyond this magnitude count as exploding.
const EXPLODING: f32 = 1e6;

/// The first layer (in graph order) whose output on `x` holds non-finite or exploding values.
pub fn first_bad_layer(model: &Model, x: &Tensor) -> Option<String> {
    let mut ctx = ForwardCtx {
        train: true,
        rng: None,
    };
    let values = model.forward_all(x, &mut ctx).ok()?;
    let input = model
        .graph()
        .nodes
        .iter()
        .find(|n| matches!(n.layer, crate::graph::Layer::Input { .. }))?
        .id
        .clone();
    values
        .iter()
        .filter(|(id, _)| *id != input)
        .find_map(|(id, v)| {
            let bad = v
                .flatten_all()
                .and_then(|f| f.to_dtype(candle_core::DType::F32))
                .and_then(|f| f.to_vec1::<f32>())
                .map(|v| v.iter().any(|x| !x.is_finite() || x.abs() > EXPLODING))
                .unwrap_or(true);
            bad.then(|| {
                model
                    .graph()
                    .node(id)
                    .map_or_else(|| id.clone(), |n| n.label())
            })
        })
}

fn describe_divergence(model: &Model, x: &Tensor, loss: f32) -> (String, Option<String>) {
    let what = if loss.is_nan() { "NaN" } else { "infinite" };
    let layer = first_bad_layer(model, x);
    if let Ok(Some(name)) = first_non_finite_param(model) {
        return (
            format!("the loss became {what}: parameter {name} holds non-finite values after the last update (learning rate too high?)"),
            layer,
        );
    }
    let text = match &layer {
        Some(l) => format!("the loss became {what}: the first non-finite values appear in the output of {l}"),
        None => format!("the loss became {what} while every layer's output was finite (the loss itself overflowed)"),
    };
    (text, layer)
}
