//! Ways out of Glassbox for a trained model: ONNX files other runtimes load, and the graph a
//! project deploys. No egui here.

pub mod candle_code;
pub mod card;
pub mod ensemble;
pub mod onnx;
pub mod plan;
pub mod predict;
pub mod pytorch;
pub mod serve;

use crate::graph::{gan_parts, Graph, TrainingMode};
use crate::project::Project;

/// The network a project deploys: a GAN's generator (noise in, sample out), otherwise the
/// graph itself (data in, prediction out).
pub fn deployable_graph(project: &Project) -> Result<Graph, String> {
    match project.mode {
        TrainingMode::Gan { .. } => gan_parts(&project.graph).map(|p| p.generator),
        _ => Ok(project.graph.clone()),
    }
}
