//! Run ▸ Loss landscape: a side panel that computes, in the background, the training loss
//! around the trained weights on a 2-D slice (see `insight::landscape`) and draws it as a heat
//! map, the trained weights at the centre. Progress shows; Cancel stops it.

use super::job::ModelJob;
use super::panel::{Ctx, Panel, Place};
use crate::insight::{loss_landscape, loss_line, Landscape, LandscapeSpec, LossLine};
use egui::{RichText, TextureHandle, Ui};

#[derive(Default)]
pub struct LandscapePanel {
    pub show: bool,
    pub spec: LandscapeSpec,
    job: Option<ModelJob<Landscape>>,
    pub result: Option<Landscape>,
    /// The loss along the line from the initial weights to the trained ones: (α, loss).
    line_job: Option<ModelJob<LossLine>>,
    pub line: Option<LossLine>,
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
        let job = ModelJob::spawn(
            "glassbox-landscape",
            "computing the landscape",
            egui,
            model,
            move |model, control, progress| {
                loss_landscape(model, &data, spec, control, progress).map_err(|e| e.to_string())
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

    /// The loss from the network's initial weights (its seed) to the trained ones, at 49 values
    /// of α (steps of 1/32: α = 0 and 1 are among them).
    fn start_line(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        let (Some(weights), Some(data)) = (ctx.weights.cloned(), ctx.dataset.clone()) else {
            return ctx
                .notify_error("Train the network first: the line ends at its trained weights");
        };
        let (graph, seed, samples) = (
            ctx.project.graph.clone(),
            ctx.project.training.seed,
            self.spec.samples,
        );
        let model = (graph.clone(), seed, weights.clone());
        let job = ModelJob::spawn(
            "glassbox-loss-line",
            "computing the line",
            egui,
            model,
            move |model, control, progress| {
                let init = crate::model::Model::build(&graph, seed)
                    .and_then(|m| m.weights().map_err(Into::into))
                    .map_err(|e| e.to_string())?;
                loss_line(
                    model,
                    &data,
                    (&init, &weights),
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

    fn line_ui(ui: &mut Ui, line: &LossLine) {
        ui.label(format!(
            "from the initial weights (α = 0, loss {:.4}) to the trained ones (α = 1, loss {:.4}): {}",
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
        // The trained weights: the centre cell.
        ui.painter().circle_stroke(
            r.rect.center(),
            5.0,
            egui::Stroke::new(2.0, egui::Color32::WHITE),
        );
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
        ui.label(
            RichText::new(format!(
                "x and y: two random filter-normalised directions, {:.1} to {:.1}; colour: log loss (dark low, bright high); ○ the trained weights",
                land.coords[0],
                land.coords[n - 1]
            ))
            .weak(),
        );
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
                Ok(line) => self.line = Some(line),
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
        ui.horizontal(|ui| {
            ui.label("cells a side");
            ui.add(egui::DragValue::new(&mut self.spec.grid).range(3..=101));
            ui.label("span ±");
            ui.add(
                egui::DragValue::new(&mut self.spec.span)
                    .range(0.05..=10.0)
                    .speed(0.05),
            );
            ui.label("on");
            ui.add(egui::DragValue::new(&mut self.spec.samples).range(16..=100_000));
            ui.label("samples");
        });
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
                    if ui
                        .add_enabled(ready, egui::Button::new("Line from the start"))
                        .on_hover_text("The loss along the straight line from the initial weights to the trained ones (Goodfellow et al. 2015)")
                        .on_disabled_hover_text("Train the network (and let the run end) first")
                        .clicked()
                    {
                        let egui = ui.ctx().clone();
                        self.start_line(&egui, ctx);
                    }
                });
            }
        }
        if let Some(job) = &self.line_job {
            ui.horizontal(|ui| job.progress_ui(ui, 200.0));
        }
        if let Some(line) = &self.line {
            Self::line_ui(ui, line);
        }
        if let Some(e) = &self.error {
            ui.colored_label(super::theme::ERROR, e);
        }
        if let Some(land) = self.result.clone() {
            self.heat_map_ui(ui, &land);
        }
    }

    fn on_event(&mut self, ev: &super::panel::StudioEvent) {
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
