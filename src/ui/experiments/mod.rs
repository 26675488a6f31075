//! The studio's experiments: recording runs, the Runs tab (list, compare), sweeps and the LR
//! finder on background threads, and chart export. The engine side is `crate::runs`.

mod chart_export;
mod compare_view;
mod early_stopping_view;
mod lr_finder_view;
mod repeat_view;
mod runs_view;
mod sweep_view;

pub use chart_export::{export_button_ui, panel_save_chart, save_chart, write_chart};
pub use early_stopping_view::early_stopping_ui;
pub use sweep_view::SweepForm;

use super::command::Command;
use super::panel::{Ctx, Panel, Place, StudioEvent};
use super::Studio;
use crate::runs::lr_finder::LrCurve;
use crate::runs::sweep::{SweepEvent, Trial};
use crate::runs::{Listing, RunRecord, Scalars, XAxis};
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

/// Whether and where the studio records its runs (settings of the session, read by
/// `Studio::record_folder` when a run starts).
#[derive(Default)]
pub struct RunRecording {
    /// Record every studio run into a run folder (off in tests unless asked for).
    pub record: bool,
    /// Where unsaved projects keep their runs.
    pub fallback_dir: Option<PathBuf>,
}

/// The Runs tab and its Sweep and LR-finder windows: the listing, the comparison, the sweep
/// form and the background jobs, all its own.
#[derive(Default)]
pub struct ExperimentsPanel {
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
    /// Draw each ticked run on its own even when runs share a group.
    pub single_runs: bool,
    /// The groups the last comparison drew as a band: (group, runs in it).
    pub drawn_bands: Vec<(String, usize)>,
    /// Seeds the Repeat button trains (at least 2), and its job.
    pub repeat_seeds: u64,
    pub repeat: Option<repeat_view::RepeatJob>,
}

/// Re-list at most this often while the Runs tab shows a live run.
const RELIST_EVERY_S: f64 = 2.0;

impl Studio {
    /// This project's runs folder: beside a saved project, else under the fallback folder
    /// (the temporary folder when none is set).
    pub fn runs_root(&self) -> Option<PathBuf> {
        let fallback = self
            .keep
            .runs
            .fallback_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let path = self
            .doc
            .path
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or(p.clone()));
        Some(crate::runs::runs_dir(
            path.as_deref(),
            &self.doc.project.name,
            &fallback,
        ))
    }

    /// A new run folder for the run about to start, when recording is on.
    pub(super) fn record_folder(&mut self) -> Option<crate::runs::RunFolder> {
        if !self.keep.runs.record {
            return None;
        }
        let root = self.runs_root()?;
        let label = format!(
            "{} {} lr={}",
            self.doc.project.name,
            self.doc.project.training.optimizer.name(),
            self.doc.project.training.lr
        );
        match crate::runs::RunFolder::create(&root, &self.doc.project, &label) {
            Ok(f) => {
                self.panels.broadcast(&StudioEvent::RunsChanged);
                Some(f)
            }
            Err(e) => {
                self.notify_error(format!("This run is not recorded: {e}"));
                None
            }
        }
    }

    /// Opens a recorded run: its project, with its best (or last) weights loaded.
    pub(super) fn open_run(&mut self, run: &RunRecord) {
        let project = match run.project() {
            Ok(p) => p,
            Err(e) => return self.notify_error(e.to_string()),
        };
        let path = self.doc.path.clone();
        let saved = self.saved_project().clone();
        self.open_recovered(project, path, saved);
        match run.weights_path().map(|p| crate::model::Weights::load(&p)) {
            Some(Ok(w)) => {
                self.insight.new_weights(w.clone());
                self.session.weights = Some(w);
                self.notify(format!(
                    "Opened run {} with its weights; save to keep its settings",
                    run.id
                ));
            }
            Some(Err(e)) => self.notify_error(format!("Opened run {}, but {e}", run.id)),
            None => self.notify(format!("Opened run {} (it saved no weights)", run.id)),
        }
    }
}

impl ExperimentsPanel {
    /// Lists the runs again if the folder changed, the list is stale, or `force`.
    pub fn refresh_runs(&mut self, ctx: &mut Ctx, force: bool) {
        let Some(root) = ctx.runs_root.clone() else {
            return;
        };
        let live = ctx.training || self.sweep.as_ref().is_some_and(|j| j.done.is_none());
        let stale = live && ctx.now - self.listed_at >= RELIST_EVERY_S;
        if !force && !stale && self.listed_root.as_ref() == Some(&root) {
            return;
        }
        let before = self.listing.skipped.clone();
        self.listing = crate::runs::list(&root);
        self.listed_root = Some(root);
        self.listed_at = ctx.now;
        let skipped = &self.listing.skipped;
        if !skipped.is_empty() && *skipped != before {
            ctx.notify_error(skipped.join("; "));
        }
    }

    /// The figures of run `id`, read from its folder (again every few seconds while it runs).
    pub(super) fn run_scalars(&mut self, id: &str, now: f64) -> Option<&Scalars> {
        let run = self.listing.runs.iter().find(|r| r.id == id)?;
        let running = run.meta.status == crate::runs::RunStatus::Running && !run.incomplete;
        let dir = run.dir.clone();
        let fresh = self
            .scalars
            .get(id)
            .is_some_and(|(at, _)| !running || now - at < RELIST_EVERY_S);
        if !fresh {
            let s = Scalars::load(&dir).unwrap_or_default();
            self.scalars.insert(id.to_string(), (now, s));
        }
        self.scalars.get(id).map(|(_, s)| s)
    }

    /// Run `id`'s project, read once from its folder.
    pub(super) fn run_project(&mut self, id: &str) -> Result<crate::project::Project, String> {
        if let Some(p) = self.projects.get(id) {
            return p.clone();
        }
        let Some(run) = self.listing.runs.iter().find(|r| r.id == id) else {
            return Err(format!("there is no run {id}"));
        };
        let p = run.project().map_err(|e| e.to_string());
        self.projects.insert(id.to_string(), p.clone());
        p
    }

    /// Asks the studio to open run `id` of the listing (listed again first if it is new).
    pub(super) fn open_run(&mut self, ctx: &mut Ctx, id: &str) {
        if !self.listing.runs.iter().any(|r| r.id == id) {
            self.refresh_runs(ctx, true);
        }
        match self.listing.runs.iter().find(|r| r.id == id) {
            Some(run) => ctx.push(Command::OpenRun(Box::new(run.clone()))),
            None => ctx.notify_error(format!("There is no run {id} any more")),
        }
    }

    /// Takes the sweep's and LR finder's messages.
    fn poll(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        let mut ended = false;
        if let Some(job) = &mut self.sweep {
            while let Ok(msg) = job.rx.try_recv() {
                ended |= job.take(msg);
            }
        }
        if ended {
            self.refresh_runs(ctx, true);
        }
        if let Some(job) = &mut self.lr {
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
        let busy = self.sweep.as_ref().is_some_and(|j| j.done.is_none())
            || self.lr.as_ref().is_some_and(|j| j.rx.is_some());
        if busy {
            egui.request_repaint_after(std::time::Duration::from_millis(200));
        }
    }

    /// Stops background experiment threads (another project opens, the window closes).
    fn stop(&mut self) {
        if let Some(job) = &self.repeat {
            job.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(job) = &self.sweep {
            job.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(job) = &self.lr {
            job.control
                .stop
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl SweepJob {
    /// Takes one message; true when a trial started or ended or the sweep finished.
    fn take(&mut self, msg: SweepMsg) -> bool {
        match msg {
            SweepMsg::Event(SweepEvent::TrialStarted { index, total, .. }) => {
                self.progress = Some((index, total, 0, 0));
                true
            }
            SweepMsg::Event(SweepEvent::Train(crate::train::TrainEvent::Started(i))) => {
                if let Some(p) = &mut self.progress {
                    p.3 = i.total_steps;
                }
                false
            }
            SweepMsg::Event(SweepEvent::Train(crate::train::TrainEvent::Step { step, .. })) => {
                if let Some(p) = &mut self.progress {
                    p.2 = step;
                }
                false
            }
            SweepMsg::Event(SweepEvent::TrialEnded(t)) => {
                self.trials.push(t);
                true
            }
            SweepMsg::Event(SweepEvent::Train(_)) => false,
            SweepMsg::Done(r) => {
                self.done = Some(r.map(|_| ()));
                self.progress = None;
                true
            }
        }
    }
}

impl Panel for ExperimentsPanel {
    fn name(&self) -> &'static str {
        "Runs"
    }

    fn place(&self) -> Place {
        Place::BottomTab
    }

    fn open_named(&mut self, name: &str) -> bool {
        match name {
            "Sweep" => self.show_sweep = true,
            "Find learning rate" => self.show_lr = true,
            _ => return false,
        }
        true
    }

    fn ui(&mut self, ui: &mut egui::Ui, ctx: &mut Ctx) {
        self.runs_ui(ui, ctx);
    }

    fn frame(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        self.poll(egui, ctx);
        self.poll_repeat(ctx);
        if self.repeat.is_some() {
            egui.request_repaint_after(std::time::Duration::from_millis(200));
        }
        self.sweep_window_ui(egui, ctx);
        self.lr_finder_window_ui(egui, ctx);
    }

    fn on_event(&mut self, ev: &StudioEvent) {
        match ev {
            StudioEvent::RunsChanged => self.listed_root = None,
            StudioEvent::Closing => self.stop(),
            _ => {}
        }
    }
}
