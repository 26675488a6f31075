//! The data settings column: the source menu and each source's import fields.

use super::split_view::{augmentation_ui, split_ui};
use crate::data::{
    peek_columns, ColorMode, ColumnKind, DataSource, MissingPolicy, Task, TokenKind, ToyKind,
};
use crate::fsutil::resolve_data_path;
use crate::ui::files::FilePurpose;
use crate::ui::studio::Studio;
use egui::{DragValue, RichText, Ui};
use std::path::{Path, PathBuf};

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
                carry_state: false,
                vocab_from: None,
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
                carry_state: false,
                vocab_from: None,
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

pub(super) fn settings_ui(ui: &mut Ui, studio: &mut Studio) {
    // What the data map changed, and a way back.
    if !studio.doc.project.data.edits.is_empty() {
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(format!(
                    "Data map: {}",
                    studio.doc.project.data.edits.summary()
                ))
                .color(crate::ui::theme::VAL),
            );
            if ui.small_button("Clear").clicked() {
                studio.doc.project.data.edits = Default::default();
            }
        });
    }
    let current = source_name(&studio.doc.project.data.source);
    let mut browse = None;
    {
        let data = &mut studio.doc.project.data;
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
            &studio.doc.path,
            &mut browse,
        );
    }
    if let Some(purpose) = browse {
        studio.ask_file(purpose);
    }
    let data = &mut studio.doc.project.data;
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

/// A data path as the project reads it (relative paths from the project's folder).
fn resolved(path: &str, project: &Option<PathBuf>) -> PathBuf {
    let dir = project
        .as_ref()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    resolve_data_path(path, dir.as_deref())
}

fn peeked_columns<'a>(
    cache: &'a mut Option<(String, Vec<String>)>,
    path: &str,
    project: &Option<PathBuf>,
) -> &'a [String] {
    if cache.as_ref().is_none_or(|(p, _)| p != path) {
        let cols = peek_columns(&resolved(path, project)).unwrap_or_default();
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
            // A fresh table gets the likeliest target at once (the user can change it).
            if target.is_empty() {
                let file = resolved(path, project);
                let from_rows = crate::data::peek_target(&file).ok().flatten();
                if let Some(t) = from_rows.or_else(|| crate::data::guess_target(&cols)) {
                    *target = t;
                }
            }
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
            carry_state,
            ..
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
            let carry = ui
                .checkbox(carry_state, "Carry the state across windows")
                .on_hover_text(
                    "Read the text in order, each batch row continuing where it stopped, so an \
                     LSTM, GRU or RNN starts each window from the state the previous one left: \
                     it sees the whole text before a position, not only its window. Sets the \
                     stride to the context.",
                );
            if carry.changed() && *carry_state {
                *stride = *context;
            }
            if *carry_state && *stride != *context {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    "Carrying the state needs stride = context",
                );
            }
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
