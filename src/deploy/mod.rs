//! Ways out of Glassbox for a trained model: ONNX files other runtimes load, and the graph a
//! project deploys. No egui here.

pub mod activity;
pub mod candle_code;
pub mod card;
pub mod drift;
pub mod ensemble;
pub mod metrics;
pub mod onnx;
pub mod plan;
pub mod predict;
pub mod pytorch;
pub mod request_log;
pub mod serve;

use crate::graph::{gan_parts, GanError, Graph, GraphError, TrainingMode};
use crate::project::Project;
use std::path::PathBuf;
use thiserror::Error;

/// Why a model cannot leave Glassbox in the form asked for.
#[derive(Debug, Error)]
pub enum DeployError {
    #[error(transparent)]
    Gan(#[from] GanError),
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Graph(Vec<GraphError>),
    #[error("the graph needs one {0}")]
    Needs(&'static str),
    #[error("node '{node}': {reason}")]
    Unsupported { node: String, reason: &'static str },
    #[error(
        "node '{node}' ({kind}) is not in the candle snippet yet: use the ONNX or PyTorch export"
    )]
    NotInCandle { node: String, kind: &'static str },
    #[error("ensembles are measured on classifiers (labelled classes)")]
    NotAClassifier,
    #[error("there are no samples to measure on")]
    NoSamples,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Weights(#[from] crate::model::WeightsError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error(transparent)]
    Predict(#[from] predict::PredictError),
    #[error(transparent)]
    Chart(#[from] crate::runs::chart::ChartError),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Writes a batch as the raw little-endian file the Python checks and benchmarks read
/// (`tests/deploy_check.py`, `benches/infer_bench.py`): float32, or token ids as int64 (what
/// ONNX's Gather takes). Returns the dtype's name there ("f32" or "i64").
pub fn write_raw_batch(
    x: &candle_core::Tensor,
    path: &std::path::Path,
) -> anyhow::Result<&'static str> {
    let (bytes, dtype): (Vec<u8>, &str) = if x.dtype() == candle_core::DType::U32 {
        let ids: Vec<u32> = x.flatten_all()?.to_vec1()?;
        (
            ids.iter()
                .flat_map(|&v| i64::from(v).to_le_bytes())
                .collect(),
            "i64",
        )
    } else {
        let v: Vec<f32> = x
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1()?;
        (v.iter().flat_map(|v| v.to_le_bytes()).collect(), "f32")
    };
    std::fs::write(path, bytes)?;
    Ok(dtype)
}

/// The network a project deploys: a GAN's generator (noise in, sample out), otherwise the
/// graph itself (data in, prediction out).
pub fn deployable_graph(project: &Project) -> Result<Graph, GanError> {
    match project.mode {
        TrainingMode::Gan { .. } => gan_parts(&project.graph).map(|p| p.generator),
        _ => Ok(project.graph.clone()),
    }
}
