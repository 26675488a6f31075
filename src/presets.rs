//! The ready-made projects shipped in `presets/`.

use crate::fsutil::presets_dir;
use crate::project::{Project, ProjectError};
use std::path::PathBuf;

/// Preset files, sorted by name.
pub fn list() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(presets_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Loads a preset by file stem ("cnn-mnist").
pub fn load(name: &str) -> Result<Project, ProjectError> {
    Project::load(&presets_dir().join(format!("{name}.json")))
}
