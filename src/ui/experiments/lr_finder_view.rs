//! The LR finder's window: start the range test on a background thread, see loss against
//! rate on a log axis, apply the suggested rate with one click.

use super::{LrJob, Studio};
use crate::runs::chart::Chart;
use crate::runs::lr_finder::{find_lr, LrFinderOptions};
use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints, VLine};
use std::path::Path;
use std::sync::Arc;

impl Studio {
    pub(super) fn start_lr_finder(&mut self) {
        if self.is_training() {
            return self.notify_error("Stop the training run first: the LR finder trains too");
        }
        self.project.graph = self.editor.graph();
        let project = self.project.clone();
        let dir = self
            .path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let data = self.data.dataset_for(&project.data, dir.as_deref());
        let control = Arc::new(crate::train::Control::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = control.clone();
        let ctx = self.ctx.clone();
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
                if let Some(c) = ctx {
                    c.request_repaint();
                }
            });
        match spawned {
            Ok(_) => {
                self.experiments.lr = Some(LrJob {
                    rx: Some(rx),
                    control,
                    curve: None,
                    error: None,
                })
            }
            Err(e) => self.notify_error(format!("Cannot start the LR finder: {e}")),
        }
    }
}

fn body_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.label(
        "Trains from fresh weights for 100 steps while the learning rate grows from 1e-6 to 1; \
         a good rate is where the loss falls fastest.",
    );
    let running = studio
        .experiments
        .lr
        .as_ref()
        .is_some_and(|j| j.rx.is_some());
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!running, egui::Button::new("▶ Run the range test"))
            .clicked()
        {
            studio.start_lr_finder();
        }
        if running {
            ui.spinner();
            if ui.button("Stop").clicked() {
                if let Some(j) = &studio.experiments.lr {
                    j.control
                        .stop
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    });
    let Some(job) = &studio.experiments.lr else {
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
    let log =
        |pts: &[[f64; 2]]| -> Vec<[f64; 2]> { pts.iter().map(|p| [p[0].log10(), p[1]]).collect() };
    ui.horizontal(|ui| {
        match curve.suggested {
            Some(lr) => {
                ui.label(RichText::new(format!("Suggested rate: {lr:.2e}")).strong());
                if ui
                    .button("Use it")
                    .on_hover_text("Set the project's learning rate")
                    .clicked()
                {
                    studio.project.training.lr = lr;
                    studio.notify(format!("Learning rate set to {lr:.2e}"));
                }
            }
            None => {
                ui.label("The loss never fell over the range: check the data and the network.");
            }
        }
        super::export_chart_ui(ui, studio, "lr-finder", &chart);
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

pub fn lr_finder_window_ui(ctx: &egui::Context, studio: &mut Studio) {
    let mut open = studio.experiments.show_lr;
    egui::Window::new("Find a learning rate")
        .open(&mut open)
        .default_width(520.0)
        .show(ctx, |ui| body_ui(ui, studio));
    studio.experiments.show_lr = open;
}
