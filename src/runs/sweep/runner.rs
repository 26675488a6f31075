//! Running a sweep: its trials one after another, each trained on its own worker thread into
//! its own run folder; successive halving keeps the best of each rung for the next.

use super::{apply, Method, SweepSpec};
use crate::project::Project;
use crate::runs::folder::{RunFolder, RunsError};
use crate::train::{Monitor, TrainEvent, TrainHandle, TrainRequest};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Progress a sweep reports to its caller.
#[derive(Clone, Debug, PartialEq)]
pub enum SweepEvent {
    /// Trial `index` (0-based) of `total` starts in `dir` with these settings.
    TrialStarted {
        index: usize,
        total: usize,
        dir: PathBuf,
        config: BTreeMap<String, Value>,
        epochs: usize,
    },
    /// An event of the running trial.
    Train(TrainEvent),
    TrialEnded(Trial),
}

/// One run of the sweep and what it scored.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    pub index: usize,
    pub dir: PathBuf,
    pub config: BTreeMap<String, Value>,
    pub epochs: usize,
    /// The watched validation figure at its best epoch (None: failed or nothing measured).
    pub score: Option<f64>,
    pub test_accuracy: Option<f32>,
    /// A regression's test R².
    pub test_r2: Option<f32>,
    pub outcome: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepReport {
    pub trials: Vec<Trial>,
    pub metric: Monitor,
}

/// A swept setting against the watched figure, ready to plot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scatter {
    /// (setting, figure) per trial that produced one.
    pub points: Vec<[f64; 2]>,
    /// x is log10 of the setting (learning rates).
    pub log: bool,
    /// For choices that are not numbers (optimisers): x is the index into this list.
    pub categories: Vec<String>,
}

impl SweepReport {
    /// The swept settings' paths.
    pub fn settings(&self) -> Vec<String> {
        self.trials
            .first()
            .map(|t| t.config.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Setting `key` against the figure, one point per trial.
    pub fn scatter(&self, key: &str) -> Scatter {
        let log = key.ends_with(".lr");
        let mut categories: Vec<String> = Vec::new();
        let points = self
            .trials
            .iter()
            .filter_map(|t| {
                let v = t.config.get(key)?;
                let x = match v.as_f64() {
                    Some(x) if log => x.log10(),
                    Some(x) => x,
                    None => {
                        let s = v.to_string();
                        if !categories.contains(&s) {
                            categories.push(s.clone());
                        }
                        categories.iter().position(|c| *c == s)? as f64
                    }
                };
                Some([x, t.score?])
            })
            .collect();
        Scatter {
            points,
            log,
            categories,
        }
    }

    /// The scatter of `key` as an exportable chart.
    pub fn chart(&self, key: &str) -> crate::runs::chart::Chart {
        let s = self.scatter(key);
        let x_label = if s.log {
            format!("log10({key})")
        } else if s.categories.is_empty() {
            key.to_string()
        } else {
            format!("{key}: {}", s.categories.join(", "))
        };
        crate::runs::chart::Chart::new(&format!("Sweep: {key}"), &x_label, self.metric.name())
            .styled(crate::runs::chart::ChartStyle::Points)
            .with("trials", s.points)
    }

    /// The best trial by the metric (halving: among those of the last rung).
    pub fn best(&self) -> Option<&Trial> {
        let most_epochs = self.trials.iter().map(|t| t.epochs).max()?;
        self.trials
            .iter()
            .filter(|t| t.epochs == most_epochs && t.score.is_some())
            .max_by(|a, b| {
                let (x, y) = (a.score.unwrap_or(f64::NAN), b.score.unwrap_or(f64::NAN));
                self.metric.cmp_figures(x, y)
            })
    }
}

/// Where a sweep runs and what it may touch.
pub struct SweepContext<'a> {
    pub project: &'a Project,
    pub project_dir: Option<&'a Path>,
    pub runs_root: &'a Path,
    /// Set to stop the sweep (the running trial stops too).
    pub stop: &'a AtomicBool,
}

/// Runs the sweep, one trial after another, on the caller's thread (each trial trains on its
/// own worker thread); `on` sees every trial's start, events and end.
pub fn run_sweep(
    ctx: &SweepContext,
    spec: &SweepSpec,
    on: &mut dyn FnMut(SweepEvent),
) -> Result<SweepReport, RunsError> {
    let configs = spec.configurations()?;
    let max_epochs = spec.epochs.unwrap_or(ctx.project.training.epochs).max(1);
    // Check every configuration before the first run, so a typo fails at once.
    for c in &configs {
        apply(ctx.project, c)?;
    }
    let mut report = SweepReport {
        trials: Vec::new(),
        metric: spec.metric,
    };
    let mut rung: Vec<BTreeMap<String, Value>> = configs;
    let mut epochs = match spec.method {
        Method::Halving => {
            let eta = spec.eta.max(2);
            // Enough rungs that the last gets max_epochs: max / eta^(rungs-1), at least 1.
            let rungs = ((rung.len() as f64).ln() / (eta as f64).ln()).floor() as u32;
            (max_epochs / eta.pow(rungs).max(1)).max(1)
        }
        _ => max_epochs,
    };
    let total_planned = planned_runs(spec, rung.len());
    loop {
        let mut scored = Vec::new();
        for config in &rung {
            if ctx.stop.load(Ordering::Relaxed) {
                return Ok(report);
            }
            let index = report.trials.len();
            let trial = run_trial(ctx, spec, config, epochs, index, total_planned, on)?;
            on(SweepEvent::TrialEnded(trial.clone()));
            scored.push(trial.clone());
            report.trials.push(trial);
        }
        if spec.method != Method::Halving || rung.len() <= 1 || epochs >= max_epochs {
            return Ok(report);
        }
        let keep = rung.len().div_ceil(spec.eta.max(2));
        let sub = SweepReport {
            trials: scored,
            metric: spec.metric,
        };
        let mut order: Vec<&Trial> = sub.trials.iter().filter(|t| t.score.is_some()).collect();
        order.sort_by(|a, b| {
            let (x, y) = (a.score.unwrap_or(0.0), b.score.unwrap_or(0.0));
            // Best first.
            spec.metric.cmp_figures(y, x)
        });
        rung = order.iter().take(keep).map(|t| t.config.clone()).collect();
        if rung.is_empty() {
            return Ok(report);
        }
        epochs = (epochs * spec.eta.max(2)).min(max_epochs);
    }
}

/// Runs a sweep of `n` starting configurations makes in all.
pub(super) fn planned_runs(spec: &SweepSpec, n: usize) -> usize {
    if spec.method != Method::Halving {
        return n;
    }
    let eta = spec.eta.max(2);
    let (mut total, mut k) = (0, n);
    while k > 1 {
        total += k;
        k = k.div_ceil(eta);
    }
    total + k
}

fn label_of(spec: &SweepSpec, config: &BTreeMap<String, Value>) -> String {
    let parts: Vec<String> = config
        .iter()
        .map(|(k, v)| {
            let short = k.rsplit('.').next().unwrap_or(k);
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                other => other.to_string(),
            };
            format!("{short}={v}")
        })
        .collect();
    format!("{} {}", spec.name, parts.join(" "))
}

fn run_trial(
    ctx: &SweepContext,
    spec: &SweepSpec,
    config: &BTreeMap<String, Value>,
    epochs: usize,
    index: usize,
    total: usize,
    on: &mut dyn FnMut(SweepEvent),
) -> Result<Trial, RunsError> {
    let mut project = apply(ctx.project, config)?;
    project.training.epochs = epochs;
    if let Some(m) = spec.max_train_samples {
        project.data.max_train_samples = Some(m);
    }
    let label = label_of(spec, config);
    let mut folder = RunFolder::create(ctx.runs_root, &project, &label)?;
    folder.meta.params = config.clone();
    folder.meta.sweep = Some(spec.name.clone());
    folder.meta.tags = vec![format!("sweep:{}", spec.name)];
    folder.write_meta()?;
    let dir = folder.dir.clone();
    on(SweepEvent::TrialStarted {
        index,
        total,
        dir: dir.clone(),
        config: config.clone(),
        epochs,
    });
    let mut req = TrainRequest::new(project);
    req.project_dir = ctx.project_dir.map(Path::to_path_buf);
    req.record_to(folder);
    let handle = TrainHandle::spawn(req).map_err(|source| RunsError::Write {
        dir: dir.clone(),
        source,
    })?;
    let mut best: Option<f64> = None;
    let terminal = handle.wait_or_stop(ctx.stop, |ev| {
        if let TrainEvent::Best { value, .. } = ev {
            best = Some(*value);
        }
        on(SweepEvent::Train(ev.clone()));
    });
    let test_r2 = match &terminal {
        TrainEvent::Finished { test, .. } => test.and_then(|t| t.regression).map(|r| r.r2),
        _ => None,
    };
    let (outcome, test_accuracy) = match terminal {
        TrainEvent::Finished { test, .. } => {
            ("finished".to_string(), test.and_then(|t| t.accuracy))
        }
        TrainEvent::Stopped { step, .. } => (format!("stopped at step {step}"), None),
        TrainEvent::Failed { reason } => (format!("failed: {reason}"), None),
        TrainEvent::Diverged { step, what, .. } => {
            best = None;
            (format!("diverged at step {step}: {what}"), None)
        }
        _ => ("ended".into(), None),
    };
    // A watched figure other than what the run tracked (accuracy vs loss): read it back.
    if spec.metric != Monitor::ValLoss || best.is_none() {
        best = best_of(&dir, spec.metric).or(best);
    }
    Ok(Trial {
        index,
        dir,
        config: config.clone(),
        epochs,
        score: best,
        test_accuracy,
        test_r2,
        outcome,
    })
}

/// The best value of `metric` over a run folder's epochs.
pub fn best_of(dir: &Path, metric: Monitor) -> Option<f64> {
    let s = crate::runs::Scalars::load(dir).ok()?;
    let tag = metric.tag();
    let vals = s
        .tags
        .get(tag)?
        .iter()
        .map(|p| p.value)
        .filter(|v| v.is_finite());
    vals.reduce(|a, b| match metric.cmp_figures(a, b) {
        std::cmp::Ordering::Less => b,
        _ => a,
    })
}
