//! `glassbox embed`: a node's activations on the test samples projected to 2-D (PCA), written
//! as `index,label,x,y` with how faithful the plane is.

use super::load_project;
use crate::data::Dataset;
use crate::insight::project_node;
use crate::model::{Model, Weights};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EmbedOptions {
    project: PathBuf,
    #[arg(long)]
    weights: PathBuf,
    /// The node whose activations are projected (its id in the project).
    #[arg(long)]
    node: String,
    /// Projection method; only `pca` is built so far.
    #[arg(long, default_value = "pca")]
    method: String,
    /// At most this many test samples.
    #[arg(long, default_value_t = 2000)]
    samples: usize,
    #[arg(short, long)]
    output: PathBuf,
}

pub(super) fn embed(opts: &EmbedOptions) -> Result<()> {
    if opts.method != "pca" {
        bail!(
            "'{}' is not built yet: only --method pca projects for now",
            opts.method
        );
    }
    let project = load_project(&opts.project)?;
    let data = Dataset::load(&project.data, opts.project.parent())?;
    let model = Model::build(&project.graph, project.training.seed)?;
    model.load_weights(&Weights::load(&opts.weights)?)?;
    let split = if data.test.is_empty() {
        &data.val
    } else {
        &data.test
    };
    let idx: Vec<usize> = split.iter().copied().take(opts.samples.max(1)).collect();
    let p = project_node(&model, &data, &opts.node, &idx)?;
    let mut w = csv::Writer::from_path(&opts.output)
        .with_context(|| format!("cannot write {}", opts.output.display()))?;
    w.write_record(["index", "label", "x", "y"])?;
    let names = data.class_names();
    for ((&i, xy), label) in p.samples.iter().zip(&p.points).zip(&p.labels) {
        let label = label
            .map(|l| names.get(l as usize).cloned().unwrap_or(l.to_string()))
            .unwrap_or_default();
        w.write_record([
            data.origin(i),
            label,
            format!("{:.5}", xy[0]),
            format!("{:.5}", xy[1]),
        ])?;
    }
    w.flush()?;
    println!(
        "'{}' ({} values) on {} samples → PCA: the two axes explain {:.1} % and {:.1} % of its variance",
        p.node,
        p.dim,
        p.samples.len(),
        p.explained[0] * 100.0,
        p.explained[1] * 100.0
    );
    if let (Some(plane), Some(layer)) = (p.knn_plane, p.knn_layer) {
        println!(
            "{}-nearest-neighbour accuracy: {:.1} % in the layer, {:.1} % on the plane",
            crate::insight::projector::KNN,
            layer * 100.0,
            plane * 100.0
        );
    }
    println!("wrote {}", opts.output.display());
    Ok(())
}
