//! The studio's files: opening, saving, the recent list, and where dialogs point.

use super::*;

impl Studio {
    /// Opens a lesson's project as a new, unsaved one.
    /// Opens step `step` of lesson `lesson`: its project, with nothing run yet.
    pub(super) fn open_lesson_step(&mut self, lesson: usize, step: usize) {
        let Some(s) = crate::lessons::all()
            .get(lesson)
            .and_then(|l| l.steps.get(step))
            .cloned()
        else {
            return;
        };
        match s.project() {
            Ok(p) => {
                let name = p.name.clone();
                self.open_project(crate::presets::laid_out(p), None);
                self.panels
                    .broadcast(&crate::ui::panel::StudioEvent::LessonOpened {
                        lesson,
                        step,
                        project: name,
                    });
                self.notify(format!("Lesson step opened: {}", s.task));
            }
            Err(e) => self.notify_error(e.to_string()),
        }
    }

    pub(super) fn remember(&mut self, path: &Path) {
        let p = path.to_path_buf();
        self.settings.recent.retain(|r| r != &p);
        self.settings.recent.insert(0, p.clone());
        self.settings.recent.truncate(MAX_RECENT);
        self.settings.last_project = Some(p);
    }

    /// Opens `project` as changed from `saved` (the file's content), so it counts as unsaved.
    pub(crate) fn open_recovered(
        &mut self,
        project: Project,
        path: Option<PathBuf>,
        saved: Project,
    ) {
        self.open_project(project, path);
        self.doc.saved = saved;
    }

    pub(super) fn open_project(&mut self, project: Project, path: Option<PathBuf>) {
        self.shutdown();
        self.doc.editor.load(&project.graph);
        self.doc.analysis = analyze(&project.graph);
        self.doc.saved = project.clone();
        self.doc.project = project;
        self.doc.path = path;
        self.session.history = None;
        self.session.past_runs.clear();
        self.session.weights = None;
        self.session.continue_training = false;
        self.chrome.welcome = None;
        self.chrome.rename = None;
        self.insight.reset();
    }

    pub(super) fn save_to(&mut self, path: PathBuf) {
        self.doc.project.graph = self.doc.editor.graph();
        match self.doc.project.save(&path) {
            Ok(()) => {
                self.doc.saved = self.doc.project.clone();
                self.remember(&path);
                self.notify(format!("Saved {}", path.display()));
                self.doc.path = Some(path);
            }
            Err(e) => self.notify_error(e.to_string()),
        }
    }

    pub(super) fn weights_path(&self) -> Option<PathBuf> {
        self.doc
            .path
            .as_ref()
            .map(|p| p.with_extension("safetensors"))
    }

    pub(crate) fn ask_file(&mut self, purpose: FilePurpose) {
        let dir = self.project_dir();
        let stem = self.doc.project.name.to_lowercase().replace(' ', "-");
        let name = match purpose {
            FilePurpose::SaveProjectAs => Some(
                self.doc
                    .path
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("{stem}.json")),
            ),
            FilePurpose::Export(kind) => Some(format!("{stem}.{}", kind.extension())),
            _ => None,
        };
        if let Some(outcome) = self.chrome.dialogs.request(purpose, dir, name) {
            self.dialog_outcome(outcome);
        }
    }

    pub(crate) fn dialog_outcome(&mut self, outcome: DialogOutcome) {
        match outcome {
            DialogOutcome::Chosen(purpose, path) => self.file_chosen(purpose, path),
            DialogOutcome::NeedPrompt(purpose, note) => {
                let text = match purpose {
                    FilePurpose::SaveProjectAs => self
                        .doc
                        .path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    // An export goes beside the project (or into the working folder).
                    FilePurpose::Export(kind) => {
                        let dir = self
                            .project_dir()
                            .or_else(|| std::env::current_dir().ok())
                            .unwrap_or_default();
                        let stem = self.doc.project.name.to_lowercase().replace(' ', "-");
                        dir.join(format!("{stem}.{}", kind.extension()))
                            .display()
                            .to_string()
                    }
                    _ => String::new(),
                };
                self.chrome.prompt = Some(PathPrompt {
                    purpose,
                    text,
                    note: (!note.is_empty()).then_some(note),
                });
            }
        }
    }

    pub(crate) fn file_chosen(&mut self, purpose: FilePurpose, path: PathBuf) {
        let cmd = match purpose {
            FilePurpose::OpenProject => Command::Open(path),
            FilePurpose::SaveProjectAs => Command::SaveAs(path),
            FilePurpose::LoadWeights => Command::LoadWeights(path),
            FilePurpose::Export(kind) => Command::Deploy(DeployAction::Export(kind, path)),
            FilePurpose::ImportOnnx => Command::Deploy(DeployAction::ImportOnnx(path)),
            FilePurpose::StartFrom => Command::Deploy(DeployAction::StartFrom(path)),
            FilePurpose::DataFile | FilePurpose::DataFolder => {
                if let Some(p) = self.doc.project.data.source.path_mut() {
                    *p = path.display().to_string();
                }
                return;
            }
        };
        self.commands.push(cmd);
    }
}
