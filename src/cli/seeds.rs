//! `glassbox repeat` trains a project once per seed into its runs folder as one group;
//! `glassbox compare` says whether two groups (or runs) differ: each side's test figure as
//! mean ± 95 % interval, Welch's t-test, and for classifiers McNemar's exact test on the paired
//! test predictions of each side's first run.

use super::experiments::runs_root;
use super::load_project;
use crate::data::Dataset;
use crate::insight::evaluate_split;
use crate::model::{Model, Weights};
use crate::runs::repeat::{repeat_seeds, RepeatSpec};
use crate::runs::significance::{disagreements, mcnemar_exact, spread, welch, Spread};
use crate::runs::{list, RunRecord};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

#[derive(clap::Args, Debug)]
pub struct RepeatOptions {
    project: PathBuf,
    /// How many seeds (1, 2, …, N).
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// The group's name in the runs folder (default: "<project> seeds").
    #[arg(long)]
    group: Option<String>,
    /// Override the project's number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Runs folder to record into instead of the one beside the project.
    #[arg(long)]
    runs_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct CompareOptions {
    project: PathBuf,
    /// A group (as `repeat --group` named it) or a run folder's name.
    a: String,
    b: String,
    #[arg(long)]
    runs_dir: Option<PathBuf>,
}

/// A run's headline test figure: accuracy for classifiers, R² for a regression.
fn figure(r: &RunRecord) -> Option<(f64, &'static str)> {
    let f = &r.meta.figures;
    f.test_accuracy
        .map(|a| (a as f64 * 100.0, "test accuracy %"))
        .or(f.test_r2.map(|v| (v as f64, "test R²")))
}

fn spread_line(s: &Spread) -> String {
    match s.ci95 {
        Some(h) => format!(
            "{:.4} ± {:.4} (95 % interval; sd {:.4}; {} runs)",
            s.mean, h, s.sd, s.n
        ),
        None => format!("{:.4} (one run: no interval)", s.mean),
    }
}

pub(super) fn repeat(opts: &RepeatOptions) -> Result<()> {
    let path = &opts.project;
    let mut project = load_project(path)?;
    if let Some(e) = opts.epochs {
        project.training.epochs = e;
    }
    let group = opts
        .group
        .clone()
        .unwrap_or_else(|| format!("{} seeds", project.name));
    let root = runs_root(path, &project.name, opts.runs_dir.as_deref());
    let mut values = Vec::new();
    let mut what = "";
    let spec = RepeatSpec {
        project,
        project_dir: path.parent().map(Path::to_path_buf),
        root,
        group: group.clone(),
        seeds: opts.seeds.max(1),
    };
    repeat_seeds(
        &spec,
        &AtomicBool::new(false),
        &mut |seed, record| match figure(record) {
            Some((v, w)) => {
                println!("seed {seed}: {w} {v:.4}  ({})", record.dir.display());
                values.push(v);
                what = w;
            }
            None => println!("seed {seed}: no test figure  ({})", record.dir.display()),
        },
    )?;
    if let Some(s) = spread(&values) {
        println!("{group}: {what} {}", spread_line(&s));
    }
    println!(
        "compare it: glassbox compare {} \"{group}\" OTHER",
        path.display()
    );
    Ok(())
}

/// The runs a name picks: a group's, else the run folder of that name.
fn side<'a>(runs: &'a [RunRecord], name: &str) -> Result<Vec<&'a RunRecord>> {
    let group: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| r.meta.sweep.as_deref() == Some(name))
        .collect();
    if !group.is_empty() {
        return Ok(group);
    }
    runs.iter()
        .find(|r| r.id == name || r.dir.file_name().is_some_and(|f| f == name))
        .map(|r| vec![r])
        .with_context(|| format!("no group or run named '{name}' in the runs folder"))
}

/// The first run's test predictions (classifiers), for McNemar's pairing.
fn test_predictions(r: &RunRecord, project_dir: Option<&Path>) -> Result<Option<Vec<(u32, u32)>>> {
    let project = r.project()?;
    let Some(weights) = r.weights_path() else {
        return Ok(None);
    };
    let data = Dataset::load(&project.data, project_dir)?;
    let Some(_) = data.n_classes() else {
        return Ok(None);
    };
    let model = Model::build(&project.graph, project.training.seed)?;
    model.load_weights(&Weights::load(&weights)?)?;
    let encoding = model.bind_data(&data)?;
    let ev = evaluate_split(&model, &data, &data.test, encoding)?;
    Ok(Some(
        ev.predictions
            .iter()
            .map(|p| (p.label as u32, p.predicted as u32))
            .collect(),
    ))
}

pub(super) fn compare(opts: &CompareOptions) -> Result<()> {
    let project = load_project(&opts.project)?;
    let root = runs_root(&opts.project, &project.name, opts.runs_dir.as_deref());
    let runs = list(&root).runs;
    let (a, b) = (side(&runs, &opts.a)?, side(&runs, &opts.b)?);
    let values = |rs: &[&RunRecord]| -> Vec<f64> {
        rs.iter().filter_map(|r| figure(r)).map(|f| f.0).collect()
    };
    let (va, vb) = (values(&a), values(&b));
    let what = a
        .iter()
        .chain(&b)
        .find_map(|r| figure(r))
        .map_or("test figure", |f| f.1);
    for (name, v) in [(&opts.a, &va), (&opts.b, &vb)] {
        match spread(v) {
            Some(s) => println!("{name}: {what} {}", spread_line(&s)),
            None => bail!("'{name}' has no finished run with a test figure"),
        }
    }
    match welch(&va, &vb) {
        Some(w) => println!(
            "Welch's t-test: t = {:.3}, df = {:.1}, p = {:.4}{}",
            w.t,
            w.df,
            w.p,
            if w.p < 0.05 {
                " — a real difference at the 5 % level"
            } else {
                " — not distinguishable from seed-to-seed noise at the 5 % level"
            }
        ),
        None => println!("Welch's t-test: needs at least two runs with some spread on each side (glassbox repeat)"),
    }
    let dir = opts.project.parent();
    if let (Some(pa), Some(pb)) = (test_predictions(a[0], dir)?, test_predictions(b[0], dir)?) {
        if pa.len() == pb.len() && pa.iter().zip(&pb).all(|(x, y)| x.0 == y.0) {
            let labels: Vec<u32> = pa.iter().map(|p| p.0).collect();
            let pred = |v: &[(u32, u32)]| v.iter().map(|p| p.1).collect::<Vec<u32>>();
            let (only_a, only_b) = disagreements(&pred(&pa), &pred(&pb), &labels);
            println!(
                "McNemar's exact test (first run of each, {} test samples): right only in '{}' {only_a}, only in '{}' {only_b}; p = {:.4}",
                labels.len(),
                opts.a,
                opts.b,
                mcnemar_exact(only_a, only_b)
            );
        }
    }
    Ok(())
}
