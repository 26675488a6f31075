//! File choosing: the native dialog (rfd over xdg-desktop-portal) on a background thread so the UI
//! never waits, and an in-app path field when no native dialog can open.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// What a chosen file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilePurpose {
    OpenProject,
    SaveProjectAs,
    LoadWeights,
    /// A data file (CSV, text, IDX) for the data panel.
    DataFile,
    /// A folder of class folders for the data panel.
    DataFolder,
    /// Where to write an export.
    Export(crate::ui::studio::ExportKind),
    ImportOnnx,
    /// Weights to start the next run from (transfer learning).
    StartFrom,
}

impl FilePurpose {
    pub fn title(self) -> &'static str {
        match self {
            FilePurpose::OpenProject => "Open project",
            FilePurpose::SaveProjectAs => "Save project as",
            FilePurpose::LoadWeights => "Load weights",
            FilePurpose::DataFile => "Choose a data file",
            FilePurpose::DataFolder => "Choose an image folder",
            FilePurpose::Export(_) => "Export to a file",
            FilePurpose::ImportOnnx => "Import an ONNX model",
            FilePurpose::StartFrom => "Start from the weights of…",
        }
    }

    fn filter(self) -> (&'static str, &'static [&'static str]) {
        match self {
            FilePurpose::OpenProject | FilePurpose::SaveProjectAs => {
                ("Glassbox project", &["json"])
            }
            FilePurpose::LoadWeights => ("Weights", &["safetensors"]),
            FilePurpose::DataFile => ("Data", &["csv", "tsv", "txt", "gz", "idx", "ubyte"]),
            FilePurpose::DataFolder => ("Folder", &[]),
            FilePurpose::Export(kind) => ("Export", kind.extensions()),
            FilePurpose::ImportOnnx => ("ONNX model", &["onnx"]),
            FilePurpose::StartFrom => ("Weights", &["safetensors"]),
        }
    }
}

/// A dialog returning "nothing" this fast did not open at all (no portal, no zenity).
const NO_DIALOG_WITHIN: Duration = Duration::from_millis(400);

/// The in-app path field shown when the native dialog is unavailable (or on request).
pub struct PathPrompt {
    pub purpose: FilePurpose,
    pub text: String,
    pub note: Option<String>,
}

pub enum DialogOutcome {
    Chosen(FilePurpose, PathBuf),
    /// Fall back to the path field, with a note saying why.
    NeedPrompt(FilePurpose, String),
}

pub struct FileDialogs {
    /// Tests and headless runs switch native dialogs off.
    pub native: bool,
    pending: Option<(FilePurpose, Instant, Receiver<Option<PathBuf>>)>,
}

impl FileDialogs {
    pub fn new(native: bool) -> Self {
        Self {
            native,
            pending: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts a native dialog, or says at once that the path field is needed.
    pub fn request(
        &mut self,
        purpose: FilePurpose,
        start_dir: Option<PathBuf>,
        file_name: Option<String>,
    ) -> Option<DialogOutcome> {
        if !self.native {
            return Some(DialogOutcome::NeedPrompt(purpose, String::new()));
        }
        if let Some(why) = native_dialog_unavailable() {
            return Some(DialogOutcome::NeedPrompt(purpose, why));
        }
        if self.pending.is_some() {
            return None;
        }
        let (tx, rx) = channel();
        let (name, exts) = purpose.filter();
        let spawned = std::thread::Builder::new()
            .name("glassbox-file-dialog".into())
            .spawn(move || {
                let mut d = rfd::FileDialog::new()
                    .set_title(purpose.title())
                    .add_filter(name, exts);
                if let Some(dir) = start_dir {
                    d = d.set_directory(dir);
                }
                if let Some(f) = file_name {
                    d = d.set_file_name(f);
                }
                let picked = match purpose {
                    FilePurpose::SaveProjectAs | FilePurpose::Export(_) => d.save_file(),
                    FilePurpose::DataFolder => d.pick_folder(),
                    FilePurpose::OpenProject
                    | FilePurpose::LoadWeights
                    | FilePurpose::DataFile
                    | FilePurpose::ImportOnnx
                    | FilePurpose::StartFrom => d.pick_file(),
                };
                let _ = tx.send(picked);
            });
        match spawned {
            Ok(_) => {
                self.pending = Some((purpose, Instant::now(), rx));
                None
            }
            Err(e) => Some(DialogOutcome::NeedPrompt(
                purpose,
                format!("cannot start the file dialog: {e}"),
            )),
        }
    }

    /// Checks for a finished native dialog; never blocks.
    pub fn poll(&mut self) -> Option<DialogOutcome> {
        let (purpose, started, rx) = self.pending.as_ref()?;
        let result = rx.try_recv().ok()?;
        let (purpose, elapsed) = (*purpose, started.elapsed());
        self.pending = None;
        match result {
            Some(path) => Some(DialogOutcome::Chosen(purpose, path)),
            None if elapsed < NO_DIALOG_WITHIN => Some(DialogOutcome::NeedPrompt(
                purpose,
                "No native file dialog opened (is xdg-desktop-portal running?). Type a path instead:".into(),
            )),
            None => None,
        }
    }
}

/// Why no native dialog can open here, if that is certain before trying.
fn native_dialog_unavailable() -> Option<String> {
    let has_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| PathBuf::from(d).join("bus").exists())
            .unwrap_or(false);
    let has_zenity = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("zenity").is_file()))
        .unwrap_or(false);
    (!has_bus && !has_zenity).then(|| {
        "No native file dialog is available (no D-Bus session for xdg-desktop-portal, and no zenity). Type a path instead:".into()
    })
}
