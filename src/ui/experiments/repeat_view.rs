//! The Runs tab's *Repeat ×N seeds*: the project trained once per seed in the background, one
//! run after another, into one group (`runs::repeat`); when it ends the group's runs are ticked,
//! so the comparison below draws them as their mean with a 95 % band.

use super::ExperimentsPanel;
use crate::runs::repeat::{repeat_seeds, RepeatSpec};
use crate::ui::panel::Ctx;
use egui::Ui;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

pub struct RepeatJob {
    rx: Receiver<Result<Vec<String>, String>>,
    done: Arc<AtomicUsize>,
    pub seeds: u64,
    pub stop: Arc<AtomicBool>,
    group: String,
}

impl ExperimentsPanel {
    /// The Repeat button and seed count, or the progress and Stop of a repetition under way.
    pub(super) fn repeat_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        match &self.repeat {
            Some(job) => {
                let done = job.done.load(Ordering::Relaxed);
                ui.add(
                    egui::ProgressBar::new(done as f32 / job.seeds as f32)
                        .desired_width(120.0)
                        .text(format!(
                            "seed {} of {}",
                            (done + 1).min(job.seeds as usize),
                            job.seeds
                        )),
                );
                if ui.small_button("Stop").clicked() {
                    job.stop.store(true, Ordering::Relaxed);
                }
            }
            None => {
                if self.repeat_seeds < 2 {
                    self.repeat_seeds = 3;
                }
                ui.add(egui::DragValue::new(&mut self.repeat_seeds).range(2..=20))
                    .on_hover_text("Seeds");
                let can = !ctx.training && ctx.runs_root.is_some();
                if ui
                    .add_enabled(can, egui::Button::new("Repeat ×N seeds"))
                    .on_hover_text(
                        "Train this project once per seed, one run after another, as one group: the comparison draws it as a mean with a 95 % band",
                    )
                    .on_disabled_hover_text("Save the project (and let any run end) first")
                    .clicked()
                {
                    let egui = ui.ctx().clone();
                    self.start_repeat(&egui, ctx);
                }
            }
        }
    }

    fn start_repeat(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        let Some(root) = ctx.runs_root.clone() else {
            return;
        };
        let seeds = self.repeat_seeds.max(2);
        let group = format!("{} ×{seeds} seeds", ctx.project.name);
        let spec = RepeatSpec {
            project: ctx.project.clone(),
            project_dir: ctx.project_dir(),
            root,
            group: group.clone(),
            seeds,
        };
        let (tx, rx) = channel();
        let done = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s, repaint) = (done.clone(), stop.clone(), egui.clone());
        let spawned = std::thread::Builder::new()
            .name("glassbox-repeat".into())
            .spawn(move || {
                let r = repeat_seeds(&spec, &s, &mut |_, _| {
                    d.fetch_add(1, Ordering::Relaxed);
                    repaint.request_repaint();
                })
                .map(|runs| runs.into_iter().map(|r| r.id).collect())
                .map_err(|e| e.to_string());
                let _ = tx.send(r);
                // The studio may be idle: wake it to take the result.
                repaint.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.repeat = Some(RepeatJob {
                    rx,
                    done,
                    seeds,
                    stop,
                    group,
                })
            }
            Err(e) => ctx.notify_error(format!("cannot start the repetition: {e}")),
        }
    }

    /// Takes a finished repetition: lists its runs and ticks them for the comparison.
    pub(super) fn poll_repeat(&mut self, ctx: &mut Ctx) {
        let Some(job) = &self.repeat else { return };
        let Ok(r) = job.rx.try_recv() else { return };
        let group = job.group.clone();
        self.repeat = None;
        self.refresh_runs(ctx, true);
        match r {
            Ok(ids) => {
                ctx.notify(format!(
                    "{group}: {} runs recorded and ticked below",
                    ids.len()
                ));
                self.selected = ids.into_iter().collect();
                self.single_runs = false;
            }
            Err(e) => ctx.notify_error(format!("{group}: {e}")),
        }
    }
}
