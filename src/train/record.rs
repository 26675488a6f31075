//! Where a run's events are kept as they happen. Training knows only these two traits; the runs
//! folder's recorder implements them, so `train` does not depend on `runs` (runs reads train).

use super::TrainEvent;

pub type RecordError = Box<dyn std::error::Error + Send + Sync>;

/// Takes every event of one run, on the training thread.
pub trait EventSink: Send {
    /// An error means nothing more can be kept: the run goes on unrecorded, with a warning.
    fn record(&mut self, ev: &TrainEvent) -> Result<(), RecordError>;
}

/// Opens a sink for one run. Opened on the worker, so a failure becomes the run's warning.
pub trait RecordTarget: Send + Sync {
    fn open(&self) -> Result<Box<dyn EventSink>, RecordError>;
}
