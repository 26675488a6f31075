//! A run's history as the UI and reports see it: state, per-step loss, per-epoch metrics,
//! throughput and ETA. Built by applying `TrainEvent`s; plain data, no egui.

use super::event::{EpochMetrics, EvalMetrics, RunInfo, TrainEvent};
use std::collections::VecDeque;

#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// Spawned; loading data and building the model.
    Starting,
    Training,
    Paused,
    Finished,
    Stopped,
    Failed(String),
    Diverged {
        step: usize,
        what: String,
        layer: Option<String>,
    },
}

impl RunState {
    pub fn label(&self) -> &'static str {
        match self {
            RunState::Starting => "Starting",
            RunState::Training => "Training",
            RunState::Paused => "Paused",
            RunState::Finished => "Finished",
            RunState::Stopped => "Stopped",
            RunState::Failed(_) => "Failed",
            RunState::Diverged { .. } => "Diverged",
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(
            self,
            RunState::Starting | RunState::Training | RunState::Paused
        )
    }
}

/// Throughput is measured over this many recent steps.
const RATE_WINDOW: usize = 20;
/// Most points a per-step series keeps: past it, neighbouring points are averaged in pairs,
/// so memory stays flat however long a run goes while the curve keeps its shape.
pub const MAX_SERIES_POINTS: usize = 2_048;
/// Generated texts kept (the newest).
const MAX_SAMPLES_TEXT: usize = 64;

/// Appends `p`; a series at its cap first halves by averaging neighbouring pairs.
fn push_bounded(series: &mut Vec<[f64; 2]>, p: [f64; 2]) {
    if series.len() >= MAX_SERIES_POINTS {
        let halved: Vec<[f64; 2]> = series
            .chunks(2)
            .map(|c| {
                let n = c.len() as f64;
                [
                    c.iter().map(|q| q[0]).sum::<f64>() / n,
                    c.iter().map(|q| q[1]).sum::<f64>() / n,
                ]
            })
            .collect();
        *series = halved;
    }
    series.push(p);
}

#[derive(Clone, Debug)]
pub struct RunHistory {
    pub label: String,
    pub state: RunState,
    pub info: Option<RunInfo>,
    /// (step, loss) per step; long runs average neighbouring steps (`MAX_SERIES_POINTS`).
    pub losses: Vec<[f64; 2]>,
    /// (step, batch accuracy) per step where accuracy applies, bounded likewise.
    pub accuracies: Vec<[f64; 2]>,
    pub epochs: Vec<EpochMetrics>,
    /// (epoch, text) a language model generated after each epoch, oldest first.
    pub samples_text: Vec<(usize, String)>,
    /// (step, value) series of named per-step figures (a GAN's losses and scores).
    pub metrics: std::collections::BTreeMap<String, Vec<[f64; 2]>>,
    /// The newest samples from the fixed noise: step, one sample's dims, the samples.
    pub generated: Option<(usize, Vec<usize>, Vec<Vec<f32>>)>,
    /// The newest data map and the epoch (1-based) it is after.
    pub datamap: Option<(usize, std::sync::Arc<super::DataMap>)>,
    /// The weights after each epoch, when the run was asked for them.
    pub path: super::WeightPath,
    pub test: Option<EvalMetrics>,
    /// The best epoch so far by the watched validation figure (1-based).
    pub best_epoch: Option<usize>,
    /// Early stopping ended the run after this epoch.
    pub stopped_early_after: Option<usize>,
    pub step: usize,
    pub epoch: usize,
    pub samples: usize,
    pub elapsed_ms: f64,
    pub lr: f64,
    /// Bumped on every change, so views can cache what they derive from the history.
    pub version: u64,
    recent: VecDeque<(f64, usize)>,
}

impl RunHistory {
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            state: RunState::Starting,
            info: None,
            losses: Vec::new(),
            accuracies: Vec::new(),
            epochs: Vec::new(),
            samples_text: Vec::new(),
            metrics: Default::default(),
            generated: None,
            datamap: None,
            path: Default::default(),
            test: None,
            best_epoch: None,
            stopped_early_after: None,
            step: 0,
            epoch: 0,
            samples: 0,
            elapsed_ms: 0.0,
            lr: 0.0,
            version: 0,
            recent: VecDeque::new(),
        }
    }

    /// Folds one event in. Weights in terminal events are not kept here.
    pub fn apply(&mut self, ev: &TrainEvent) {
        self.version += 1;
        match ev {
            TrainEvent::Started(info) => {
                self.info = Some(info.clone());
                if self.state == RunState::Starting {
                    self.state = RunState::Training;
                }
            }
            TrainEvent::Step {
                step,
                epoch,
                loss,
                accuracy,
                lr,
                samples,
                elapsed_ms,
            } => {
                push_bounded(&mut self.losses, [*step as f64, *loss as f64]);
                if let Some(a) = accuracy {
                    push_bounded(&mut self.accuracies, [*step as f64, *a as f64]);
                }
                self.step = *step;
                self.epoch = *epoch;
                self.samples = *samples;
                self.elapsed_ms = *elapsed_ms;
                self.lr = *lr;
                self.recent.push_back((*elapsed_ms, *samples));
                if self.recent.len() > RATE_WINDOW {
                    self.recent.pop_front();
                }
            }
            TrainEvent::Boundary(_) | TrainEvent::Snapshot(_) | TrainEvent::Warning(_) => {}
            TrainEvent::Best { epoch, .. } => self.best_epoch = Some(*epoch),
            TrainEvent::EarlyStopped { epoch, .. } => self.stopped_early_after = Some(*epoch),
            TrainEvent::Generated { epoch, text, .. } => {
                self.samples_text.push((*epoch, text.clone()));
                if self.samples_text.len() > MAX_SAMPLES_TEXT {
                    self.samples_text.remove(0);
                }
            }
            TrainEvent::Metrics { step, values } => {
                for (name, v) in values {
                    let series = self.metrics.entry(name.clone()).or_default();
                    push_bounded(series, [*step as f64, *v as f64]);
                }
            }
            TrainEvent::DataMap { epoch, map } => self.datamap = Some((*epoch, map.clone())),
            TrainEvent::Weights { epoch, weights } => self.path.push(*epoch, weights.clone()),
            TrainEvent::Samples { step, dims, images } => {
                self.generated = Some((*step, dims.clone(), images.clone()));
            }
            TrainEvent::Epoch(m) => {
                self.elapsed_ms = m.elapsed_ms;
                self.epochs.push(m.clone());
            }
            TrainEvent::Finished {
                test, elapsed_ms, ..
            } => {
                self.test = *test;
                self.elapsed_ms = *elapsed_ms;
                self.state = RunState::Finished;
            }
            TrainEvent::Stopped { .. } => self.state = RunState::Stopped,
            TrainEvent::Failed { reason } => self.state = RunState::Failed(reason.clone()),
            TrainEvent::Diverged { step, what, layer } => {
                self.state = RunState::Diverged {
                    step: *step,
                    what: what.clone(),
                    layer: layer.clone(),
                }
            }
        }
    }

    pub fn set_paused(&mut self, paused: bool) {
        match (&self.state, paused) {
            (RunState::Training, true) => self.state = RunState::Paused,
            (RunState::Paused, false) => self.state = RunState::Training,
            _ => return,
        }
        self.version += 1;
    }

    /// Training samples per second over the last few steps.
    pub fn samples_per_sec(&self) -> Option<f64> {
        let (&(t0, s0), &(t1, s1)) = (self.recent.front()?, self.recent.back()?);
        (t1 > t0).then(|| (s1 - s0) as f64 / ((t1 - t0) / 1e3))
    }

    /// Fraction of planned steps done.
    pub fn progress(&self) -> f32 {
        match &self.info {
            Some(i) if i.total_steps > 0 => (self.step as f32 / i.total_steps as f32).min(1.0),
            _ => 0.0,
        }
    }

    /// Seconds left at the current pace (training steps only).
    pub fn eta_secs(&self) -> Option<f64> {
        let info = self.info.as_ref()?;
        let rate = self.samples_per_sec()?;
        let left_steps = info.total_steps.saturating_sub(self.step);
        Some(left_steps as f64 * info.batch_size as f64 / rate)
    }

    /// Per-step loss smoothed with a debiased exponential moving average (as TensorBoard does);
    /// `smoothing` in [0, 1).
    pub fn smoothed_losses(&self, smoothing: f64) -> Vec<[f64; 2]> {
        smooth(&self.losses, smoothing)
    }

    /// Per-step batch accuracy, smoothed like the loss.
    pub fn smoothed_accuracies(&self, smoothing: f64) -> Vec<[f64; 2]> {
        smooth(&self.accuracies, smoothing)
    }

    /// Steps at which each finished epoch ended.
    pub fn epoch_steps(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.step as f64).collect()
    }

    pub fn best_val_accuracy(&self) -> Option<f32> {
        self.epochs
            .iter()
            .filter_map(|e| e.val.and_then(|v| v.accuracy))
            .reduce(f32::max)
    }
}

/// Debiased exponential moving average of the y values (TensorBoard's smoothing).
pub fn smooth(points: &[[f64; 2]], smoothing: f64) -> Vec<[f64; 2]> {
    let s = smoothing.clamp(0.0, 0.999);
    let mut ema = 0.0;
    let mut weight = 0.0;
    points
        .iter()
        .map(|&[x, y]| {
            ema = s * ema + (1.0 - s) * y;
            weight = s * weight + (1.0 - s);
            [x, ema / weight]
        })
        .collect()
}

/// At most about `max_points` points that keep the shape of `points`: each bucket of x keeps
/// its first, minimum and maximum, so spikes survive.
pub fn downsample(points: &[[f64; 2]], max_points: usize) -> Vec<[f64; 2]> {
    let buckets = (max_points / 3).max(1);
    if points.len() <= max_points || points.len() < 3 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(buckets * 3 + 1);
    for chunk in points.chunks(per) {
        let first = chunk[0];
        let (mut lo, mut hi) = (first, first);
        for &p in chunk {
            if p[1] < lo[1] {
                lo = p;
            }
            if p[1] > hi[1] {
                hi = p;
            }
        }
        let mut keep = [first, lo, hi];
        keep.sort_by(|a, b| a[0].total_cmp(&b[0]));
        for p in keep {
            if out.last() != Some(&p) {
                out.push(p);
            }
        }
    }
    if let Some(&last) = points.last() {
        if out.last() != Some(&last) {
            out.push(last);
        }
    }
    out
}
