//! `glassbox landscape`: the training loss around trained weights on a 2-D slice along two
//! filter-normalised random directions, written as `x,y,loss` per cell.

use super::{load_project, with_progress};
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
    /// Instead of the 2-D slice: the loss along the straight line from these weights (e.g.
    /// another run's, or the initial ones) to --weights, at --grid points of α from −0.25 to
    /// 1.25 (α = 0: these weights, α = 1: --weights), written as `alpha,loss`. `init` takes the
    /// project's initial weights (its seed).
    #[arg(long, value_name = "WEIGHTS|init")]
    line_from: Option<String>,
    /// Where to write the slice (CSV).
    #[arg(short, long)]
    output: PathBuf,
}

pub(super) fn landscape(opts: &LandscapeOptions) -> Result<()> {
    let project = load_project(&opts.project)?;
    let weights = Weights::load(&opts.weights)?;
    let data = Dataset::load(&project.data, opts.project.parent())?;
    let model = Model::build(&project.graph, project.training.seed)?;
    if let Some(from) = &opts.line_from {
        let from = match from.as_str() {
            "init" => model.weights()?,
            path => Weights::load(std::path::Path::new(path))?,
        };
        return line(opts, &model, &data, &from, &weights);
    }
    model.load_weights(&weights)?;
    let spec = LandscapeSpec {
        grid: opts.grid,
        span: opts.span,
        samples: opts.samples,
        seed: opts.seed,
        plane: Default::default(),
    };
    let started = std::time::Instant::now();
    let land = with_progress(|progress| {
        loss_landscape(&model, &data, spec, &Control::default(), progress)
    })?;
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

/// `--line-from`: the loss along the line from `from` to `to`, as `alpha,loss`.
fn line(
    opts: &LandscapeOptions,
    model: &Model,
    data: &Dataset,
    from: &Weights,
    to: &Weights,
) -> Result<()> {
    let line = with_progress(|progress| {
        crate::insight::loss_line(
            model,
            data,
            (from, to),
            (opts.grid, opts.samples),
            &Control::default(),
            progress,
        )
    })?;
    let mut w = csv::Writer::from_path(&opts.output)
        .with_context(|| format!("cannot write {}", opts.output.display()))?;
    w.write_record(["alpha", "loss"])?;
    for (a, l) in &line.points {
        w.write_record([format!("{a:.4}"), format!("{l:.6}")])?;
    }
    w.flush()?;
    println!(
        "loss {:.4} at the start (α = 0), {:.4} at --weights (α = 1), highest in between {:.4}{}; wrote {}",
        line.at(0.0),
        line.at(1.0),
        line.highest_between(),
        if line.has_barrier() {
            " — a barrier: the two ends lie in different basins"
        } else {
            " — no barrier between them"
        },
        opts.output.display()
    );
    Ok(())
}
