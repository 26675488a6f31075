//! Comparing the ticked runs: one figure overlaid on a shared axis (step, epoch or wall time),
//! the settings that differ with each run's final figures, and what changed in the graph.

use super::ExperimentsPanel;
use crate::runs::chart::Chart;
use crate::runs::{graph_diff, settings_diff, XAxis};
use crate::ui::panel::Ctx;
use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

/// The figures a comparison can overlay: (tag in scalars.csv, name shown).
const TAGS: [(&str, &str); 6] = [
    ("val/loss", "validation loss"),
    ("val/accuracy", "validation accuracy"),
    ("epoch/train_loss", "train loss (epoch)"),
    ("train/loss", "train loss (per step)"),
    ("train/accuracy", "train accuracy (per step)"),
    ("lr", "learning rate"),
];

/// How one final figure of a run is shown.
type FigureText = fn(&crate::runs::RunFigures) -> String;

impl ExperimentsPanel {
    pub(super) fn compare_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        let ids: Vec<String> = self
            .selected
            .iter()
            .filter(|id| self.listing.runs.iter().any(|r| &r.id == *id))
            .cloned()
            .collect();
        if ids.is_empty() {
            ui.label(RichText::new("Tick runs above to compare them here.").weak());
            return;
        }
        if self.compare_tag.is_empty() {
            self.compare_tag = "val/loss".into();
        }
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("Comparing {} run(s)", ids.len())).strong());
            let tag = &mut self.compare_tag;
            let shown = TAGS
                .iter()
                .find(|t| t.0 == tag)
                .map_or(tag.as_str(), |t| t.1)
                .to_string();
            egui::ComboBox::from_id_salt("compare-tag")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for (t, name) in TAGS {
                        ui.selectable_value(tag, t.to_string(), name);
                    }
                });
            ui.label("against");
            egui::ComboBox::from_id_salt("compare-axis")
                .selected_text(self.axis.name())
                .show_ui(ui, |ui| {
                    for a in XAxis::ALL {
                        ui.selectable_value(&mut self.axis, a, a.name());
                    }
                });
            if ui.small_button("Clear").clicked() {
                self.selected.clear();
            }
        });
        let (tag, axis) = (self.compare_tag.clone(), self.axis);
        let tag_name = TAGS
            .iter()
            .find(|t| t.0 == tag)
            .map_or(tag.as_str(), |t| t.1)
            .to_string();
        let mut chart = Chart::new(
            &format!("{tag_name} by {}", axis.name()),
            axis.name(),
            &tag_name,
        );
        for id in &ids {
            let label = self
                .listing
                .runs
                .iter()
                .find(|r| &r.id == id)
                .map_or(id.clone(), |r| r.meta.label.clone());
            let points = self
                .run_scalars(id, ctx.now)
                .map(|s| s.series(&tag, axis))
                .unwrap_or_default();
            chart = chart.with(&label, points);
        }
        let runs: Vec<_> = ids
            .iter()
            .filter_map(|id| self.listing.runs.iter().find(|r| &r.id == id).cloned())
            .collect();
        let projects: Vec<Result<crate::project::Project, String>> =
            runs.iter().map(|r| self.run_project(&r.id)).collect();
        let avail = ui.available_width();
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.set_width(avail * 0.5);
                super::chart_export::panel_export_chart_ui(ui, ctx, "compare", &chart);
                Plot::new("compare-plot")
                    .height(220.0)
                    .legend(Legend::default())
                    .x_axis_label(axis.name())
                    .show(ui, |p| {
                        for s in &chart.series {
                            p.line(Line::new(
                                s.name.clone(),
                                PlotPoints::from(s.points.clone()),
                            ));
                        }
                    });
            });
            ui.vertical(|ui| {
                egui::ScrollArea::vertical()
                    .id_salt("compare-table")
                    .max_height(250.0)
                    .show(ui, |ui| {
                        egui::Grid::new("compare-grid")
                            .striped(true)
                            .show(ui, |ui| {
                                ui.label(RichText::new("setting").strong());
                                for r in &runs {
                                    let short: String = r.meta.label.chars().take(28).collect();
                                    let short = if short.len() < r.meta.label.len() {
                                        format!("{short}…")
                                    } else {
                                        short
                                    };
                                    ui.label(RichText::new(short).strong())
                                        .on_hover_text(format!("{}\n{}", r.meta.label, r.id));
                                }
                                ui.end_row();
                                let figures: [(&str, FigureText); 4] = [
                                    ("val loss", |f| {
                                        f.val_loss.map_or("–".into(), |v| format!("{v:.4}"))
                                    }),
                                    ("val accuracy", |f| {
                                        f.val_accuracy
                                            .map_or("–".into(), |v| format!("{:.2} %", v * 100.0))
                                    }),
                                    ("test accuracy", |f| {
                                        f.test_accuracy
                                            .map_or("–".into(), |v| format!("{:.2} %", v * 100.0))
                                    }),
                                    ("time", |f| format!("{:.1} s", f.elapsed_s)),
                                ];
                                for (name, show) in figures {
                                    ui.label(name);
                                    for r in &runs {
                                        ui.label(show(&r.meta.figures));
                                    }
                                    ui.end_row();
                                }
                                let ok: Vec<&crate::project::Project> =
                                    projects.iter().filter_map(|p| p.as_ref().ok()).collect();
                                if ok.len() == runs.len() && runs.len() > 1 {
                                    let diff = settings_diff(&ok);
                                    if diff.is_empty() {
                                        ui.label(RichText::new("(same settings)").weak());
                                        ui.end_row();
                                    }
                                    for (key, vals) in diff {
                                        ui.label(key);
                                        for v in vals {
                                            ui.label(v);
                                        }
                                        ui.end_row();
                                    }
                                }
                            });
                        if let [Ok(first), rest @ ..] = projects.as_slice() {
                            for (r, p) in runs.iter().skip(1).zip(rest) {
                                let Ok(p) = p else { continue };
                                let d = graph_diff(&first.graph, &p.graph);
                                let head = format!(
                                    "Graph of {} against {}:",
                                    r.meta.label, runs[0].meta.label
                                );
                                if d.is_empty() {
                                    ui.label(format!("{head} the same network"));
                                } else {
                                    ui.label(RichText::new(head).strong());
                                    for line in d.lines() {
                                        ui.monospace(line);
                                    }
                                }
                            }
                        }
                        for (r, p) in runs.iter().zip(&projects) {
                            if let Err(e) = p {
                                ui.colored_label(crate::ui::theme::ERROR, format!("{}: {e}", r.id));
                            }
                        }
                    });
            });
        });
    }
}
