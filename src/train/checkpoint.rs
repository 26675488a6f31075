//! A checkpoint after every epoch, and a run that resumes from it after the app or the CLI was
//! killed. The weights of epoch k go to `checkpoint-epoch-k.safetensors`, then `checkpoint.json`
//! names them, so a kill between the two writes leaves the previous, consistent pair. The
//! optimiser's moments are not saved: a resumed run restarts them (one warm-up's worth of
//! difference, not a different model).

use crate::fsutil::write_atomic;
use crate::model::{Weights, WeightsError};
use crate::project::Project;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

const META: &str = "checkpoint.json";

/// Where a run writes its checkpoints, and whether it starts from the one there.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointSpec {
    pub dir: PathBuf,
    pub resume: bool,
}

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("cannot write the checkpoint in {dir}: {source}")]
    Write {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the checkpoint in {0} is damaged: {1}")]
    Damaged(PathBuf, String),
    #[error("the checkpoint in {0} was made for other settings (graph, data or training changed since): remove it or train without resuming")]
    OtherProject(PathBuf),
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    epochs_done: usize,
    weights: String,
    /// FNV-1a of the project's graph, data, mode and training settings.
    fingerprint: String,
}

/// A run's state after `epochs_done` whole epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub epochs_done: usize,
    pub weights: Weights,
}

/// What must not change for a checkpoint to continue a run (the name and description may).
fn fingerprint(project: &Project) -> String {
    let parts = serde_json::json!({
        "graph": project.graph,
        "data": project.data,
        "mode": project.mode,
        "training": project.training,
    });
    crate::fsutil::fnv64_hex(parts.to_string().as_bytes())
}

pub fn save(
    spec: &CheckpointSpec,
    project: &Project,
    epochs_done: usize,
    weights: &Weights,
) -> Result<(), CheckpointError> {
    let write_err = |source| CheckpointError::Write {
        dir: spec.dir.clone(),
        source,
    };
    std::fs::create_dir_all(&spec.dir).map_err(write_err)?;
    let name = format!("checkpoint-epoch-{epochs_done}.safetensors");
    weights.save(&spec.dir.join(&name))?;
    let meta = Meta {
        epochs_done,
        weights: name.clone(),
        fingerprint: fingerprint(project),
    };
    let json = serde_json::to_vec_pretty(&meta).expect("plain data serialises");
    write_atomic(&spec.dir.join(META), &json).map_err(write_err)?;
    // Older epochs' weights are no longer named by the meta file.
    if let Ok(entries) = std::fs::read_dir(&spec.dir) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("checkpoint-epoch-") && n.ends_with(".safetensors") && n != name {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// The checkpoint in `dir` for `project`, None when there is none.
pub fn load(dir: &Path, project: &Project) -> Result<Option<Checkpoint>, CheckpointError> {
    let Ok(bytes) = std::fs::read(dir.join(META)) else {
        return Ok(None);
    };
    let meta: Meta = serde_json::from_slice(&bytes)
        .map_err(|e| CheckpointError::Damaged(dir.to_path_buf(), e.to_string()))?;
    if meta.fingerprint != fingerprint(project) {
        return Err(CheckpointError::OtherProject(dir.to_path_buf()));
    }
    if meta.weights.contains(['/', '\\']) {
        return Err(CheckpointError::Damaged(
            dir.to_path_buf(),
            "the weights file name is not a plain name".into(),
        ));
    }
    let weights = Weights::load(&dir.join(&meta.weights))?;
    Ok(Some(Checkpoint {
        epochs_done: meta.epochs_done,
        weights,
    }))
}
