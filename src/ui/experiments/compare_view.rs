//! Comparing the ticked runs: one figure overlaid on a shared axis (step, epoch or wall time),
//! the settings that differ with each run's final figures, and what changed in the graph.

use super::ExperimentsPanel;
use crate::runs::chart::Chart;
use crate::runs::{graph_diff, settings_diff, XAxis};
use crate::ui::panel::Ctx;
use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints, Polygon};

/// The group a run belongs to (`glassbox repeat` or the Runs tab's Repeat tags it "group:…").
fn group_of(r: &crate::runs::RunRecord) -> Option<String> {
    r.meta
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("group:"))
        .map(str::to_string)
}

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
            ui.checkbox(&mut self.single_runs, "each run on its own")
                .on_hover_text("Unticked: runs of one group (repeated seeds) are drawn as their mean with a 95 % band");
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
        // Runs of one group (two or more ticked) become their mean with a 95 % band.
        let mut groups: std::collections::BTreeMap<String, Vec<Vec<[f64; 2]>>> = Default::default();
        let mut bands = Vec::new();
        for id in &ids {
            let run = self.listing.runs.iter().find(|r| &r.id == id);
            let label = run.map_or(id.clone(), |r| r.meta.label.clone());
            let group = run.and_then(group_of).filter(|_| !self.single_runs);
            let points = self
                .run_scalars(id, ctx.now)
                .map(|s| s.series(&tag, axis))
                .unwrap_or_default();
            let in_group = group.as_ref().is_some_and(|g| {
                ids.iter()
                    .filter_map(|i| self.listing.runs.iter().find(|r| &r.id == i))
                    .filter(|r| group_of(r).as_ref() == Some(g))
                    .count()
                    > 1
            });
            match group {
                Some(g) if in_group && !points.is_empty() => {
                    groups.entry(g).or_default().push(points)
                }
                _ => chart = chart.with(&label, points),
            }
        }
        for (g, series) in &groups {
            match crate::runs::significance::band(series) {
                Some(b) => {
                    let line = |v: &[f64]| b.x.iter().zip(v).map(|(x, y)| [*x, *y]).collect();
                    chart = chart
                        .with(&format!("{g} (mean of {})", b.runs), line(&b.mean))
                        .with(&format!("{g} 95 % low"), line(&b.lo))
                        .with(&format!("{g} 95 % high"), line(&b.hi));
                    bands.push((g.clone(), b));
                }
                None => {
                    for (k, pts) in series.iter().enumerate() {
                        chart = chart.with(&format!("{g} #{}", k + 1), pts.clone());
                    }
                }
            }
        }
        self.drawn_bands = bands.iter().map(|(g, b)| (g.clone(), b.runs)).collect();
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
                super::chart_export::export_chart_ui(ui, ctx, "compare", &chart);
                Plot::new("compare-plot")
                    .height(220.0)
                    .legend(Legend::default())
                    .x_axis_label(axis.name())
                    .show(ui, |p| {
                        for (g, b) in &bands {
                            // One trapezoid per interval: egui fills convex polygons only, and
                            // a band along a curve is not one. At most about 300 of them.
                            let stride = (b.x.len() / 300).max(1);
                            let idx: Vec<usize> = (0..b.x.len())
                                .step_by(stride)
                                .chain(std::iter::once(b.x.len() - 1))
                                .collect();
                            for w in idx.windows(2) {
                                let (i, j) = (w[0], w[1]);
                                if i == j {
                                    continue;
                                }
                                let quad = vec![
                                    [b.x[i], b.lo[i]],
                                    [b.x[j], b.lo[j]],
                                    [b.x[j], b.hi[j]],
                                    [b.x[i], b.hi[i]],
                                ];
                                p.polygon(
                                    Polygon::new(format!("{g} 95 % band"), PlotPoints::from(quad))
                                        .fill_color(crate::ui::theme::TRAIN.gamma_multiply(0.3))
                                        .stroke(egui::Stroke::NONE),
                                );
                            }
                        }
                        for s in &chart.series {
                            if s.name.ends_with(" 95 % low") || s.name.ends_with(" 95 % high") {
                                continue;
                            }
                            p.line(Line::new(
                                s.name.clone(),
                                PlotPoints::from(s.points.clone()),
                            ));
                        }
                    });
                for (g, b) in &bands {
                    ui.label(
                        RichText::new(format!(
                            "{g}: the mean of {} runs with its 95 % interval (Student's t) at each point",
                            b.runs
                        ))
                        .weak(),
                    );
                }
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
