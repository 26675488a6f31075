//! The data panel: pick a source, set the import, split and augmentation, and see a preview,
//! class balance and counts. Data loads on a background thread; the graph's Input and output
//! width follow the loaded data.

use super::files::FilePurpose;
use super::studio::Studio;
use super::theme::{ERROR, TRAIN, VAL};
use crate::data::{
    augmented_images, peek_columns, Augmentation, ColorMode, ColumnKind, DataSettings, DataSource,
    DataSummary, Dataset, ImageSample, MissingPolicy, Normalization, Preview, Task, TokenKind,
    ToyKind,
};
use crate::fsutil::resolve_data_path;
use crate::graph::fit_to_data;
use crate::train::{BoundaryMap, BoundarySpec};
use egui::{Color32, ColorImage, DragValue, RichText, TextureHandle, TextureOptions, Ui};
use egui_plot::{Bar, BarChart, Legend, Plot, PlotImage, PlotPoint, Points};
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
    pub summary: Option<DataSummary>,
    pub dataset: Option<Arc<Dataset>>,
    pub error: Option<String>,
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
    fn data_dir(&self) -> Option<PathBuf> {
        self.path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
    }

    /// Starts loads when the data settings settle, and takes finished ones; every frame.
    pub fn poll_data(&mut self, ctx: &egui::Context) {
        let now = self.time();
        let key = (self.project.data.clone(), self.data_dir());
        if self.data.last_seen.as_ref() != Some(&key.0) {
            self.data.last_seen = Some(key.0.clone());
            self.data.changed_at = Some(now);
        }
        if let Some(loading) = &self.data.loading {
            match loading.rx.try_recv() {
                Ok(result) => {
                    let key = self.data.loading.take().expect("checked").key;
                    self.data_loaded(result, key);
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

    fn data_loaded(&mut self, result: Loaded, key: (DataSettings, Option<PathBuf>)) {
        match result {
            Ok((ds, summary)) => {
                self.data.error = None;
                self.data.failed_for = None;
                self.data.textures_for = None;
                self.data.boundary = None;
                // The graph's ends follow the data (one undo step), unless a run holds it.
                if !self.is_training() {
                    let mut graph = self.editor.graph();
                    let changes = fit_to_data(&mut graph, &summary.shape());
                    if !changes.is_empty() {
                        self.editor.replace_graph(graph);
                        self.notify(format!("To fit {}: {}", summary.name, changes.join("; ")));
                    }
                }
                self.data.summary = Some(summary);
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

/// Ready-made choices in the source menu.
fn builtin_sources() -> Vec<(&'static str, DataSource)> {
    vec![
        ("MNIST digits", DataSource::Mnist),
        (
            "Iris flowers (table)",
            DataSource::Csv {
                path: "assets/data/tabular/iris.csv".into(),
                target: "species".into(),
                task: Task::Auto,
                options: Default::default(),
            },
        ),
        (
            "Digits 8×8 (table)",
            DataSource::Csv {
                path: "assets/data/tabular/digits.csv.gz".into(),
                target: "digit".into(),
                task: Task::Auto,
                options: Default::default(),
            },
        ),
        (
            "First names → gender (text)",
            DataSource::TextClass {
                path: "assets/data/text/first_names.csv".into(),
                text_column: "name".into(),
                label_column: "gender".into(),
                tokens: TokenKind::Char,
                max_len: 12,
            },
        ),
        (
            "Moby Dick, next character (text)",
            DataSource::TextLm {
                path: "assets/data/text/moby_dick.txt.gz".into(),
                context: 16,
                stride: 1,
            },
        ),
        (
            "Playground toy (2-D)",
            DataSource::Toy {
                kind: ToyKind::Spiral,
                samples: 600,
                noise: 0.05,
            },
        ),
    ]
}

/// Sources read from the user's own files.
fn own_sources() -> Vec<(&'static str, DataSource)> {
    vec![
        (
            "CSV / TSV table…",
            DataSource::Csv {
                path: String::new(),
                target: String::new(),
                task: Task::Auto,
                options: Default::default(),
            },
        ),
        (
            "Image folder…",
            DataSource::ImageFolder {
                path: String::new(),
                width: 28,
                height: 28,
                color: ColorMode::Grey,
            },
        ),
        (
            "IDX files…",
            DataSource::Idx {
                train_images: String::new(),
                train_labels: String::new(),
                test_images: None,
                test_labels: None,
            },
        ),
        (
            "Text file, next character…",
            DataSource::TextLm {
                path: String::new(),
                context: 16,
                stride: 1,
            },
        ),
        (
            "Text table, classify…",
            DataSource::TextClass {
                path: String::new(),
                text_column: String::new(),
                label_column: String::new(),
                tokens: TokenKind::Char,
                max_len: 16,
            },
        ),
    ]
}

fn same_kind(a: &DataSource, b: &DataSource) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn source_name(src: &DataSource) -> String {
    // A shipped file counts as its built-in entry whatever its import settings.
    let mut probe = src.clone();
    let path = probe.path_mut().cloned();
    if let Some((n, _)) = builtin_sources().into_iter().find(|(_, s)| {
        let mut s = s.clone();
        s == *src || (same_kind(&s, src) && path.is_some() && s.path_mut().cloned() == path)
    }) {
        return n.to_string();
    }
    if let DataSource::Toy { .. } = src {
        return "Playground toy (2-D)".into();
    }
    own_sources()
        .into_iter()
        .find(|(_, s)| same_kind(s, src))
        .map_or_else(|| src.label(), |(n, _)| n.trim_end_matches('…').to_string())
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

fn settings_ui(ui: &mut Ui, studio: &mut Studio) {
    let current = source_name(&studio.project.data.source);
    let mut browse = None;
    {
        let data = &mut studio.project.data;
        ui.horizontal(|ui| {
            let l = ui.label("Data set");
            egui::ComboBox::from_id_salt("data-source")
                .selected_text(&current)
                .width(220.0)
                .show_ui(ui, |ui| {
                    for (name, src) in builtin_sources() {
                        if ui.selectable_label(current == name, name).clicked() {
                            data.source = src;
                        }
                    }
                    ui.separator();
                    for (name, src) in own_sources() {
                        // Keep the user's own file when re-picking its kind; leave a shipped one.
                        let own_already = same_kind(&data.source, &src)
                            && !builtin_sources().iter().any(|(_, b)| *b == data.source);
                        if ui
                            .selectable_label(current == name.trim_end_matches('…'), name)
                            .clicked()
                            && !own_already
                        {
                            data.source = src;
                        }
                    }
                })
                .response
                .labelled_by(l.id);
        });
        source_fields_ui(
            ui,
            &mut data.source,
            &mut studio.data.columns,
            &studio.path,
            &mut browse,
        );
    }
    if let Some(purpose) = browse {
        studio.ask_file(purpose);
    }
    let data = &mut studio.project.data;
    ui.separator();
    split_ui(ui, data);
    if matches!(
        data.source,
        DataSource::Mnist | DataSource::ImageFolder { .. } | DataSource::Idx { .. }
    ) {
        ui.separator();
        augmentation_ui(ui, &mut data.augmentation, &mut studio.data.show_augmented);
    }
}

fn path_row(
    ui: &mut Ui,
    label: &str,
    path: &mut String,
    folder: bool,
    browse: &mut Option<FilePurpose>,
) {
    ui.horizontal(|ui| {
        let l = ui.label(label);
        ui.add(
            egui::TextEdit::singleline(path)
                .desired_width(170.0)
                .hint_text("path/to/file"),
        )
        .labelled_by(l.id);
        if ui.button("Browse…").clicked() {
            *browse = Some(if folder {
                FilePurpose::DataFolder
            } else {
                FilePurpose::DataFile
            });
        }
    });
}

/// A text field with the file's columns offered in a menu beside it.
fn column_pick(ui: &mut Ui, label: &str, value: &mut String, columns: &[String]) {
    ui.horizontal(|ui| {
        let l = ui.label(label);
        egui::ComboBox::from_id_salt(("column", label))
            .selected_text(if value.is_empty() {
                "choose…"
            } else {
                value.as_str()
            })
            .show_ui(ui, |ui| {
                for c in columns {
                    ui.selectable_value(value, c.clone(), c);
                }
            })
            .response
            .labelled_by(l.id);
        ui.add(egui::TextEdit::singleline(value).desired_width(90.0));
    });
}

fn peeked_columns<'a>(
    cache: &'a mut Option<(String, Vec<String>)>,
    path: &str,
    project: &Option<PathBuf>,
) -> &'a [String] {
    if cache.as_ref().is_none_or(|(p, _)| p != path) {
        let dir = project
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let cols = peek_columns(&resolve_data_path(path, dir.as_deref())).unwrap_or_default();
        *cache = Some((path.to_string(), cols));
    }
    &cache.as_ref().expect("just filled").1
}

fn source_fields_ui(
    ui: &mut Ui,
    source: &mut DataSource,
    columns: &mut Option<(String, Vec<String>)>,
    project: &Option<PathBuf>,
    browse: &mut Option<FilePurpose>,
) {
    match source {
        DataSource::Mnist => {
            ui.label(
                RichText::new(
                    "60,000 training and 10,000 test images of handwritten digits, 28×28 grey.",
                )
                .weak(),
            );
        }
        DataSource::Csv {
            path,
            target,
            task,
            options,
        } => {
            path_row(ui, "File", path, false, browse);
            let cols = peeked_columns(columns, path, project).to_vec();
            column_pick(ui, "Target", target, &cols);
            ui.horizontal(|ui| {
                ui.label("Task");
                for (t, name) in [
                    (Task::Auto, "auto"),
                    (Task::Classification, "classes"),
                    (Task::Regression, "numbers"),
                ] {
                    ui.radio_value(task, t, name);
                }
            });
            ui.horizontal(|ui| {
                ui.label("Separator");
                egui::ComboBox::from_id_salt("csv-delimiter")
                    .selected_text(match options.delimiter {
                        None => "detect".to_string(),
                        Some('\t') => "tab".to_string(),
                        Some(c) => format!("'{c}'"),
                    })
                    .show_ui(ui, |ui| {
                        for (d, n) in [
                            (None, "detect"),
                            (Some(','), "comma"),
                            (Some('\t'), "tab"),
                            (Some(';'), "semicolon"),
                        ] {
                            ui.selectable_value(&mut options.delimiter, d, n);
                        }
                    });
                ui.label("Header");
                egui::ComboBox::from_id_salt("csv-header")
                    .selected_text(match options.has_header {
                        None => "detect",
                        Some(true) => "yes",
                        Some(false) => "no",
                    })
                    .show_ui(ui, |ui| {
                        for (h, n) in [(None, "detect"), (Some(true), "yes"), (Some(false), "no")] {
                            ui.selectable_value(&mut options.has_header, h, n);
                        }
                    });
            });
            ui.horizontal(|ui| {
                ui.label("Missing values");
                ui.radio_value(&mut options.missing, MissingPolicy::DropRow, "drop the row");
                ui.radio_value(
                    &mut options.missing,
                    MissingPolicy::FillMean,
                    "fill with mean",
                );
            });
            egui::CollapsingHeader::new("Columns")
                .id_salt("csv-columns")
                .show(ui, |ui| {
                    for c in cols.iter().filter(|c| *c != target) {
                        ui.horizontal(|ui| {
                            ui.label(RichText::new(c).monospace());
                            let mut kind = options.columns.get(c).copied();
                            egui::ComboBox::from_id_salt(("col-kind", c.as_str()))
                                .selected_text(match kind {
                                    None => "detect",
                                    Some(ColumnKind::Numeric) => "number",
                                    Some(ColumnKind::Categorical) => "category",
                                    Some(ColumnKind::Ignore) => "ignore",
                                })
                                .show_ui(ui, |ui| {
                                    ui.selectable_value(&mut kind, None, "detect");
                                    ui.selectable_value(
                                        &mut kind,
                                        Some(ColumnKind::Numeric),
                                        "number",
                                    );
                                    ui.selectable_value(
                                        &mut kind,
                                        Some(ColumnKind::Categorical),
                                        "category (one-hot)",
                                    );
                                    ui.selectable_value(
                                        &mut kind,
                                        Some(ColumnKind::Ignore),
                                        "ignore",
                                    );
                                });
                            match kind {
                                Some(k) => options.columns.insert(c.clone(), k),
                                None => options.columns.remove(c),
                            };
                        });
                    }
                });
        }
        DataSource::ImageFolder {
            path,
            width,
            height,
            color,
        } => {
            path_row(ui, "Folder", path, true, browse);
            ui.label(
                RichText::new(
                    "One sub-folder per class (or train/ and test/ folders holding them).",
                )
                .weak(),
            );
            ui.horizontal(|ui| {
                ui.label("Size");
                ui.add(DragValue::new(width).range(4..=256));
                ui.label("×");
                ui.add(DragValue::new(height).range(4..=256));
                ui.radio_value(color, ColorMode::Grey, "grey");
                ui.radio_value(color, ColorMode::Rgb, "RGB");
            });
        }
        DataSource::Idx {
            train_images,
            train_labels,
            test_images,
            test_labels,
        } => {
            path_row(ui, "Images", train_images, false, browse);
            ui.horizontal(|ui| {
                ui.label("Labels");
                ui.add(egui::TextEdit::singleline(train_labels).desired_width(230.0));
            });
            let mut has_test = test_images.is_some();
            ui.checkbox(&mut has_test, "with a test pair");
            if has_test {
                let ti = test_images.get_or_insert_with(String::new);
                ui.horizontal(|ui| {
                    ui.label("Test images");
                    ui.add(egui::TextEdit::singleline(ti).desired_width(200.0));
                });
                let tl = test_labels.get_or_insert_with(String::new);
                ui.horizontal(|ui| {
                    ui.label("Test labels");
                    ui.add(egui::TextEdit::singleline(tl).desired_width(200.0));
                });
            } else {
                *test_images = None;
                *test_labels = None;
            }
        }
        DataSource::Toy {
            kind,
            samples,
            noise,
        } => {
            ui.horizontal(|ui| {
                ui.label("Problem");
                for k in ToyKind::ALL {
                    ui.radio_value(kind, k, k.name());
                }
            });
            ui.horizontal(|ui| {
                ui.label("Samples");
                ui.add(DragValue::new(samples).range(20..=20_000).speed(10));
                ui.label("Noise");
                ui.add(egui::Slider::new(noise, 0.0..=0.5));
            });
        }
        DataSource::TextLm {
            path,
            context,
            stride,
        } => {
            path_row(ui, "Text", path, false, browse);
            ui.horizontal(|ui| {
                ui.label("Context (characters)");
                ui.add(DragValue::new(context).range(1..=256));
                ui.label("stride").on_hover_text(
                    "Characters between two examples. 1 uses every position; the context \
                     length gives non-overlapping windows, enough when the network predicts \
                     every position.",
                );
                ui.add(DragValue::new(stride).range(1..=256));
            });
        }
        DataSource::TextClass {
            path,
            text_column,
            label_column,
            tokens,
            max_len,
        } => {
            path_row(ui, "File", path, false, browse);
            let cols = peeked_columns(columns, path, project).to_vec();
            column_pick(ui, "Text", text_column, &cols);
            column_pick(ui, "Label", label_column, &cols);
            ui.horizontal(|ui| {
                ui.label("Tokens");
                ui.radio_value(tokens, TokenKind::Char, "characters");
                ui.radio_value(tokens, TokenKind::Word, "words");
                ui.label("max length");
                ui.add(DragValue::new(max_len).range(1..=512));
            });
        }
    }
}

fn split_ui(ui: &mut Ui, data: &mut DataSettings) {
    let own_test = matches!(data.source, DataSource::Mnist)
        || matches!(
            &data.source,
            DataSource::Idx {
                test_images: Some(_),
                ..
            }
        )
        || matches!(data.source, DataSource::ImageFolder { .. });
    let split = &mut data.split;
    ui.horizontal(|ui| {
        ui.label("Validation");
        ui.add(egui::Slider::new(&mut split.validation, 0.0..=0.5).fixed_decimals(2));
    });
    if own_test {
        ui.checkbox(
            &mut split.use_source_test,
            "Use the source's own test set (if it has one)",
        );
    }
    if !own_test || !split.use_source_test {
        ui.horizontal(|ui| {
            ui.label("Test");
            ui.add(egui::Slider::new(&mut split.test, 0.0..=0.5).fixed_decimals(2));
        });
    }
    ui.horizontal(|ui| {
        ui.checkbox(&mut split.stratify, "Stratify by class");
        ui.label("seed");
        ui.add(DragValue::new(&mut split.seed));
    });
    ui.horizontal(|ui| {
        ui.label("Normalise");
        egui::ComboBox::from_id_salt("normalisation")
            .selected_text(format!("{:?}", data.normalization))
            .show_ui(ui, |ui| {
                for n in [
                    Normalization::Standardize,
                    Normalization::Unit,
                    Normalization::None,
                ] {
                    ui.selectable_value(&mut data.normalization, n, format!("{n:?}"));
                }
            });
    });
    ui.horizontal(|ui| {
        let mut limit = data.max_train_samples.is_some();
        ui.checkbox(&mut limit, "At most");
        let mut n = data.max_train_samples.unwrap_or(10_000);
        ui.add_enabled(
            limit,
            DragValue::new(&mut n).range(10..=10_000_000).speed(50),
        );
        ui.label("training samples");
        data.max_train_samples = limit.then_some(n);
    });
}

fn augmentation_ui(ui: &mut Ui, aug: &mut Augmentation, show: &mut bool) {
    ui.label(RichText::new("Augmentation (training only)").strong());
    ui.horizontal(|ui| {
        ui.label("shift");
        ui.add(DragValue::new(&mut aug.shift_px).range(0..=8).suffix(" px"));
        ui.label("rotate");
        ui.add(
            DragValue::new(&mut aug.rotation_deg)
                .range(0.0..=45.0)
                .suffix("°"),
        );
        ui.checkbox(&mut aug.flip, "mirror");
    });
    ui.horizontal(|ui| {
        ui.label("noise");
        ui.add(
            DragValue::new(&mut aug.noise_std)
                .range(0.0..=1.0)
                .speed(0.01),
        );
        ui.label("cutout");
        ui.add(
            DragValue::new(&mut aug.cutout_px)
                .range(0..=16)
                .suffix(" px"),
        );
    });
    ui.checkbox(show, "Preview augmented samples");
}

fn image_texture(ctx: &egui::Context, img: &ImageSample, name: String) -> TextureHandle {
    let (h, w) = (img.height, img.width);
    let pixels: Vec<Color32> = (0..h * w)
        .map(|p| {
            if img.channels >= 3 {
                let plane = h * w;
                Color32::from_rgb(
                    img.pixels[p],
                    img.pixels[plane + p],
                    img.pixels[2 * plane + p],
                )
            } else {
                let v = img.pixels[p];
                Color32::from_rgb(v, v, v)
            }
        })
        .collect();
    ctx.load_texture(
        name,
        ColorImage::new([w, h], pixels),
        TextureOptions::NEAREST,
    )
}

fn preview_ui(ui: &mut Ui, studio: &mut Studio) {
    let seed = studio.time().to_bits();
    let state = &mut studio.data;
    if state.is_loading() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Loading…");
            ui.add(egui::ProgressBar::new(state.load_progress()).desired_width(160.0));
        });
    }
    if let Some(e) = &state.error {
        ui.colored_label(ERROR, format!("⚠ {e}"));
    }
    let Some(summary) = &state.summary else {
        if !state.is_loading() && state.error.is_none() {
            ui.label(RichText::new("Choose a data set on the left.").weak());
        }
        return;
    };
    ui.label(
        RichText::new(format!(
            "{}: samples of {:?}{}",
            summary.name,
            summary.sample_shape,
            if summary.tokens { " token ids" } else { "" }
        ))
        .strong(),
    );
    if !summary.points.is_empty() {
        scatter_ui(ui, summary, &state.boundary, &mut state.boundary_texture);
        return;
    }
    match &summary.preview {
        Preview::Images(images) => {
            let key = (
                images.len(),
                state.show_augmented,
                studio.project.data.augmentation.clone(),
            );
            if state.textures_for.as_ref() != Some(&key) {
                let shown = if state.show_augmented {
                    augmented_images(images, &studio.project.data.augmentation, seed)
                } else {
                    images.clone()
                };
                state.textures = shown
                    .iter()
                    .enumerate()
                    .map(|(i, img)| {
                        (
                            image_texture(ui.ctx(), img, format!("data-preview-{i}")),
                            img.label.clone(),
                        )
                    })
                    .collect();
                state.textures_for = Some(key);
            }
            let side = 56.0;
            let per_row = ((ui.available_width() / (side + 8.0)) as usize).max(1);
            egui::ScrollArea::vertical()
                .id_salt("data-images")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    egui::Grid::new("data-image-grid")
                        .spacing(egui::vec2(8.0, 4.0))
                        .show(ui, |ui| {
                            for (i, (tex, label)) in state.textures.iter().enumerate() {
                                ui.vertical(|ui| {
                                    ui.add(
                                        egui::Image::new(tex)
                                            .fit_to_exact_size(egui::vec2(side, side)),
                                    );
                                    ui.label(RichText::new(label).small());
                                });
                                if (i + 1) % per_row == 0 {
                                    ui.end_row();
                                }
                            }
                        });
                });
        }
        Preview::Table { columns, rows } => {
            egui::ScrollArea::both()
                .id_salt("data-table")
                .show(ui, |ui| {
                    egui::Grid::new("data-head").striped(true).show(ui, |ui| {
                        for c in columns {
                            ui.label(RichText::new(c).strong().small());
                        }
                        ui.end_row();
                        for r in rows {
                            for v in r {
                                ui.label(RichText::new(v).monospace().small());
                            }
                            ui.end_row();
                        }
                    });
                });
        }
        Preview::Text(samples) => {
            egui::Grid::new("data-text").striped(true).show(ui, |ui| {
                ui.label(RichText::new("input").strong());
                ui.label(RichText::new("target").strong());
                ui.end_row();
                for (text, target) in samples {
                    ui.monospace(format!("{text:?}"));
                    ui.monospace(target);
                    ui.end_row();
                }
            });
        }
    }
}

/// Colours of classes in scatter plots and boundary maps.
pub fn class_color(k: u32) -> Color32 {
    const COLORS: [Color32; 6] = [
        Color32::from_rgb(240, 150, 40),
        Color32::from_rgb(70, 140, 230),
        Color32::from_rgb(90, 190, 110),
        Color32::from_rgb(210, 80, 160),
        Color32::from_rgb(150, 110, 220),
        Color32::from_rgb(200, 190, 70),
    ];
    COLORS[k as usize % COLORS.len()]
}

fn boundary_image(map: &BoundaryMap, dark: bool) -> ColorImage {
    let n = map.spec.resolution;
    let bg = if dark {
        Color32::from_gray(20)
    } else {
        Color32::from_gray(245)
    };
    // Rows run bottom-up in the map and top-down in an image.
    let pixels = (0..n * n)
        .map(|p| {
            let (row, col) = (n - 1 - p / n, p % n);
            let i = row * n + col;
            let strength = ((map.confidence[i] - 0.5) * 2.0).clamp(0.0, 1.0) * 0.55;
            lerp_color(bg, class_color(map.class[i]), strength)
        })
        .collect();
    ColorImage::new([n, n], pixels)
}

fn lerp_color(a: Color32, b: Color32, t: f32) -> Color32 {
    let l = |x: u8, y: u8| (x as f32 + (y as f32 - x as f32) * t) as u8;
    Color32::from_rgb(l(a.r(), b.r()), l(a.g(), b.g()), l(a.b(), b.b()))
}

fn scatter_ui(
    ui: &mut Ui,
    summary: &DataSummary,
    boundary: &Option<BoundaryMap>,
    texture: &mut Option<TextureHandle>,
) {
    let dark = ui.visuals().dark_mode;
    if let Some(map) = boundary {
        let img = boundary_image(map, dark);
        match texture {
            Some(t) => t.set(img, TextureOptions::LINEAR),
            None => {
                *texture = Some(
                    ui.ctx()
                        .load_texture("boundary", img, TextureOptions::LINEAR),
                )
            }
        }
    }
    let height = ui.available_height().max(150.0);
    Plot::new("data-scatter")
        .height(height)
        .data_aspect(1.0)
        .legend(Legend::default())
        .show(ui, |p| {
            if let (Some(map), Some(tex)) = (boundary, texture.as_ref()) {
                let s = map.spec;
                let centre = PlotPoint::new((s.x[0] + s.x[1]) / 2.0, (s.y[0] + s.y[1]) / 2.0);
                let size = egui::vec2(s.x[1] - s.x[0], s.y[1] - s.y[0]);
                p.image(PlotImage::new("decision boundary", tex.id(), centre, size));
            }
            for (k, name) in summary.classes.iter().enumerate() {
                let pts: Vec<[f64; 2]> = summary
                    .points
                    .iter()
                    .filter(|q| q.2 == k as u32)
                    .map(|q| [q.0 as f64, q.1 as f64])
                    .collect();
                p.points(
                    Points::new(name.clone(), pts)
                        .color(class_color(k as u32))
                        .radius(2.5),
                );
            }
        });
}

fn stats_ui(ui: &mut Ui, studio: &mut Studio) {
    let Some(s) = &studio.data.summary else {
        return;
    };
    egui::Grid::new("split-counts").show(ui, |ui| {
        for (name, n, color) in [
            ("train", s.splits[0], TRAIN),
            ("validation", s.splits[1], VAL),
            ("test", s.splits[2], ui.visuals().text_color()),
        ] {
            ui.colored_label(color, name);
            ui.monospace(super::editor::thousands(n));
            ui.end_row();
        }
    });
    ui.label(
        RichText::new(format!(
            "loaded in {:.0} ms · {:.1} MB in memory",
            s.load_ms,
            s.memory_bytes as f64 / 1e6
        ))
        .weak()
        .small(),
    );
    if let Some(v) = s.vocab {
        ui.label(format!("vocabulary: {v} tokens"));
    }
    for n in &s.notes {
        ui.label(RichText::new(format!("• {n}")).small());
    }
    if s.classes.is_empty() {
        ui.label("Numeric target (regression)");
        return;
    }
    ui.label(RichText::new(format!("Class balance ({} classes)", s.classes.len())).strong());
    let bars = |split: usize, offset: f64, color: Color32| {
        BarChart::new(
            ["train", "validation", "test"][split],
            s.class_counts[split]
                .iter()
                .enumerate()
                .map(|(k, &c)| Bar::new(k as f64 + offset, c as f64).width(0.3))
                .collect(),
        )
        .color(color)
    };
    let names = s.classes.clone();
    ui.horizontal(|ui| {
        ui.colored_label(TRAIN, "■ train");
        ui.colored_label(VAL, "■ validation");
        ui.colored_label(Color32::GRAY, "■ test");
    });
    Plot::new("class-balance")
        .height(140.0)
        .width(250.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .x_axis_formatter(move |m, _| {
            let k = m.value.round();
            if (m.value - k).abs() < 1e-6 && k >= 0.0 {
                names.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |p| {
            p.bar_chart(bars(0, -0.3, TRAIN));
            p.bar_chart(bars(1, 0.0, VAL));
            p.bar_chart(bars(2, 0.3, Color32::GRAY));
        });
}
