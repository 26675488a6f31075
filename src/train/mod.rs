//! Training: settings, optimisers, the loop, and the worker thread. No egui here.

mod batch;
mod best;
mod boundary;
pub mod checkpoint;
mod datamap;
mod event;
mod guard;
pub mod histogram;
mod history;
mod mode;
mod optim;
pub mod path;
mod record;
mod regression;
mod run;
pub mod snapshot;
mod worker;

pub use batch::{evaluate, input_batch, make_batch, make_batch_augmented, EVAL_BATCH};
pub use best::BestTracker;
pub use boundary::boundary_map;
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointSpec};
pub use datamap::{
    DataMap, DataMapTally, MapPoint, Region, SeenLabels, AMBIGUOUS_VARIABILITY, HARD_CONFIDENCE,
};
pub use event::{BoundaryMap, BoundarySpec, EpochMetrics, EvalMetrics, RunInfo, TrainEvent};
pub use guard::first_bad_layer;
pub use history::{downsample, RunHistory, RunState, MAX_SERIES_POINTS};
pub use mode::{mode_step, StepOutcome, StepResult, TrainStep};
pub use optim::Optim;
pub use path::WeightPath;
pub use record::{EventSink, RecordError, RecordTarget};
pub use regression::{in_target_units, RegressionMetrics, RegressionTally};
pub use run::{run_training, Control, InsightOptions, TrainError, TrainRequest};
// The settings are part of the project file, which sits below training.
pub use crate::project::training::{EarlyStopping, Monitor, Optimizer, Schedule, TrainSettings};
pub use worker::{math_pool, Notify, TrainHandle, WaitTimedOut};
