//! The training panel: run controls, progress, and live loss/accuracy curves.

use super::command::Command;
use super::panel::{Ctx, Panel, Place};
use super::theme::{ERROR, OK, TRAIN, VAL};
use crate::train::{downsample, RunHistory, RunState};
use egui::{Color32, RichText, Ui};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoint, PlotPoints, Points, VLine};

/// Points per plotted series after downsampling.
const MAX_POINTS: usize = 1500;

#[derive(Default)]
struct Series {
    raw: Vec<PlotPoint>,
    smooth: Vec<PlotPoint>,
    train_epoch_loss: Vec<PlotPoint>,
    val_loss: Vec<PlotPoint>,
    train_acc: Vec<PlotPoint>,
    batch_acc: Vec<PlotPoint>,
    val_acc: Vec<PlotPoint>,
    /// A regression's validation R² per epoch (where there is no accuracy).
    val_r2: Vec<PlotPoint>,
    epochs: Vec<f64>,
}

/// Plot-ready series, rebuilt only when a history or a display setting changes, so a frame never
/// copies the full history.
#[derive(Default)]
pub struct PlotCache {
    key: Option<(u64, u32, bool, usize)>,
    current: Series,
    past: Vec<(String, Vec<PlotPoint>)>,
}

fn pts(v: impl IntoIterator<Item = [f64; 2]>) -> Vec<PlotPoint> {
    v.into_iter().map(PlotPoint::from).collect()
}

fn y(v: f64, log: bool) -> f64 {
    if log {
        v.max(1e-12).log10()
    } else {
        v
    }
}

fn series(h: &RunHistory, smoothing: f64, log: bool) -> Series {
    let map = |p: Vec<[f64; 2]>| pts(p.into_iter().map(|[a, b]| [a, y(b, log)]));
    Series {
        raw: map(downsample(&h.losses, MAX_POINTS)),
        smooth: map(downsample(&h.smoothed_losses(smoothing), MAX_POINTS)),
        train_epoch_loss: map(h
            .epochs
            .iter()
            .map(|e| [e.step as f64, e.train_loss as f64])
            .collect()),
        val_loss: map(h
            .epochs
            .iter()
            .filter_map(|e| e.val.map(|v| [e.step as f64, v.loss as f64]))
            .collect()),
        batch_acc: pts(downsample(&h.smoothed_accuracies(smoothing), MAX_POINTS)
            .into_iter()
            .map(|[a, b]| [a, b * 100.0])),
        train_acc: pts(h
            .epochs
            .iter()
            .filter_map(|e| e.train_acc.map(|a| [e.step as f64, a as f64 * 100.0]))),
        val_acc: pts(h.epochs.iter().filter_map(|e| {
            e.val
                .and_then(|v| v.accuracy)
                .map(|a| [e.step as f64, a as f64 * 100.0])
        })),
        val_r2: pts(h.epochs.iter().filter_map(|e| {
            e.val
                .and_then(|v| v.regression)
                .map(|r| [e.step as f64, r.r2 as f64])
        })),
        epochs: h.epoch_steps(),
    }
}

impl PlotCache {
    fn refresh(
        &mut self,
        history: Option<&RunHistory>,
        past: &[RunHistory],
        smoothing: f32,
        log: bool,
    ) {
        let key = (
            history.map_or(0, |h| h.version),
            smoothing.to_bits(),
            log,
            past.len(),
        );
        if self.key == Some(key) {
            return;
        }
        self.key = Some(key);
        self.current = history
            .map(|h| series(h, smoothing as f64, log))
            .unwrap_or_default();
        self.past = past
            .iter()
            .map(|h| {
                let smooth = downsample(&h.smoothed_losses(smoothing as f64), MAX_POINTS);
                (
                    h.label.clone(),
                    pts(smooth.into_iter().map(|[a, b]| [a, y(b, log)])),
                )
            })
            .collect();
    }

    /// Number of points in the current run's per-step loss line (tests watch it grow).
    pub fn loss_points(&self) -> usize {
        self.current.raw.len()
    }
}

fn state_color(state: &RunState) -> Color32 {
    match state {
        RunState::Failed(_) | RunState::Diverged { .. } => ERROR,
        RunState::Finished => OK,
        _ => TRAIN,
    }
}

fn fmt_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The Training tab: run controls, progress and the live curves; it owns the plot cache.
#[derive(Default)]
pub struct TrainingPanel {
    plot_cache: PlotCache,
}

impl TrainingPanel {
    /// Points in the current run's loss curve as last drawn (tests watch it grow).
    pub fn loss_points(&self) -> usize {
        self.plot_cache.loss_points()
    }
}

impl Panel for TrainingPanel {
    fn name(&self) -> &'static str {
        "Training"
    }

    fn place(&self) -> Place {
        Place::BottomTab
    }

    fn ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        controls_ui(ui, ctx);
        ui.separator();
        let prefs = ctx.chart;
        self.plot_cache
            .refresh(ctx.history, ctx.past_runs, prefs.smoothing, prefs.log_scale);
        let log = prefs.log_scale;
        let cache = &self.plot_cache;
        let avail = ui.available_size();
        let height = (avail.y - 4.0).max(180.0);
        let has_curves = !cache.current.raw.is_empty();
        let mut export = None;
        ui.horizontal(|ui| {
            let w = (avail.x - 16.0) / 2.0;
            ui.vertical(|ui| {
                ui.set_width(w);
                if crate::ui::experiments::export_button_ui(ui, has_curves) {
                    export = Some(loss_chart(cache, log));
                }
                loss_plot_ui(ui, cache, log, height - 24.0);
            });
            ui.vertical(|ui| {
                ui.set_width(w);
                let c = &cache.current;
                // A regression's R², from before its first epoch (no accuracy to wait for).
                let regression = ctx
                    .dataset
                    .as_ref()
                    .is_some_and(|d| d.target_dim().is_some());
                let r2 = c.batch_acc.is_empty() && (regression || !c.val_r2.is_empty());
                let has_acc = !c.batch_acc.is_empty() || r2;
                if crate::ui::experiments::export_button_ui(ui, has_acc) {
                    export = Some(if r2 {
                        r2_chart(cache)
                    } else {
                        accuracy_chart(cache)
                    });
                }
                if r2 {
                    r2_plot_ui(ui, cache, height - 24.0);
                } else {
                    accuracy_plot_ui(ui, cache, height - 24.0);
                }
            });
        });
        if let Some((name, chart)) = export {
            crate::ui::experiments::panel_save_chart(ctx, name, &chart);
        }
    }
}

fn unplot(v: &[PlotPoint], log: bool) -> Vec<[f64; 2]> {
    v.iter()
        .map(|p| [p.x, if log { 10f64.powf(p.y) } else { p.y }])
        .collect()
}

/// The loss chart as drawn, in data units, for export.
fn loss_chart(cache: &PlotCache, log: bool) -> (&'static str, crate::runs::chart::Chart) {
    let c = &cache.current;
    let mut chart = crate::runs::chart::Chart::new("Loss", "step", "loss")
        .with("train loss (per step)", unplot(&c.raw, log))
        .with("train loss (smoothed)", unplot(&c.smooth, log))
        .with("train loss (epoch mean)", unplot(&c.train_epoch_loss, log))
        .with("validation loss", unplot(&c.val_loss, log));
    for (label, line) in &cache.past {
        chart = chart.with(&format!("{label} (earlier)"), unplot(line, log));
    }
    chart.series.retain(|s| !s.points.is_empty());
    chart.log_y = log;
    ("loss", chart)
}

fn accuracy_chart(cache: &PlotCache) -> (&'static str, crate::runs::chart::Chart) {
    let c = &cache.current;
    let mut chart = crate::runs::chart::Chart::new("Accuracy", "step", "accuracy %")
        .with(
            "train accuracy (batches, smoothed)",
            unplot(&c.batch_acc, false),
        )
        .with("train accuracy (epoch)", unplot(&c.train_acc, false))
        .with("validation accuracy", unplot(&c.val_acc, false));
    chart.series.retain(|s| !s.points.is_empty());
    ("accuracy", chart)
}

fn r2_chart(cache: &PlotCache) -> (&'static str, crate::runs::chart::Chart) {
    let chart = crate::runs::chart::Chart::new("Validation R²", "step", "R²")
        .with("validation R²", unplot(&cache.current.val_r2, false));
    ("r2", chart)
}

/// A regression's validation R² per epoch: 1 is perfect, 0 is no better than the mean.
fn r2_plot_ui(ui: &mut Ui, cache: &PlotCache, height: f32) {
    let c = &cache.current;
    Plot::new("r2-plot")
        .height(height)
        .legend(Legend::default().position(egui_plot::Corner::RightBottom))
        .x_axis_label("step")
        .y_axis_label("validation R²")
        .include_y(0.0)
        .include_y(1.0)
        .allow_scroll(false)
        .show(ui, |p| {
            p.line(
                Line::new("validation R²", PlotPoints::Borrowed(&c.val_r2))
                    .color(VAL)
                    .width(2.5),
            );
            p.points(
                Points::new("validation R²", PlotPoints::Borrowed(&c.val_r2))
                    .color(VAL)
                    .radius(3.5),
            );
        });
}

fn controls_ui(ui: &mut Ui, ctx: &mut Ctx) {
    let (training, paused) = (ctx.training, ctx.paused);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(
                !training,
                egui::Button::new(RichText::new("▶ Train").strong()),
            )
            .on_hover_text("Train the network on the project's data (Ctrl+Enter)")
            .clicked()
        {
            ctx.push(Command::Train);
        }
        let pause_label = if paused { "⏵ Resume" } else { "⏸ Pause" };
        if ui
            .add_enabled(training, egui::Button::new(pause_label))
            .clicked()
        {
            ctx.push(Command::TogglePause);
        }
        if ui
            .add_enabled(training, egui::Button::new("■ Stop"))
            .clicked()
        {
            ctx.push(Command::Stop);
        }
        ui.separator();
        match ctx.history {
            Some(h) => {
                ui.label(
                    RichText::new(h.state.label())
                        .strong()
                        .color(state_color(&h.state)),
                );
                if let Some(info) = &h.info {
                    ui.label(format!("step {} / {}", h.step, info.total_steps));
                    ui.label(format!(
                        "epoch {} / {}",
                        (h.epoch + 1).min(info.epochs),
                        info.epochs
                    ));
                    let mut text = format!("{:.0} %", h.progress() * 100.0);
                    if h.state.is_active() {
                        if let Some(eta) = h.eta_secs() {
                            text += &format!(" · ETA {}", fmt_duration(eta));
                        }
                    }
                    ui.add(
                        egui::ProgressBar::new(h.progress())
                            .desired_width(160.0)
                            .text(text),
                    );
                    if let Some(rate) = h.samples_per_sec() {
                        ui.label(format!("{rate:.0} samples/s"));
                    }
                } else if h.state.is_active() {
                    ui.spinner();
                    ui.label("loading data…");
                }
                if let Some(t) = &h.test {
                    if let Some(a) = t.accuracy {
                        ui.label(
                            RichText::new(format!("test accuracy {:.2} %", a * 100.0)).strong(),
                        );
                    } else if let Some(r) = &t.regression {
                        ui.label(RichText::new(format!("test {}", r.line())).strong());
                    }
                }
            }
            None => {
                ui.label(RichText::new("Ready").weak());
            }
        }
    });
    let mut prefs = ctx.chart;
    let mut resume = ctx.continue_training;
    ui.horizontal(|ui| {
        ui.label("Smoothing");
        ui.add(egui::Slider::new(&mut prefs.smoothing, 0.0..=0.99).fixed_decimals(2));
        ui.checkbox(&mut prefs.log_scale, "Log scale");
        ui.checkbox(&mut prefs.keep_overlays, "Keep earlier runs")
            .on_hover_text("Earlier runs of this session stay on the chart, faded, for comparison");
        ui.add_enabled(
            ctx.has_weights,
            egui::Checkbox::new(&mut resume, "Continue from trained weights"),
        )
        .on_hover_text(
            "Start the next run from the last run's (or loaded) weights instead of fresh ones",
        );
        if let Some(RunState::Diverged { what, .. } | RunState::Failed(what)) =
            ctx.history.map(|h| &h.state)
        {
            ui.colored_label(ERROR, what.clone());
        }
    });
    if prefs != ctx.chart {
        // Applied after the pass; the cache is rebuilt from the new settings next frame.
        ctx.chart = prefs;
        ctx.push(Command::SetChartPrefs(prefs));
    }
    if resume != ctx.continue_training {
        ctx.push(Command::SetContinueTraining(resume));
    }
}

fn loss_plot_ui(ui: &mut Ui, cache: &PlotCache, log: bool, height: f32) {
    let plot = Plot::new("loss-plot")
        .height(height)
        .legend(Legend::default())
        .x_axis_label("step")
        .y_axis_label(if log { "loss (log10)" } else { "loss" })
        .allow_scroll(false);
    let plot = if log {
        plot.y_axis_formatter(|m, _| format!("{:.3}", 10f64.powf(m.value)))
    } else {
        plot.include_y(0.0)
    };
    plot.show(ui, |p| {
        for (i, (label, line)) in cache.past.iter().enumerate() {
            let fade = 60 + 25 * i as u8;
            p.line(
                Line::new(format!("{label} (earlier)"), PlotPoints::Borrowed(line))
                    .color(Color32::from_rgba_unmultiplied(150, 150, 150, fade))
                    .width(1.5),
            );
        }
        let c = &cache.current;
        if c.raw.is_empty() && cache.past.is_empty() {
            p.text(egui_plot::Text::new(
                "",
                PlotPoint::new(0.0, 0.0),
                RichText::new("Press ▶ Train to see the loss fall").size(15.0),
            ));
        }
        p.line(
            Line::new("train loss (per step)", PlotPoints::Borrowed(&c.raw))
                .color(TRAIN.gamma_multiply(0.35))
                .width(1.0),
        );
        p.line(
            Line::new("train loss (smoothed)", PlotPoints::Borrowed(&c.smooth))
                .color(TRAIN)
                .width(2.5),
        );
        if !c.train_epoch_loss.is_empty() {
            p.line(
                Line::new(
                    "train loss (epoch mean)",
                    PlotPoints::Borrowed(&c.train_epoch_loss),
                )
                .color(TRAIN)
                .style(LineStyle::dashed_loose())
                .width(1.5),
            );
        }
        if !c.val_loss.is_empty() {
            p.line(
                Line::new("validation loss", PlotPoints::Borrowed(&c.val_loss))
                    .color(VAL)
                    .width(2.5),
            );
            p.points(
                Points::new("validation loss", PlotPoints::Borrowed(&c.val_loss))
                    .color(VAL)
                    .radius(3.5),
            );
        }
        // Epoch boundaries help while they are few; hundreds are a grey wash (and a cost).
        for &s in c.epochs.iter().filter(|_| c.epochs.len() <= 100) {
            p.vline(
                VLine::new("", s)
                    .color(Color32::from_gray(120).gamma_multiply(0.5))
                    .style(LineStyle::dashed_dense()),
            );
        }
    });
}

fn accuracy_plot_ui(ui: &mut Ui, cache: &PlotCache, height: f32) {
    let c = &cache.current;
    Plot::new("accuracy-plot")
        .height(height)
        .legend(Legend::default().position(egui_plot::Corner::RightBottom))
        .x_axis_label("step")
        .y_axis_label("accuracy %")
        .include_y(0.0)
        .include_y(100.0)
        .allow_scroll(false)
        .show(ui, |p| {
            if !c.batch_acc.is_empty() {
                p.line(
                    Line::new(
                        "train accuracy (batches, smoothed)",
                        PlotPoints::Borrowed(&c.batch_acc),
                    )
                    .color(TRAIN.gamma_multiply(0.6))
                    .width(1.5),
                );
            }
            if !c.train_acc.is_empty() {
                p.line(
                    Line::new("train accuracy (epoch)", PlotPoints::Borrowed(&c.train_acc))
                        .color(TRAIN)
                        .width(2.0),
                );
                p.points(
                    Points::new("train accuracy (epoch)", PlotPoints::Borrowed(&c.train_acc))
                        .color(TRAIN)
                        .radius(3.0),
                );
            }
            if !c.val_acc.is_empty() {
                p.line(
                    Line::new("validation accuracy", PlotPoints::Borrowed(&c.val_acc))
                        .color(VAL)
                        .width(2.5),
                );
                p.points(
                    Points::new("validation accuracy", PlotPoints::Borrowed(&c.val_acc))
                        .color(VAL)
                        .radius(3.5),
                );
            }
        });
}
