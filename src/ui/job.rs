//! A computation on the trained model, in the background: the model is built on a thread of its
//! own (candle models stay on the thread that uses them), the work reports its progress and
//! honours a stop flag, a panic becomes an error message, and the studio is woken when there is
//! something new to draw. The landscape and projector panels run theirs through it.

use crate::graph::Graph;
use crate::model::{Model, Weights};
use crate::train::Control;
use egui::Ui;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

pub struct ModelJob<T> {
    rx: Receiver<Result<T, String>>,
    progress: Arc<AtomicU32>,
    control: Arc<Control>,
}

impl<T: Send + 'static> ModelJob<T> {
    /// Builds `graph` with `weights` on a new thread named `name` and runs `work` on it;
    /// `what` names the work in an error ("projecting").
    pub fn spawn(
        name: &str,
        what: &'static str,
        egui: &egui::Context,
        (graph, seed, weights): (Graph, u64, Weights),
        work: impl FnOnce(&Model, &Control, &mut dyn FnMut(f32)) -> Result<T, String> + Send + 'static,
    ) -> Result<Self, String> {
        let (tx, rx) = channel();
        let progress = Arc::new(AtomicU32::new(0));
        let control = Arc::new(Control::default());
        let (p, c, repaint) = (progress.clone(), control.clone(), egui.clone());
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let model = Model::build(&graph, seed).map_err(|e| e.to_string())?;
                    model.load_weights(&weights).map_err(|e| e.to_string())?;
                    work(&model, &c, &mut |f| {
                        p.store(f.to_bits(), Ordering::Relaxed);
                        repaint.request_repaint();
                    })
                }))
                .unwrap_or_else(|_| Err(format!("internal error while {what}")));
                let _ = tx.send(r);
                repaint.request_repaint();
            })
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        Ok(Self {
            rx,
            progress,
            control,
        })
    }

    /// The result, once it has come (never waits).
    pub fn try_take(&self) -> Option<Result<T, String>> {
        self.rx.try_recv().ok()
    }

    pub fn cancel(&self) {
        self.control.stop.store(true, Ordering::Relaxed);
    }

    /// A progress bar with Cancel.
    pub fn progress_ui(&self, ui: &mut Ui, width: f32) {
        let f = f32::from_bits(self.progress.load(Ordering::Relaxed));
        ui.add(
            egui::ProgressBar::new(f)
                .desired_width(width)
                .show_percentage(),
        );
        if ui.button("Cancel").clicked() {
            self.cancel();
        }
    }
}
