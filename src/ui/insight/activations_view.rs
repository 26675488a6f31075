//! The activations view of the inspector: the selected node's feature maps or units.

use crate::insight::{activation_stats, Activation};
use crate::ui::colormap::{plane_image, range, sample_image};
use crate::ui::studio::Studio;
use egui::{RichText, Ui};

/// Activations of node `id` from the latest snapshot, for the inspector.
pub fn activations_ui(ui: &mut Ui, studio: &mut Studio, id: &str) {
    let Some(snap) = studio.insight.snapshot.clone() else {
        ui.label(RichText::new("Train the network to see this layer's activations.").weak());
        return;
    };
    let Some(a) = snap.activations.iter().find(|a| a.node == id).cloned() else {
        ui.label(
            RichText::new("No activations for this node (it is not on the path to the Output).")
                .weak(),
        );
        return;
    };
    let n = a.samples();
    let stats = activation_stats(&a);
    ui.label(RichText::new(format!("Activations at step {}", snap.step)).strong());
    ui.label(format!(
        "mean {:.3} · std {:.3} · range [{:.2}, {:.2}] · dead {:.0} %",
        stats.mean,
        stats.std,
        stats.min,
        stats.max,
        stats.dead_fraction * 100.0
    ));
    ui.horizontal(|ui| {
        ui.label("probe sample");
        if ui.small_button("◀").clicked() {
            studio.insight.probe_sample = studio.insight.probe_sample.saturating_sub(1);
        }
        ui.label(format!(
            "{} / {n}",
            (studio.insight.probe_sample.min(n.saturating_sub(1))) + 1
        ));
        if ui.small_button("▶").clicked() {
            studio.insight.probe_sample =
                (studio.insight.probe_sample + 1).min(n.saturating_sub(1));
        }
        ui.checkbox(&mut studio.insight.per_map_scaling, "scale each map");
    });
    let s = studio.insight.probe_sample.min(n.saturating_sub(1));
    // The probe sample itself, for reference.
    if let (Some(data), Some(&index)) = (studio.data.dataset.clone(), snap.probe.get(s)) {
        if let Some(img) = sample_image(&data.raw_sample(index), &data.sample_shape) {
            let tex = studio.insight.texture(ui.ctx(), "probe-input", img);
            ui.horizontal(|ui| {
                ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(56.0, 56.0)));
                let label = data
                    .label(index)
                    .map(|l| {
                        data.class_names()
                            .get(l as usize)
                            .cloned()
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
                ui.label(format!("sample {index} ({label})"));
            });
        }
    }
    activation_maps_ui(ui, studio, &a, s);
}

fn activation_maps_ui(ui: &mut Ui, studio: &mut Studio, a: &Activation, s: usize) {
    let values = a.sample(s).to_vec();
    let ctx = ui.ctx().clone();
    match a.dims[..] {
        [c, h, w] => {
            ui.label(format!(
                "{c} feature map{} of {h}×{w}",
                if c == 1 { "" } else { "s" }
            ));
            let (glo, ghi) = range(&values);
            let side = if c > 32 { 30.0 } else { 40.0 };
            let per_row = ((ui.available_width() / (side + 3.0)) as usize).max(1);
            egui::Grid::new(("maps", a.node.as_str()))
                .spacing(egui::vec2(3.0, 3.0))
                .show(ui, |ui| {
                    for k in 0..c {
                        let plane = &values[k * h * w..(k + 1) * h * w];
                        let (lo, hi) = if studio.insight.per_map_scaling {
                            range(plane)
                        } else {
                            (glo, ghi)
                        };
                        let tex = studio.insight.texture(
                            &ctx,
                            &format!("act-{k}"),
                            plane_image(plane, h, w, lo, hi),
                        );
                        ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(side, side)))
                            .on_hover_text(format!("map {k}: [{lo:.2}, {hi:.2}]"));
                        if (k + 1) % per_row == 0 {
                            ui.end_row();
                        }
                    }
                });
        }
        _ => {
            // A heat strip: one cell per unit (rows of a sequence for [T, F]).
            let (rows, cols) = match a.dims[..] {
                [t, f] => (t, f),
                _ => (1, values.len()),
            };
            ui.label(format!(
                "{} unit{}",
                values.len(),
                if values.len() == 1 { "" } else { "s" }
            ));
            let (lo, hi) = range(&values);
            let img = plane_image(&values, rows, cols, lo, hi);
            let tex = studio.insight.texture(&ctx, "act-strip", img);
            let width = ui.available_width().min(cols as f32 * 12.0).max(60.0);
            let height = (rows as f32 * 12.0).clamp(14.0, 200.0);
            ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(width, height)))
                .on_hover_text(format!("values from {lo:.3} (dark) to {hi:.3} (yellow)"));
        }
    }
}
