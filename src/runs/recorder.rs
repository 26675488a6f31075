//! Writes a run's events into its folder as they happen, on the training thread. Figures are
//! flushed every epoch (and every few seconds), so a run killed mid-way keeps its metrics so
//! far; `run.json` says Running until a terminal event rewrites it.

use super::folder::{
    unix_now_s, write_error, write_meta, RunFolder, RunStatus, RunsError, BEST_WEIGHTS,
    LAST_WEIGHTS, SCALARS_FILE,
};
use crate::train::{EventSink, RecordError, RecordTarget, TrainEvent};
use std::io::Write;
use std::time::{Duration, Instant};

/// Per-step rows kept per run at most (about): longer runs write every k-th step.
const MAX_STEP_ROWS: usize = 5_000;
/// Least time between two rewrites of run.json for epoch figures (status changes always write).
const META_EVERY: Duration = Duration::from_secs(1);
const FLUSH_EVERY: Duration = Duration::from_secs(2);

pub const SCALARS_HEADER: &str = "wall_s,step,epoch,tag,value";

pub struct Recorder {
    folder: RunFolder,
    scalars: std::io::BufWriter<std::fs::File>,
    steps_per_epoch: usize,
    stride: usize,
    last_meta: Instant,
    last_flush: Instant,
    started: Instant,
}

impl Recorder {
    pub fn new(folder: RunFolder) -> Result<Self, RunsError> {
        let path = folder.dir.join(SCALARS_FILE);
        let file = std::fs::File::create(&path).map_err(|e| write_error(&folder.dir, e))?;
        let mut scalars = std::io::BufWriter::new(file);
        writeln!(scalars, "{SCALARS_HEADER}").map_err(|e| write_error(&folder.dir, e))?;
        Ok(Self {
            folder,
            scalars,
            steps_per_epoch: 1,
            stride: 1,
            last_meta: Instant::now(),
            last_flush: Instant::now(),
            started: Instant::now(),
        })
    }

    pub fn folder(&self) -> &RunFolder {
        &self.folder
    }

    fn row(&mut self, step: usize, epoch: f64, tag: &str, value: f64) -> Result<(), RunsError> {
        let wall = self.started.elapsed().as_secs_f64();
        writeln!(self.scalars, "{wall:.3},{step},{epoch:.4},{tag},{value}")
            .map_err(|e| write_error(&self.folder.dir, e))
    }

    /// `{split}/r2`, `/rmse` and `/mae` of a regression (nothing for classes).
    fn regression_rows(
        &mut self,
        step: usize,
        epoch: f64,
        split: &str,
        m: Option<crate::train::RegressionMetrics>,
    ) -> Result<(), RunsError> {
        if let Some(m) = m {
            for (name, v) in [("r2", m.r2), ("rmse", m.rmse), ("mae", m.mae)] {
                self.row(step, epoch, &format!("{split}/{name}"), v as f64)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), RunsError> {
        self.last_flush = Instant::now();
        self.scalars
            .flush()
            .map_err(|e| write_error(&self.folder.dir, e))
    }

    fn save_meta(&mut self) -> Result<(), RunsError> {
        self.last_meta = Instant::now();
        self.folder.meta.updated_unix_s = unix_now_s();
        write_meta(&self.folder.dir, &self.folder.meta)
    }

    /// Records one event; an error means the folder can no longer be written.
    pub fn record(&mut self, ev: &TrainEvent) -> Result<(), RunsError> {
        let figures = &mut self.folder.meta.figures;
        match ev {
            TrainEvent::Started(info) => {
                self.steps_per_epoch = info.steps_per_epoch.max(1);
                self.stride = info.total_steps.div_ceil(MAX_STEP_ROWS).max(1);
                figures.params = info.params;
                self.save_meta()?;
            }
            TrainEvent::Step {
                step,
                loss,
                accuracy,
                lr,
                elapsed_ms,
                ..
            } => {
                figures.steps_done = *step;
                figures.elapsed_s = elapsed_ms / 1e3;
                if step % self.stride == 0 {
                    let epoch = *step as f64 / self.steps_per_epoch as f64;
                    self.row(*step, epoch, "train/loss", *loss as f64)?;
                    if let Some(a) = accuracy {
                        self.row(*step, epoch, "train/accuracy", *a as f64)?;
                    }
                    self.row(*step, epoch, "lr", *lr)?;
                }
                if self.last_flush.elapsed() >= FLUSH_EVERY {
                    self.flush()?;
                }
            }
            TrainEvent::Metrics { step, values } if step % self.stride == 0 => {
                let epoch = *step as f64 / self.steps_per_epoch as f64;
                for (name, v) in values {
                    self.row(*step, epoch, &format!("metric/{name}"), *v as f64)?;
                }
            }
            TrainEvent::Epoch(m) => {
                figures.epochs_done = m.epoch;
                figures.steps_done = m.step;
                figures.train_loss = Some(m.train_loss);
                figures.val_loss = m.val.map(|v| v.loss);
                figures.val_accuracy = m.val.and_then(|v| v.accuracy);
                figures.val_r2 = m.val.and_then(|v| v.regression).map(|r| r.r2);
                figures.elapsed_s = m.elapsed_ms / 1e3;
                let (step, epoch) = (m.step, m.epoch as f64);
                self.row(step, epoch, "epoch/train_loss", m.train_loss as f64)?;
                if let Some(a) = m.train_acc {
                    self.row(step, epoch, "epoch/train_accuracy", a as f64)?;
                }
                if let Some(v) = m.val {
                    self.row(step, epoch, "val/loss", v.loss as f64)?;
                    if let Some(a) = v.accuracy {
                        self.row(step, epoch, "val/accuracy", a as f64)?;
                    }
                    self.regression_rows(step, epoch, "val", v.regression)?;
                }
                self.flush()?;
                if self.last_meta.elapsed() >= META_EVERY {
                    self.save_meta()?;
                }
            }
            TrainEvent::Best {
                epoch,
                value,
                weights,
                ..
            } => {
                figures.best_epoch = Some(*epoch);
                figures.best_value = Some(*value);
                weights
                    .save(&self.folder.dir.join(BEST_WEIGHTS))
                    .map_err(|e| {
                        write_error(&self.folder.dir, std::io::Error::other(e.to_string()))
                    })?;
            }
            TrainEvent::EarlyStopped { .. } => {
                self.folder.meta.status = RunStatus::EarlyStopped;
            }
            TrainEvent::Finished {
                test,
                weights,
                elapsed_ms,
            } => {
                figures.test_loss = test.map(|t| t.loss);
                figures.test_accuracy = test.and_then(|t| t.accuracy);
                let regression = test.and_then(|t| t.regression);
                figures.test_r2 = regression.map(|r| r.r2);
                figures.test_rmse = regression.map(|r| r.rmse);
                figures.elapsed_s = elapsed_ms / 1e3;
                let step = figures.steps_done;
                let epoch = figures.epochs_done as f64;
                if let Some(t) = test {
                    self.row(step, epoch, "test/loss", t.loss as f64)?;
                    if let Some(a) = t.accuracy {
                        self.row(step, epoch, "test/accuracy", a as f64)?;
                    }
                    self.regression_rows(step, epoch, "test", t.regression)?;
                }
                if self.folder.meta.status != RunStatus::EarlyStopped {
                    self.folder.meta.status = RunStatus::Finished;
                }
                self.end(Some(weights))?;
            }
            TrainEvent::Stopped { weights, .. } => {
                self.folder.meta.status = RunStatus::Stopped;
                self.end(Some(weights))?;
            }
            TrainEvent::Failed { reason } => {
                self.folder.meta.status = RunStatus::Failed;
                self.folder.meta.reason = Some(reason.clone());
                self.end(None)?;
            }
            TrainEvent::Diverged { step, what, .. } => {
                self.folder.meta.status = RunStatus::Diverged;
                self.folder.meta.reason = Some(format!("diverged at step {step}: {what}"));
                self.end(None)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, weights: Option<&crate::model::Weights>) -> Result<(), RunsError> {
        self.flush()?;
        if let Some(w) = weights {
            w.save(&self.folder.dir.join(LAST_WEIGHTS))
                .map_err(|e| write_error(&self.folder.dir, std::io::Error::other(e.to_string())))?;
        }
        self.folder.meta.ended_unix_s = Some(unix_now_s());
        self.save_meta()
    }
}

impl EventSink for Recorder {
    fn record(&mut self, ev: &TrainEvent) -> Result<(), RecordError> {
        Recorder::record(self, ev).map_err(Into::into)
    }
}

impl RecordTarget for RunFolder {
    fn open(&self) -> Result<Box<dyn EventSink>, RecordError> {
        Ok(Box::new(Recorder::new(self.clone())?))
    }
}
