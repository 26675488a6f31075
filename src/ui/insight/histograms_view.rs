//! Weights over time (TensorBoard's histograms): one tensor's histogram per snapshot as a column
//! of a heat map — x the step, y the value on one shared range, brightness the share of values
//! there — for a parameter, its gradient or a node's output; and the share of each ReLU's units
//! that no probe sample activates. The figures come from `train::histogram::Timeline`.

use crate::train::histogram::{TensorKind, Timeline};
use crate::ui::colormap::sequential;
use egui::{Color32, ColorImage, RichText, TextureHandle, TextureOptions, Ui};
use egui_plot::{Legend, Line, Plot, PlotImage, PlotPoint, PlotPoints};

/// Value bins of the heat map.
const ROWS: usize = 48;

/// What the view keeps between frames: the tensor shown and its texture.
#[derive(Default)]
pub struct HistogramsView {
    pub tensor: Option<(String, TensorKind)>,
    texture: Option<TextureHandle>,
}

fn label(name: &str, kind: TensorKind) -> String {
    format!("{name} · {}", kind.name())
}

pub(super) fn histograms_ui(ui: &mut Ui, view: &mut HistogramsView, timeline: &Timeline) {
    let tensors = timeline.tensors();
    if tensors.is_empty() {
        ui.label(
            RichText::new("Histograms of every layer's weights, gradients and outputs appear here while training, one column per snapshot.")
                .weak(),
        );
        return;
    }
    if view.tensor.as_ref().is_none_or(|t| !tensors.contains(t)) {
        view.tensor = tensors.first().cloned();
    }
    let Some((name, kind)) = view.tensor.clone() else {
        return;
    };
    ui.horizontal(|ui| {
        ui.label("tensor");
        egui::ComboBox::from_id_salt("histogram-tensor")
            .selected_text(label(&name, kind))
            .width(260.0)
            .show_ui(ui, |ui| {
                for (n, k) in &tensors {
                    ui.selectable_value(&mut view.tensor, Some((n.clone(), *k)), label(n, *k));
                }
            });
        ui.label(
            RichText::new(format!(
                "{} snapshots; brightness: share of the values in each band",
                timeline.columns.len()
            ))
            .weak(),
        );
    });
    let h = (ui.available_height() - 12.0).max(160.0);
    let w = ui.available_width();
    ui.horizontal_top(|ui| {
        ui.allocate_ui(egui::vec2(w * 0.6, h), |ui| {
            heat_map_ui(ui, view, timeline, &name, kind, h)
        });
        ui.allocate_ui(egui::vec2(w * 0.4 - 8.0, h), |ui| dead_ui(ui, timeline, h));
    });
}

fn heat_map_ui(
    ui: &mut Ui,
    view: &mut HistogramsView,
    timeline: &Timeline,
    name: &str,
    kind: TensorKind,
    height: f32,
) {
    let Some((lo, hi, cols)) = timeline.heat_map(name, kind, ROWS) else {
        return;
    };
    let mut img = ColorImage::new([cols.len(), ROWS], vec![Color32::BLACK; cols.len() * ROWS]);
    for (x, (_, shares)) in cols.iter().enumerate() {
        // Each column on its own scale: the shape matters, not how many values there are.
        let top = shares.iter().cloned().fold(0.0f32, f32::max).max(1e-12);
        for (b, &s) in shares.iter().enumerate() {
            // Row 0 of the image is the top: the highest values.
            let y = ROWS - 1 - b;
            img[(x, y)] = if s > 0.0 {
                sequential(0.15 + 0.85 * (s / top).sqrt())
            } else {
                Color32::from_gray(12)
            };
        }
    }
    let tex = view.texture.get_or_insert_with(|| {
        ui.ctx()
            .load_texture("histogram-heat-map", img.clone(), TextureOptions::NEAREST)
    });
    tex.set(img, TextureOptions::NEAREST);
    let (first, last) = (cols[0].0 as f64, cols[cols.len() - 1].0 as f64);
    let width = (last - first).max(1.0);
    let span = ((hi - lo) as f64).max(1e-9);
    let tex_id = tex.id();
    Plot::new("histogram-heat-map")
        .height(height)
        .x_axis_label("step")
        .y_axis_label(format!("{} of {name}", kind.name()))
        .allow_scroll(false)
        .show(ui, |p| {
            p.image(PlotImage::new(
                "histogram",
                tex_id,
                PlotPoint::new(first + width / 2.0, lo as f64 + span / 2.0),
                egui::vec2(width as f32, span as f32),
            ));
        });
}

fn dead_ui(ui: &mut Ui, timeline: &Timeline, height: f32) {
    let nodes = timeline.relu_nodes();
    if nodes.is_empty() {
        ui.label(RichText::new("No ReLU in this network: no dead units to count.").weak());
        return;
    }
    Plot::new("dead-relus")
        .height(height)
        .legend(Legend::default())
        .x_axis_label("step")
        .y_axis_label("dead ReLU units (share)")
        .include_y(0.0)
        .include_y(1.0)
        .allow_scroll(false)
        .show(ui, |p| {
            for (i, node) in nodes.iter().enumerate() {
                let pts: Vec<[f64; 2]> = timeline
                    .dead_over_time(node)
                    .into_iter()
                    .map(|(s, d)| [s as f64, d as f64])
                    .collect();
                let t = i as f32 / nodes.len().max(1) as f32;
                p.line(
                    Line::new(node.clone(), PlotPoints::from(pts))
                        .color(sequential(0.2 + 0.75 * t))
                        .width(1.5),
                );
            }
        });
}
