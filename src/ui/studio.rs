//! The studio's state and the one place where commands are carried out.

use super::command::Command;
use super::editor::{same_structure, Editor};
use super::files::{DialogOutcome, FileDialogs, FilePurpose, PathPrompt};
use super::perf::FrameStats;
use super::theme::ThemeChoice;
use crate::graph::{analyze, Analysis};
use crate::model::Weights;
use crate::project::Project;
use crate::train::{RunHistory, RunState, TrainEvent, TrainHandle, TrainRequest};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod deploy;
mod file_ops;
mod run_control;
pub use deploy::{deploy_file_menu_ui, DeployAction, DeployState, ExportKind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Most recent files kept in File ▸ Recent.
const MAX_RECENT: usize = 8;
/// Earlier runs kept as faded overlays.
const MAX_OVERLAYS: usize = 4;
/// Repaints driven by training events are capped at about 30 per second.
const EVENT_REPAINT_MS: u64 = 33;
/// With a software renderer (llvmpipe, lavapipe) a frame costs ~100 ms of CPU, which the
/// training thread needs more: event-driven repaints then come at most 4 times a second.
const SOFTWARE_EVENT_REPAINT_MS: u64 = 250;

/// What persists between sessions (eframe storage).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StudioSettings {
    pub theme: ThemeChoice,
    pub recent: Vec<PathBuf>,
    pub last_project: Option<PathBuf>,
    /// The first-run welcome has been shown.
    pub welcomed: bool,
    pub smoothing: f32,
    pub log_scale: bool,
    pub keep_overlays: bool,
    pub show_perf: bool,
    pub bottom_tab: BottomTab,
}

/// Which view the bottom panel shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BottomTab {
    #[default]
    Training,
    Data,
    Insight,
    DataMap,
    Projector,
    Runs,
}

impl Default for StudioSettings {
    fn default() -> Self {
        Self {
            theme: ThemeChoice::Dark,
            recent: Vec::new(),
            last_project: None,
            welcomed: false,
            smoothing: 0.6,
            // A log axis keeps the first steps' spike from flattening the rest of the curve.
            log_scale: true,
            keep_overlays: true,
            show_perf: true,
            bottom_tab: BottomTab::Training,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub text: String,
    pub error: bool,
    pub at: f64,
}

/// The open project: the file it came from, what was last saved, the canvas and the analysis.
pub struct Document {
    pub project: Project,
    pub path: Option<PathBuf>,
    pub(super) saved: Project,
    pub editor: Editor,
    pub analysis: Analysis,
    /// The graph's ends changed: fit them to the data once the gesture ends.
    pub(super) fit_pending: bool,
}

/// The training run and what runs left behind: its history, earlier runs, the weights.
#[derive(Default)]
pub struct TrainingSession {
    pub run: Option<TrainHandle>,
    pub history: Option<RunHistory>,
    pub past_runs: Vec<RunHistory>,
    /// Weights from the last run (or loaded from a file).
    pub weights: Option<Weights>,
    /// Start the next run from `weights` instead of fresh ones.
    pub continue_training: bool,
}

pub struct Studio {
    pub doc: Document,
    pub settings: StudioSettings,
    pub session: TrainingSession,
    /// The status line, file dialogs, the welcome line, the title and the questions and small
    /// windows over the studio.
    pub chrome: Chrome,
    /// Frame timing, the clock and how often the worker asks for repaints.
    pub(super) frame: FrameClock,
    /// The data panel's loaded data set, preview and load in progress.
    pub data: super::data::DataState,
    /// Snapshots, explanations and evaluations of the current network.
    pub insight: super::insight::InsightState,
    pub(super) commands: Vec<Command>,
    /// What the studio keeps on disk by itself: run folders and the recovery file.
    pub keep: Keeping,
    /// Background exports.
    pub deploy: DeployState,
    /// The panels that own their state (`ui::panel`): lessons, Training and Runs, so far.
    pub panels: super::panel::Panels,
}

/// What the studio keeps on disk by itself.
#[derive(Default)]
pub struct Keeping {
    /// Whether and where runs are recorded (the Runs tab itself is a panel).
    pub runs: super::experiments::RunRecording,
    /// Autosave to the recovery file (None: off, as in tests that do not ask for it).
    pub autosave: Option<super::recovery_view::Autosave>,
}

/// The status line, the file dialogs and path prompt, the welcome line, the window title, and
/// what the studio is asking or showing over the canvas.
pub struct Chrome {
    pub message: Option<Message>,
    pub dialogs: FileDialogs,
    pub prompt: Option<PathPrompt>,
    /// A command that discards the project, waiting for "Discard changes?".
    pub confirm: Option<Command>,
    pub show_shortcuts: bool,
    pub show_about: bool,
    /// (node id, text being typed) of the node being renamed in the inspector.
    pub rename: Option<(String, String)>,
    pub quit_confirmed: bool,
    pub welcome: Option<String>,
    /// The window title last sent.
    pub title: String,
}

impl Default for Chrome {
    fn default() -> Self {
        Self {
            message: None,
            dialogs: FileDialogs::new(true),
            prompt: None,
            confirm: None,
            show_shortcuts: false,
            show_about: false,
            rename: None,
            quit_confirmed: false,
            welcome: None,
            title: String::new(),
        }
    }
}

/// Frame timing, the clock, and the pace of repaints the training thread asks for.
pub(super) struct FrameClock {
    /// The egui context of the last frame, for threads that ask for repaints.
    pub egui: Option<egui::Context>,
    pub perf: FrameStats,
    /// `GLASSBOX_PERF_LOG=1`: print frame timing and run progress to stderr every few seconds.
    pub perf_log: Option<f64>,
    pub created: std::time::Instant,
    /// Delay before an event-driven repaint, shared with the worker's notify callback.
    pub repaint_ms: Arc<AtomicU64>,
    pub software_renderer: bool,
    pub first_step_logged: bool,
    pub runs_started: usize,
    /// egui's clock at this frame, in seconds.
    pub now: f64,
}

/// Whether `new` has an Input or Output node, or a wire into an Output, that `old` lacks.
fn ends_changed(old: &crate::graph::Graph, new: &crate::graph::Graph) -> bool {
    use crate::graph::Layer;
    let is_end = |l: &Layer| matches!(l, Layer::Input { .. } | Layer::Output { .. });
    let new_end = new
        .nodes
        .iter()
        .any(|n| is_end(&n.layer) && old.node(&n.id).is_none());
    let new_wire = new.edges.iter().any(|e| {
        new.node(&e.to)
            .is_some_and(|n| matches!(n.layer, Layer::Output { .. }))
            && !old.edges.contains(e)
    });
    new_end || new_wire
}

impl Studio {
    /// A studio showing `project` (loaded from `path`, if any).
    pub fn new(project: Project, path: Option<PathBuf>, settings: StudioSettings) -> Self {
        let analysis = analyze(&project.graph);
        Self {
            doc: Document {
                editor: Editor::new(&project.graph),
                saved: project.clone(),
                project,
                path,
                analysis,
                fit_pending: false,
            },
            settings,
            session: TrainingSession::default(),
            chrome: Chrome::default(),
            data: Default::default(),
            insight: {
                let mut i = super::insight::InsightState::default();
                i.reset();
                i
            },
            commands: Vec::new(),
            frame: FrameClock {
                egui: None,
                perf: FrameStats::default(),
                perf_log: std::env::var_os("GLASSBOX_PERF_LOG").map(|_| 0.0),
                created: std::time::Instant::now(),
                repaint_ms: Arc::new(AtomicU64::new(EVENT_REPAINT_MS)),
                software_renderer: false,
                first_step_logged: false,
                runs_started: 0,
                now: 0.0,
            },
            keep: Keeping::default(),
            deploy: DeployState::default(),
            panels: Default::default(),
        }
    }

    /// What the app opens with: the path given, else the last project, else (first run) the CNN
    /// preset with a welcome line.
    pub fn startup(path: Option<PathBuf>, settings: StudioSettings) -> Self {
        let mut studio = Self::open_at_start(path, settings);
        if let Some(dir) = crate::recovery::RecoveryFile::default_dir() {
            studio.keep.runs.record = true;
            studio.keep.runs.fallback_dir = Some(dir.clone());
            studio.enable_autosave(crate::recovery::RecoveryFile::new(dir));
        }
        studio
    }

    fn open_at_start(path: Option<PathBuf>, mut settings: StudioSettings) -> Self {
        let candidates = path
            .clone()
            .into_iter()
            .chain(settings.last_project.clone());
        let mut failed = None;
        for p in candidates {
            match Project::load(&p) {
                // A preset opens as an untitled copy, so saving never overwrites it.
                Ok(project) => {
                    let keep =
                        !p.starts_with(crate::fsutil::presets_dir()) && !p.starts_with("presets");
                    let project = if keep {
                        project
                    } else {
                        crate::presets::laid_out(project)
                    };
                    return Self::new(project, keep.then_some(p), settings);
                }
                Err(e) => failed = Some(e.to_string()),
            }
        }
        let first_run = !settings.welcomed;
        settings.welcomed = true;
        let (project, preset_path) = match crate::presets::load("cnn-mnist") {
            Ok(p) => (crate::presets::laid_out(p), None),
            Err(e) => {
                failed.get_or_insert(e.to_string());
                (Project::default(), None)
            }
        };
        let mut studio = Self::new(project, preset_path, settings);
        if first_run {
            studio.chrome.welcome = Some(
                "Welcome to Glassbox! This network reads handwritten digits. Press ▶ Train below and watch it learn."
                    .into(),
            );
        }
        if let Some(e) = failed {
            studio.notify_error(e);
        }
        studio
    }

    /// The project as last saved (or opened).
    pub(crate) fn saved_project(&self) -> &Project {
        &self.doc.saved
    }

    pub fn is_dirty(&self) -> bool {
        self.doc.project != self.doc.saved
    }

    pub fn is_training(&self) -> bool {
        self.session.run.is_some()
    }

    pub fn run_state(&self) -> Option<&RunState> {
        self.session.history.as_ref().map(|h| &h.state)
    }

    /// Points in the current run's loss curve as last drawn.
    pub fn plot_cache_points(&self) -> usize {
        self.panels
            .get::<super::plots::TrainingPanel>()
            .map_or(0, |p| p.loss_points())
    }

    pub fn push(&mut self, cmd: Command) {
        self.commands.push(cmd);
    }

    pub fn notify(&mut self, text: impl Into<String>) {
        self.chrome.message = Some(Message {
            text: text.into(),
            error: false,
            at: self.frame.now,
        });
    }

    pub fn notify_error(&mut self, text: impl Into<String>) {
        self.chrome.message = Some(Message {
            text: text.into(),
            error: true,
            at: self.frame.now,
        });
    }

    pub fn window_title(&self) -> String {
        let file = self
            .doc
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "unsaved".into());
        let dot = if self.is_dirty() { " •" } else { "" };
        format!("{} ({file}){dot} — Glassbox", self.doc.project.name)
    }

    /// Keeps the project's graph and the analysis in step with the canvas; commits undo steps
    /// between gestures.
    pub(super) fn sync_graph(&mut self, gesture_in_progress: bool) {
        let graph = self.doc.editor.graph();
        if self.is_training() && !same_structure(&graph, &self.doc.project.graph) {
            // The run's graph is fixed: put the canvas back as it was.
            self.doc.editor.snarl = super::editor::snarl_from_graph(&self.doc.project.graph);
            self.notify_error("Stop the training run before editing the graph");
            return;
        }
        if !same_structure(&graph, &self.doc.project.graph) {
            self.doc.analysis = analyze(&graph);
            self.doc.fit_pending |= ends_changed(&self.doc.project.graph, &graph);
        }
        self.doc.project.graph = graph;
        if !gesture_in_progress {
            self.doc.editor.commit_if_changed();
            // A new Input or Output, or a new wire into the Output: the ends follow the data
            // (its own undo step, announced in the status line).
            if std::mem::take(&mut self.doc.fit_pending) {
                self.fit_graph_to_data();
                self.doc.project.graph = self.doc.editor.graph();
                self.doc.analysis = analyze(&self.doc.project.graph);
            }
        }
    }

    /// Stops a run and waits for its thread (window closing).
    pub fn shutdown(&mut self) {
        self.panels.broadcast(&super::panel::StudioEvent::Closing);
        if let Some(h) = self.session.run.take() {
            h.stop_and_join();
            if let Some(hist) = &mut self.session.history {
                hist.state = RunState::Stopped;
            }
        }
    }

    pub(super) fn set_time(&mut self, now: f64) {
        self.frame.now = now;
    }

    /// Says whether frames are drawn on the CPU, which makes event-driven repaints rarer.
    pub fn set_software_renderer(&mut self, software: bool) {
        self.frame.software_renderer = software;
        let ms = if software {
            SOFTWARE_EVENT_REPAINT_MS
        } else {
            EVENT_REPAINT_MS
        };
        self.frame.repaint_ms.store(ms, Ordering::Relaxed);
    }

    /// With `GLASSBOX_PERF_LOG` set, prints UI pass percentiles, fps and training speed.
    pub(super) fn perf_log(&mut self) {
        let Some(last) = self.frame.perf_log else {
            return;
        };
        if self.frame.now - last < 5.0 {
            return;
        }
        self.frame.perf_log = Some(self.frame.now);
        let (p50, p95) = (
            self.frame.perf.p50_ms().unwrap_or(0.0),
            self.frame.perf.p95_ms().unwrap_or(0.0),
        );
        let run = self.session.history.as_ref().map_or(String::new(), |h| {
            format!(
                " | run {} step {} samples/s {:.0} elapsed {:.1}s",
                h.state.label(),
                h.step,
                h.samples_per_sec().unwrap_or(0.0),
                h.elapsed_ms / 1e3
            )
        });
        eprintln!(
            "perf t={:.1}s ui_pass_p50={p50:.2}ms ui_pass_p95={p95:.2}ms software_renderer={} repaint_after={}ms fps={:.1} frames={}{run}",
            self.frame.now,
            self.frame.software_renderer,
            self.frame.repaint_ms.load(Ordering::Relaxed),
            self.frame.perf.fps(),
            self.frame.perf.samples()
        );
    }

    /// The frame clock (egui's input time), in seconds.
    pub fn time(&self) -> f64 {
        self.frame.now
    }

    pub(super) fn update_title(&mut self, ctx: &egui::Context) {
        let title = self.window_title();
        if title != self.chrome.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.chrome.title = title;
        }
    }

    /// Carries out the queued commands. `ctx` is used for repaint requests and window commands.
    pub fn apply_commands(&mut self, ctx: &egui::Context) {
        let cmds = std::mem::take(&mut self.commands);
        for cmd in cmds {
            if cmd.discards_project()
                && self.is_dirty()
                && self.chrome.confirm.is_none()
                && !self.chrome.quit_confirmed
            {
                self.chrome.confirm = Some(cmd);
                continue;
            }
            self.apply(cmd, ctx);
        }
    }

    /// Answers the unsaved-changes question: save first (true) or discard (false).
    pub(super) fn resolve_confirm(&mut self, save_first: bool, ctx: &egui::Context) {
        let Some(cmd) = self.chrome.confirm.take() else {
            return;
        };
        if save_first {
            match self.doc.path.clone() {
                Some(p) => self.save_to(p),
                None => {
                    self.ask_file(FilePurpose::SaveProjectAs);
                    return;
                }
            }
            if self.is_dirty() {
                return; // the save failed; its error is showing
            }
        }
        if cmd == Command::Quit {
            self.chrome.quit_confirmed = true;
        }
        // Discarding: make the project count as saved so the command goes through.
        self.doc.saved = self.doc.project.clone();
        self.apply(cmd, ctx);
    }

    pub(super) fn cancel_confirm(&mut self) {
        self.chrome.confirm = None;
    }

    pub fn close_requested(&mut self) -> bool {
        if self.is_dirty() && !self.chrome.quit_confirmed {
            self.chrome.confirm = Some(Command::Quit);
            false
        } else {
            true
        }
    }

    fn apply(&mut self, cmd: Command, ctx: &egui::Context) {
        let editing_locked = self.is_training();
        let edits = matches!(
            cmd,
            Command::Undo
                | Command::Redo
                | Command::Delete
                | Command::Duplicate
                | Command::Paste
                | Command::Tidy
                | Command::AddNode(_)
        );
        if editing_locked && edits {
            self.notify_error("Stop the training run before editing the graph");
            return;
        }
        match cmd {
            Command::New => {
                self.open_project(Project::default(), None);
                self.notify("New project: drag layers from the palette onto the canvas");
            }
            Command::OpenDialog => self.ask_file(FilePurpose::OpenProject),
            Command::Open(path) => match Project::load_reporting(&path) {
                Ok((p, unknown)) => {
                    let in_presets = path.starts_with(crate::fsutil::presets_dir());
                    let p = if in_presets {
                        crate::presets::laid_out(p)
                    } else {
                        p
                    };
                    self.open_project(p, (!in_presets).then(|| path.clone()));
                    if !in_presets {
                        self.remember(&path);
                    }
                    match Project::unknown_keys_note(&path, &unknown) {
                        Some(note) => self.notify_error(note),
                        None => self.notify(format!("Opened {}", path.display())),
                    }
                }
                Err(e) => self.notify_error(e.to_string()),
            },
            Command::Save => match self.doc.path.clone() {
                Some(p) => self.save_to(p),
                None => self.ask_file(FilePurpose::SaveProjectAs),
            },
            Command::SaveAsDialog => self.ask_file(FilePurpose::SaveProjectAs),
            Command::SaveAs(mut path) => {
                if path.extension().is_none() {
                    path.set_extension("json");
                }
                self.save_to(path);
                if self.chrome.confirm.is_some() && !self.is_dirty() {
                    self.resolve_confirm(false, ctx);
                }
            }
            Command::SaveWeights => match (&self.session.weights, self.weights_path()) {
                (None, _) => self.notify_error("No trained weights yet: train the network first"),
                (Some(_), None) => {
                    self.notify_error("Save the project first; its weights are saved beside it")
                }
                (Some(w), Some(p)) => match w.save(&p) {
                    Ok(()) => self.notify(format!("Saved weights to {}", p.display())),
                    Err(e) => self.notify_error(e.to_string()),
                },
            },
            Command::LoadWeightsDialog => match self.weights_path().filter(|p| p.exists()) {
                Some(p) => self.apply(Command::LoadWeights(p), ctx),
                None => self.ask_file(FilePurpose::LoadWeights),
            },
            Command::LoadWeights(path) => match Weights::load(&path) {
                Ok(w) => match crate::model::Model::build(&self.doc.project.graph, 0)
                    .map_err(|e| e.to_string())
                    .and_then(|m| m.load_weights(&w).map_err(|e| e.to_string()))
                {
                    Ok(()) => {
                        self.session.weights = Some(w);
                        self.session.continue_training = true;
                        self.notify(format!(
                            "Loaded weights from {}; the next run continues from them",
                            path.display()
                        ));
                    }
                    Err(e) => self.notify_error(e),
                },
                Err(e) => self.notify_error(e.to_string()),
            },
            Command::Undo => {
                if !self.doc.editor.undo() {
                    self.notify("Nothing to undo");
                }
            }
            Command::Redo => {
                if !self.doc.editor.redo() {
                    self.notify("Nothing to redo");
                }
            }
            Command::Delete => {
                let ids = self.doc.editor.selection(ctx);
                self.doc.editor.delete(&ids);
            }
            Command::Duplicate => {
                let ids = self.doc.editor.selection(ctx);
                self.doc.editor.duplicate(&ids);
            }
            Command::Copy => {
                let ids = self.doc.editor.selection(ctx);
                self.doc.editor.copy(&ids);
            }
            Command::Paste => {
                self.doc.editor.paste();
            }
            Command::Tidy => self.doc.editor.tidy(),
            Command::AddNode(kind) => {
                self.doc.editor.add_node(kind, None);
                self.doc.fit_pending |= matches!(
                    kind,
                    crate::graph::LayerKind::Input | crate::graph::LayerKind::Output
                );
            }
            Command::Train => self.start_training(ctx),
            Command::TogglePause => {
                if let Some(h) = &self.session.run {
                    let paused = !h.is_paused();
                    h.set_paused(paused);
                    if let Some(hist) = &mut self.session.history {
                        hist.set_paused(paused);
                    }
                }
            }
            Command::Stop => {
                if let Some(h) = &self.session.run {
                    h.stop();
                }
            }
            Command::SetTheme(t) => {
                self.settings.theme = t;
                t.apply(ctx);
            }
            Command::ShowShortcuts => self.chrome.show_shortcuts = true,
            Command::ShowAbout => self.chrome.show_about = true,
            Command::Deploy(action) => self.apply_deploy(action),
            Command::OpenRun(run) => self.open_run(&run),
            Command::SetLearningRate(lr) => {
                self.doc.project.training.lr = lr;
                self.notify(format!("Learning rate set to {lr:.2e}"));
            }
            Command::ShowTab(tab) => self.settings.bottom_tab = tab,
            Command::SetChartPrefs(p) => {
                self.settings.smoothing = p.smoothing;
                self.settings.log_scale = p.log_scale;
                self.settings.keep_overlays = p.keep_overlays;
            }
            Command::SetContinueTraining(on) => self.session.continue_training = on,
            Command::SetSampleEdits(edits) => self.doc.project.data.edits = edits,
            Command::Notify { text, error } => {
                if error {
                    self.notify_error(text)
                } else {
                    self.notify(text)
                }
            }
            Command::OpenLesson(lesson, step) => self.open_lesson_step(lesson, step),
            Command::OpenPanel(name) => {
                if !self.panels.set_open(name, true) {
                    self.notify_error(format!("There is no panel named {name}"));
                }
            }
            Command::Quit => {
                self.chrome.quit_confirmed = true;
                self.shutdown();
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
        self.doc.project.graph = self.doc.editor.graph();
        self.doc.analysis = analyze(&self.doc.project.graph);
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        self.shutdown();
    }
}
