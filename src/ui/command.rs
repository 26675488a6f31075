//! Everything the UI can ask for. Views push commands; `Studio::apply` carries them out in one
//! place after the frame's UI pass.

use super::theme::ThemeChoice;
use crate::graph::LayerKind;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    New,
    /// Ask for a project to open (native dialog, or the in-app path field).
    OpenDialog,
    Open(PathBuf),
    Save,
    SaveAsDialog,
    SaveAs(PathBuf),
    SaveWeights,
    LoadWeightsDialog,
    LoadWeights(PathBuf),
    Undo,
    Redo,
    Delete,
    Duplicate,
    Copy,
    Paste,
    Tidy,
    AddNode(LayerKind),
    Train,
    TogglePause,
    Stop,
    SetTheme(ThemeChoice),
    ShowShortcuts,
    ShowAbout,
    Quit,
    /// Open a lesson step's project (lesson index, step index).
    OpenLesson(usize, usize),
    /// Show a side panel (by its `Panel::name`).
    OpenPanel(&'static str),
    /// Open a recorded run's project and weights.
    OpenRun(Box<crate::runs::RunRecord>),
    /// Set the project's learning rate (the LR finder's suggestion).
    SetLearningRate(f64),
    /// Show a tab of the bottom panel.
    ShowTab(super::studio::BottomTab),
    /// A line in the status bar.
    Notify {
        text: String,
        error: bool,
    },
    /// How the training curves are drawn.
    SetChartPrefs(super::panel::ChartPrefs),
    /// Start the next run from the trained weights (or fresh).
    SetContinueTraining(bool),
    /// Samples kept out of training or relabelled (the data map's edits), as a whole.
    SetSampleEdits(crate::data::SampleEdits),
    /// Export, import, transfer and serve (see `studio::deploy`).
    Deploy(super::studio::DeployAction),
}

impl Command {
    /// Commands that throw away the open project and so ask about unsaved changes first.
    pub fn discards_project(&self) -> bool {
        matches!(
            self,
            Command::New
                | Command::Open(_)
                | Command::OpenRun(_)
                | Command::OpenLesson(..)
                | Command::Quit
                | Command::Deploy(super::studio::DeployAction::ImportOnnx(_))
        )
    }
}

/// Keyboard shortcuts, listed in Help ▸ Shortcuts.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Ctrl+N", "New project"),
    ("Ctrl+O", "Open project…"),
    ("Ctrl+S", "Save"),
    ("Ctrl+Shift+S", "Save as…"),
    ("Ctrl+Z", "Undo"),
    ("Ctrl+Shift+Z / Ctrl+Y", "Redo"),
    ("Delete", "Delete selected nodes"),
    ("Ctrl+D", "Duplicate selected nodes"),
    ("Ctrl+C / Ctrl+V", "Copy / paste nodes"),
    ("Ctrl+Enter / F5", "Train"),
    ("F6", "Pause / resume"),
    ("Shift+F5", "Stop"),
    (
        "Ctrl+1 … Ctrl+6",
        "Training / Data / Insight / Runs / Data map / Projector tab",
    ),
    ("Shift+click, Shift+drag", "Select nodes on the canvas"),
    ("Right-click canvas", "Add a layer there"),
    ("Double-click canvas", "Fit the graph in view"),
    ("Ctrl+scroll", "Zoom the canvas"),
];
