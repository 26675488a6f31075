//! The data panel: pick a source, set the import, split and augmentation, and see a preview,
//! class balance and counts. Data loads on a background thread; the graph's Input and output
//! width follow the loaded data.

pub(crate) mod preview_view;
mod sources_view;
mod split_view;
mod stats_view;

pub use preview_view::class_color;
use preview_view::preview_ui;
use sources_view::settings_ui;
use stats_view::stats_ui;

use super::studio::Studio;
use crate::data::{Augmentation, DataSettings, DataSummary, Dataset};
use crate::graph::fit_to_data;
use crate::train::{BoundaryMap, BoundarySpec};
use egui::{RichText, TextureHandle, Ui};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

/// Settings changes settle this long before the data reloads.
const RELOAD_AFTER_S: f64 = 0.4;
/// Cells per side of the decision-boundary map.
const BOUNDARY_RESOLUTION: usize = 64;

type Loaded = Result<(Arc<Dataset>, DataSummary), String>;

struct Loading {
    rx: Receiver<Loaded>,
    progress: Arc<AtomicU32>,
    key: (DataSettings, Option<PathBuf>),
}

/// The data panel's state: the loaded data set (shared with training runs), its summary, and
/// a load in progress.
#[derive(Default)]
pub struct DataState {
    /// The training settings `size_fresh_training` last chose: still these, they follow the
    /// next data set too (a new project first loads MNIST, then the user's table).
    sized_training: Option<crate::project::training::TrainSettings>,
    pub summary: Option<DataSummary>,
    pub dataset: Option<Arc<Dataset>>,
    pub error: Option<String>,
    /// What the user has yet to give before anything can load (no error: nothing went wrong).
    pub pending: Option<String>,
    /// Settings (and project folder) the loaded data set was made from.
    loaded_for: Option<(DataSettings, Option<PathBuf>)>,
    failed_for: Option<(DataSettings, Option<PathBuf>)>,
    loading: Option<Loading>,
    changed_at: Option<f64>,
    last_seen: Option<DataSettings>,
    textures: Vec<(TextureHandle, String)>,
    textures_for: Option<(usize, bool, Augmentation)>,
    pub show_augmented: bool,
    columns: Option<(String, Vec<String>)>,
    /// The latest decision-boundary map of a 2-D classifier, and its picture.
    pub boundary: Option<BoundaryMap>,
    boundary_texture: Option<TextureHandle>,
}

impl DataState {
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    pub fn load_progress(&self) -> f32 {
        self.loading
            .as_ref()
            .map_or(0.0, |l| f32::from_bits(l.progress.load(Ordering::Relaxed)))
    }

    /// The loaded data set if it was made from exactly these settings.
    pub fn dataset_for(&self, settings: &DataSettings, dir: Option<&Path>) -> Option<Arc<Dataset>> {
        let (s, d) = self.loaded_for.as_ref()?;
        (s == settings && d.as_deref() == dir)
            .then(|| self.dataset.clone())
            .flatten()
    }
}

/// The region a decision-boundary map covers: the data's range with a margin.
pub fn boundary_spec(summary: &DataSummary) -> Option<BoundarySpec> {
    if summary.points.is_empty() || summary.classes.is_empty() {
        return None;
    }
    let range = |f: fn(&(f32, f32, u32)) -> f32| {
        let (lo, hi) = summary
            .points
            .iter()
            .map(f)
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        let pad = (hi - lo).max(1e-3) * 0.1;
        [lo - pad, hi + pad]
    };
    Some(BoundarySpec {
        x: range(|p| p.0),
        y: range(|p| p.1),
        resolution: BOUNDARY_RESOLUTION,
    })
}

impl Studio {
    /// The open project's folder, where its relative data paths start (None: unsaved).
    pub(crate) fn project_dir(&self) -> Option<PathBuf> {
        self.doc
            .path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
    }

    /// Starts loads when the data settings settle, and takes finished ones; every frame.
    pub fn poll_data(&mut self, ctx: &egui::Context) {
        let now = self.time();
        let key = (self.doc.project.data.clone(), self.project_dir());
        if self.data.last_seen.as_ref() != Some(&key.0) {
            self.data.last_seen = Some(key.0.clone());
            self.data.changed_at = Some(now);
        }
        if let Some(loading) = &self.data.loading {
            match loading.rx.try_recv() {
                Ok(result) => {
                    let loaded_key = self.data.loading.take().expect("checked").key;
                    // A load for data the project no longer names (another project was
                    // opened meanwhile) would fit and size the wrong project: drop it, and
                    // the next frame loads what the project names now.
                    if loaded_key == key {
                        self.data_loaded(result, loaded_key);
                    } else {
                        ctx.request_repaint();
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    ctx.request_repaint_after(std::time::Duration::from_millis(100));
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.data.loading = None;
                    self.data.error = Some("the data loader stopped unexpectedly".into());
                }
            }
            return;
        }
        let up_to_date = self.data.loaded_for.as_ref() == Some(&key)
            || self.data.failed_for.as_ref() == Some(&key);
        if up_to_date {
            return;
        }
        if let Some(why) = self.doc.project.data.source.missing_input() {
            // Nothing to load yet: no error, and no preview of the previous data set.
            self.data.pending = Some(why);
            self.data.error = None;
            self.data.summary = None;
            self.data.dataset = None;
            self.data.loaded_for = None;
            self.data.failed_for = Some(key);
            return;
        }
        self.data.pending = None;
        let settled = self
            .data
            .changed_at
            .is_none_or(|t| now - t >= RELOAD_AFTER_S);
        if !settled {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
            return;
        }
        self.start_data_load(key, ctx);
    }

    fn start_data_load(&mut self, key: (DataSettings, Option<PathBuf>), ctx: &egui::Context) {
        let (tx, rx) = channel();
        let progress = Arc::new(AtomicU32::new(0));
        let (settings, dir) = key.clone();
        let prog = progress.clone();
        let repaint = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("glassbox-data".into())
            .spawn(move || {
                let report = |f: f32| prog.store(f.to_bits(), Ordering::Relaxed);
                let result = Dataset::load_with_progress(&settings, dir.as_deref(), &report)
                    .map(|ds| {
                        let summary = DataSummary::of(&ds);
                        (Arc::new(ds), summary)
                    })
                    .map_err(|e| e.to_string());
                let _ = tx.send(result);
                repaint.request_repaint();
            });
        match spawned {
            Ok(_) => self.data.loading = Some(Loading { rx, progress, key }),
            Err(e) => self.data.error = Some(format!("cannot start the data loader: {e}")),
        }
    }

    /// What fitting the graph to the loaded data would change (None: it fits, or no data).
    pub fn data_misfit(&self) -> Option<Vec<String>> {
        let summary = self.data.summary.as_ref()?;
        let mut graph = self.doc.project.graph.clone();
        let changes = fit_to_data(&mut graph, &summary.shape(&self.doc.project.mode));
        (!changes.is_empty()).then_some(changes)
    }

    /// The graph's ends follow the loaded data and the training mode (one undo step), unless
    /// a run holds the graph.
    pub fn fit_graph_to_data(&mut self) {
        if let Some(line) = self.fit_graph_line() {
            self.notify(line);
        }
    }

    /// Fits the graph (see `fit_graph_to_data`) and says what changed, if anything did.
    fn fit_graph_line(&mut self) -> Option<String> {
        let summary = self.data.summary.as_ref()?;
        if self.is_training() {
            return None;
        }
        let (shape, name) = (summary.shape(&self.doc.project.mode), summary.name.clone());
        let mut graph = self.doc.editor.graph();
        let changes = fit_to_data(&mut graph, &shape);
        if changes.is_empty() {
            return None;
        }
        self.doc.editor.replace_graph(graph);
        Some(format!("To fit {name}: {}", changes.join("; ")))
    }

    /// A project still on the default loop gets one sized for its data (`sized_for`): the
    /// defaults' three epochs at batch 64 are a handful of steps on a small table. Says what
    /// it chose, if it changed anything.
    fn size_fresh_training(&mut self, train_samples: usize) -> Option<String> {
        use crate::project::training::TrainSettings;
        let current = &self.doc.project.training;
        let untouched = *current == TrainSettings::default()
            || self.data.sized_training.as_ref() == Some(current);
        if self.is_training() || !untouched {
            return None;
        }
        let t = TrainSettings::sized_for(train_samples);
        if t == self.doc.project.training {
            return None;
        }
        let line = format!(
            "training follows the data ({train_samples} training samples): {} epochs at batch {}, early stopping on",
            t.epochs, t.batch_size
        );
        // The studio's choice, not the user's edit: a project with no unsaved changes
        // keeps none (reopened, it is sized the same way again).
        if self.doc.project == self.doc.saved {
            self.doc.saved.training = t.clone();
        }
        self.doc.project.training = t.clone();
        self.data.sized_training = Some(t);
        Some(line)
    }

    fn data_loaded(&mut self, result: Loaded, key: (DataSettings, Option<PathBuf>)) {
        match result {
            Ok((ds, summary)) => {
                self.data.error = None;
                self.data.failed_for = None;
                self.data.textures_for = None;
                self.data.boundary = None;
                self.data.summary = Some(summary);
                // One status line for both: the fit's, then the loop's.
                match (
                    self.fit_graph_line(),
                    self.size_fresh_training(ds.train.len()),
                ) {
                    (Some(fit), Some(sized)) => self.notify(format!("{fit}; {sized}")),
                    (Some(fit), None) => self.notify(fit),
                    (None, Some(sized)) => self.notify(format!("The {sized}")),
                    (None, None) => {}
                }
                self.data.dataset = Some(ds);
                self.data.loaded_for = Some(key);
            }
            Err(e) => {
                self.data.error = Some(e);
                self.data.failed_for = Some(key);
            }
        }
    }
}

pub fn data_panel_ui(ui: &mut Ui, studio: &mut Studio) {
    let locked = studio.is_training();
    let avail = ui.available_size();
    let (left, right) = (340.0, 290.0);
    let middle = (avail.x - left - right - 24.0).max(240.0);
    let column = |ui: &mut Ui, width: f32, add: &mut dyn FnMut(&mut Ui)| {
        ui.allocate_ui_with_layout(
            egui::vec2(width, avail.y),
            egui::Layout::top_down(egui::Align::Min),
            |ui| {
                ui.set_width(width);
                ui.set_height(avail.y);
                add(ui);
            },
        );
    };
    ui.horizontal_top(|ui| {
        column(ui, left, &mut |ui| {
            egui::ScrollArea::vertical()
                .id_salt("data-settings")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    ui.add_enabled_ui(!locked, |ui| settings_ui(ui, studio));
                    if locked {
                        ui.label(RichText::new("Stop the run to change the data.").weak());
                    }
                });
        });
        ui.separator();
        column(ui, middle, &mut |ui| preview_ui(ui, studio));
        ui.separator();
        column(ui, right, &mut |ui| {
            egui::ScrollArea::vertical()
                .id_salt("data-stats")
                .auto_shrink([false, false])
                .show(ui, |ui| stats_ui(ui, studio));
        });
    });
}
