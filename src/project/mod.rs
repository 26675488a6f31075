//! A project: the graph, its data and its training settings, saved as versioned JSON.

use crate::data::DataSettings;
use crate::fsutil::write_atomic;
use crate::graph::{Graph, TrainingMode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub mod serving;
pub mod training;
pub use training::TrainSettings;

/// The file format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub format_version: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub mode: TrainingMode,
    pub graph: Graph,
    pub data: DataSettings,
    #[serde(default)]
    pub training: TrainSettings,
    /// Drift thresholds for serving.
    #[serde(default, skip_serializing_if = "serving::ServingSettings::is_default")]
    pub serving: serving::ServingSettings,
}

impl Default for Project {
    fn default() -> Self {
        Self {
            format_version: FORMAT_VERSION,
            name: "Untitled".into(),
            description: String::new(),
            mode: TrainingMode::Supervised,
            graph: Graph::default(),
            data: DataSettings::default(),
            training: TrainSettings::default(),
            serving: Default::default(),
        }
    }
}

#[derive(Debug, Error)]
pub enum ProjectError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot save {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a Glassbox project: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} was saved by a newer Glassbox (format version {found}; this build reads up to {supported}): update Glassbox to open it")]
    TooNew {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
}

impl Project {
    pub fn load(path: &Path) -> Result<Self, ProjectError> {
        let text = std::fs::read(path).map_err(|source| ProjectError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_bytes(&text, path)
    }

    /// Like `load`, with the keys the file has that this build does not know (a typo such as
    /// "epoch" for "epochs", or a field from another program), by their path in the file.
    pub fn load_reporting(path: &Path) -> Result<(Self, Vec<String>), ProjectError> {
        let text = std::fs::read(path).map_err(|source| ProjectError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a project; `path` only names the file in errors.
    pub fn from_json_bytes(bytes: &[u8], path: &Path) -> Result<Self, ProjectError> {
        Self::parse(bytes, path).map(|(p, _)| p)
    }

    /// The project and the paths of the keys it ignored ("training.epoch").
    pub fn parse(bytes: &[u8], path: &Path) -> Result<(Self, Vec<String>), ProjectError> {
        let invalid = |reason: String| ProjectError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|e| invalid(format!("it is not UTF-8 text (byte {})", e.valid_up_to())))?;
        // Read the version first, so a newer file says "too new" rather than "unknown field".
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(json_reason(&e)))?;
        let version = value
            .get("format_version")
            .ok_or_else(|| invalid("it has no \"format_version\" field".into()))?
            .as_u64()
            .ok_or_else(|| invalid("\"format_version\" is not a whole number".into()))?;
        if version > FORMAT_VERSION as u64 {
            return Err(ProjectError::TooNew {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(invalid(
                "\"format_version\" 0 does not exist; versions start at 1".into(),
            ));
        }
        let mut unknown = Vec::new();
        let mut project: Project = serde_ignored::deserialize(value, |key| {
            unknown.push(key.to_string());
        })
        .map_err(|e| invalid(json_reason(&e)))?;
        project.format_version = FORMAT_VERSION;
        Ok((project, unknown))
    }

    /// One line naming the ignored keys, for a warning.
    pub fn unknown_keys_note(path: &Path, keys: &[String]) -> Option<String> {
        const SHOWN: usize = 8;
        if keys.is_empty() {
            return None;
        }
        let mut list = keys
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if keys.len() > SHOWN {
            list.push_str(&format!(" and {} more", keys.len() - SHOWN));
        }
        Some(format!(
            "{}: ignored {} unknown key(s): {list} (misspelt, or from another program?)",
            path.display(),
            keys.len()
        ))
    }

    pub fn to_json(&self) -> String {
        let mut p = self.clone();
        p.format_version = FORMAT_VERSION;
        serde_json::to_string_pretty(&p).expect("a project always serialises")
    }

    /// Saves atomically: a failed save leaves the previous file untouched.
    pub fn save(&self, path: &Path) -> Result<(), ProjectError> {
        write_atomic(path, self.to_json().as_bytes()).map_err(|source| ProjectError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => format!(
            "the file ends early (line {}, column {}); it may be truncated",
            e.line(),
            e.column()
        ),
        Category::Syntax => format!("it is not valid JSON ({e})"),
        Category::Data => format!("a field has the wrong form ({e})"),
        Category::Io => format!("it could not be read ({e})"),
    }
}
