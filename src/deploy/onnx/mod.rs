//! ONNX export (and import): the open format other runtimes (onnxruntime, OpenCV, TensorRT,
//! browsers) load. The protobuf types are generated at build time from the vendored
//! `onnx.proto3` (Apache-2.0, from github.com/onnx/onnx) by `protox` and `prost`.

mod builder;
mod export;

pub use export::export_graph;

use crate::deploy::deployable_graph;
use crate::fsutil::write_atomic;
use crate::model::Weights;
use crate::project::Project;
use prost::Message;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The generated ONNX protobuf types.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

/// The operator set the export targets; every op used exists there unchanged.
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17.
pub const IR_VERSION: i64 = 8;
/// Names of the model's input, raw output and (for classifiers) probabilities.
pub const INPUT: &str = "input";
pub const OUTPUT: &str = "output";
pub const PROBABILITIES: &str = "probabilities";
/// The symbolic batch dimension.
pub const BATCH_DIM: &str = "batch";

#[derive(Debug, Error)]
pub enum OnnxError {
    #[error("the graph cannot be exported: {0}")]
    Graph(String),
    #[error("node '{node}' cannot be exported to ONNX: {reason}")]
    Unsupported { node: String, reason: String },
    #[error("node '{node}' has no trained tensor '{name}' in the weights")]
    MissingWeight { node: String, name: String },
    #[error("node '{node}': the weights' '{name}' is {found:?}, the layer needs {expected:?}")]
    WeightShape {
        node: String,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The project's deployable network (see `deployable_graph`) with `weights`, as ONNX bytes.
pub fn export_project(project: &Project, weights: &Weights) -> Result<Vec<u8>, OnnxError> {
    let graph = deployable_graph(project).map_err(OnnxError::Graph)?;
    Ok(export_graph(&graph, weights, &project.name)?.encode_to_vec())
}

/// Exports and writes `path`; nothing is written when the export fails.
pub fn write_onnx(project: &Project, weights: &Weights, path: &Path) -> Result<(), OnnxError> {
    let bytes = export_project(project, weights)?;
    write_atomic(path, &bytes).map_err(|source| OnnxError::Write {
        path: path.to_path_buf(),
        source,
    })
}
