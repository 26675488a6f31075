//! Repeating a project over seeds 1..=N, one after another, each run recorded into the runs
//! folder as a member of one group (its `sweep` is the group's name and it is tagged
//! `group:<name>`), so the Runs tab draws the group as a mean with a band and `glassbox
//! compare` takes it as one side. Used by `glassbox repeat` and the Runs tab's Repeat button.

use super::folder::{list, RunFolder, RunsError};
use super::RunRecord;
use crate::project::Project;
use crate::train::{TrainEvent, TrainHandle, TrainRequest};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RepeatError {
    #[error(transparent)]
    Runs(#[from] RunsError),
    #[error("cannot start the training thread: {0}")]
    Start(String),
    #[error("seed {seed}: training failed: {reason}")]
    Failed { seed: u64, reason: String },
    #[error("seed {seed}: diverged: {what}")]
    Diverged { seed: u64, what: String },
    #[error("seed {seed}: the run did not finish")]
    Unfinished { seed: u64 },
    #[error("stopped after {done} of {of} seeds")]
    Stopped { done: usize, of: u64 },
    #[error("the run folder of seed {0} was not written")]
    NotWritten(u64),
}

/// What to repeat and where its runs go.
#[derive(Clone, Debug)]
pub struct RepeatSpec {
    pub project: Project,
    /// The project's folder (its relative data paths start there).
    pub project_dir: Option<PathBuf>,
    /// The runs folder.
    pub root: PathBuf,
    pub group: String,
    pub seeds: u64,
}

/// Trains seed 1, 2, …, N in turn; `on_run` hears of each finished run. `stop` ends the
/// current run and the repetition.
pub fn repeat_seeds(
    spec: &RepeatSpec,
    stop: &AtomicBool,
    on_run: &mut dyn FnMut(u64, &RunRecord),
) -> Result<Vec<RunRecord>, RepeatError> {
    let mut records = Vec::new();
    for seed in 1..=spec.seeds.max(1) {
        if stop.load(Ordering::Relaxed) {
            return Err(RepeatError::Stopped {
                done: records.len(),
                of: spec.seeds,
            });
        }
        let mut p = spec.project.clone();
        p.training.seed = seed;
        let group = &spec.group;
        let mut folder = RunFolder::create(&spec.root, &p, &format!("{group} seed {seed}"))?;
        folder.meta.sweep = Some(group.clone());
        folder.meta.tags = vec![format!("group:{group}")];
        folder.write_meta()?;
        let dir = folder.dir.clone();
        let mut req = TrainRequest::new(p);
        req.project_dir = spec.project_dir.clone();
        req.record_to(folder);
        let handle = TrainHandle::spawn(req).map_err(|e| RepeatError::Start(e.to_string()))?;
        let end = handle.wait_or_stop(stop, |_| {});
        match end {
            TrainEvent::Finished { .. } => {}
            TrainEvent::Failed { reason } => return Err(RepeatError::Failed { seed, reason }),
            TrainEvent::Diverged { what, .. } => return Err(RepeatError::Diverged { seed, what }),
            TrainEvent::Stopped { .. } => {
                return Err(RepeatError::Stopped {
                    done: records.len(),
                    of: spec.seeds,
                })
            }
            _ => return Err(RepeatError::Unfinished { seed }),
        }
        let record = list(&spec.root)
            .runs
            .into_iter()
            .find(|r| r.dir == dir)
            .ok_or(RepeatError::NotWritten(seed))?;
        on_run(seed, &record);
        records.push(record);
    }
    Ok(records)
}
