//! The training loop itself, independent of threads: the worker, the CLI and tests all call it.

use super::best::{BestTracker, Verdict};
use super::boundary::boundary_map;
use super::checkpoint::{self, CheckpointError, CheckpointSpec};
use super::event::{BoundarySpec, EpochMetrics, RunInfo, TrainEvent};
use super::mode::{mode_step, StepResult, TrainStep};
use crate::data::{batches_per_epoch, DataError, Dataset};
use crate::model::{GenerateError, ModelError, Weights};
use crate::project::Project;
use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Seconds between decision-boundary maps.
const BOUNDARY_EVERY_S: f64 = 0.3;

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
    /// Panic at this step, as a bug in a kernel would: for tests of the failure path.
    pub fault_at_step: Option<usize>,
    /// Save a checkpoint after every epoch here (and start from the one there, if asked).
    pub checkpoint: Option<CheckpointSpec>,
    /// Record the run there (a run folder: settings, figures, best and last weights).
    pub record: Option<Arc<dyn super::RecordTarget>>,
    /// Keep the data map (each training sample's confidence over epochs) and send it after
    /// every epoch (classifiers).
    pub datamap: bool,
    /// Send the weights before the first epoch and after each (`TrainEvent::Weights`), for the
    /// path drawn on the loss landscape.
    pub path: bool,
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
    /// Record the run into `target` (a run folder) as it happens.
    pub fn record_to(&mut self, target: impl super::RecordTarget + 'static) {
        self.record = Some(Arc::new(target));
    }

    pub fn new(project: Project) -> Self {
        Self {
            project,
            project_dir: None,
            initial_weights: None,
            max_steps: None,
            dataset: None,
            boundary: None,
            insight: None,
            fault_at_step: None,
            checkpoint: None,
            record: None,
            datamap: false,
            path: false,
        }
    }
}

/// Least time between two checkpoints of a run.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// Flags the caller flips and the loop checks between steps.
#[derive(Debug, Default)]
pub struct Control {
    pub stop: AtomicBool,
    pub pause: AtomicBool,
}

impl Control {
    pub(crate) fn stopped(&self) -> bool {
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
    #[error("training settings: {0}")]
    InvalidSettings(#[from] crate::project::training::SettingsError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Runs a whole training and reports through `emit`; the last event is always terminal.
/// Loads the tensors of the weight file at `path` that fit `model`; an error when none do.
fn transfer_into(
    model: &crate::model::Model,
    path: &str,
    project_dir: Option<&std::path::Path>,
) -> Result<String, TrainError> {
    let file = crate::fsutil::resolve_data_path(path, project_dir);
    let weights = Weights::load(&file)
        .map_err(|e| TrainError::Settings(format!("start-from weights: {e}")))?;
    let report = model.load_matching(&weights)?;
    if report.is_empty() {
        return Err(TrainError::Settings(format!(
            "none of the {} tensors of {} fit this network (node ids and shapes differ): {report}",
            weights.tensors.len(),
            file.display()
        )));
    }
    Ok(format!("from {}: {report}", file.display()))
}

pub fn run_training(req: TrainRequest, control: &Control, emit: &mut dyn FnMut(TrainEvent)) {
    let terminal = match train(req, control, emit) {
        Ok(ev) => ev,
        Err(e) => TrainEvent::Failed {
            reason: e.to_string(),
        },
    };
    emit(terminal);
}

/// Probe samples and their input batch, for snapshots.
struct Probe {
    opts: InsightOptions,
    idx: Vec<usize>,
    x: Tensor,
}

impl Probe {
    fn new(
        opts: &InsightOptions,
        data: &Dataset,
        mode: &dyn TrainStep,
    ) -> Result<Self, TrainError> {
        let idx = if opts.probe.is_empty() {
            InsightOptions::default_probe(data, 8)
        } else {
            opts.probe.clone()
        };
        let idx: Vec<usize> = idx.into_iter().filter(|&i| i < data.len()).collect();
        let x = mode.input_batch(&idx)?;
        Ok(Self {
            opts: opts.clone(),
            idx,
            x,
        })
    }

    fn snapshot(
        &self,
        mode: &dyn TrainStep,
        step: usize,
        health: Vec<crate::train::snapshot::ParamHealth>,
    ) -> Result<TrainEvent, TrainError> {
        let model = mode.model();
        let activations = crate::train::snapshot::activations(model, &self.x)?;
        let column = crate::train::snapshot::column(model, step, &activations, &health)?;
        Ok(TrainEvent::Snapshot(Box::new(
            crate::train::snapshot::Snapshot {
                step,
                probe: self.idx.clone(),
                activations,
                column,
                health,
                weights: if self.opts.weights {
                    Some(mode.weights()?)
                } else {
                    None
                },
            },
        )))
    }
}

/// Wall time of the run without its pauses.
struct Clock {
    start: Instant,
    paused: Duration,
}

impl Clock {
    fn elapsed_ms(&self) -> f64 {
        self.start
            .elapsed()
            .saturating_sub(self.paused)
            .as_secs_f64()
            * 1e3
    }

    fn now_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// What the epoch's steps add up to.
#[derive(Default)]
struct EpochTally {
    loss_sum: f64,
    loss_count: usize,
    right: usize,
    labelled: usize,
}

/// A wrong graph (an absurd layer size, a missing input) or one too large for the machine is
/// refused before the data are read: loading a large set first would keep the user waiting for
/// an error that needs none.
fn refuse_graph(project: &Project) -> Result<(), TrainError> {
    if let crate::graph::TrainingMode::Gan { .. } = project.mode {
        // A GAN's missing player is named as such, before the generic graph errors it causes.
        crate::graph::gan_parts(&project.graph).map_err(ModelError::Gan)?;
    }
    let analysis = crate::graph::analyze(&project.graph);
    if !analysis.is_ok() {
        return Err(ModelError::Graph(analysis.errors).into());
    }
    // A network that cannot fit is refused with numbers, before its weights are allocated.
    let needs = crate::graph::estimate(&project.graph, &analysis, project.training.batch_size);
    match crate::graph::available_bytes().and_then(|a| needs.refusal(a)) {
        Some(why) => Err(TrainError::Settings(why)),
        None => Ok(()),
    }
}

fn train(
    req: TrainRequest,
    control: &Control,
    emit: &mut dyn FnMut(TrainEvent),
) -> Result<TrainEvent, TrainError> {
    let setup_start = Instant::now();
    let settings = &req.project.training;
    settings.validate()?;
    refuse_graph(&req.project)?;
    let data = match &req.dataset {
        Some(d) => d.clone(),
        None => Arc::new(Dataset::load(
            &req.project.data,
            req.project_dir.as_deref(),
        )?),
    };
    // A checkpoint to resume from replaces any initial weights.
    let resumed = match &req.checkpoint {
        Some(spec) if spec.resume => checkpoint::load(&spec.dir, &req.project)?,
        _ => None,
    };
    let start_weights = resumed
        .as_ref()
        .map(|c| &c.weights)
        .or(req.initial_weights.as_ref());
    if settings.early_stopping.is_some() && data.val.is_empty() {
        return Err(TrainError::Settings(
            "early stopping watches the validation split, which is empty: give validation a share in the data's split, or turn early stopping off".into(),
        ));
    }
    let mut mode = mode_step(&req.project, data.clone(), start_weights)?;
    let transfer = match (&settings.init_from, start_weights) {
        (Some(path), None) => Some(transfer_into(
            mode.model(),
            path,
            req.project_dir.as_deref(),
        )?),
        _ => None,
    };
    let frozen_params = {
        let model = mode.model();
        let updated: usize = model.updated().iter().map(|(_, v)| v.elem_count()).sum();
        model.param_count() - updated
    };
    let start_epoch = resumed
        .as_ref()
        .map_or(0, |c| c.epochs_done.min(settings.epochs));
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
        params: mode.param_count(),
        class_names: data.class_names().to_vec(),
        data_name: data.name.clone(),
        setup_ms: setup_start.elapsed().as_secs_f64() * 1e3,
        resumed_from_epoch: resumed.as_ref().map(|_| start_epoch),
        transfer,
        frozen_params,
    }));

    if req.path {
        emit(TrainEvent::Weights {
            epoch: start_epoch,
            weights: Arc::new(mode.weights()?),
        });
    }
    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(settings.seed.wrapping_add(1));
    let mut clock = Clock {
        start: Instant::now(),
        paused: Duration::ZERO,
    };
    let stopped = |mode: &dyn TrainStep, step: usize| -> Result<TrainEvent, TrainError> {
        Ok(TrainEvent::Stopped {
            step,
            weights: mode.weights()?,
        })
    };
    // Resuming: the skipped epochs' shuffles are drawn, so later epochs see the same order.
    for _ in 0..start_epoch {
        mode.epoch_batches(&data.train, settings.batch_size, &mut shuffle_rng);
    }
    let mut step = start_epoch * steps_per_epoch;
    let mut last_checkpoint: Option<Instant> = None;
    let mut samples = 0usize;
    let mut last_boundary = f64::NEG_INFINITY;
    let mut last_snapshot = f64::NEG_INFINITY;
    let mut last_health: Vec<crate::train::snapshot::ParamHealth> = Vec::new();
    let probe = match &req.insight {
        Some(opts) => Some(Probe::new(opts, &data, mode.as_ref())?),
        None => None,
    };

    let early = settings.early_stopping;
    let mut best = BestTracker::new(early.map(|e| e.monitor).unwrap_or_default(), early);
    let mut best_weights = None;
    let mut datamap = req.datamap.then(|| super::DataMapTally::new(data.len()));
    'epochs: for epoch in start_epoch..settings.epochs {
        let mut tally = EpochTally::default();
        for batch in mode.epoch_batches(&data.train, settings.batch_size, &mut shuffle_rng) {
            if step >= total_steps {
                break 'epochs;
            }
            clock.paused += control.wait_while_paused();
            if control.stopped() {
                return stopped(mode.as_ref(), step);
            }
            if req.fault_at_step == Some(step) {
                panic!("deliberate fault at step {step}");
            }
            let lr = settings
                .schedule
                .lr_at(settings.lr, step, steps_per_epoch, total_steps);
            let snap_due = probe.as_ref().is_some_and(|p| {
                (step + 1) % p.opts.every_steps.max(1) == 0
                    && (clock.now_s() - last_snapshot) * 1e3 >= p.opts.min_interval_ms as f64
            });
            // The pool's other threads poll for the step's parallel work instead of sleeping.
            crate::model::kernels::keep_awake();
            let outcome = match mode.step(&batch, lr, snap_due)? {
                StepResult::Done(outcome) => outcome,
                StepResult::Diverged(event) => return Ok(event),
            };
            step += 1;
            if let (Some(map), Some((labels, seen))) = (&mut datamap, &outcome.seen) {
                map.add(&batch, labels, seen);
            }
            for event in outcome.events {
                emit(event);
            }
            if let (Some(p), Some(health)) = (&probe, outcome.health) {
                last_snapshot = clock.now_s();
                last_health = health.clone();
                emit(p.snapshot(mode.as_ref(), step, health)?);
            }
            samples += batch.len();
            tally.loss_sum += outcome.loss as f64 * batch.len() as f64;
            tally.loss_count += batch.len();
            if let Some((right, labelled)) = outcome.correct {
                tally.right += right;
                tally.labelled += labelled;
            }
            if let Some(spec) = req.boundary {
                let now = clock.now_s();
                if now - last_boundary >= BOUNDARY_EVERY_S {
                    last_boundary = now;
                    emit(TrainEvent::Boundary(boundary_map(
                        mode.model(),
                        &data,
                        spec,
                        step,
                    )?));
                }
            }
            emit(TrainEvent::Step {
                step,
                epoch,
                loss: outcome.loss,
                accuracy: outcome.correct.map(|(c, n)| c as f32 / n.max(1) as f32),
                lr,
                samples,
                elapsed_ms: clock.elapsed_ms(),
            });
        }
        let Some(val) = mode.evaluate(&data.val, control)? else {
            return stopped(mode.as_ref(), step);
        };
        if let Some(p) = &probe {
            // The epoch's last measured health goes with it: the newest snapshot is the one
            // the diagnosis reads.
            emit(p.snapshot(mode.as_ref(), step, last_health.clone())?);
        }
        emit(TrainEvent::Epoch(EpochMetrics {
            epoch: epoch + 1,
            step,
            train_loss: (tally.loss_sum / tally.loss_count.max(1) as f64) as f32,
            train_acc: (tally.labelled > 0).then(|| tally.right as f32 / tally.labelled as f32),
            val,
            elapsed_ms: clock.elapsed_ms(),
        }));
        if let Some(map) = &datamap {
            let m = map.map(&data.train, |i| data.label(i));
            if !m.points.is_empty() {
                emit(TrainEvent::DataMap {
                    epoch: epoch + 1,
                    map: Arc::new(m),
                });
            }
        }
        if req.path {
            emit(TrainEvent::Weights {
                epoch: epoch + 1,
                weights: Arc::new(mode.weights()?),
            });
        }
        let verdict = best.observe(epoch + 1, val.as_ref());
        if let (Verdict::Improved, Some((best_epoch, value))) = (verdict, best.best()) {
            let weights = mode.weights()?;
            if early.is_some_and(|e| e.restore_best) {
                best_weights = Some(weights.clone());
            }
            emit(TrainEvent::Best {
                epoch: best_epoch,
                monitor: best.monitor(),
                value,
                weights,
            });
        }
        let stop_early = verdict == Verdict::Stop;
        let last = epoch + 1 == settings.epochs || step >= total_steps || stop_early;
        for event in mode.after_epoch(epoch, step, last)? {
            emit(event);
        }
        // Short epochs are not each worth a synced write: at most one every few seconds,
        // and always the first and the last.
        if let Some(spec) = &req.checkpoint {
            let due = last_checkpoint.is_none_or(|t: Instant| t.elapsed() >= CHECKPOINT_EVERY);
            if due || last {
                checkpoint::save(spec, &req.project, epoch + 1, &mode.weights()?)?;
                last_checkpoint = Some(Instant::now());
            }
        }
        if stop_early {
            let restored = best_weights.is_some();
            emit(TrainEvent::EarlyStopped {
                epoch: epoch + 1,
                best_epoch: best.best().map_or(0, |b| b.0),
                restored,
            });
            if let Some(w) = best_weights.take() {
                // Rebuilt from the best epoch's weights: the test figures are that epoch's.
                mode = mode_step(&req.project, data.clone(), Some(&w))?;
            }
            break;
        }
    }
    if let Some(spec) = req.boundary {
        emit(TrainEvent::Boundary(boundary_map(
            mode.model(),
            &data,
            spec,
            step,
        )?));
    }
    let Some(test) = mode.evaluate(&data.test, control)? else {
        return stopped(mode.as_ref(), step);
    };
    Ok(TrainEvent::Finished {
        test,
        weights: mode.weights()?,
        elapsed_ms: clock.elapsed_ms(),
    })
}
