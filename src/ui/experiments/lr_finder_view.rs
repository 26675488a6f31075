//! The LR finder's window: start the range test on a background thread, see loss against
//! rate on a log axis, apply the suggested rate with one click.

use super::{ExperimentsPanel, LrJob};
use crate::runs::chart::Chart;
use crate::runs::lr_finder::{find_lr, LrFinderOptions};
use crate::ui::command::Command;
use crate::ui::panel::Ctx;
use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints, VLine};
use std::sync::Arc;

impl ExperimentsPanel {
    fn start_lr_finder(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        if ctx.training {
            return ctx.notify_error("Stop the training run first: the LR finder trains too");
        }
        let project = ctx.project.clone();
        let dir = ctx.project_dir();
        let data = ctx.dataset.clone();
        let control = Arc::new(crate::train::Control::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = control.clone();
        let repaint = egui.clone();
        let spawned = std::thread::Builder::new()
            .name("glassbox-lr-finder".into())
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    find_lr(
                        &project,
                        dir.as_deref(),
                        data,
                        &LrFinderOptions::default(),
                        &worker,
                    )
                    .map_err(|e| e.to_string())
                }))
                .unwrap_or_else(|_| Err("internal error in the LR finder".into()));
                let _ = tx.send(r);
                repaint.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.lr = Some(LrJob {
                    rx: Some(rx),
                    control,
                    curve: None,
                    error: None,
                })
            }
            Err(e) => ctx.notify_error(format!("Cannot start the LR finder: {e}")),
        }
    }

    fn lr_body_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        ui.label(
        "Trains from fresh weights for 100 steps while the learning rate grows from 1e-6 to 1; \
         a good rate is where the loss falls fastest.",
    );
        let running = self.lr.as_ref().is_some_and(|j| j.rx.is_some());
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!running, egui::Button::new("▶ Run the range test"))
                .clicked()
            {
                let egui = ui.ctx().clone();
                self.start_lr_finder(&egui, ctx);
            }
            if running {
                ui.spinner();
                if ui.button("Stop").clicked() {
                    if let Some(j) = &self.lr {
                        j.control
                            .stop
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        });
        let Some(job) = &self.lr else {
            return;
        };
        if let Some(e) = &job.error {
            ui.colored_label(crate::ui::theme::ERROR, e);
        }
        let Some(curve) = job.curve.clone() else {
            return;
        };
        let mut chart = Chart::new("Learning-rate range test", "learning rate", "loss")
            .with("batch loss", curve.raw.clone())
            .with("smoothed", curve.smoothed.clone());
        chart.log_x = true;
        let log = |pts: &[[f64; 2]]| -> Vec<[f64; 2]> {
            pts.iter().map(|p| [p[0].log10(), p[1]]).collect()
        };
        ui.horizontal(|ui| {
            match curve.suggested {
                Some(lr) => {
                    ui.label(RichText::new(format!("Suggested rate: {lr:.2e}")).strong());
                    if ui
                        .button("Use it")
                        .on_hover_text("Set the project's learning rate")
                        .clicked()
                    {
                        ctx.push(Command::SetLearningRate(lr));
                    }
                }
                None => {
                    ui.label("The loss never fell over the range: check the data and the network.");
                }
            }
            super::chart_export::export_chart_ui(ui, ctx, "lr-finder", &chart);
        });
        Plot::new("lr-finder-plot")
            .height(240.0)
            .legend(Legend::default())
            .x_axis_label("log10(learning rate)")
            .show(ui, |p| {
                p.line(Line::new("batch loss", PlotPoints::from(log(&curve.raw))));
                p.line(Line::new(
                    "smoothed",
                    PlotPoints::from(log(&curve.smoothed)),
                ));
                if let Some(lr) = curve.suggested {
                    p.vline(VLine::new("suggested", lr.log10()));
                }
            });
    }

    pub(super) fn lr_finder_window_ui(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        let mut open = self.show_lr;
        egui::Window::new("Find a learning rate")
            .open(&mut open)
            .default_width(520.0)
            .show(egui, |ui| self.lr_body_ui(ui, ctx));
        self.show_lr = open;
    }
}
