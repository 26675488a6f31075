//! The studio's experiments: recording runs, the Runs tab (list, compare), sweeps and the LR
//! finder on background threads, and chart export. The engine side is `crate::runs`.

mod chart_export;
mod compare_view;
mod early_stopping_view;
mod lr_finder_view;
mod runs_view;
mod sweep_view;

pub use chart_export::{export_button_ui, export_chart_ui, save_chart};
pub use early_stopping_view::early_stopping_ui;
pub use lr_finder_view::lr_finder_window_ui;
pub use runs_view::runs_panel_ui;
pub use sweep_view::{sweep_window_ui, SweepForm};

use super::Studio;
use crate::runs::lr_finder::LrCurve;
use crate::runs::sweep::{SweepEvent, Trial};
use crate::runs::{Listing, Scalars, XAxis};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

/// How the Runs list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    Newest,
    ValAccuracy,
    ValLoss,
    TestAccuracy,
}

impl SortKey {
    pub const ALL: [SortKey; 4] = [
        SortKey::Newest,
        SortKey::ValAccuracy,
        SortKey::ValLoss,
        SortKey::TestAccuracy,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            SortKey::Newest => "newest first",
            SortKey::ValAccuracy => "best validation accuracy",
            SortKey::ValLoss => "lowest validation loss",
            SortKey::TestAccuracy => "best test accuracy",
        }
    }
}

/// A sweep running on its own thread.
pub struct SweepJob {
    pub rx: Receiver<SweepMsg>,
    pub stop: Arc<AtomicBool>,
    pub name: String,
    pub trials: Vec<Trial>,
    /// (trial index, trials planned, step, steps planned) of the running trial.
    pub progress: Option<(usize, usize, usize, usize)>,
    pub done: Option<Result<(), String>>,
}

pub enum SweepMsg {
    Event(SweepEvent),
    Done(Result<crate::runs::sweep::SweepReport, String>),
}

/// The LR finder running on its own thread, or its result.
pub struct LrJob {
    pub rx: Option<Receiver<Result<LrCurve, String>>>,
    pub control: Arc<crate::train::Control>,
    pub curve: Option<LrCurve>,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct ExperimentsState {
    /// Record every studio run into a run folder (off in tests unless asked for).
    pub record: bool,
    /// Where unsaved projects keep their runs.
    pub fallback_dir: Option<PathBuf>,
    pub listing: Listing,
    listed_root: Option<PathBuf>,
    listed_at: f64,
    pub filter: String,
    pub sort: SortKey,
    /// Run ids ticked for comparison.
    pub selected: BTreeSet<String>,
    pub axis: XAxis,
    /// Which figure the comparison overlays (`val/loss`, `train/loss`, …).
    pub compare_tag: String,
    scalars: HashMap<String, (f64, Scalars)>,
    /// Each run's project.json (it never changes once written).
    projects: HashMap<String, Result<crate::project::Project, String>>,
    /// Run id whose notes are being edited, and the text.
    pub editing: Option<(String, String, String)>,
    pub sweep_form: SweepForm,
    pub show_sweep: bool,
    pub sweep: Option<SweepJob>,
    pub show_lr: bool,
    pub lr: Option<LrJob>,
}

/// Re-list at most this often while the Runs tab shows a live run.
const RELIST_EVERY_S: f64 = 2.0;

impl Studio {
    /// This project's runs folder: beside a saved project, else under the fallback folder
    /// (the temporary folder when none is set).
    pub fn runs_root(&self) -> Option<PathBuf> {
        let fallback = self
            .experiments
            .fallback_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let path = self
            .path
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or(p.clone()));
        Some(crate::runs::runs_dir(
            path.as_deref(),
            &self.project.name,
            &fallback,
        ))
    }

    /// A new run folder for the run about to start, when recording is on.
    pub(super) fn record_folder(&mut self) -> Option<crate::runs::RunFolder> {
        if !self.experiments.record {
            return None;
        }
        let root = self.runs_root()?;
        let label = format!(
            "{} {} lr={}",
            self.project.name,
            self.project.training.optimizer.name(),
            self.project.training.lr
        );
        match crate::runs::RunFolder::create(&root, &self.project, &label) {
            Ok(f) => {
                self.experiments.listed_root = None;
                Some(f)
            }
            Err(e) => {
                self.notify_error(format!("This run is not recorded: {e}"));
                None
            }
        }
    }

    /// Lists the runs again if the folder changed, the list is stale, or `force`.
    pub fn refresh_runs(&mut self, force: bool) {
        let Some(root) = self.runs_root() else { return };
        let live = self.is_training() || self.experiments.sweep.is_some();
        let stale = live && self.now - self.experiments.listed_at >= RELIST_EVERY_S;
        if !force && !stale && self.experiments.listed_root.as_ref() == Some(&root) {
            return;
        }
        let before = self.experiments.listing.skipped.clone();
        self.experiments.listing = crate::runs::list(&root);
        self.experiments.listed_root = Some(root);
        self.experiments.listed_at = self.now;
        let skipped = &self.experiments.listing.skipped;
        if !skipped.is_empty() && *skipped != before {
            let text = skipped.join("; ");
            self.notify_error(text);
        }
    }

    /// The figures of run `id`, read from its folder (again every few seconds while it runs).
    pub(super) fn run_scalars(&mut self, id: &str) -> Option<&Scalars> {
        let run = self.experiments.listing.runs.iter().find(|r| r.id == id)?;
        let running = run.meta.status == crate::runs::RunStatus::Running && !run.incomplete;
        let dir = run.dir.clone();
        let now = self.now;
        let fresh = self
            .experiments
            .scalars
            .get(id)
            .is_some_and(|(at, _)| !running || now - at < RELIST_EVERY_S);
        if !fresh {
            let s = Scalars::load(&dir).unwrap_or_default();
            self.experiments.scalars.insert(id.to_string(), (now, s));
        }
        self.experiments.scalars.get(id).map(|(_, s)| s)
    }

    /// Run `id`'s project, read once from its folder.
    pub(super) fn run_project(&mut self, id: &str) -> Result<crate::project::Project, String> {
        if let Some(p) = self.experiments.projects.get(id) {
            return p.clone();
        }
        let Some(run) = self.experiments.listing.runs.iter().find(|r| r.id == id) else {
            return Err(format!("there is no run {id}"));
        };
        let p = run.project().map_err(|e| e.to_string());
        self.experiments.projects.insert(id.to_string(), p.clone());
        p
    }

    /// Opens a recorded run: its project, with its best (or last) weights loaded.
    pub(super) fn open_run(&mut self, id: &str) {
        let Some(run) = self
            .experiments
            .listing
            .runs
            .iter()
            .find(|r| r.id == id)
            .cloned()
        else {
            return;
        };
        let project = match run.project() {
            Ok(p) => p,
            Err(e) => return self.notify_error(e.to_string()),
        };
        let path = self.path.clone();
        let saved = self.saved_project().clone();
        self.open_recovered(project, path, saved);
        match run.weights_path().map(|p| crate::model::Weights::load(&p)) {
            Some(Ok(w)) => {
                self.insight.new_weights(w.clone());
                self.weights = Some(w);
                self.notify(format!(
                    "Opened run {} with its weights; save to keep its settings",
                    run.id
                ));
            }
            Some(Err(e)) => self.notify_error(format!("Opened run {}, but {e}", run.id)),
            None => self.notify(format!("Opened run {} (it saved no weights)", run.id)),
        }
    }

    /// Takes the sweep's and LR finder's messages; called every frame.
    pub fn poll_experiments(&mut self) {
        let mut ended = false;
        if let Some(job) = &mut self.experiments.sweep {
            while let Ok(msg) = job.rx.try_recv() {
                match msg {
                    SweepMsg::Event(SweepEvent::TrialStarted { index, total, .. }) => {
                        job.progress = Some((index, total, 0, 0));
                        ended = true;
                    }
                    SweepMsg::Event(SweepEvent::Train(crate::train::TrainEvent::Started(i))) => {
                        if let Some(p) = &mut job.progress {
                            p.3 = i.total_steps;
                        }
                    }
                    SweepMsg::Event(SweepEvent::Train(crate::train::TrainEvent::Step {
                        step,
                        ..
                    })) => {
                        if let Some(p) = &mut job.progress {
                            p.2 = step;
                        }
                    }
                    SweepMsg::Event(SweepEvent::TrialEnded(t)) => {
                        job.trials.push(t);
                        ended = true;
                    }
                    SweepMsg::Event(SweepEvent::Train(_)) => {}
                    SweepMsg::Done(r) => {
                        job.done = Some(r.map(|_| ()));
                        job.progress = None;
                        ended = true;
                    }
                }
            }
        }
        if ended {
            self.refresh_runs(true);
        }
        if let Some(job) = &mut self.experiments.lr {
            if let Some(rx) = &job.rx {
                if let Ok(r) = rx.try_recv() {
                    job.rx = None;
                    match r {
                        Ok(c) => job.curve = Some(c),
                        Err(e) => job.error = Some(e),
                    }
                }
            }
        }
        let busy = self
            .experiments
            .sweep
            .as_ref()
            .is_some_and(|j| j.done.is_none())
            || self.experiments.lr.as_ref().is_some_and(|j| j.rx.is_some());
        if busy {
            if let Some(ctx) = &self.ctx {
                ctx.request_repaint_after(std::time::Duration::from_millis(200));
            }
        }
    }

    /// Stops background experiment threads (window closing).
    pub fn stop_experiments(&mut self) {
        if let Some(job) = &self.experiments.sweep {
            job.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(job) = &self.experiments.lr {
            job.control
                .stop
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
