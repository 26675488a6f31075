//! `glassbox runs`, `sweep`, `lr-find` and `plot`: the experiment tools, headless.

use super::load_project;
use crate::runs::chart::Chart;
use crate::runs::sweep::{run_sweep, SweepContext, SweepEvent, SweepSpec};
use crate::runs::{list, runs_dir, RunRecord, Scalars, XAxis};
use crate::train::{Control, TrainEvent};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// The project's runs folder: `--runs-dir` if given, else `<stem>.runs` beside it.
pub fn runs_root(project_path: &Path, name: &str, over: Option<&Path>) -> PathBuf {
    over.map(Path::to_path_buf).unwrap_or_else(|| {
        let abs = std::path::absolute(project_path).unwrap_or_else(|_| project_path.into());
        runs_dir(Some(&abs), name, Path::new("."))
    })
}

fn pct(a: Option<f32>) -> String {
    a.map_or("-".into(), |a| format!("{:.2}%", a * 100.0))
}

/// Accuracy for a classifier, R² for a regression.
fn score(accuracy: Option<f32>, r2: Option<f32>) -> String {
    match (accuracy, r2) {
        (None, Some(r)) => format!("R² {r:.3}"),
        _ => pct(accuracy),
    }
}

fn loss(l: Option<f32>) -> String {
    l.map_or("-".into(), |l| format!("{l:.4}"))
}

fn settings_text(r: &RunRecord) -> String {
    if r.meta.params.is_empty() {
        let t = &r.meta.training;
        format!(
            "{} lr={} batch={} epochs={}",
            t.optimizer.name(),
            t.lr,
            t.batch_size,
            t.epochs
        )
    } else {
        r.meta
            .params
            .iter()
            .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), v))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn print_table(runs: &[&RunRecord]) {
    println!(
        "{:<13} {:>6} {:>9} {:>11} {:>11}  {:<56}  run folder",
        "status", "epochs", "val loss", "val acc/R²", "test acc/R²", "settings"
    );
    for r in runs {
        let f = &r.meta.figures;
        println!(
            "{:<13} {:>6} {:>9} {:>11} {:>11}  {:<56}  {}",
            r.status_label(),
            f.epochs_done,
            loss(f.val_loss),
            score(f.val_accuracy, f.val_r2),
            score(f.test_accuracy, f.test_r2),
            settings_text(r),
            r.id
        );
    }
}

pub fn runs(project_path: &Path, json: bool, over: Option<&Path>) -> Result<()> {
    let project = load_project(project_path)?;
    let root = runs_root(project_path, &project.name, over);
    let listing = list(&root);
    for s in &listing.skipped {
        eprintln!("warning: {s}");
    }
    if json {
        let rows: Vec<serde_json::Value> = listing
            .runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "dir": r.dir,
                    "status": r.status_label(),
                    "label": r.meta.label,
                    "started_unix_s": r.meta.started_unix_s,
                    "training": r.meta.training,
                    "params": r.meta.params,
                    "tags": r.meta.tags,
                    "notes": r.meta.notes,
                    "figures": r.meta.figures,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if listing.runs.is_empty() {
        println!("no runs in {}", root.display());
        return Ok(());
    }
    println!("{} run(s) in {}", listing.runs.len(), root.display());
    print_table(&listing.runs.iter().collect::<Vec<_>>());
    Ok(())
}

pub fn sweep(project_path: &Path, spec_path: &Path, over: Option<&Path>) -> Result<()> {
    let project = load_project(project_path)?;
    let spec = SweepSpec::load(spec_path)?;
    let root = runs_root(project_path, &project.name, over);
    let stop = AtomicBool::new(false);
    let ctx = SweepContext {
        project: &project,
        project_dir: project_path.parent(),
        runs_root: &root,
        stop: &stop,
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("trial {prefix} [{bar:30}] {pos}/{len} steps  {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    // Without a terminal the bar is hidden and its println prints nothing: print plainly.
    let say = |text: String| {
        if bar.is_hidden() {
            println!("{text}");
        } else {
            bar.println(text);
        }
    };
    let mut spe = 1u64;
    let report = run_sweep(&ctx, &spec, &mut |ev| match ev {
        SweepEvent::TrialStarted {
            index,
            total,
            config,
            epochs,
            ..
        } => {
            bar.set_prefix(format!("{}/{total}", index + 1));
            bar.set_position(0);
            say(format!(
                "trial {}/{total}: {} for {epochs} epoch(s)",
                index + 1,
                serde_json::to_string(&config).unwrap_or_default()
            ));
        }
        SweepEvent::Train(TrainEvent::Started(i)) => {
            spe = i.total_steps as u64;
            bar.set_length(spe);
        }
        SweepEvent::Train(TrainEvent::Step { step, loss, .. }) => {
            bar.set_position(step as u64);
            bar.set_message(format!("loss {loss:.4}"));
        }
        SweepEvent::Train(TrainEvent::Warning(w)) => say(format!("warning: {w}")),
        SweepEvent::TrialEnded(t) => say(format!(
            "  → {} {}: {}",
            spec.metric.name(),
            t.score.map_or("-".into(), |s| format!("{s:.4}")),
            t.outcome
        )),
        SweepEvent::Train(_) => {}
    })?;
    bar.finish_and_clear();
    let listing = list(&root);
    let runs: Vec<&RunRecord> = report
        .trials
        .iter()
        .filter_map(|t| listing.runs.iter().find(|r| r.dir == t.dir))
        .collect();
    println!("{} trial(s) of sweep {}:", report.trials.len(), spec.name);
    print_table(&runs);
    let charts = root.join("charts");
    std::fs::create_dir_all(&charts)
        .with_context(|| format!("cannot create {}", charts.display()))?;
    for key in report.settings() {
        let chart = report.chart(&key);
        let stem = charts.join(format!("{}-{}", spec.name, crate::runs::folder::slug(&key)));
        let [png, _] = chart.write(&stem)?;
        println!("wrote {} (and .csv)", png.display());
    }
    match report.best() {
        Some(best) => println!(
            "best by {}: {:.4} — {} ({}), test {}",
            spec.metric.name(),
            best.score.unwrap_or(f64::NAN),
            serde_json::to_string(&best.config).unwrap_or_default(),
            best.dir.display(),
            match best.test_r2 {
                Some(r) if best.test_accuracy.is_none() => format!("R² {r:.3}"),
                _ => format!("accuracy {}", pct(best.test_accuracy)),
            }
        ),
        None => bail!("no trial of the sweep produced a validation figure"),
    }
    Ok(())
}

pub fn lr_find(
    project_path: &Path,
    opts: &crate::runs::lr_finder::LrFinderOptions,
    plot: Option<&Path>,
    apply: bool,
) -> Result<()> {
    let mut project = load_project(project_path)?;
    let curve = crate::runs::lr_finder::find_lr(
        &project,
        project_path.parent(),
        None,
        opts,
        &Control::default(),
    )?;
    println!("{:>12} {:>10} {:>10}", "lr", "loss", "smoothed");
    let every = (curve.raw.len() / 25).max(1);
    for (i, (r, s)) in curve.raw.iter().zip(&curve.smoothed).enumerate() {
        if i % every == 0 || i + 1 == curve.raw.len() {
            println!("{:>12.3e} {:>10.4} {:>10.4}", r[0], r[1], s[1]);
        }
    }
    if curve.blew_up {
        println!(
            "(the loss blew up after {} steps; the ramp stopped there)",
            curve.raw.len()
        );
    }
    if let Some(p) = plot {
        let mut chart = Chart::new("Learning-rate range test", "learning rate", "loss")
            .with("batch loss", curve.raw.clone())
            .with("smoothed", curve.smoothed.clone());
        chart.log_x = true;
        let [png, csv] = chart.write(p)?;
        println!("wrote {} and {}", png.display(), csv.display());
    }
    let Some(lr) = curve.suggested else {
        bail!("the loss never fell over the range: try a wider range or check the data");
    };
    println!(
        "suggested learning rate: {lr:.3e} (project has {})",
        project.training.lr
    );
    if apply {
        project.training.lr = lr;
        project.save(project_path)?;
        println!("saved {} with lr = {lr:.3e}", project_path.display());
    }
    Ok(())
}

/// The charts a run folder's figures make: loss, accuracy, learning rate, and named metrics.
pub fn run_charts(name: &str, s: &Scalars, axis: XAxis) -> Vec<(String, Chart)> {
    let x = axis.name();
    let mut out = Vec::new();
    let loss = Chart::new(&format!("Loss — {name}"), x, "loss")
        .with("train (per step)", s.series("train/loss", axis))
        .with("train (epoch)", s.series("epoch/train_loss", axis))
        .with("validation", s.series("val/loss", axis));
    out.push(("loss".to_string(), loss));
    let acc = Chart::new(&format!("Accuracy — {name}"), x, "accuracy")
        .with("train (per step)", s.series("train/accuracy", axis))
        .with("validation", s.series("val/accuracy", axis));
    out.push(("accuracy".to_string(), acc));
    out.push((
        "lr".to_string(),
        Chart::new(&format!("Learning rate — {name}"), x, "lr").with("lr", s.series("lr", axis)),
    ));
    let metrics: Vec<&String> = s.tags.keys().filter(|t| t.starts_with("metric/")).collect();
    if !metrics.is_empty() {
        let mut m = Chart::new(&format!("Metrics — {name}"), x, "value");
        for t in metrics {
            m = m.with(t.trim_start_matches("metric/"), s.series(t, axis));
        }
        out.push(("metrics".to_string(), m));
    }
    out.retain(|(_, c)| !c.is_empty());
    out
}

pub fn plot(run_dir: &Path, out_dir: Option<&Path>, axis: XAxis) -> Result<()> {
    let meta = crate::runs::folder::read_meta(run_dir)?;
    let scalars = Scalars::load(run_dir)?;
    let out = out_dir.unwrap_or(run_dir);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let charts = run_charts(&meta.label, &scalars, axis);
    if charts.is_empty() {
        bail!("{} has no figures to plot yet", run_dir.display());
    }
    for (name, chart) in charts {
        let [png, csv] = chart.write(&out.join(&name))?;
        println!("wrote {} and {}", png.display(), csv.display());
    }
    Ok(())
}
