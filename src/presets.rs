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

/// `project` laid out left to right in snaking bands (presets open readable, not as stored);
/// a graph with named groups (a GAN's two networks) keeps its own positions, which frame them.
pub fn laid_out(mut project: Project) -> Project {
    if project.graph.nodes.iter().all(|n| n.group.is_none()) {
        project.graph.layout_left_to_right();
    }
    project
}

/// Loads a preset by file stem ("cnn-mnist").
pub fn load(name: &str) -> Result<Project, ProjectError> {
    Project::load(&presets_dir().join(format!("{name}.json")))
}
