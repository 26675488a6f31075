//! Experiments: run folders beside the project, comparison, sweeps, the LR finder and chart
//! export. No egui here.

pub mod chart;
pub mod compare;
pub mod folder;
pub mod lr_finder;
mod recorder;
pub mod repeat;
pub mod significance;
pub mod sweep;

pub use compare::{graph_diff, settings_diff, GraphDiff, Scalars, XAxis};
pub use folder::{
    list, runs_dir, Listing, RunFigures, RunFolder, RunMeta, RunRecord, RunStatus, RunsError,
};
pub use recorder::Recorder;
