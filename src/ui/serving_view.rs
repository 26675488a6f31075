//! Run ▸ Serve predictions: the prediction server (`deploy::serve`, the CLI's own) started on a
//! thread with the trained weights, and a side panel watching it live — requests/s, p50/p99
//! latency and errors per second, recent predictions' classes beside the training split's, the
//! drift table with its flags and messages, the last requests. Its figures are read by copying
//! the server's activity (`try_snapshot`), never waiting on the server.

use super::panel::{Ctx, Panel, Place, StudioEvent};
use super::theme::{ERROR, OK, TRAIN, VAL};
use crate::deploy::activity::ActivitySnapshot;
use crate::deploy::serve::{start, ServeConfig, Server};
use egui::{RichText, Ui};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// The port the studio's server listens on (127.0.0.1 only).
pub const SERVE_PORT: u16 = 8080;
/// How often the panel copies the server's figures.
const REFRESH: Duration = Duration::from_millis(250);
/// Seconds of traffic on the charts.
const CHART_SECONDS: usize = 120;

pub struct ServingPanel {
    pub show: bool,
    /// Where the server listens (127.0.0.1); 0 picks a free port (tests).
    pub port: u16,
    server: Option<Server>,
    starting: Option<Receiver<Result<Server, String>>>,
    /// Start as soon as the panel's frame sees the project (the menu asked).
    start_asked: bool,
    pub snapshot: Option<ActivitySnapshot>,
    last_copy: Option<std::time::Instant>,
    error: Option<String>,
}

impl Default for ServingPanel {
    fn default() -> Self {
        Self {
            show: false,
            port: SERVE_PORT,
            server: None,
            starting: None,
            start_asked: false,
            snapshot: None,
            last_copy: None,
            error: None,
        }
    }
}

impl ServingPanel {
    pub fn serving(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(Server::addr)
    }

    pub fn is_starting(&self) -> bool {
        self.starting.is_some() || self.start_asked
    }

    /// The Run menu's entries: serve (opening the panel), stop, show the panel.
    pub fn menu_ui(&mut self, ui: &mut Ui, has_weights: bool) {
        match self.serving() {
            Some(addr) => {
                if ui
                    .button(format!("■ Stop serving on http://{addr}"))
                    .clicked()
                {
                    self.stop();
                    ui.close();
                }
                if ui.button("Serving panel").clicked() {
                    self.show = true;
                    ui.close();
                }
            }
            None => {
                let label = if self.is_starting() {
                    "Starting the server…".to_string()
                } else {
                    format!("Serve predictions on 127.0.0.1:{}…", self.port)
                };
                if ui
                    .add_enabled(has_weights && !self.is_starting(), egui::Button::new(label))
                    .on_hover_text(
                        "POST /predict with {\"inputs\": [...]} → class probabilities; GET /health, /metrics. Opens the serving panel.",
                    )
                    .on_disabled_hover_text("Train the network (or load weights) first")
                    .clicked()
                {
                    self.show = true;
                    self.start_asked = true;
                    ui.close();
                }
            }
        }
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        self.start_asked = false;
    }

    /// Starts the server on a thread of its own (it loads the data when the data panel has not).
    fn start(&mut self, ctx: &mut Ctx) {
        let Some(weights) = ctx.weights.cloned() else {
            self.error = Some("No trained weights yet: train the network first".into());
            return;
        };
        let project = ctx.project.clone();
        let (loaded, dir) = (ctx.dataset.clone(), ctx.project_dir());
        let port = self.port;
        let (tx, rx) = channel();
        let spawned = std::thread::Builder::new()
            .name("glassbox-serve-start".into())
            .spawn(move || {
                let result = (|| -> Result<Server, String> {
                    let data = match loaded {
                        Some(d) => d,
                        None => crate::data::Dataset::load(&project.data, dir.as_deref())
                            .map(std::sync::Arc::new)
                            .map_err(|e| {
                                format!("the project's data cannot be read ({e}): the server needs it for the inputs' normalisation, the class names and the drift reference")
                            })?,
                    };
                    start(project, vec![weights], data, ServeConfig::local(port))
                        .map_err(|e| e.to_string())
                })();
                let _ = tx.send(result);
            });
        match spawned {
            Ok(_) => {
                self.error = None;
                self.snapshot = None;
                self.starting = Some(rx);
            }
            Err(e) => self.error = Some(format!("cannot start the server: {e}")),
        }
    }

    fn header_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        ui.horizontal(|ui| {
            ui.heading("Serving");
            if ui.small_button("Close").clicked() {
                self.show = false;
            }
        });
        ui.horizontal(|ui| match self.serving() {
            Some(addr) => {
                ui.colored_label(OK, format!("● http://{addr}"));
                if ui.button("■ Stop").clicked() {
                    self.stop();
                }
                if ui
                    .add_enabled(ctx.has_weights, egui::Button::new("⟳ Restart"))
                    .on_hover_text(
                        "Serve the weights trained now, with the project's current drift settings",
                    )
                    .clicked()
                {
                    self.stop();
                    self.start_asked = true;
                }
            }
            None if self.is_starting() => {
                ui.spinner();
                ui.label("starting…");
            }
            None => {
                ui.label("port");
                ui.add(egui::DragValue::new(&mut self.port).range(0..=65535));
                if ui
                    .add_enabled(ctx.has_weights, egui::Button::new("▶ Serve"))
                    .on_disabled_hover_text("Train the network (or load weights) first")
                    .clicked()
                {
                    self.start_asked = true;
                }
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ERROR, e);
        }
    }
}

/// Requests/s and errors/s, and p50/p99 latency, over the last seconds.
fn traffic_ui(ui: &mut Ui, snap: &ActivitySnapshot) {
    let n = snap.seconds.len();
    let shown = &snap.seconds[n.saturating_sub(CHART_SECONDS)..];
    let series = |f: &dyn Fn(&crate::deploy::activity::SecondStats) -> f64| -> PlotPoints {
        shown.iter().map(|s| [s.second as f64, f(s)]).collect()
    };
    let last = shown.iter().rev().nth(1).or(shown.last());
    ui.label(format!(
        "{} requests, {} errors in {:.0} s · last second {} requests/s, p50 {:.2} ms, p99 {:.2} ms",
        snap.requests,
        snap.errors,
        snap.uptime_s,
        last.map_or(0, |s| s.requests),
        last.map_or(0.0, |s| s.p50_ms),
        last.map_or(0.0, |s| s.p99_ms),
    ));
    let h = 110.0;
    Plot::new("serving-rate")
        .height(h)
        .legend(Legend::default())
        .x_axis_label("s")
        .allow_scroll(false)
        .show(ui, |p| {
            p.line(Line::new("requests/s", series(&|s| s.requests as f64)).color(TRAIN));
            p.line(Line::new("errors/s", series(&|s| s.errors as f64)).color(ERROR));
        });
    Plot::new("serving-latency")
        .height(h)
        .legend(Legend::default())
        .x_axis_label("s")
        .y_axis_label("ms")
        .allow_scroll(false)
        .show(ui, |p| {
            p.line(Line::new("p50", series(&|s| s.p50_ms)).color(OK));
            p.line(Line::new("p99", series(&|s| s.p99_ms)).color(VAL));
        });
}

/// The recent predictions' class shares beside the training labels'.
fn classes_ui(ui: &mut Ui, snap: &ActivitySnapshot) {
    if snap.training_shares.is_empty() {
        return;
    }
    ui.label(RichText::new("Predicted classes").strong());
    let bars = |shares: &[f64], offset: f64| -> Vec<Bar> {
        shares
            .iter()
            .enumerate()
            .map(|(c, &v)| Bar::new(c as f64 + offset, v).width(0.35))
            .collect()
    };
    let names = snap.classes.clone();
    Plot::new("serving-classes")
        .height(110.0)
        .legend(Legend::default())
        .allow_scroll(false)
        .allow_drag(false)
        .x_axis_formatter(move |m, _| {
            let c = m.value.round();
            if (m.value - c).abs() < 1e-6 && c >= 0.0 {
                names.get(c as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |p| {
            p.bar_chart(
                BarChart::new("training split", bars(&snap.training_shares, -0.18)).color(TRAIN),
            );
            p.bar_chart(
                BarChart::new("recent predictions", bars(&snap.recent_shares, 0.18)).color(VAL),
            );
        });
    if let Some(psi) = snap.prediction_psi {
        ui.label(format!(
            "predicted-class PSI against the training labels: {psi:.3}"
        ));
    }
}

/// Per feature: PSI, KS p-value and whether it has drifted (⚠ before the name).
fn drift_ui(ui: &mut Ui, snap: &ActivitySnapshot, ctx: &Ctx) {
    let s = &ctx.project.serving;
    ui.label(RichText::new("Input drift").strong()).on_hover_text(format!(
        "Flagged when PSI ≥ {} and the KS p-value < {} over the last {} inputs (the project's serving settings)",
        s.drift_psi, s.drift_ks_p, s.drift_window
    ));
    if !s.drift {
        ui.label("drift watch off (the project's serving.drift)");
        return;
    }
    if snap.drift.is_empty() {
        ui.label(format!(
            "judged from {} inputs on ({} requests so far)",
            s.drift_min_samples, snap.requests
        ));
        return;
    }
    egui::Grid::new("serving-drift")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            ui.label("feature");
            ui.label("PSI");
            ui.label("KS p");
            ui.end_row();
            for f in &snap.drift {
                if f.drifted {
                    ui.colored_label(ERROR, format!("⚠ {}", f.name));
                } else {
                    ui.label(&f.name);
                }
                ui.label(format!("{:.3}", f.psi));
                ui.label(format!("{:.1e}", f.ks_p));
                ui.end_row();
            }
        });
    for m in snap.messages.iter().rev().take(4) {
        ui.label(RichText::new(m).weak());
    }
}

/// The last requests, newest first.
fn requests_ui(ui: &mut Ui, snap: &ActivitySnapshot) {
    ui.label(RichText::new("Last requests").strong());
    egui::ScrollArea::vertical()
        .id_salt("serving-requests")
        .max_height(220.0)
        .show(ui, |ui| {
            egui::Grid::new("serving-requests-grid")
                .striped(true)
                .num_columns(4)
                .show(ui, |ui| {
                    for r in &snap.recent {
                        ui.label(format!("{:.1} s", r.at_s));
                        ui.label(&r.input);
                        if r.status >= 400 {
                            ui.colored_label(ERROR, format!("{} {}", r.status, r.answer));
                        } else {
                            ui.label(&r.answer);
                        }
                        ui.label(format!("{:.2} ms", r.latency_ms));
                        ui.end_row();
                    }
                });
        });
}

impl Panel for ServingPanel {
    fn name(&self) -> &'static str {
        "Serving"
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

    fn frame(&mut self, egui: &egui::Context, ctx: &mut Ctx) {
        if self.start_asked && self.starting.is_none() && self.server.is_none() {
            self.start_asked = false;
            self.start(ctx);
        }
        if let Some(rx) = &self.starting {
            match rx.try_recv() {
                Ok(Ok(server)) => {
                    ctx.notify(format!(
                        "Serving on http://{}: POST /predict with {{\"inputs\": [...]}}",
                        server.addr()
                    ));
                    self.server = Some(server);
                    self.starting = None;
                }
                Ok(Err(e)) => {
                    ctx.notify_error(format!("Cannot serve: {e}"));
                    self.error = Some(e);
                    self.starting = None;
                }
                Err(_) => egui.request_repaint_after(Duration::from_millis(100)),
            }
        }
        let Some(server) = &self.server else { return };
        if self.last_copy.is_none_or(|t| t.elapsed() >= REFRESH) {
            if let Some(snap) = server.activity().try_snapshot() {
                self.snapshot = Some(snap);
                self.last_copy = Some(std::time::Instant::now());
            }
        }
        if self.show {
            egui.request_repaint_after(REFRESH);
        }
    }

    fn ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        self.header_ui(ui, ctx);
        let Some(snap) = self.snapshot.clone() else {
            if self.server.is_none() && !self.is_starting() {
                ui.label("Serve the trained model over HTTP on this computer and watch what it is asked: traffic, latency, the classes it answers, and whether its inputs drift away from the training data.");
            }
            return;
        };
        ui.separator();
        egui::ScrollArea::vertical()
            .id_salt("serving-panel")
            .show(ui, |ui| {
                traffic_ui(ui, &snap);
                classes_ui(ui, &snap);
                ui.separator();
                drift_ui(ui, &snap, ctx);
                ui.separator();
                requests_ui(ui, &snap);
            });
    }

    fn on_event(&mut self, ev: &StudioEvent) {
        if let StudioEvent::Closing = ev {
            self.stop();
        }
    }
}
