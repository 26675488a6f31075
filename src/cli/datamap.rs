//! `glassbox datamap`: trains a classifier as `train` would, keeping the data map, and writes
//! each training sample's confidence, variability and correctness with its place in the user's
//! file, then names the samples most likely mislabelled.

use super::load_project;
use crate::data::Dataset;
use crate::train::{DataMap, TrainEvent, TrainHandle, TrainRequest};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct DatamapOptions {
    project: PathBuf,
    /// Override the project's number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Where to write the map (CSV).
    #[arg(short, long)]
    output: PathBuf,
    /// How many likely mislabelled samples to name.
    #[arg(long, default_value_t = 10)]
    show: usize,
}

pub(super) fn datamap(opts: &DatamapOptions) -> Result<()> {
    let path = &opts.project;
    let mut project = load_project(path)?;
    if let Some(e) = opts.epochs {
        project.training.epochs = e;
    }
    let data = Arc::new(Dataset::load(&project.data, path.parent())?);
    if data.n_classes().is_none() {
        bail!(
            "{} has numeric targets: the data map needs class labels",
            data.name
        );
    }
    let mut req = TrainRequest::new(project.clone());
    req.project_dir = path.parent().map(Path::to_path_buf);
    req.dataset = Some(data.clone());
    req.datamap = true;
    println!(
        "training {} for {} epoch(s), keeping the data map of its {} training samples",
        project.name,
        project.training.epochs,
        data.train.len()
    );
    let handle = TrainHandle::spawn(req).context("cannot start the training thread")?;
    let mut map: Option<Arc<DataMap>> = None;
    let terminal = handle.wait(|ev| match ev {
        TrainEvent::DataMap { epoch, map: m } => {
            let (easy, ambiguous, hard) = m.region_counts();
            println!("epoch {epoch:>3}: {easy} easy, {ambiguous} ambiguous, {hard} hard to learn");
            map = Some(m.clone());
        }
        TrainEvent::Warning(w) => eprintln!("warning: {w}"),
        _ => {}
    });
    match terminal {
        Some(TrainEvent::Finished { .. }) => {}
        Some(TrainEvent::Diverged { step, what, .. }) => bail!("diverged at step {step}: {what}"),
        Some(TrainEvent::Failed { reason }) => bail!("training failed: {reason}"),
        _ => bail!("the training run did not finish"),
    }
    let map = map.context("no epoch finished, so there is no map")?;
    write_csv(&opts.output, &map, &data)?;
    println!(
        "wrote {} ({} samples)",
        opts.output.display(),
        map.points.len()
    );
    let names = data.class_names();
    let name = |c: u32| names.get(c as usize).cloned().unwrap_or(c.to_string());
    println!("likely mislabelled (steadily low confidence in their own label):");
    for p in map.likely_mislabelled(opts.show) {
        println!(
            "  {:<12} labelled {:<10} predicted {:<10} confidence {:.3} variability {:.3}",
            data.origin(p.index),
            name(p.label),
            name(p.predicted),
            p.confidence,
            p.variability
        );
    }
    Ok(())
}

/// `index,label,predicted,confidence,variability,correct_share`, index being the sample's
/// place in the source file.
fn write_csv(path: &Path, map: &DataMap, data: &Dataset) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record([
        "index",
        "label",
        "predicted",
        "confidence",
        "variability",
        "correct_share",
    ])?;
    let names = data.class_names();
    let name = |c: u32| names.get(c as usize).cloned().unwrap_or(c.to_string());
    for p in &map.points {
        w.write_record([
            data.origin(p.index),
            name(p.label),
            name(p.predicted),
            format!("{:.5}", p.confidence),
            format!("{:.5}", p.variability),
            format!("{:.4}", p.correct_share),
        ])?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    let _ = std::io::stdout().flush();
    Ok(())
}
