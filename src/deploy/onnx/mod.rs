//! ONNX export (and import): the open format other runtimes (onnxruntime, OpenCV, TensorRT,
//! browsers) load. The protobuf types are generated at build time from the vendored
//! `onnx.proto3` (Apache-2.0, from github.com/onnx/onnx) by `protox` and `prost`.

mod builder;
mod export;
mod export_sequence;
mod import;
mod reader;

pub use export::export_graph;
pub use import::{import_onnx, Imported};

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
    #[error("the ONNX file cannot be imported: {0}")]
    Import(String),
    #[error("node '{node}' cannot be exported to ONNX: {reason}")]
    Unsupported { node: String, reason: String },
    #[error("ONNX node '{node}' cannot be imported: {reason}")]
    NotImportable { node: String, reason: String },
    #[error("node '{node}' has no trained tensor '{name}' in the weights")]
    MissingWeight { node: String, name: String },
    #[error("node '{node}': the weights' '{name}' is {found:?}, the layer needs {expected:?}")]
    WeightShape {
        node: String,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error(
        "node '{node}': the weights' '{name}' holds {values} values, its shape needs {expected}"
    )]
    WeightLength {
        node: String,
        name: String,
        values: usize,
        expected: usize,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
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
    let graph = deployable_graph(project).map_err(|e| OnnxError::Graph(e.to_string()))?;
    let mut model = export_graph(&graph, weights, &project.name)?;
    // Enough of the project to open the file as one again: its data and training settings.
    let mut meta = vec![
        ("glassbox.data", serde_json::to_string(&project.data)),
        (
            "glassbox.training",
            serde_json::to_string(&project.training),
        ),
    ];
    if !matches!(project.mode, crate::graph::TrainingMode::Gan { .. }) {
        meta.push(("glassbox.mode", serde_json::to_string(&project.mode)));
    }
    for (key, value) in meta {
        if let Ok(value) = value {
            model.metadata_props.push(proto::StringStringEntryProto {
                key: key.into(),
                value,
            });
        }
    }
    Ok(model.encode_to_vec())
}

/// A project setting the exporter stored in the file's metadata; an unreadable one is noted.
fn read_meta<T: serde::de::DeserializeOwned>(
    imported: &Imported,
    key: &str,
    notes: &mut Vec<String>,
) -> Option<T> {
    let text = imported.metadata.get(key)?;
    serde_json::from_str(text)
        .map_err(|e| {
            notes.push(format!(
                "the file's {key} is unreadable ({e}): left at the default"
            ))
        })
        .ok()
}

/// Reads an ONNX file as a new project (data: MNIST for [1, 28, 28] images, else the
/// default for the user to choose) and its weights.
pub fn import_project(path: &Path) -> Result<(Project, Weights, Vec<String>), OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let imported = import_onnx(&bytes)?;
    let mut notes = imported.notes.clone();
    let data: Option<crate::data::DataSettings> = read_meta(&imported, "glassbox.data", &mut notes);
    let training: Option<crate::train::TrainSettings> =
        read_meta(&imported, "glassbox.training", &mut notes);
    let mode: Option<crate::graph::TrainingMode> =
        read_meta(&imported, "glassbox.mode", &mut notes);
    let mut project = Project {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Imported".into()),
        description: format!("Imported from {}", path.display()),
        graph: imported.graph,
        ..Project::default()
    };
    let mnist_shaped = project.graph.nodes.iter().any(
        |n| matches!(&n.layer, crate::graph::Layer::Input { shape, .. } if shape == &[1, 28, 28]),
    );
    let data_in_file = data.is_some();
    match data {
        Some(d) => project.data = d,
        None if mnist_shaped => project.data.source = crate::data::DataSource::Mnist,
        None => {}
    }
    // A file from another tool says nothing of its loss; raw outputs read as a regression.
    // Data whose targets are classes say otherwise: its logits are trained by cross-entropy.
    if !data_in_file && class_targets(&project.data.source) {
        for node in &mut project.graph.nodes {
            if let crate::graph::Layer::Output { loss, .. } = &mut node.layer {
                if *loss == crate::graph::Loss::Mse {
                    *loss = crate::graph::Loss::CrossEntropy;
                    notes.push(
                        "the data's targets are classes: the Output's loss is cross-entropy".into(),
                    );
                }
            }
        }
    }
    if let Some(t) = training {
        project.training = t;
    }
    if let Some(m) = mode {
        project.mode = m;
    }
    Ok((project, imported.weights, notes))
}

/// Whether a data source's targets are always classes (whatever the file's columns).
fn class_targets(source: &crate::data::DataSource) -> bool {
    use crate::data::DataSource;
    matches!(
        source,
        DataSource::Mnist | DataSource::ImageFolder { .. } | DataSource::TextClass { .. }
    )
}

/// Exports and writes `path`; nothing is written when the export fails.
pub fn write_onnx(project: &Project, weights: &Weights, path: &Path) -> Result<(), OnnxError> {
    let bytes = export_project(project, weights)?;
    write_atomic(path, &bytes).map_err(|source| OnnxError::Write {
        path: path.to_path_buf(),
        source,
    })
}
