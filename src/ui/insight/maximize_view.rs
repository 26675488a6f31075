//! The activation-maximisation view: an input grown towards a class or a unit.

use super::{class_names, Maximized};
use crate::insight::{InsightRequest, MaxTarget, MaximizeSettings};
use crate::ui::colormap::sample_image;
use crate::ui::studio::Studio;
use crate::ui::theme::TRAIN;
use egui::{RichText, Ui};
use egui_plot::{Line, Plot, PlotPoints};

pub(super) fn maximize_ui(ui: &mut Ui, studio: &mut Studio) {
    let classes = class_names(studio);
    ui.horizontal(|ui| {
        ui.label("Make the network see class");
        egui::ComboBox::from_id_salt("max-class")
            .selected_text(
                classes
                    .get(studio.insight.max_class)
                    .cloned()
                    .unwrap_or_default(),
            )
            .show_ui(ui, |ui| {
                for (k, c) in classes.iter().enumerate() {
                    ui.selectable_value(&mut studio.insight.max_class, k, c);
                }
            });
        let s = studio
            .insight
            .max_settings
            .get_or_insert_with(MaximizeSettings::default);
        ui.label("steps");
        ui.add(egui::DragValue::new(&mut s.steps).range(10..=2000));
        ui.label("L2");
        ui.add(
            egui::DragValue::new(&mut s.l2)
                .range(0.0..=0.5)
                .speed(0.001),
        );
        ui.label("blur every");
        ui.add(egui::DragValue::new(&mut s.blur_every).range(0..=100));
        let settings = s.clone();
        // A unit of the node selected on the canvas, if the user asks for one.
        let node = studio.doc.editor.selected.clone().filter(|n| {
            studio.doc.project.graph.node(n).is_some_and(|x| {
                !matches!(
                    x.layer.kind(),
                    crate::graph::LayerKind::Output | crate::graph::LayerKind::Input
                )
            })
        });
        ui.separator();
        let mut unit = studio.insight.max_unit.is_some();
        ui.add_enabled(
            node.is_some(),
            egui::Checkbox::new(&mut unit, "or a unit of the selected node"),
        )
        .on_hover_text(
            "Select a node on the canvas: a channel of a convolution, or one unit of a dense layer",
        );
        let mut index = studio.insight.max_unit.unwrap_or(0);
        if unit {
            ui.add(egui::DragValue::new(&mut index).range(0..=4095));
        }
        studio.insight.max_unit = (unit && node.is_some()).then_some(index);
        if ui.button("Start").clicked() {
            let target = match (studio.insight.max_unit, node) {
                (Some(index), Some(node)) => MaxTarget::Unit { node, index },
                _ => MaxTarget::Class(studio.insight.max_class),
            };
            studio.insight.maximize = None;
            studio.insight_request(InsightRequest::Maximize { target, settings });
        }
    });
    let Some(Maximized {
        dims,
        image,
        history,
        done,
    }) = studio.insight.maximize.clone()
    else {
        ui.label(RichText::new("Gradient ascent on the input, from faint noise, towards what the network finds most like the class.").weak());
        return;
    };
    let ctx = ui.ctx().clone();
    ui.horizontal_top(|ui| {
        if let Some(img) = sample_image(&image, &dims) {
            let tex = studio.insight.texture(&ctx, "maximize", img);
            ui.vertical(|ui| {
                ui.label(if done { "result" } else { "forming…" });
                ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(200.0, 200.0)));
            });
        }
        let pts: Vec<[f64; 2]> = history
            .iter()
            .enumerate()
            .map(|(i, v)| [i as f64, *v as f64])
            .collect();
        if crate::ui::experiments::export_button_ui(ui, !pts.is_empty()) {
            let chart =
                crate::runs::chart::Chart::new("Activation maximisation", "update", "class score")
                    .with("score", pts.clone());
            crate::ui::experiments::save_chart(studio, "maximize", &chart);
        }
        Plot::new("max-objective")
            .height(200.0)
            .width(360.0)
            .x_axis_label("update")
            .y_axis_label("class score")
            .show(ui, |p| {
                p.line(Line::new("score", PlotPoints::from(pts)).color(TRAIN))
            });
    });
}
