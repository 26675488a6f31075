//! `glassbox landscape`: the training loss around trained weights on a 2-D slice along two
//! filter-normalised random directions, written as `x,y,loss` per cell.

use super::load_project;
use crate::data::Dataset;
use crate::insight::{loss_landscape, LandscapeSpec};
use crate::model::{Model, Weights};
use crate::train::Control;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct LandscapeOptions {
    project: PathBuf,
    #[arg(long)]
    weights: PathBuf,
    /// Cells a side (3 to 101).
    #[arg(long, default_value_t = 25)]
    grid: usize,
    /// How far each direction goes either way (1 = one filter norm).
    #[arg(long, default_value_t = 1.0)]
    span: f32,
    /// Training samples the loss is measured on (the first ones of the split).
    #[arg(long, default_value_t = 1024)]
    samples: usize,
    /// Seed of the two random directions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the slice (CSV).
    #[arg(short, long)]
    output: PathBuf,
}

pub(super) fn landscape(opts: &LandscapeOptions) -> Result<()> {
    let project = load_project(&opts.project)?;
    let weights = Weights::load(&opts.weights)?;
    let data = Dataset::load(&project.data, opts.project.parent())?;
    let model = Model::build(&project.graph, project.training.seed)?;
    model.load_weights(&weights)?;
    let spec = LandscapeSpec {
        grid: opts.grid,
        span: opts.span,
        samples: opts.samples,
        seed: opts.seed,
    };
    let bar = indicatif::ProgressBar::new(100);
    let started = std::time::Instant::now();
    let land = loss_landscape(&model, &data, spec, &Control::default(), &mut |f| {
        bar.set_position((f * 100.0) as u64)
    })?;
    bar.finish_and_clear();
    let mut w = csv::Writer::from_path(&opts.output)
        .with_context(|| format!("cannot write {}", opts.output.display()))?;
    w.write_record(["x", "y", "loss"])?;
    for (x, y, l) in land.cells() {
        w.write_record([format!("{x:.4}"), format!("{y:.4}"), format!("{l:.6}")])?;
    }
    w.flush()?;
    let mid = opts.grid / 2;
    let (r, c) = land.lowest();
    println!(
        "{} × {} cells on {} samples in {:.1} s; loss at the trained weights {:.4}, lowest {:.4} at ({:.2}, {:.2}); wrote {}",
        opts.grid,
        opts.grid,
        opts.samples.min(data.train.len()),
        started.elapsed().as_secs_f64(),
        land.loss[mid][mid],
        land.loss[r][c],
        land.coords[c],
        land.coords[r],
        opts.output.display()
    );
    Ok(())
}
