//! The training run as the studio drives it: starting a run (with the data already loaded,
//! snapshots, checkpoints) and taking its events every frame without waiting.

use super::*;

impl Studio {
    /// Drains training events without waiting; called every frame.
    pub fn poll(&mut self) {
        let Some(handle) = &self.session.run else {
            return;
        };
        let mut ended = None;
        let mut warnings = Vec::new();
        let mut early = None;
        while let Some(ev) = handle.try_recv() {
            if let TrainEvent::Boundary(map) = ev {
                self.data.boundary = Some(map);
                continue;
            }
            if let TrainEvent::Snapshot(s) = ev {
                self.insight.take_snapshot(*s);
                continue;
            }
            if let TrainEvent::Started(info) = &ev {
                warnings = info.warnings();
            }
            if let TrainEvent::Warning(w) = &ev {
                warnings.push(w.clone());
            }
            if let TrainEvent::EarlyStopped {
                epoch, best_epoch, ..
            } = &ev
            {
                early = Some((*epoch, *best_epoch));
            }
            if let Some(h) = &mut self.session.history {
                h.apply(&ev);
            }
            if ev.is_terminal() {
                ended = Some(ev);
                break;
            }
        }
        if !warnings.is_empty() {
            self.notify_error(format!("Before trusting this run: {}", warnings.join("; ")));
        }
        if self.frame.perf_log.is_some()
            && !self.frame.first_step_logged
            && self.session.history.as_ref().is_some_and(|h| h.step > 0)
        {
            self.frame.first_step_logged = true;
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            eprintln!(
                "perf first training step {:.2}s after the studio opened (unix time {unix:.3})",
                self.frame.created.elapsed().as_secs_f64()
            );
        }
        if let Some(ev) = ended {
            if let Some(h) = self.session.run.take() {
                h.stop_and_join();
            }
            self.panels
                .broadcast(&crate::ui::panel::StudioEvent::RunsChanged);
            match ev {
                TrainEvent::Finished { test, weights, .. } => {
                    self.run_finished();
                    self.insight.new_weights(weights.clone());
                    self.session.weights = Some(weights);
                    let acc = test
                        .and_then(|t| t.accuracy)
                        .map(|a| format!(": test accuracy {:.2} %", a * 100.0))
                        .unwrap_or_default();
                    match early {
                        Some((e, b)) => self.notify(format!(
                            "Early stopping after epoch {e}: epoch {b} was best and its weights are kept{acc}"
                        )),
                        None => self.notify(format!("Training finished{acc}")),
                    }
                }
                TrainEvent::Stopped { step, weights } => {
                    self.insight.new_weights(weights.clone());
                    if self.frame.perf_log.is_some() {
                        eprintln!("perf t={:.1}s run stopped at step {step}", self.frame.now);
                    }
                    self.session.weights = Some(weights);
                    self.notify(format!("Stopped at step {step}"));
                }
                TrainEvent::Failed { reason } => {
                    let hint = if self.data_misfit().is_some() {
                        " — press “Fit to the data” above the canvas"
                    } else {
                        ""
                    };
                    self.notify_error(format!("Training failed: {reason}{hint}"))
                }
                TrainEvent::Diverged { step, what, .. } => {
                    self.notify_error(format!("Diverged at step {step}: {what}"))
                }
                _ => {}
            }
        }
    }

    pub(super) fn start_training(&mut self, ctx: &egui::Context) {
        if self.is_training() {
            return;
        }
        self.doc.project.graph = self.doc.editor.graph();
        self.doc.analysis = analyze(&self.doc.project.graph);
        if let Some(e) = self.doc.analysis.errors.first() {
            let more = self.doc.analysis.errors.len() - 1;
            let more = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            self.notify_error(format!("Cannot train yet: {e}{more}"));
            return;
        }
        let mut req = TrainRequest::new(self.doc.project.clone());
        req.project_dir = self.project_dir();
        // Reuse the data the data panel already loaded for these settings.
        req.dataset = self
            .data
            .dataset_for(&self.doc.project.data, req.project_dir.as_deref());
        // The data map costs a softmax per batch and 20 bytes per sample: always kept.
        req.datamap = true;
        // A copy of the weights per epoch (bounded by `WeightPath`) for the landscape's path.
        req.path = true;
        req.insight = Some(crate::train::InsightOptions {
            probe: req
                .dataset
                .as_ref()
                .map(|d| crate::train::InsightOptions::default_probe(d, 8))
                .unwrap_or_default(),
            ..Default::default()
        });
        if req.dataset.is_some() {
            req.boundary = self
                .data
                .summary
                .as_ref()
                .and_then(crate::ui::data::boundary_spec);
        }
        if self.session.continue_training {
            req.initial_weights = self.session.weights.clone();
        }
        req.checkpoint = self.run_checkpoint();
        if let Some(folder) = self.record_folder() {
            req.record_to(folder);
        }
        let repaint = ctx.clone();
        let delay = self.frame.repaint_ms.clone();
        let notify: crate::train::Notify = Box::new(move || {
            repaint.request_repaint_after(Duration::from_millis(delay.load(Ordering::Relaxed)))
        });
        match TrainHandle::spawn_with_notify(req, Some(notify)) {
            Ok(handle) => {
                self.frame.runs_started += 1;
                if let Some(prev) = self.session.history.take() {
                    if self.settings.keep_overlays && !prev.losses.is_empty() {
                        self.session.past_runs.push(prev);
                        if self.session.past_runs.len() > MAX_OVERLAYS {
                            self.session.past_runs.remove(0);
                        }
                    }
                }
                self.session.history =
                    Some(RunHistory::new(format!("run {}", self.frame.runs_started)));
                self.session.run = Some(handle);
                self.chrome.welcome = None;
                self.notify("Training started");
            }
            Err(e) => self.notify_error(format!("Cannot start the training thread: {e}")),
        }
    }
}
