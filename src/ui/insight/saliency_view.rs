//! The saliency view: explain one sample with a chosen method, or compare all methods.

use super::{class_name, class_names, MapResult, METHODS};
use crate::insight::SampleView;
use crate::ui::colormap::{overlay_image, sample_image};
use crate::ui::studio::Studio;
use egui::{Color32, RichText, Ui};
use egui_plot::Plot;

pub(super) fn saliency_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(300.0);
            let n = studio.data.dataset.as_ref().map_or(0, |d| {
                if d.val.is_empty() {
                    d.test.len()
                } else {
                    d.val.len()
                }
            });
            ui.horizontal(|ui| {
                ui.label("Sample");
                if ui.small_button("◀").clicked() {
                    studio.insight.sample_pos = studio.insight.sample_pos.saturating_sub(1);
                }
                ui.add(
                    egui::DragValue::new(&mut studio.insight.sample_pos)
                        .range(0..=n.saturating_sub(1)),
                );
                if ui.small_button("▶").clicked() {
                    studio.insight.sample_pos =
                        (studio.insight.sample_pos + 1).min(n.saturating_sub(1));
                }
                ui.label(RichText::new(format!("of {n} validation")).weak());
            });
            let classes = class_names(studio);
            ui.horizontal(|ui| {
                ui.label("Class");
                let text = studio
                    .insight
                    .class
                    .map_or("predicted".to_string(), |k| class_name(studio, k));
                egui::ComboBox::from_id_salt("saliency-class")
                    .selected_text(text)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut studio.insight.class, None, "predicted");
                        for (k, c) in classes.iter().enumerate() {
                            ui.selectable_value(&mut studio.insight.class, Some(k), c);
                        }
                    });
            });
            ui.horizontal(|ui| {
                let l = ui.label("Method");
                egui::ComboBox::from_id_salt("saliency-method")
                    .selected_text(METHODS[studio.insight.method])
                    .show_ui(ui, |ui| {
                        for (i, m) in METHODS.iter().enumerate() {
                            ui.selectable_value(&mut studio.insight.method, i, *m);
                        }
                    })
                    .response
                    .labelled_by(l.id);
            });
            method_params_ui(ui, studio);
            ui.horizontal(|ui| {
                ui.label("Overlay");
                ui.add(egui::Slider::new(&mut studio.insight.opacity, 0.0..=1.0));
            });
            ui.checkbox(&mut studio.insight.live, "Refresh live while training");
            ui.horizontal(|ui| {
                if ui.button("Explain this sample").clicked() {
                    studio.request_current_method();
                }
                if ui.button("Compare all methods").clicked() {
                    studio.request_all_methods();
                }
            });
        });
        ui.separator();
        ui.vertical(|ui| map_view_ui(ui, studio));
    });
}

fn method_params_ui(ui: &mut Ui, studio: &mut Studio) {
    let convs = studio.conv_nodes();
    let cam = studio.cam_node().unwrap_or_default();
    let p = &mut studio.insight.params;
    match studio.insight.method {
        2 => {
            ui.horizontal(|ui| {
                ui.label("samples");
                ui.add(egui::DragValue::new(&mut p.smooth_samples).range(1..=200));
                ui.label("noise σ");
                ui.add(
                    egui::DragValue::new(&mut p.smooth_sigma)
                        .range(0.0..=1.0)
                        .speed(0.01),
                );
            });
        }
        3 => {
            ui.horizontal(|ui| {
                ui.label("steps");
                ui.add(egui::DragValue::new(&mut p.ig_steps).range(2..=500));
                ui.checkbox(&mut p.ig_blur_baseline, "blurred baseline");
            });
        }
        4 => {
            ui.horizontal(|ui| {
                ui.label("patch");
                ui.add(egui::DragValue::new(&mut p.occ_patch).range(1..=16));
                ui.label("stride");
                ui.add(egui::DragValue::new(&mut p.occ_stride).range(1..=16));
            });
        }
        5 => {
            ui.horizontal(|ui| {
                ui.label("layer");
                egui::ComboBox::from_id_salt("cam-node")
                    .selected_text(&cam)
                    .show_ui(ui, |ui| {
                        for n in &convs {
                            ui.selectable_value(&mut p.cam_node, n.clone(), n);
                        }
                    });
            });
        }
        6 | 7 => {
            ui.horizontal(|ui| {
                ui.checkbox(&mut p.slic, "SLIC superpixels");
                if p.slic {
                    ui.add(
                        egui::DragValue::new(&mut p.slic_segments)
                            .range(4..=200)
                            .suffix(" segments"),
                    );
                } else {
                    ui.add(
                        egui::DragValue::new(&mut p.grid_cell)
                            .range(1..=32)
                            .prefix("grid ")
                            .suffix(" px"),
                    );
                }
            });
            ui.horizontal(|ui| {
                if studio.insight.method == 6 {
                    ui.label("perturbations");
                    ui.add(egui::DragValue::new(&mut p.lime_samples).range(20..=5000));
                } else {
                    ui.label("background");
                    ui.add(egui::DragValue::new(&mut p.shap_background).range(1..=100));
                    ui.label("coalitions");
                    ui.add(egui::DragValue::new(&mut p.shap_coalitions).range(20..=10_000));
                }
            });
        }
        _ => {}
    }
}

fn top3_ui(ui: &mut Ui, studio: &Studio, s: &SampleView) {
    let truth = s.label.map_or("?".into(), |l| class_name(studio, l));
    ui.label(format!("sample {} · true class {truth}", s.index));
    for (k, p) in &s.top {
        let mark = if Some(*k) == s.label { "✔" } else { " " };
        ui.monospace(format!(
            "{mark} {:>8} {:5.1} %",
            class_name(studio, *k),
            p * 100.0
        ));
    }
    ui.label(RichText::new(format!("explaining: {}", class_name(studio, s.class))).weak());
}

fn map_view_ui(ui: &mut Ui, studio: &mut Studio) {
    let Some(map) = studio.insight.map.clone() else {
        ui.label(RichText::new("Pick a sample and a method, then Explain this sample.").weak());
        return;
    };
    let ctx = ui.ctx().clone();
    let opacity = studio.insight.opacity;
    if !studio.insight.compare.is_empty() {
        let compare = studio.insight.compare.clone();
        ui.horizontal_wrapped(|ui| {
            for (i, m) in compare.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.label(RichText::new(&m.method).strong());
                    map_image_ui(ui, studio, &ctx, &format!("cmp-{i}"), m, opacity, 110.0);
                    ui.label(
                        RichText::new(format!("{:.0} ms", m.elapsed_ms))
                            .small()
                            .weak(),
                    );
                });
            }
        });
        if !studio.insight.compare_queue.is_empty() {
            ui.label(format!(
                "{} more method(s) to go…",
                studio.insight.compare_queue.len()
            ));
        }
        return;
    }
    ui.horizontal_top(|ui| {
        if let Some(img) = sample_image(&map.sample.raw, &map.sample.dims) {
            let tex = studio.insight.texture(&ctx, "saliency-input", img);
            ui.vertical(|ui| {
                ui.label("input");
                ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(180.0, 180.0)));
            });
        }
        ui.vertical(|ui| {
            ui.label(RichText::new(format!("{} ({:.0} ms)", map.method, map.elapsed_ms)).strong());
            map_image_ui(ui, studio, &ctx, "saliency-map", &map, opacity, 180.0);
            if let Some(n) = &map.note {
                ui.label(RichText::new(n).small());
            }
        });
        ui.vertical(|ui| top3_ui(ui, studio, &map.sample));
    });
}

fn map_image_ui(
    ui: &mut Ui,
    studio: &mut Studio,
    ctx: &egui::Context,
    name: &str,
    m: &MapResult,
    opacity: f32,
    side: f32,
) {
    if m.sample.dims.len() == 3 {
        if let Some(img) = overlay_image(&m.sample.raw, &m.values, &m.sample.dims, opacity) {
            let tex = studio.insight.texture(ctx, name, img);
            ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(side, side)));
        }
        return;
    }
    // Tables: a bar per feature.
    let names = studio
        .data
        .dataset
        .as_ref()
        .map(|d| d.feature_names.clone())
        .unwrap_or_default();
    let bars: Vec<egui_plot::Bar> = m
        .values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            egui_plot::Bar::new(i as f64, v as f64)
                .name(names.get(i).cloned().unwrap_or_else(|| format!("x{i}")))
                .fill(if v >= 0.0 {
                    Color32::from_rgb(220, 80, 70)
                } else {
                    Color32::from_rgb(70, 110, 220)
                })
        })
        .collect();
    let labels = names.clone();
    if crate::ui::experiments::export_button_ui(ui, !m.values.is_empty()) {
        let pts = m
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| [i as f64, v as f64])
            .collect();
        let chart = crate::runs::chart::Chart::new(
            &format!("{name} attribution"),
            "feature",
            "attribution",
        )
        .styled(crate::runs::chart::ChartStyle::Bars)
        .with(name, pts);
        crate::ui::experiments::save_chart(studio, &format!("attribution-{name}"), &chart);
    }
    Plot::new(format!("bars-{name}"))
        .height(side)
        .width(side * 1.8)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .x_axis_formatter(move |g, _| {
            let k = g.value.round();
            if (g.value - k).abs() < 1e-6 && k >= 0.0 {
                labels.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |p| {
            p.bar_chart(egui_plot::BarChart::new("attribution", bars))
        });
}
