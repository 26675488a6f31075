//! `glassbox embed`: a node's activations on the test samples projected to 2-D (PCA, t-SNE or
//! UMAP), written
//! as `index,label,x,y` with how faithful the plane is.

use super::{load_project, with_progress};
use crate::data::Dataset;
use crate::insight::project_node;
use crate::insight::projector::Method;
use crate::insight::tsne::TsneSettings;
use crate::insight::umap::UmapSettings;
use crate::model::{Model, Weights};
use crate::train::Control;
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
    /// Projection method: `pca`, `tsne` (exact up to 1,000 samples, Barnes-Hut above) or `umap`
    /// (both started from the PCA plane); each up to 10,000 samples.
    #[arg(long, default_value = "pca")]
    method: String,
    /// At most this many test samples.
    #[arg(long, default_value_t = 2000)]
    samples: usize,
    /// t-SNE's perplexity (about how many neighbours each sample keeps).
    #[arg(long, default_value_t = 30.0)]
    perplexity: f64,
    /// UMAP's neighbours per sample.
    #[arg(long, default_value_t = 15)]
    neighbours: usize,
    #[arg(short, long)]
    output: PathBuf,
}

pub(super) fn embed(opts: &EmbedOptions) -> Result<()> {
    let method = match opts.method.as_str() {
        "pca" => Method::Pca,
        "tsne" => Method::Tsne(TsneSettings {
            perplexity: opts.perplexity,
            ..Default::default()
        }),
        "umap" => Method::Umap(UmapSettings {
            neighbours: opts.neighbours,
            ..Default::default()
        }),
        other => bail!("unknown method '{other}': use pca, tsne or umap"),
    };
    if opts.samples > method.max_points() {
        bail!(
            "{} projects at most {} samples here: lower --samples",
            method.name(),
            method.max_points()
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
    let p = with_progress(|progress| {
        project_node(
            &model,
            &data,
            &opts.node,
            &idx,
            method,
            &Control::default(),
            progress,
        )
    })?;
    let mut w = csv::Writer::from_path(&opts.output)
        .with_context(|| format!("cannot write {}", opts.output.display()))?;
    w.write_record(["index", "label", "x", "y"])?;
    let names = data.class_names();
    for (((&i, xy), label), value) in p
        .samples
        .iter()
        .zip(&p.points)
        .zip(&p.labels)
        .zip(&p.values)
    {
        // A class's name, or a regression's target value.
        let label = label
            .map(|l| names.get(l as usize).cloned().unwrap_or(l.to_string()))
            .or(value.map(|v| v.to_string()))
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
        "'{}' ({} values) on {} samples → {}; the PCA axes explain {:.1} % and {:.1} % of its variance",
        p.node,
        p.dim,
        p.samples.len(),
        p.method.name(),
        p.explained[0] * 100.0,
        p.explained[1] * 100.0
    );
    if let Some(t) = p.trustworthiness {
        println!(
            "trustworthiness {t:.3} (1: each sample's {} nearest on the plane are its nearest in the layer)",
            crate::insight::projector::TRUST_K
        );
    }
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
