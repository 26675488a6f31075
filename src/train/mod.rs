//! Training: settings, optimisers, the loop, and the worker thread. No egui here.

mod event;
mod history;
mod optim;
mod run;
mod settings;
mod worker;

pub use event::{BoundaryMap, BoundarySpec, EpochMetrics, EvalMetrics, RunInfo, TrainEvent};
pub use history::{downsample, RunHistory, RunState};
pub use optim::Optim;
pub use run::{
    evaluate, make_batch, make_batch_augmented, run_training, Control, InsightOptions, TrainError,
    TrainRequest,
};
pub use settings::{Optimizer, Schedule, TrainSettings};
pub use worker::{Notify, TrainHandle};
