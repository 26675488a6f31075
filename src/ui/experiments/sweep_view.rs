//! The sweep window: choose what to vary and how, run the trials one after another in the
//! background, watch a scatter of setting against the validation figure, open the best.

use super::{ExperimentsPanel, SweepJob, SweepMsg};
use crate::runs::sweep::{run_sweep, Method, Param, Range, SweepContext, SweepSpec};
use crate::train::Monitor;
use crate::ui::panel::Ctx;
use egui::{DragValue, RichText, Ui};
use egui_plot::{Plot, Points};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the user chose in the window.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepForm {
    pub method: Method,
    pub trials: usize,
    pub metric: Monitor,
    pub epochs: usize,
    pub lr: Option<(f64, f64)>,
    pub batch_sizes: Option<String>,
    /// (node id, widths) of a Dense/Conv layer.
    pub width: Option<(String, String)>,
    /// (node id, min, max) of a Dropout.
    pub dropout: Option<(String, f64, f64)>,
    pub optimizers: Option<[bool; 4]>,
    /// The setting on the scatter's x axis.
    pub scatter_param: String,
}

impl Default for SweepForm {
    fn default() -> Self {
        Self {
            method: Method::Random,
            trials: 12,
            metric: Monitor::ValAccuracy,
            epochs: 3,
            lr: Some((1e-4, 3e-2)),
            batch_sizes: Some("32, 64, 128".into()),
            width: None,
            dropout: None,
            optimizers: None,
            scatter_param: "training.lr".into(),
        }
    }
}

const OPTIMIZERS: [&str; 4] = ["adam", "adamw", "sgd", "rmsprop"];

fn numbers(s: &str) -> Result<Vec<Value>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u64>()
                .map(Value::from)
                .map_err(|_| format!("'{t}' is not a whole number"))
        })
        .collect()
}

impl SweepForm {
    pub fn spec(&self, name: &str) -> Result<SweepSpec, String> {
        let mut params = Vec::new();
        if let Some((min, max)) = self.lr {
            params.push(Param {
                path: "training.lr".into(),
                range: Range::LogUniform { min, max, steps: 3 },
            });
        }
        if let Some(b) = &self.batch_sizes {
            params.push(Param {
                path: "training.batch_size".into(),
                range: Range::Choice {
                    values: numbers(b)?,
                },
            });
        }
        if let Some((id, w)) = &self.width {
            params.push(Param {
                path: format!("node.{id}.units"),
                range: Range::Choice {
                    values: numbers(w)?,
                },
            });
        }
        if let Some((id, min, max)) = &self.dropout {
            params.push(Param {
                path: format!("node.{id}.p"),
                range: Range::Uniform {
                    min: *min,
                    max: *max,
                    steps: 3,
                },
            });
        }
        if let Some(on) = self.optimizers {
            let values: Vec<Value> = OPTIMIZERS
                .iter()
                .zip(on)
                .filter(|(_, o)| *o)
                .map(|(n, _)| Value::from(*n))
                .collect();
            params.push(Param {
                path: "training.optimizer".into(),
                range: Range::Choice { values },
            });
        }
        Ok(SweepSpec {
            name: name.into(),
            method: self.method,
            trials: self.trials,
            metric: self.metric,
            epochs: Some(self.epochs),
            params,
            ..Default::default()
        })
    }
}

impl ExperimentsPanel {
    fn start_sweep(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        if ctx.training || self.sweep.as_ref().is_some_and(|j| j.done.is_none()) {
            return ctx.notify_error("A run or sweep is already training");
        }
        let Some(root) = ctx.runs_root.clone() else {
            return ctx.notify_error("Save the project first: sweeps are kept beside it");
        };
        let name = format!(
            "sweep-{}",
            crate::runs::folder::utc_stamp(crate::runs::folder::unix_now_s())
        );
        let spec = match self.sweep_form.spec(&name) {
            Ok(s) => s,
            Err(e) => return ctx.notify_error(format!("Cannot sweep: {e}")),
        };
        // Refuse a bad space now, with its reason, rather than on the thread.
        if let Err(e) = spec.configurations().and_then(|cs| {
            cs.iter()
                .try_for_each(|c| crate::runs::sweep::apply(ctx.project, c).map(|_| ()))
        }) {
            return ctx.notify_error(format!("Cannot sweep: {e}"));
        }
        let project = ctx.project.clone();
        let dir = ctx.project_dir();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (worker_stop, repaint_ctx) = (stop.clone(), egui.clone());
        let spawned = std::thread::Builder::new()
            .name("glassbox-sweep".into())
            .spawn(move || {
                let sweep_ctx = SweepContext {
                    project: &project,
                    project_dir: dir.as_deref(),
                    runs_root: &root,
                    stop: &worker_stop,
                };
                let repaint = || repaint_ctx.request_repaint();
                let r = run_sweep(&sweep_ctx, &spec, &mut |ev| {
                    let keep = !matches!(
                        ev,
                        crate::runs::sweep::SweepEvent::Train(
                            crate::train::TrainEvent::Snapshot(_)
                                | crate::train::TrainEvent::Best { .. }
                        )
                    );
                    if keep {
                        let _ = tx.send(SweepMsg::Event(ev));
                    }
                })
                .map_err(|e| e.to_string());
                let _ = tx.send(SweepMsg::Done(r));
                repaint();
            });
        match spawned {
            Ok(_) => {
                self.sweep = Some(SweepJob {
                    rx,
                    stop,
                    name: name.clone(),
                    trials: Vec::new(),
                    progress: None,
                    done: None,
                });
                ctx.notify(format!("Sweep {name} started"));
            }
            Err(e) => ctx.notify_error(format!("Cannot start the sweep: {e}")),
        }
    }

    fn form_ui(&mut self, ui: &mut Ui, ctx: &Ctx) {
        let ids_of = |kind: crate::graph::LayerKind| -> Vec<String> {
            let nodes = ctx.project.graph.nodes.iter();
            nodes
                .filter(|n| n.layer.kind() == kind)
                .map(|n| n.id.clone())
                .collect()
        };
        let dense = ids_of(crate::graph::LayerKind::Dense);
        let dropouts = ids_of(crate::graph::LayerKind::Dropout);
        let f = &mut self.sweep_form;
        ui.horizontal(|ui| {
            ui.label("Search");
            for (m, name) in [
                (Method::Random, "random"),
                (Method::Grid, "grid"),
                (Method::Halving, "successive halving"),
            ] {
                ui.radio_value(&mut f.method, m, name);
            }
        });
        ui.horizontal(|ui| {
            ui.add_enabled(
                f.method != Method::Grid,
                DragValue::new(&mut f.trials).range(1..=200),
            )
            .on_hover_text("How many configurations (halving: how many start)");
            ui.label("trials,");
            ui.add(DragValue::new(&mut f.epochs).range(1..=200));
            ui.label("epochs each; best by");
            // Only the figures the data has: accuracy for classes, R² for numeric targets.
            let regression = ctx
                .dataset
                .as_ref()
                .is_some_and(|d| d.target_dim().is_some());
            let score = if regression {
                Monitor::ValR2
            } else {
                Monitor::ValAccuracy
            };
            if f.metric != Monitor::ValLoss {
                f.metric = score;
            }
            egui::ComboBox::from_id_salt("sweep-metric")
                .selected_text(f.metric.name())
                .show_ui(ui, |ui| {
                    for m in [score, Monitor::ValLoss] {
                        ui.selectable_value(&mut f.metric, m, m.name());
                    }
                });
        });
        let mut lr_on = f.lr.is_some();
        ui.horizontal(|ui| {
            ui.checkbox(&mut lr_on, "learning rate (log scale) from");
            let (mut lo, mut hi) = f.lr.unwrap_or((1e-4, 3e-2));
            ui.add(DragValue::new(&mut lo).range(1e-7..=1.0).speed(1e-5));
            ui.label("to");
            ui.add(DragValue::new(&mut hi).range(1e-7..=10.0).speed(1e-4));
            f.lr = lr_on.then_some((lo, hi.max(lo)));
        });
        let mut b_on = f.batch_sizes.is_some();
        ui.horizontal(|ui| {
            ui.checkbox(&mut b_on, "batch size among");
            let mut text = f
                .batch_sizes
                .clone()
                .unwrap_or_else(|| "32, 64, 128".into());
            ui.add(egui::TextEdit::singleline(&mut text).desired_width(100.0));
            f.batch_sizes = b_on.then_some(text);
        });
        if let Some(first) = dense.first() {
            let mut on = f.width.is_some();
            ui.horizontal(|ui| {
                ui.checkbox(&mut on, "units of");
                let (mut id, mut w) = f
                    .width
                    .clone()
                    .unwrap_or((first.clone(), "64, 128, 256".into()));
                egui::ComboBox::from_id_salt("sweep-width-node")
                    .selected_text(&id)
                    .show_ui(ui, |ui| {
                        for d in &dense {
                            ui.selectable_value(&mut id, d.clone(), d);
                        }
                    });
                ui.label("among");
                ui.add(egui::TextEdit::singleline(&mut w).desired_width(100.0));
                f.width = on.then_some((id, w));
            });
        }
        if let Some(first) = dropouts.first() {
            let mut on = f.dropout.is_some();
            ui.horizontal(|ui| {
                ui.checkbox(&mut on, "dropout of");
                let (mut id, mut lo, mut hi) =
                    f.dropout.clone().unwrap_or((first.clone(), 0.0, 0.5));
                egui::ComboBox::from_id_salt("sweep-dropout-node")
                    .selected_text(&id)
                    .show_ui(ui, |ui| {
                        for d in &dropouts {
                            ui.selectable_value(&mut id, d.clone(), d);
                        }
                    });
                ui.add(DragValue::new(&mut lo).range(0.0..=0.95).speed(0.01));
                ui.label("to");
                ui.add(DragValue::new(&mut hi).range(0.0..=0.95).speed(0.01));
                f.dropout = on.then_some((id, lo, hi.max(lo)));
            });
        }
        let mut o_on = f.optimizers.is_some();
        ui.horizontal(|ui| {
            ui.checkbox(&mut o_on, "optimiser among");
            let mut which = f.optimizers.unwrap_or([true, false, true, false]);
            for (on, name) in which.iter_mut().zip(OPTIMIZERS) {
                ui.checkbox(on, name);
            }
            f.optimizers = o_on.then_some(which);
        });
    }

    fn results_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        let Some(job) = &self.sweep else {
            return;
        };
        let metric = self.sweep_form.metric;
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(format!("{}: {} trial(s) done", job.name, job.trials.len())).strong(),
            );
            if let Some((i, n, step, steps)) = job.progress {
                ui.add(
                    egui::ProgressBar::new(step as f32 / steps.max(1) as f32)
                        .desired_width(180.0)
                        .text(format!("trial {} of {n}", i + 1)),
                );
            }
            match &job.done {
                None => {
                    if ui.button("■ Stop sweep").clicked() {
                        job.stop.store(true, Ordering::Relaxed);
                    }
                }
                Some(Err(e)) => {
                    ui.colored_label(crate::ui::theme::ERROR, e);
                }
                Some(Ok(())) => {
                    ui.label("finished");
                }
            }
        });
        let report = crate::runs::sweep::SweepReport {
            trials: job.trials.clone(),
            metric,
        };
        let params: Vec<String> = report
            .trials
            .first()
            .map(|t| t.config.keys().cloned().collect())
            .unwrap_or_default();
        let mut open_best = None;
        let mut export = None;
        let mut compare_all = Vec::new();
        if let Some(best) = report.best() {
            ui.horizontal(|ui| {
                ui.label(format!(
                    "Best {}: {:.4} with {}",
                    metric.name(),
                    best.score.unwrap_or(f64::NAN),
                    serde_json::to_string(&best.config).unwrap_or_default()
                ));
                if ui
                    .button("Open best")
                    .on_hover_text("Open its project and weights")
                    .clicked()
                {
                    open_best = best
                        .dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned());
                }
                if ui
                    .button("Compare all")
                    .on_hover_text("Tick every trial in the Runs tab")
                    .clicked()
                {
                    compare_all = report
                        .trials
                        .iter()
                        .filter_map(|t| t.dir.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .collect();
                }
            });
        }
        if !params.is_empty() {
            let sp = &mut self.sweep_form.scatter_param;
            if !params.contains(sp) {
                *sp = params[0].clone();
            }
            ui.horizontal(|ui| {
                ui.label("Scatter of");
                egui::ComboBox::from_id_salt("sweep-scatter")
                    .selected_text(sp.as_str())
                    .show_ui(ui, |ui| {
                        for p in &params {
                            ui.selectable_value(sp, p.clone(), p);
                        }
                    });
                ui.label(format!("against {}", metric.name()));
            });
            let key = sp.clone();
            let scatter = report.scatter(&key);
            if crate::ui::experiments::export_button_ui(ui, !scatter.points.is_empty()) {
                export = Some((key.clone(), report.chart(&key)));
            }
            Plot::new("sweep-scatter-plot")
                .height(200.0)
                .x_axis_label(if scatter.log {
                    format!("log10({key})")
                } else {
                    key.clone()
                })
                .show(ui, |p| {
                    p.points(Points::new("trials", scatter.points.clone()).radius(4.0));
                });
            if !scatter.categories.is_empty() {
                let legend: Vec<String> = scatter
                    .categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{i} = {c}"))
                    .collect();
                ui.label(RichText::new(format!("x: {}", legend.join(", "))).weak());
            }
        }
        if !compare_all.is_empty() {
            self.selected.extend(compare_all);
            ctx.push(crate::ui::command::Command::ShowTab(
                crate::ui::studio::BottomTab::Runs,
            ));
        }
        if let Some((key, chart)) = export {
            super::chart_export::panel_save_chart(ctx, &format!("sweep-{key}"), &chart);
        }
        if let Some(id) = open_best {
            self.refresh_runs(ctx, true);
            self.open_run(ctx, &id);
        }
    }

    pub(super) fn sweep_window_ui(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        let mut open = self.show_sweep;
        egui::Window::new("Sweep")
            .open(&mut open)
            .default_width(560.0)
            .show(egui, |ui| {
                let running = self.sweep.as_ref().is_some_and(|j| j.done.is_none());
                ui.add_enabled_ui(!running, |ui| self.form_ui(ui, ctx));
                if ui
                    .add_enabled(
                        !running && !ctx.training,
                        egui::Button::new(RichText::new("▶ Start sweep").strong()),
                    )
                    .on_hover_text(
                        "Runs every trial one after another; each is kept in the Runs tab",
                    )
                    .clicked()
                {
                    self.start_sweep(egui, ctx);
                }
                ui.separator();
                self.results_ui(ui, ctx);
            });
        self.show_sweep = open;
    }
}
