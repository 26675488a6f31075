//! Run ▸ Loss landscape: a side panel that computes, in the background, the training loss
//! around the trained weights on a 2-D slice (see `insight::landscape`) and draws it as a heat
//! map with contours, the trained weights at the centre and the path the run's weights took
//! (recorded each epoch) over it; on a random plane or on the path's own. A line from the
//! initial weights, or from another run's, says whether both ends share a basin. Progress
//! shows; Cancel stops it.

use super::job::ModelJob;
use super::panel::{Ctx, Panel, Place};
use crate::insight::{
    contour_segments, loss_landscape_along, loss_line, Landscape, LandscapeSpec, LossLine, Plane,
};
use crate::model::Weights;
use egui::{Color32, Pos2, RichText, Stroke, TextureHandle, Ui};
use std::path::PathBuf;
use std::sync::Arc;

/// Contour levels drawn over the heat map (evenly spaced in log loss).
const CONTOURS: usize = 8;

#[derive(Default)]
pub struct LandscapePanel {
    pub show: bool,
    pub spec: LandscapeSpec,
    job: Option<ModelJob<Landscape>>,
    pub result: Option<Landscape>,
    /// The loss along a line to the trained weights: from where, and (α, loss).
    line_job: Option<ModelJob<LossLine>>,
    pub line: Option<(String, LossLine)>,
    line_from: String,
    /// Other runs of this network with weights (label, file), listed when first needed.
    other_runs: Option<Vec<(String, PathBuf)>>,
    /// The run picked for a line (its place in `other_runs`).
    pub other_run: Option<usize>,
    error: Option<String>,
    texture: Option<TextureHandle>,
}

impl LandscapePanel {
    pub fn is_running(&self) -> bool {
        self.job.is_some() || self.line_job.is_some()
    }

    fn start(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        let (Some(weights), Some(data)) = (ctx.weights.cloned(), ctx.dataset.clone()) else {
            return ctx.notify_error(
                "Train the network first: the landscape is around its trained weights",
            );
        };
        let model = (
            ctx.project.graph.clone(),
            ctx.project.training.seed,
            weights,
        );
        let spec = self.spec;
        let path: Vec<Arc<Weights>> = ctx
            .history
            .map(|h| h.path.points.iter().map(|(_, w)| w.clone()).collect())
            .unwrap_or_default();
        let job = ModelJob::spawn(
            "glassbox-landscape",
            "computing the landscape",
            egui,
            model,
            move |model, control, progress| {
                let path: Vec<&Weights> = path.iter().map(|w| &**w).collect();
                loss_landscape_along(model, &data, spec, &path, control, progress)
                    .map_err(|e| e.to_string())
            },
        );
        match job {
            Ok(job) => {
                self.error = None;
                self.job = Some(job);
            }
            Err(e) => ctx.notify_error(e),
        }
    }

    /// The loss from `from` (None: the network's initial weights, from its seed; or another
    /// run's weight file) to the trained weights, at 49 values of α (steps of 1/32: α = 0 and
    /// 1 are among them).
    fn start_line(&mut self, egui: &egui::Context, ctx: &mut Ctx, from: Option<(String, PathBuf)>) {
        let (Some(weights), Some(data)) = (ctx.weights.cloned(), ctx.dataset.clone()) else {
            return ctx
                .notify_error("Train the network first: the line ends at its trained weights");
        };
        let (graph, seed, samples) = (
            ctx.project.graph.clone(),
            ctx.project.training.seed,
            self.spec.samples,
        );
        self.line_from = from
            .as_ref()
            .map_or("the initial weights".into(), |(label, _)| {
                format!("run {label}")
            });
        let model = (graph.clone(), seed, weights.clone());
        let job = ModelJob::spawn(
            "glassbox-loss-line",
            "computing the line",
            egui,
            model,
            move |model, control, progress| {
                let start = match &from {
                    None => crate::model::Model::build(&graph, seed)
                        .and_then(|m| m.weights().map_err(Into::into))
                        .map_err(|e| e.to_string())?,
                    Some((_, file)) => Weights::load(file).map_err(|e| e.to_string())?,
                };
                loss_line(
                    model,
                    &data,
                    (&start, &weights),
                    (49, samples),
                    control,
                    progress,
                )
                .map_err(|e| e.to_string())
            },
        );
        match job {
            Ok(job) => {
                self.error = None;
                self.line_job = Some(job);
            }
            Err(e) => ctx.notify_error(e),
        }
    }

    /// Finished runs of this network (same graph) that kept weights, newest first.
    fn list_other_runs(ctx: &Ctx) -> Vec<(String, PathBuf)> {
        let Some(root) = &ctx.runs_root else {
            return Vec::new();
        };
        let hash = crate::runs::folder::graph_hash(ctx.project);
        crate::runs::list(root)
            .runs
            .into_iter()
            .filter(|r| {
                r.meta.graph_hash == hash && r.meta.status != crate::runs::RunStatus::Running
            })
            .filter_map(|r| Some((r.id.clone(), r.weights_path()?)))
            .collect()
    }

    fn line_ui(ui: &mut Ui, from: &str, line: &LossLine) {
        ui.label(format!(
            "from {from} (α = 0, loss {:.4}) to the trained ones (α = 1, loss {:.4}): {}",
            line.at(0.0),
            line.at(1.0),
            if line.has_barrier() {
                "a barrier on the way"
            } else {
                "no barrier: one basin"
            }
        ));
        egui_plot::Plot::new("loss-line")
            .height(140.0)
            .x_axis_label("α")
            .y_axis_label("training loss")
            .allow_scroll(false)
            .show(ui, |p| {
                let pts: Vec<[f64; 2]> = line
                    .points
                    .iter()
                    .map(|&(a, l)| [a as f64, l as f64])
                    .collect();
                p.line(
                    egui_plot::Line::new("loss", egui_plot::PlotPoints::from(pts))
                        .color(super::theme::VAL),
                );
                p.vline(egui_plot::VLine::new("trained", 1.0).color(super::theme::OK));
            });
    }

    fn heat_map_ui(&mut self, ui: &mut Ui, land: &Landscape) {
        let n = land.coords.len();
        let values: Vec<f32> = land.loss.iter().rev().flatten().copied().collect();
        // Log scale: the basin's floor and its walls differ by orders of magnitude.
        let logs: Vec<f32> = values.iter().map(|v| v.max(1e-9).ln()).collect();
        let (lo, hi) = crate::ui::colormap::range(&logs);
        let img = crate::ui::colormap::plane_image(&logs, n, n, lo, hi);
        let tex = self.texture.get_or_insert_with(|| {
            ui.ctx()
                .load_texture("landscape", img.clone(), egui::TextureOptions::NEAREST)
        });
        tex.set(img, egui::TextureOptions::NEAREST);
        let side = ui.available_width().min(320.0);
        let r = ui.add(egui::Image::new(&*tex).fit_to_exact_size(egui::vec2(side, side)));
        // Grid units (column, row from the bottom) to the screen: cell centres.
        let cell = r.rect.width() / n as f32;
        let at = |col: f32, row: f32| {
            Pos2::new(
                r.rect.left() + (col + 0.5) * cell,
                r.rect.bottom() - (row + 0.5) * cell,
            )
        };
        let painter = ui.painter().with_clip_rect(r.rect);
        let log_grid: Vec<Vec<f32>> = land
            .loss
            .iter()
            .map(|row| row.iter().map(|v| v.max(1e-9).ln()).collect())
            .collect();
        let contour = Stroke::new(1.0, Color32::from_white_alpha(90));
        for k in 1..=CONTOURS {
            let level = lo + (hi - lo) * k as f32 / (CONTOURS + 1) as f32;
            for [p, q] in contour_segments(&log_grid, level) {
                painter.line_segment([at(p[0], p[1]), at(q[0], q[1])], contour);
            }
        }
        // The path, in the grid's units: x = coords[0] + col·step.
        let step = (land.coords[n - 1] - land.coords[0]) / (n - 1) as f32;
        let place = |q: &[f32; 2]| {
            at(
                (q[0] - land.coords[0]) / step,
                (q[1] - land.coords[0]) / step,
            )
        };
        let points: Vec<Pos2> = land.path.iter().map(place).collect();
        let ink = Stroke::new(1.5, super::theme::VAL);
        painter.add(egui::Shape::line(points.clone(), ink));
        for p in &points {
            painter.circle_filled(*p, 2.0, super::theme::VAL);
        }
        if let Some(first) = points.first() {
            painter.circle_filled(*first, 4.0, super::theme::VAL);
            painter.text(
                *first + egui::vec2(6.0, -6.0),
                egui::Align2::LEFT_BOTTOM,
                "start",
                egui::FontId::proportional(12.0),
                Color32::WHITE,
            );
        }
        // The trained weights: the centre cell.
        painter.circle_stroke(r.rect.center(), 5.0, Stroke::new(2.0, Color32::WHITE));
        let mid = n / 2;
        let (lr, lc) = land.lowest();
        ui.label(format!(
            "loss at the trained weights {:.4}; lowest {:.4} at ({:.2}, {:.2}); highest {:.4}",
            land.loss[mid][mid],
            land.loss[lr][lc],
            land.coords[lc],
            land.coords[lr],
            values.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
        ));
        let axes = match land.plane {
            Plane::Random => "two random filter-normalised directions",
            Plane::Path => "the path's two principal directions (unit length in weight space)",
        };
        ui.label(
            RichText::new(format!(
                "x and y: {axes}, {:.2} to {:.2}; colour: log loss (dark low, bright high) with {CONTOURS} contours; ○ the trained weights",
                land.coords[0],
                land.coords[n - 1]
            ))
            .weak(),
        );
        if let Some(share) = land.path_share {
            let text = match land.plane {
                Plane::Path => format!(
                    "The path ({} points, one per epoch) from its start to ○: this plane holds {:.0} % of its movement.",
                    land.path.len(),
                    share * 100.0
                ),
                Plane::Random => format!(
                    "The path ({} points) stays near ○: a random plane holds {:.1} % of its movement — choose the path's plane to see where training went.",
                    land.path.len(),
                    share * 100.0
                ),
            };
            ui.label(RichText::new(text).weak());
        }
    }

    fn controls_ui(&mut self, ui: &mut Ui, ctx: &Ctx) {
        let path_len = ctx.history.map_or(0, |h| h.path.len());
        ui.horizontal(|ui| {
            ui.label("plane");
            ui.radio_value(&mut self.spec.plane, Plane::Random, "random directions");
            ui.add_enabled_ui(path_len >= 3, |ui| {
                ui.radio_value(&mut self.spec.plane, Plane::Path, "the path's plane")
                    .on_hover_text("The two directions the weights moved along most, epoch by epoch (Li et al. §7)")
                    .on_disabled_hover_text("Needs a run of two epochs or more trained in this session");
            });
        });
        if path_len < 3 {
            self.spec.plane = Plane::Random;
        }
        ui.horizontal(|ui| {
            ui.label("cells a side");
            ui.add(egui::DragValue::new(&mut self.spec.grid).range(3..=101));
            ui.add_enabled_ui(self.spec.plane == Plane::Random, |ui| {
                ui.label("span ±");
                ui.add(
                    egui::DragValue::new(&mut self.spec.span)
                        .range(0.05..=10.0)
                        .speed(0.05),
                )
                .on_disabled_hover_text("The path's plane is spanned to take in the whole path");
            });
            ui.label("on");
            ui.add(egui::DragValue::new(&mut self.spec.samples).range(16..=100_000));
            ui.label("samples");
        });
    }

    /// "Line from the start".
    fn line_buttons_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx, ready: bool) {
        if ui
            .add_enabled(ready, egui::Button::new("Line from the start"))
            .on_hover_text("The loss along the straight line from the initial weights to the trained ones (Goodfellow et al. 2015)")
            .on_disabled_hover_text("Train the network (and let the run end) first")
            .clicked()
        {
            let egui = ui.ctx().clone();
            self.start_line(&egui, ctx, None);
        }
    }

    /// A line from another recorded run of this network, on its own row (the panel is narrow).
    fn other_run_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx, ready: bool) {
        let runs = self
            .other_runs
            .get_or_insert_with(|| Self::list_other_runs(ctx))
            .clone();
        if runs.is_empty() {
            return;
        }
        let label = |i: Option<usize>| {
            i.and_then(|i| runs.get(i))
                .map_or("another run of this network", |r| r.0.as_str())
                .to_string()
        };
        ui.horizontal(|ui| {
            ui.label("from");
            // Run ids are long and the panel is narrow: the box keeps to the panel.
            egui::ComboBox::from_id_salt("landscape-other-run")
                .width((ui.available_width() - 8.0).max(80.0))
                .truncate()
                .selected_text(label(self.other_run))
                .show_ui(ui, |ui| {
                    for (i, (id, _)) in runs.iter().enumerate() {
                        ui.selectable_value(&mut self.other_run, Some(i), id);
                    }
                });
        });
        let picked = self.other_run.and_then(|i| runs.get(i)).cloned();
        if ui
            .add_enabled(ready && picked.is_some(), egui::Button::new("Line from that run"))
            .on_hover_text("The loss along the straight line from that run's weights to these: a bump between them is the barrier between two minima")
            .clicked()
        {
            let egui = ui.ctx().clone();
            self.start_line(&egui, ctx, picked);
        }
    }
}

impl Panel for LandscapePanel {
    fn name(&self) -> &'static str {
        "Loss landscape"
    }

    fn place(&self) -> Place {
        Place::Right
    }

    fn is_open(&self) -> bool {
        self.show
    }

    fn set_open(&mut self, open: bool) {
        self.show = open;
    }

    fn frame(&mut self, _egui: &egui::Context, _ctx: &mut Ctx) {
        if let Some(r) = self.job.as_ref().and_then(ModelJob::try_take) {
            self.job = None;
            match r {
                Ok(land) => self.result = Some(land),
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(r) = self.line_job.as_ref().and_then(ModelJob::try_take) {
            self.line_job = None;
            match r {
                Ok(line) => self.line = Some((self.line_from.clone(), line)),
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        ui.horizontal(|ui| {
            ui.heading("Loss landscape");
            if ui.small_button("Close").clicked() {
                self.show = false;
            }
        });
        ui.label(
            "The training loss on a 2-D slice through the trained weights (Li et al. 2018): a round basin trains stably, a narrow valley is sensitive to the learning rate.",
        );
        self.controls_ui(ui, ctx);
        match &self.job {
            Some(job) => {
                ui.horizontal(|ui| job.progress_ui(ui, 200.0));
            }
            None => {
                ui.horizontal(|ui| {
                    let ready = ctx.has_weights && !ctx.training && self.line_job.is_none();
                    if ui
                        .add_enabled(ready, egui::Button::new("Compute"))
                        .on_disabled_hover_text("Train the network (and let the run end) first")
                        .clicked()
                    {
                        let egui = ui.ctx().clone();
                        self.start(&egui, ctx);
                    }
                    self.line_buttons_ui(ui, ctx, ready);
                });
                let ready = ctx.has_weights && !ctx.training && self.line_job.is_none();
                self.other_run_ui(ui, ctx, ready);
            }
        }
        if let Some(job) = &self.line_job {
            ui.horizontal(|ui| job.progress_ui(ui, 200.0));
        }
        if let Some(e) = &self.error {
            ui.colored_label(super::theme::ERROR, e);
        }
        // The map, its figures and the line run past a short window: they scroll.
        egui::ScrollArea::vertical()
            .id_salt("landscape-results")
            .show(ui, |ui| {
                if let Some(land) = self.result.clone() {
                    self.heat_map_ui(ui, &land);
                }
                if let Some((from, line)) = &self.line {
                    Self::line_ui(ui, from, line);
                }
            });
    }

    fn on_event(&mut self, ev: &super::panel::StudioEvent) {
        if let super::panel::StudioEvent::RunsChanged = ev {
            self.other_runs = None;
        }
        if let super::panel::StudioEvent::Closing = ev {
            for job in self.job.iter() {
                job.cancel();
            }
            for job in self.line_job.iter() {
                job.cancel();
            }
        }
    }
}
