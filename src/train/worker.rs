//! The training thread and the handle the UI/CLI hold. The model lives only on the thread.

use super::event::TrainEvent;
use super::run::{run_training, Control, TrainRequest};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Called by the worker after it sends events (e.g. to request a repaint).
pub type Notify = Box<dyn Fn() + Send>;

/// A run that sent no final event in the time its caller gave it.
#[derive(Debug, thiserror::Error)]
#[error("the training run sent no final event within {limit_s:.0} s; its last event was {last}")]
pub struct WaitTimedOut {
    pub limit_s: f64,
    pub last: String,
}

/// An event in a line: its kind and the start of its fields (snapshots and weights are long).
fn describe(ev: &TrainEvent) -> String {
    const MAX_CHARS: usize = 300;
    let text = format!("{ev:?}");
    match text.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

pub struct TrainHandle {
    rx: Receiver<TrainEvent>,
    control: Arc<Control>,
    join: Option<JoinHandle<()>>,
}

/// A thread pool sized like the tensor maths (None for one thread: no pool needed).
pub fn math_pool() -> Option<rayon::ThreadPool> {
    let threads = crate::model::kernels::gemm::threads();
    (threads > 1)
        .then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("glassbox-math-{i}"))
                .build()
                .ok()
        })
        .flatten()
}

impl TrainHandle {
    pub fn spawn(req: TrainRequest) -> std::io::Result<Self> {
        Self::spawn_with_notify(req, None)
    }

    pub fn spawn_with_notify(
        mut req: TrainRequest,
        notify: Option<Notify>,
    ) -> std::io::Result<Self> {
        crate::keep_freed_memory();
        let (tx, rx) = channel();
        let control = Arc::new(Control::default());
        let worker_control = control.clone();
        let join = std::thread::Builder::new()
            .name("glassbox-train".into())
            .spawn(move || {
                let body = move || {
                    let sent_terminal = std::cell::Cell::new(false);
                    // The recorder lives here, not in the loop, so a panic's Failed is written too.
                    let mut recorder = None;
                    let mut early_warning = None;
                    match req.record.take().map(|target| target.open()) {
                        Some(Ok(r)) => recorder = Some(r),
                        Some(Err(e)) => {
                            early_warning = Some(format!("this run is not recorded: {e}"))
                        }
                        None => {}
                    }
                    let mut emit = |ev: TrainEvent| {
                        sent_terminal.set(sent_terminal.get() | ev.is_terminal());
                        let failed = recorder.as_mut().and_then(|r| r.record(&ev).err());
                        if let Some(e) = failed {
                            recorder = None;
                            let _ = tx.send(TrainEvent::Warning(format!(
                                "recording this run stopped: {e}"
                            )));
                        }
                        // A closed channel means nobody listens any more: stop quietly.
                        if tx.send(ev).is_err() {
                            worker_control.stop.store(true, Ordering::Relaxed);
                        }
                        if let Some(n) = &notify {
                            n();
                        }
                    };
                    if let Some(w) = early_warning {
                        emit(TrainEvent::Warning(w));
                    }
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        run_training(req, &worker_control, &mut emit)
                    }));
                    if let Err(panic) = result {
                        if !sent_terminal.get() {
                            let msg = panic
                                .downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| panic.downcast_ref::<String>().cloned())
                                .unwrap_or_else(|| "unknown panic".into());
                            emit(TrainEvent::Failed {
                                reason: format!("internal error in the training thread: {msg}"),
                            });
                        }
                    }
                };
                // The run executes as a worker of its own math pool, so a parallel matmul
                // splits work with a thread that is already awake instead of waking two and
                // sleeping itself (on 2 cores that hand-off cost more than the second core won).
                match math_pool() {
                    Some(pool) => pool.install(body),
                    None => body(),
                }
            })?;
        Ok(Self {
            rx,
            control,
            join: Some(join),
        })
    }

    /// The next event if one is waiting; never blocks.
    pub fn try_recv(&self) -> Option<TrainEvent> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `timeout` for the next event (CLI and tests; the UI uses `try_recv`).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<TrainEvent> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Blocks until the run's terminal event, handing every event to `f`; returns the terminal one.
    pub fn wait(self, mut f: impl FnMut(&TrainEvent)) -> Option<TrainEvent> {
        while let Ok(ev) = self.rx.recv() {
            f(&ev);
            if ev.is_terminal() {
                return Some(ev);
            }
        }
        None
    }

    /// As `wait`, but gives up after `limit`: a worker that hangs then fails its caller (a test,
    /// a script) with the last event it sent instead of blocking it for ever. The run is asked
    /// to stop and its thread left to end on its own (joining a hung thread would hang too).
    pub fn wait_timeout(
        mut self,
        limit: Duration,
        mut f: impl FnMut(&TrainEvent),
    ) -> Result<Option<TrainEvent>, WaitTimedOut> {
        let deadline = std::time::Instant::now() + limit;
        let mut last = None;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(ev) => {
                    f(&ev);
                    if ev.is_terminal() {
                        return Ok(Some(ev));
                    }
                    last = Some(ev);
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Timeout) => {
                    self.stop();
                    drop(self.join.take());
                    return Err(WaitTimedOut {
                        limit_s: limit.as_secs_f64(),
                        last: last.as_ref().map_or("none".into(), describe),
                    });
                }
            }
        }
    }

    /// As `wait`, and asks the run to stop once `stop` is set (a sweep's or a repetition's
    /// Stop). A thread that ends without a terminal event gives `Failed`.
    pub fn wait_or_stop(
        self,
        stop: &std::sync::atomic::AtomicBool,
        mut f: impl FnMut(&TrainEvent),
    ) -> TrainEvent {
        loop {
            if stop.load(Ordering::Relaxed) {
                self.stop();
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(ev) => {
                    f(&ev);
                    if ev.is_terminal() {
                        return ev;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return TrainEvent::Failed {
                        reason: "the training thread ended without a result".into(),
                    }
                }
            }
        }
    }

    pub fn stop(&self) {
        self.control.stop.store(true, Ordering::Relaxed);
    }

    pub fn set_paused(&self, paused: bool) {
        self.control.pause.store(paused, Ordering::Relaxed);
    }

    pub fn is_paused(&self) -> bool {
        self.control.pause.load(Ordering::Relaxed)
    }

    /// True once the thread has returned.
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(|j| j.is_finished())
    }

    /// Stops the run and waits for the thread to end.
    pub fn stop_and_join(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop();
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for TrainHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
