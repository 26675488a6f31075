//! The studio's ways out and in: File ▸ Export (weights, ONNX, PyTorch, model card), File ▸
//! Import ONNX and File ▸ Start from weights of… (transfer learning). Slow work (the model card
//! measures the model) runs on a thread of its own. Serving is the serving panel's
//! (`ui::serving_view`).

use super::Studio;
use crate::model::{Model, Weights};
use crate::ui::command::Command;
use crate::ui::files::FilePurpose;
use egui::Ui;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Weights,
    Onnx,
    Pytorch,
    Card,
}

impl ExportKind {
    pub const ALL: [ExportKind; 4] = [
        ExportKind::Weights,
        ExportKind::Onnx,
        ExportKind::Pytorch,
        ExportKind::Card,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ExportKind::Weights => "Weights (safetensors)…",
            ExportKind::Onnx => "ONNX…",
            ExportKind::Pytorch => "PyTorch code…",
            ExportKind::Card => "Model card…",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportKind::Weights => "safetensors",
            ExportKind::Onnx => "onnx",
            ExportKind::Pytorch => "py",
            ExportKind::Card => "md",
        }
    }

    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            ExportKind::Weights => &["safetensors"],
            ExportKind::Onnx => &["onnx"],
            ExportKind::Pytorch => &["py"],
            ExportKind::Card => &["md"],
        }
    }

    fn hint(self) -> &'static str {
        match self {
            ExportKind::Weights => "The trained tensors, by node id: for Glassbox, PyTorch and safetensors readers",
            ExportKind::Onnx => "One portable file (opset 17, weights inside) for onnxruntime, OpenCV, TensorRT, browsers",
            ExportKind::Pytorch => "A .py file with the same layers as an nn.Module, a weight loader and a torchrun-ready training loop; the weights go beside it",
            ExportKind::Card => "A Markdown + HTML report: architecture, data, settings, figures measured now, loss curve, confusion matrix",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum DeployAction {
    ExportDialog(ExportKind),
    Export(ExportKind, PathBuf),
    ImportOnnxDialog,
    ImportOnnx(PathBuf),
    StartFromDialog,
    StartFrom(PathBuf),
    ClearStartFrom,
}

/// The background export in flight.
#[derive(Default)]
pub struct DeployState {
    /// A background export: what it writes, and its outcome message.
    job: Option<(String, Receiver<Result<String, String>>)>,
}

impl DeployState {
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }
}

/// The File menu's export/import/transfer entries.
pub fn deploy_file_menu_ui(ui: &mut Ui, studio: &mut Studio) {
    let trained = studio.session.weights.is_some();
    ui.menu_button("Export model", |ui| {
        for kind in ExportKind::ALL {
            let resp = ui
                .add_enabled(trained, egui::Button::new(kind.label()))
                .on_hover_text(kind.hint())
                .on_disabled_hover_text("Train the network (or load weights) first");
            if resp.clicked() {
                studio.push(Command::Deploy(DeployAction::ExportDialog(kind)));
                ui.close();
            }
        }
    });
    if ui
        .button("Import ONNX…")
        .on_hover_text("Open an .onnx file as a project you can look at, edit and train")
        .clicked()
    {
        studio.push(Command::Deploy(DeployAction::ImportOnnxDialog));
        ui.close();
    }
    if ui
        .button("Start from weights of…")
        .on_hover_text("Transfer learning: the next run starts from the tensors of a weight file that fit this network by node id and shape")
        .clicked()
    {
        studio.push(Command::Deploy(DeployAction::StartFromDialog));
        ui.close();
    }
}

fn write_export(
    kind: ExportKind,
    project: &crate::project::Project,
    weights: &Weights,
    path: &Path,
) -> Result<String, String> {
    match kind {
        ExportKind::Weights => weights.save(path).map_err(|e| e.to_string())?,
        ExportKind::Onnx => {
            crate::deploy::onnx::write_onnx(project, weights, path).map_err(|e| e.to_string())?
        }
        ExportKind::Pytorch => {
            let files = crate::deploy::pytorch::write_pytorch(project, weights, path)
                .map_err(|e| e.to_string())?;
            let candle_note = match &files.candle {
                Ok(file) => format!(", and the candle code {}", file.display()),
                Err(why) => format!(" (no candle code: {why})"),
            };
            return Ok(format!(
                "Wrote {} and its weights {}{candle_note}",
                files.module.display(),
                files.weights.display()
            ));
        }
        ExportKind::Card => unreachable!("written on a thread of its own"),
    }
    Ok(format!("Exported {}", path.display()))
}

/// The project's data for a background thread: the data panel's copy when it has the same
/// settings, otherwise loaded on that thread (never on the UI thread).
struct DataSource {
    loaded: Option<Arc<crate::data::Dataset>>,
    dir: Option<PathBuf>,
}

impl DataSource {
    fn get(self, project: &crate::project::Project) -> Result<Arc<crate::data::Dataset>, String> {
        match self.loaded {
            Some(d) => Ok(d),
            None => crate::data::Dataset::load(&project.data, self.dir.as_deref())
                .map(Arc::new)
                .map_err(|e| e.to_string()),
        }
    }
}

impl Studio {
    fn data_source(&self) -> DataSource {
        let dir = self.project_dir();
        DataSource {
            loaded: self
                .data
                .dataset_for(&self.doc.project.data, dir.as_deref()),
            dir,
        }
    }

    pub(super) fn apply_deploy(&mut self, action: DeployAction) {
        match action {
            DeployAction::ExportDialog(kind) => {
                if self.session.weights.is_none() {
                    return self.notify_error("No trained weights yet: train the network first");
                }
                self.ask_file(FilePurpose::Export(kind));
            }
            DeployAction::Export(kind, mut path) => {
                let Some(weights) = self.session.weights.clone() else {
                    return self.notify_error("No trained weights yet: train the network first");
                };
                if path.extension().is_none() {
                    path.set_extension(kind.extension());
                }
                if kind == ExportKind::Card {
                    return self.card_in_background(weights, path);
                }
                match write_export(kind, &self.doc.project, &weights, &path) {
                    Ok(msg) => {
                        self.panels
                            .broadcast(&crate::ui::panel::StudioEvent::Exported);
                        self.notify(msg)
                    }
                    Err(e) => self.notify_error(e),
                }
            }
            DeployAction::ImportOnnxDialog => self.ask_file(FilePurpose::ImportOnnx),
            DeployAction::ImportOnnx(path) => match crate::deploy::onnx::import_project(&path) {
                Ok((project, weights, notes)) => {
                    self.open_project(project, None);
                    self.session.weights = Some(weights);
                    self.session.continue_training = true;
                    self.notify(format!(
                        "Imported {} with its weights ({}); save it as a project to keep it",
                        path.display(),
                        notes.join("; ")
                    ));
                }
                Err(e) => self.notify_error(e.to_string()),
            },
            DeployAction::StartFromDialog => self.ask_file(FilePurpose::StartFrom),
            DeployAction::StartFrom(path) => {
                let report = Weights::load(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|w| {
                        let model =
                            Model::build(&self.doc.project.graph, 0).map_err(|e| e.to_string())?;
                        model.load_matching(&w).map_err(|e| e.to_string())
                    });
                match report {
                    Ok(r) if r.is_empty() => self.notify_error(format!(
                        "None of the tensors of {} fit this network (node ids and shapes differ)",
                        path.display()
                    )),
                    Ok(r) => {
                        self.doc.project.training.init_from = Some(path.display().to_string());
                        self.session.continue_training = false;
                        self.notify(format!("The next run starts from {}: {r}", path.display()));
                    }
                    Err(e) => self.notify_error(e),
                }
            }
            DeployAction::ClearStartFrom => {
                self.doc.project.training.init_from = None;
                self.notify("The next run starts from fresh weights");
            }
        }
    }

    fn card_in_background(&mut self, weights: Weights, path: PathBuf) {
        let project = self.doc.project.clone();
        let history = self.session.history.clone();
        let data = self.data_source();
        let (tx, rx) = channel();
        let what = path.display().to_string();
        let spawned = std::thread::Builder::new()
            .name("glassbox-model-card".into())
            .spawn(move || {
                let result = (|| -> Result<String, String> {
                    let data = data.get(&project)?;
                    let stem = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "model-card".into());
                    let card = crate::deploy::card::model_card(
                        &project,
                        &weights,
                        data,
                        history.as_ref(),
                        &stem,
                    )
                    .map_err(|e| e.to_string())?;
                    card.write(&path)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    Ok(format!(
                        "Wrote the model card {} (and its .html)",
                        path.display()
                    ))
                })();
                let _ = tx.send(result);
            });
        match spawned {
            Ok(_) => {
                self.deploy.job = Some((what, rx));
                self.notify("Writing the model card: measuring the model on its splits…");
            }
            Err(e) => self.notify_error(format!("cannot start the model card: {e}")),
        }
    }

    /// Picks up finished background work; never blocks.
    pub(crate) fn poll_deploy(&mut self) {
        if let Some((what, rx)) = &self.deploy.job {
            if let Ok(result) = rx.try_recv() {
                let what = what.clone();
                self.deploy.job = None;
                match result {
                    Ok(msg) => self.notify(msg),
                    Err(e) => self.notify_error(format!("{what}: {e}")),
                }
            }
        }
    }
}
