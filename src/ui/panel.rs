//! Panels: each tab and side panel of the studio is a struct that owns its state and draws
//! itself through one small trait, registered once in `Panels::new`. A panel sees the studio
//! only through `Ctx` — the project, its analysis and the run, read-only — and changes anything
//! outside itself by pushing a `Command`, carried out by `Studio::apply` after the pass. What
//! happened in the studio that a panel keeps track of (a lesson's project opened, a model
//! exported) reaches it as a `StudioEvent`. Modelled on rerun's view classes and egui's demos.

use super::command::Command;
use crate::data::Dataset;
use crate::graph::Analysis;
use crate::insight::ParamHealth;
use crate::project::Project;
use crate::train::RunHistory;
use egui::Ui;
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a panel may read of the studio while it draws, and the queue for what it asks.
pub struct Ctx<'a> {
    pub project: &'a Project,
    /// Where the project was opened from or saved to (None: unsaved).
    pub project_path: Option<&'a Path>,
    pub analysis: &'a Analysis,
    /// The current (or last) run, and the earlier runs kept as overlays.
    pub history: Option<&'a RunHistory>,
    pub past_runs: &'a [RunHistory],
    pub training: bool,
    pub paused: bool,
    /// Trained (or loaded) weights are at hand.
    pub has_weights: bool,
    /// The next run starts from those weights.
    pub continue_training: bool,
    /// How the curves are drawn (persisted with the studio's settings).
    pub chart: ChartPrefs,
    /// The newest gradient health of the run's parameters (empty before the first snapshot).
    pub health: &'a [ParamHealth],
    /// Seconds since the studio started (egui's clock).
    pub now: f64,
    /// This project's runs folder (beside the project, or the fallback folder).
    pub runs_root: Option<PathBuf>,
    /// Runs the studio trains are recorded into run folders.
    pub recording: bool,
    /// The data set the data panel has loaded for this project, if it has.
    pub dataset: Option<Arc<Dataset>>,
    /// The trained (or loaded) weights, when there are.
    pub weights: Option<&'a crate::model::Weights>,
    commands: &'a mut Vec<Command>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        project: &'a Project,
        analysis: &'a Analysis,
        commands: &'a mut Vec<Command>,
    ) -> Self {
        Self {
            project,
            project_path: None,
            analysis,
            history: None,
            past_runs: &[],
            training: false,
            paused: false,
            has_weights: false,
            continue_training: false,
            chart: ChartPrefs::default(),
            health: &[],
            now: 0.0,
            runs_root: None,
            recording: false,
            dataset: None,
            weights: None,
            commands,
        }
    }

    /// The project's folder, where its relative data paths start (None: unsaved).
    pub fn project_dir(&self) -> Option<PathBuf> {
        self.project_path
            .and_then(|p| p.parent().map(Path::to_path_buf))
    }

    /// Asks the studio for a change; carried out after this pass.
    pub fn push(&mut self, cmd: Command) {
        self.commands.push(cmd);
    }

    /// A line in the status bar.
    pub fn notify(&mut self, text: impl Into<String>) {
        self.push(Command::Notify {
            text: text.into(),
            error: false,
        });
    }

    pub fn notify_error(&mut self, text: impl Into<String>) {
        self.push(Command::Notify {
            text: text.into(),
            error: true,
        });
    }
}

/// How training curves are drawn: smoothing, a log loss axis, earlier runs kept faded.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChartPrefs {
    pub smoothing: f32,
    pub log_scale: bool,
    pub keep_overlays: bool,
}

/// Where the studio shows a panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A side panel at the right, shown while the panel is open.
    Right,
    /// A tab of the bottom panel (the studio's `BottomTab` picks which is shown).
    BottomTab,
}

/// Something that happened in the studio that panels may keep track of.
#[derive(Clone, Debug, PartialEq)]
pub enum StudioEvent {
    /// Step `step` of lesson `lesson` opened its project, named `project`.
    LessonOpened {
        lesson: usize,
        step: usize,
        project: String,
    },
    /// A trained model was written out (weights, ONNX, PyTorch, a card).
    Exported,
    /// A run folder was created or a run ended: lists of runs are stale.
    RunsChanged,
    /// The project is being replaced or the window closes: stop background work.
    Closing,
}

/// Lets the registry hand out a panel as its own type (`Panels::get`); every `'static` type
/// has it, so a panel does not implement it by hand.
pub trait AsAny {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// One tab or side panel of the studio.
pub trait Panel: AsAny {
    /// Its name on screen, unique among the panels (`Command::OpenPanel` names it).
    fn name(&self) -> &'static str;
    fn place(&self) -> Place;
    /// Whether it has anything to show for this project (e.g. a GAN view for a GAN).
    fn applies(&self, _project: &Project) -> bool {
        true
    }
    /// Whether a side panel is open now.
    fn is_open(&self) -> bool {
        true
    }
    fn set_open(&mut self, _open: bool) {}
    /// Opens a window of this panel called `name` (e.g. the Runs tab's "Sweep"); false if it
    /// has none.
    fn open_named(&mut self, _name: &str) -> bool {
        false
    }
    fn ui(&mut self, ui: &mut Ui, ctx: &mut Ctx);
    /// Every frame, whether shown or not: take background jobs' results, draw own windows.
    fn frame(&mut self, _egui: &egui::Context, _ctx: &mut Ctx) {}
    /// Keeps track of what happened elsewhere; most panels ignore it.
    fn on_event(&mut self, _ev: &StudioEvent) {}
}

/// Every panel of the studio, in the order they are drawn.
pub struct Panels {
    list: Vec<Box<dyn Panel>>,
}

impl Default for Panels {
    fn default() -> Self {
        Self::new()
    }
}

impl Panels {
    /// The one list of panels: a new panel is a struct implementing `Panel` and a line here.
    pub fn new() -> Self {
        Self {
            list: vec![
                Box::new(super::plots::TrainingPanel::default()),
                Box::new(super::lessons_view::LessonsPanel::default()),
                Box::new(super::experiments::ExperimentsPanel::default()),
                Box::new(super::datamap_view::DataMapPanel::default()),
                Box::new(super::landscape_view::LandscapePanel::default()),
                Box::new(super::serving_view::ServingPanel::default()),
                Box::new(super::projector_view::ProjectorPanel::default()),
            ],
        }
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Panel>> {
        self.list.iter_mut()
    }

    /// The panel of type `T` (each type is registered once).
    pub fn get<T: Panel + 'static>(&self) -> Option<&T> {
        // `(**p)`: the panel itself, not its Box (which is `Any` too).
        self.list
            .iter()
            .find_map(|p| (**p).as_any().downcast_ref::<T>())
    }

    pub fn get_mut<T: Panel + 'static>(&mut self) -> Option<&mut T> {
        self.list
            .iter_mut()
            .find_map(|p| (**p).as_any_mut().downcast_mut::<T>())
    }

    /// Opens (or closes) the panel named `name`, or opens the window of that name a panel
    /// has; false if there is none.
    pub fn set_open(&mut self, name: &str, open: bool) -> bool {
        if let Some(p) = self.list.iter_mut().find(|p| p.name() == name) {
            p.set_open(open);
            return true;
        }
        open && self.list.iter_mut().any(|p| p.open_named(name))
    }

    pub fn broadcast(&mut self, ev: &StudioEvent) {
        for p in &mut self.list {
            p.on_event(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::lessons_view::LessonsPanel;

    #[test]
    fn the_registry_hands_out_panels_by_type_and_name_and_passes_events_on() {
        let mut panels = Panels::new();
        assert!(!panels.get::<LessonsPanel>().expect("registered").show);
        assert!(panels.set_open("Lessons", true));
        assert!(panels.get::<LessonsPanel>().expect("registered").show);
        assert!(!panels.set_open("No such panel", true));
        panels.broadcast(&StudioEvent::Exported);
        assert!(
            panels
                .get_mut::<LessonsPanel>()
                .expect("registered")
                .exported
        );
    }
}
