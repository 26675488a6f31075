//! The gradient-health view: a diagnosis with fixes, and per-layer norms over time.

use crate::insight::{apply_fix, diagnose, ParamHealth};
use crate::ui::colormap::sequential;
use crate::ui::studio::Studio;
use crate::ui::theme::{ERROR, VAL};
use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

pub(super) fn health_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(420.0);
            ui.label(RichText::new("Diagnosis").strong());
            let diagnoses = match &studio.session.history {
                Some(h) => diagnose(
                    h,
                    studio.insight.snapshot.as_ref(),
                    &studio.doc.project.graph,
                ),
                None => Vec::new(),
            };
            if diagnoses.is_empty() {
                ui.label(
                    RichText::new(if studio.session.history.is_some() {
                        "Nothing wrong found so far."
                    } else {
                        "Train the network to see a diagnosis."
                    })
                    .weak(),
                );
            }
            let mut apply = None;
            for d in &diagnoses {
                ui.label(RichText::new(&d.message).color(
                    if matches!(d.finding, crate::insight::Finding::Divergence) {
                        ERROR
                    } else {
                        VAL
                    },
                ));
                if let Some(fix) = &d.fix {
                    if ui
                        .add_enabled(!studio.is_training(), egui::Button::new(fix.label()))
                        .clicked()
                    {
                        apply = Some(fix.clone());
                    }
                }
                ui.add_space(4.0);
            }
            if let Some(fix) = apply {
                let mut p = studio.doc.project.clone();
                p.graph = studio.doc.editor.graph();
                let said = apply_fix(&mut p, &fix);
                studio.doc.project.training = p.training.clone();
                studio.doc.editor.replace_graph(p.graph);
                studio.notify(format!("Applied: {said}"));
                // More epochs is a fix only a run shows: it starts at once.
                if matches!(fix, crate::insight::Fix::MoreEpochs { .. }) {
                    studio.push(crate::ui::command::Command::Train);
                }
            }
        });
        ui.separator();
        let export = ui
            .vertical(|ui| health_plots_ui(ui, &studio.insight.health))
            .inner;
        if let Some((name, chart)) = export {
            crate::ui::experiments::save_chart(studio, name, &chart);
        }
    });
}

/// The two health charts; the one whose export button was clicked, built for saving.
fn health_plots_ui(
    ui: &mut Ui,
    health: &[(usize, Vec<ParamHealth>)],
) -> Option<(&'static str, crate::runs::chart::Chart)> {
    let mut export = None;
    if health.is_empty() {
        ui.label(
            RichText::new("Per-layer gradient norms and update sizes appear here while training.")
                .weak(),
        );
        return None;
    }
    let params: Vec<String> = health[health.len() - 1]
        .1
        .iter()
        .map(|h| h.param.clone())
        .collect();
    let series = |f: fn(&ParamHealth) -> f32| -> Vec<(String, Vec<[f64; 2]>)> {
        params
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let pts = health
                    .iter()
                    .filter_map(|(step, hs)| {
                        hs.get(i)
                            .map(|h| [*step as f64, (f(h) as f64).max(1e-12).log10()])
                    })
                    .collect();
                (name.clone(), pts)
            })
            .collect()
    };
    let w = (ui.available_width() / 2.0 - 8.0).max(200.0);
    let h = (ui.available_height() - 20.0).max(120.0);
    ui.horizontal(|ui| {
        for (title, f, id) in [
            (
                "gradient norm (log10)",
                (|h: &ParamHealth| h.grad_norm) as fn(&ParamHealth) -> f32,
                "grad-norm",
            ),
            (
                "update / weight (log10)",
                |h: &ParamHealth| h.update_ratio,
                "update-ratio",
            ),
        ] {
            let data = series(f);
            if crate::ui::experiments::export_button_ui(ui, !data.is_empty()) {
                let mut chart = crate::runs::chart::Chart::new(title, "step", title);
                for (name, pts) in &data {
                    chart = chart.with(name, pts.clone());
                }
                export = Some((id, chart));
            }
            Plot::new(id)
                .width(w)
                .height(h)
                .legend(Legend::default())
                .y_axis_label(title)
                .x_axis_label("step")
                .show(ui, |p| {
                    for (i, (name, pts)) in data.into_iter().enumerate() {
                        let t = i as f32 / params.len().max(1) as f32;
                        p.line(
                            Line::new(name, PlotPoints::from(pts))
                                .color(sequential(0.15 + 0.8 * t))
                                .width(1.5),
                        );
                    }
                    if id == "grad-norm" {
                        p.hline(
                            egui_plot::HLine::new("vanishing (1e-7)", -7.0)
                                .color(ERROR)
                                .style(egui_plot::LineStyle::dashed_loose()),
                        );
                    }
                    if id == "update-ratio" {
                        // Karpathy's rule of thumb: updates about a thousandth of the weights.
                        for (name, y) in [
                            ("healthy band (1e-4 to 1e-2)", -4.0),
                            ("healthy band (1e-4 to 1e-2)", -2.0),
                        ] {
                            p.hline(
                                egui_plot::HLine::new(name, y)
                                    .color(crate::ui::theme::OK)
                                    .style(egui_plot::LineStyle::dashed_loose()),
                            );
                        }
                        p.hline(
                            egui_plot::HLine::new("about 1e-3", -3.0)
                                .color(crate::ui::theme::OK)
                                .width(0.5),
                        );
                    }
                });
        }
    });
    export
}
