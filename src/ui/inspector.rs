//! The inspector: the selected node's parameters, or the project's data and training settings
//! with a model summary when nothing is selected.

use super::editor::thousands;
use super::studio::Studio;
use super::theme::ERROR;
use crate::graph::{DType, Layer, Loss, TrainingMode};
use egui::{DragValue, RichText, Ui};

pub fn inspector_ui(ui: &mut Ui, studio: &mut Studio) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        let selected = studio
            .doc
            .editor
            .selected
            .clone()
            .filter(|id| studio.doc.project.graph.node(id).is_some());
        match selected {
            Some(id) => node_ui(ui, studio, &id),
            None => {
                studio.doc.editor.selected = None;
                project_ui(ui, studio);
            }
        }
    });
}

fn node_ui(ui: &mut Ui, studio: &mut Studio, id: &str) {
    let locked = studio.is_training();
    ui.horizontal(|ui| {
        if ui
            .button("⬅ Project")
            .on_hover_text("Back to the project settings")
            .clicked()
        {
            studio.doc.editor.selected = None;
        }
    });
    let Some(node) = studio.doc.project.graph.node(id).cloned() else {
        return;
    };
    ui.heading(format!("{} '{}'", node.layer.kind(), node.id));
    ui.label(RichText::new(node.layer.kind().description()).weak());
    ui.add_space(4.0);
    rename_ui(ui, studio, id, locked);

    let shapes = studio.doc.analysis.node(id).cloned();
    egui::Grid::new("node-shapes")
        .num_columns(2)
        .show(ui, |ui| {
            if let Some(s) = &shapes {
                for (i, input) in s.inputs.iter().enumerate() {
                    ui.label(if s.inputs.len() > 1 {
                        format!("input {i}")
                    } else {
                        "input".into()
                    });
                    ui.monospace(
                        input
                            .as_ref()
                            .map_or("not connected".into(), |x| x.to_string()),
                    );
                    ui.end_row();
                }
                ui.label("output");
                ui.monospace(s.output.as_ref().map_or("?".into(), |x| x.to_string()));
                ui.end_row();
                ui.label("parameters");
                ui.monospace(thousands(s.params));
                ui.end_row();
            }
        });
    let errors: Vec<String> = studio
        .doc
        .analysis
        .errors_for(id)
        .map(|e| e.to_string())
        .collect();
    for e in &errors {
        ui.colored_label(ERROR, format!("⚠ {e}"));
    }
    ui.separator();
    let has_weights = shapes.as_ref().is_some_and(|s| s.params > 0);
    ui.add_enabled_ui(!locked, |ui| {
        if let Some(n) = studio.doc.editor.node_mut(id) {
            layer_params_ui(ui, &mut n.layer);
            if has_weights {
                ui.checkbox(&mut n.frozen, "🔒 Frozen")
                    .on_hover_text("Training leaves this layer's weights (and a BatchNorm's statistics) as they are: fine-tune the layers after it on top of pre-trained ones");
            }
        }
    });
    if locked {
        ui.label(RichText::new("Stop the run to edit the graph.").weak());
    }
    ui.separator();
    super::insight::activations_ui(ui, studio, id);
}

fn rename_ui(ui: &mut Ui, studio: &mut Studio, id: &str, locked: bool) {
    let buf = match &mut studio.chrome.rename {
        Some((for_id, text)) if for_id == id => text,
        _ => {
            studio.chrome.rename = Some((id.to_string(), id.to_string()));
            &mut studio.chrome.rename.as_mut().expect("just set").1
        }
    };
    let mut commit = None;
    ui.horizontal(|ui| {
        ui.label("Name");
        let resp = ui.add_enabled(
            !locked,
            egui::TextEdit::singleline(buf).desired_width(140.0),
        );
        if resp.lost_focus() && buf.trim() != id {
            commit = Some(buf.trim().to_string());
        }
    });
    if let Some(new_id) = commit {
        if new_id.is_empty() || studio.doc.project.graph.node(&new_id).is_some() {
            studio.notify_error(format!(
                "'{new_id}' cannot be used: names must be unique and not empty"
            ));
            studio.chrome.rename = None;
        } else if let Some(n) = studio.doc.editor.node_mut(id) {
            n.id = new_id.clone();
            studio.doc.editor.selected = Some(new_id.clone());
            studio.chrome.rename = Some((new_id.clone(), new_id));
        }
    }
}

fn dims_text(dims: &[impl ToString]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A comma-separated list of numbers, edited as text.
fn dims_ui<T: std::str::FromStr + ToString + Clone>(
    ui: &mut Ui,
    label: &str,
    dims: &mut Vec<T>,
    hint: &str,
) {
    let id = ui.id().with(label);
    let mut text = ui
        .data_mut(|d| d.get_temp::<String>(id))
        .unwrap_or_else(|| dims_text(dims));
    ui.horizontal(|ui| {
        ui.label(label);
        let resp = ui.add(
            egui::TextEdit::singleline(&mut text)
                .desired_width(120.0)
                .hint_text(hint),
        );
        if resp.changed() {
            let parsed: Result<Vec<T>, _> = text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::parse)
                .collect();
            if let Ok(v) = parsed {
                if !v.is_empty() {
                    *dims = v;
                }
            }
        }
        if resp.has_focus() {
            ui.data_mut(|d| d.insert_temp(id, text.clone()));
        } else {
            ui.data_mut(|d| d.remove::<String>(id));
        }
    });
}

fn usize_ui(ui: &mut Ui, label: &str, v: &mut usize, range: std::ops::RangeInclusive<usize>) {
    ui.horizontal(|ui| {
        ui.label(label);
        ui.add(DragValue::new(v).range(range).speed(0.2));
    });
}

pub fn layer_params_ui(ui: &mut Ui, layer: &mut Layer) {
    match layer {
        Layer::Input { shape, dtype } => {
            dims_ui(ui, "Shape", shape, "e.g. 1, 28, 28");
            ui.horizontal(|ui| {
                ui.label("Values");
                egui::ComboBox::from_id_salt("input-dtype")
                    .selected_text(match dtype {
                        DType::F32 => "numbers (f32)",
                        DType::TokenId => "token ids",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(dtype, DType::F32, "numbers (f32)");
                        ui.selectable_value(dtype, DType::TokenId, "token ids");
                    });
            });
        }
        Layer::Noise { dim } => usize_ui(ui, "Random numbers", dim, 1..=4096),
        Layer::Dense { units, bias } => {
            usize_ui(ui, "Units", units, 1..=65_536);
            ui.checkbox(bias, "Bias");
        }
        Layer::Embedding { vocab, dim } => {
            usize_ui(ui, "Vocabulary", vocab, 1..=1_000_000);
            usize_ui(ui, "Dimension", dim, 1..=4096);
        }
        Layer::PositionalEmbedding { max_len } => {
            usize_ui(ui, "Maximum length", max_len, 1..=65_536)
        }
        Layer::Lstm { hidden, sequences }
        | Layer::Gru { hidden, sequences }
        | Layer::Rnn { hidden, sequences } => {
            usize_ui(ui, "Hidden units", hidden, 1..=4096);
            ui.checkbox(sequences, "Output every step (off: only the last)");
        }
        Layer::SelfAttention { heads, causal } => {
            usize_ui(ui, "Heads", heads, 1..=64);
            ui.checkbox(causal, "Causal (see only earlier positions)");
        }
        Layer::Conv2d {
            filters,
            kernel,
            stride,
            padding,
            bias,
        } => {
            usize_ui(ui, "Filters", filters, 1..=2048);
            usize_ui(ui, "Kernel", kernel, 1..=15);
            usize_ui(ui, "Stride", stride, 1..=8);
            usize_ui(ui, "Padding", padding, 0..=8);
            ui.checkbox(bias, "Bias");
        }
        Layer::ConvTranspose2d {
            filters,
            kernel,
            stride,
            padding,
            output_padding,
            bias,
        } => {
            usize_ui(ui, "Filters", filters, 1..=2048);
            usize_ui(ui, "Kernel", kernel, 1..=15);
            usize_ui(ui, "Stride", stride, 1..=8);
            usize_ui(ui, "Padding", padding, 0..=8);
            usize_ui(ui, "Output padding", output_padding, 0..=7);
            ui.checkbox(bias, "Bias");
        }
        Layer::Conv1d {
            filters,
            kernel,
            stride,
            padding,
            bias,
        } => {
            usize_ui(ui, "Filters", filters, 1..=2048);
            usize_ui(ui, "Kernel (steps)", kernel, 1..=31);
            usize_ui(ui, "Stride", stride, 1..=8);
            usize_ui(ui, "Padding", padding, 0..=15);
            ui.checkbox(bias, "Bias");
        }
        Layer::Sampling { beta } => {
            ui.horizontal(|ui| {
                ui.label("KL weight (β)");
                ui.add(DragValue::new(beta).range(0.0..=10.0).speed(0.01));
            })
            .response
            .on_hover_text("How strongly the latent codes are pulled towards a standard normal: 0 gives a plain autoencoder, higher gives smoother samples and blurrier reconstructions");
        }
        Layer::MaxPool2d { kernel, stride } | Layer::AvgPool2d { kernel, stride } => {
            usize_ui(ui, "Kernel", kernel, 1..=8);
            usize_ui(ui, "Stride", stride, 1..=8);
        }
        Layer::Upsample2d { scale, mode } => {
            usize_ui(ui, "Scale", scale, 1..=crate::graph::MAX_UPSAMPLE);
            ui.horizontal(|ui| {
                ui.label("Mode");
                egui::ComboBox::from_id_salt("upsample-mode")
                    .selected_text(mode.label())
                    .show_ui(ui, |ui| {
                        for m in crate::graph::UpsampleMode::ALL {
                            ui.selectable_value(mode, m, m.label());
                        }
                    });
            })
            .response
            .on_hover_text(
                "nearest repeats each pixel; bilinear blends the four nearest (smoother)",
            );
        }
        Layer::Reshape { shape } => {
            dims_ui(ui, "Target shape", shape, "e.g. 1, 28, 28 (one -1 allowed)")
        }
        Layer::LeakyReLU { slope } => {
            ui.horizontal(|ui| {
                ui.label("Negative slope");
                ui.add(DragValue::new(slope).range(0.0..=1.0).speed(0.001));
            });
        }
        Layer::Dropout { p } => {
            ui.horizontal(|ui| {
                ui.label("Drop probability");
                ui.add(egui::Slider::new(p, 0.0..=0.95).clamping(egui::SliderClamping::Edits));
            });
        }
        Layer::BatchNorm { momentum, eps } => {
            ui.horizontal(|ui| {
                ui.label("Momentum");
                ui.add(DragValue::new(momentum).range(0.0..=1.0).speed(0.005));
            });
            eps_ui(ui, eps);
        }
        Layer::LayerNorm { eps } => eps_ui(ui, eps),
        Layer::Add { inputs } => usize_ui(ui, "Inputs", inputs, 2..=8),
        Layer::Concat { inputs, axis } => {
            usize_ui(ui, "Inputs", inputs, 2..=8);
            ui.horizontal(|ui| {
                ui.label("Axis");
                ui.add(DragValue::new(axis).range(-4..=3));
            })
            .response
            .on_hover_text(
                "Sample axis to join along: 0 = channels / first feature axis, -1 = last",
            );
        }
        Layer::Output { loss, .. } => {
            ui.horizontal(|ui| {
                ui.label("Loss");
                egui::ComboBox::from_id_salt("output-loss")
                    .selected_text(loss.label())
                    .show_ui(ui, |ui| {
                        for l in Loss::ALL {
                            ui.selectable_value(loss, l, l.label());
                        }
                    });
            });
        }
        Layer::Flatten
        | Layer::GlobalAvgPool
        | Layer::GlobalMaxPool
        | Layer::ReLU
        | Layer::Sigmoid
        | Layer::Tanh
        | Layer::GELU
        | Layer::Softmax => {
            ui.label(RichText::new("No parameters to set.").weak());
        }
    }
}

/// The optimiser, its parameters and the learning rate.
fn eps_ui(ui: &mut Ui, eps: &mut f32) {
    ui.horizontal(|ui| {
        ui.label("Epsilon");
        ui.add(
            egui::Slider::new(eps, 1e-8..=1e-2)
                .logarithmic(true)
                .clamping(egui::SliderClamping::Edits),
        );
    });
}

fn project_ui(ui: &mut Ui, studio: &mut Studio) {
    let locked = studio.is_training();
    ui.heading("Project");
    ui.horizontal(|ui| {
        ui.label("Name");
        ui.add_enabled(
            !locked,
            egui::TextEdit::singleline(&mut studio.doc.project.name).desired_width(180.0),
        );
    });
    if !studio.doc.project.description.is_empty() {
        ui.label(RichText::new(&studio.doc.project.description).weak());
    }
    ui.add_enabled_ui(!locked, |ui| {
        egui::CollapsingHeader::new("Data source")
            .default_open(true)
            .show(ui, |ui| data_ui(ui, studio));
        egui::CollapsingHeader::new("Training")
            .default_open(true)
            .show(ui, |ui| training_ui(ui, studio));
    });
    egui::CollapsingHeader::new("Model summary")
        .default_open(true)
        .show(ui, |ui| summary_ui(ui, studio));
}

fn data_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.label(studio.doc.project.data.source.label());
    if let Some(sum) = &studio.data.summary {
        ui.label(
            RichText::new(format!(
                "{} train · {} validation · {} test",
                sum.splits[0], sum.splits[1], sum.splits[2]
            ))
            .weak(),
        );
    }
    if ui
        .button("Open the Data tab")
        .on_hover_text("Choose the data set, split, augmentation; see a preview")
        .clicked()
    {
        studio.settings.bottom_tab = super::studio::BottomTab::Data;
    }
}

/// Supervised or autoencoder; a text corpus under supervised trains a language model.
fn mode_ui(ui: &mut Ui, studio: &mut Studio) {
    let before = studio.doc.project.mode;
    mode_choice_ui(ui, studio);
    // An autoencoder's last layer reproduces the input; a classifier's gives class scores.
    if std::mem::discriminant(&before) != std::mem::discriminant(&studio.doc.project.mode) {
        studio.fit_graph_to_data();
    }
}

fn mode_choice_ui(ui: &mut Ui, studio: &mut Studio) {
    let mode = &mut studio.doc.project.mode;
    let text_corpus = studio.doc.project.data.source.is_text_corpus();
    let shown = match *mode {
        TrainingMode::Supervised if text_corpus => "language model (next character)",
        m => m.label(),
    };
    ui.horizontal(|ui| {
        ui.label("Mode");
        egui::ComboBox::from_id_salt("training-mode")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                let supervised = if text_corpus {
                    "language model (next character)"
                } else {
                    "supervised (predict the labels)"
                };
                if ui
                    .selectable_label(*mode == TrainingMode::Supervised, supervised)
                    .clicked()
                {
                    *mode = TrainingMode::Supervised;
                }
                if ui
                    .selectable_label(
                        matches!(mode, TrainingMode::Autoencoder { .. }),
                        "autoencoder (reconstruct the input)",
                    )
                    .clicked()
                    && !matches!(mode, TrainingMode::Autoencoder { .. })
                {
                    *mode = TrainingMode::Autoencoder { noise_std: 0.0 };
                }
                if ui
                    .selectable_label(
                        matches!(mode, TrainingMode::Gan { .. }),
                        "GAN (generator against discriminator)",
                    )
                    .clicked()
                    && !matches!(mode, TrainingMode::Gan { .. })
                {
                    *mode = TrainingMode::gan();
                }
            });
    });
    if let TrainingMode::Gan {
        generator_lr,
        discriminator_lr,
        beta1,
    } = mode
    {
        for (group, lr) in [
            ("Generator", generator_lr),
            ("Discriminator", discriminator_lr),
        ] {
            ui.horizontal(|ui| {
                ui.label(format!("{group} learning rate"));
                ui.add(
                    egui::Slider::new(lr, 1e-5..=1e-2)
                        .logarithmic(true)
                        .clamping(egui::SliderClamping::Edits),
                );
            });
        }
        ui.horizontal(|ui| {
            ui.label("Adam β1 (both)");
            ui.add(DragValue::new(beta1).range(0.0..=0.999).speed(0.01));
        })
        .response
        .on_hover_text("Each network has its own Adam; 0.5 is the usual β1 for GANs. The schedule below scales both rates.");
    }
    if let TrainingMode::Autoencoder { noise_std } = mode {
        ui.horizontal(|ui| {
            ui.label("Denoising noise σ");
            ui.add(egui::Slider::new(noise_std, 0.0..=1.0).clamping(egui::SliderClamping::Edits));
        })
        .response
        .on_hover_text("Gaussian noise added to the input while training: the network learns to reconstruct the clean input (0 = off)");
    }
}

fn training_ui(ui: &mut Ui, studio: &mut Studio) {
    mode_ui(ui, studio);
    super::training_settings_view::training_settings_ui(ui, studio);
}

fn summary_ui(ui: &mut Ui, studio: &mut Studio) {
    let g = &studio.doc.project.graph;
    let a = &studio.doc.analysis;
    egui::Grid::new("model-summary")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            ui.label(RichText::new("node").strong());
            ui.label(RichText::new("output").strong());
            ui.label(RichText::new("params").strong());
            ui.end_row();
            for &i in &a.order {
                let node = &g.nodes[i];
                let s = &a.nodes[i];
                if ui.link(node.label()).clicked() {
                    studio.doc.editor.selected = Some(node.id.clone());
                }
                let shape = s
                    .output
                    .as_ref()
                    .or(s.inputs.first().and_then(|x| x.as_ref()))
                    .map_or("?".into(), |x| x.to_string());
                ui.monospace(shape);
                ui.monospace(thousands(s.params));
                ui.end_row();
            }
            ui.label(RichText::new("total").strong());
            ui.label("");
            ui.monospace(RichText::new(thousands(a.total_params())).strong());
            ui.end_row();
        });
    for e in &a.errors {
        ui.colored_label(ERROR, format!("⚠ {e}"));
    }
    for w in &a.warnings {
        ui.label(RichText::new(format!("note: {w}")).weak());
    }
}
