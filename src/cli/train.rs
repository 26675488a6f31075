//! `glassbox train`: one run with a progress bar, per-epoch lines and the test figures.

use super::{experiments, fmt_acc, fmt_eval, load_project, print_regression_baseline};
use crate::train::{TrainEvent, TrainHandle, TrainRequest};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct TrainOptions {
    /// Override the project's number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Save the trained weights here (safetensors).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Train on at most this many samples.
    #[arg(long)]
    max_train: Option<usize>,
    /// Override the project's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// No progress bar (for logs).
    #[arg(long)]
    quiet: bool,
    /// Write a checkpoint into this folder after every epoch.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint in the --checkpoint folder, if there is one.
    #[arg(long, requires = "checkpoint")]
    resume: bool,
    /// Start from the tensors of these weights that fit by node id and shape (transfer
    /// learning; overrides the project's own "init_from").
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Record the run into the project's runs folder (see `glassbox runs`).
    #[arg(long)]
    record: bool,
    /// Runs folder to record into instead of the one beside the project.
    #[arg(long, requires = "record")]
    runs_dir: Option<PathBuf>,
    /// Stop after this many epochs without a better validation loss, keeping the best
    /// epoch's weights (overrides the project's early stopping).
    #[arg(long)]
    patience: Option<usize>,
}

pub(super) fn train(path: &Path, opts: &TrainOptions) -> Result<()> {
    let (save, quiet) = (opts.save.as_deref(), opts.quiet);
    let mut project = load_project(path)?;
    if let Some(e) = opts.epochs {
        project.training.epochs = e;
    }
    if let Some(m) = opts.max_train {
        project.data.max_train_samples = Some(m);
    }
    if let Some(s) = opts.seed {
        project.training.seed = s;
    }
    if let Some(w) = &opts.init_from {
        // Relative to where the user stands, not to the project.
        let abs = std::path::absolute(w).unwrap_or_else(|_| w.clone());
        project.training.init_from = Some(abs.to_string_lossy().into_owned());
    }
    if let Some(p) = opts.patience {
        project.training.early_stopping = Some(crate::train::EarlyStopping {
            patience_epochs: p,
            ..Default::default()
        });
    }
    let mut req = TrainRequest::new(project.clone());
    req.project_dir = path.parent().map(Path::to_path_buf);
    // A table is loaded here (quickly) so a regression's baseline is fitted on the very split
    // the run trains on; other data loads on the training thread, and so does a table that
    // fails to load here (the run checks the network first, then reports it).
    let data_for_baseline = match &project.data.source {
        crate::data::DataSource::Csv { .. } => {
            crate::data::Dataset::load(&project.data, req.project_dir.as_deref())
                .ok()
                .map(std::sync::Arc::new)
                .inspect(|data| req.dataset = Some(data.clone()))
                .filter(|data| data.target_dim().is_some())
        }
        _ => None,
    };
    if opts.record {
        let root = experiments::runs_root(path, &project.name, opts.runs_dir.as_deref());
        let folder = crate::runs::RunFolder::create(&root, &project, &project.name)?;
        println!("recording into {}", folder.dir.display());
        req.record_to(folder);
    }
    req.checkpoint = opts
        .checkpoint
        .clone()
        .map(|dir| crate::train::CheckpointSpec {
            dir,
            resume: opts.resume,
        });
    println!(
        "training {} ({}) for {} epoch(s)",
        project.name,
        path.display(),
        project.training.epochs
    );
    let handle = TrainHandle::spawn(req).context("cannot start the training thread")?;
    let mut bar: Option<ProgressBar> = None;
    let style = ProgressStyle::with_template(
        "epoch {prefix} [{bar:30}] {pos}/{len} steps  loss {msg}  {per_sec} eta {eta}",
    )
    .expect("static template")
    .progress_chars("=> ");
    let mut info = None;
    let terminal = handle.wait(|ev| match ev {
        TrainEvent::Started(i) => {
            println!(
                "{}: {} train / {} validation / {} test samples, {} parameters, {} steps per epoch (setup {:.0} ms)",
                i.data_name, i.train_samples, i.val_samples, i.test_samples, i.params, i.steps_per_epoch, i.setup_ms
            );
            if let Some(t) = &i.transfer {
                println!("start weights {t}");
            }
            if i.frozen_params > 0 {
                println!("{} of {} parameters frozen", i.frozen_params, i.params);
            }
            if let Some(k) = i.resumed_from_epoch {
                println!("resuming from the checkpoint written after epoch {k}");
            }
            for w in i.warnings() {
                eprintln!("warning: {w}");
            }
            info = Some(i.clone());
        }
        TrainEvent::Step { step, epoch, loss, .. } => {
            if quiet {
                return;
            }
            let spe = info.as_ref().map_or(1, |i| i.steps_per_epoch);
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::new(spe as u64).with_style(style.clone());
                b.set_prefix(format!("{}", epoch + 1));
                b
            });
            b.set_position(((step - 1) % spe + 1) as u64);
            b.set_message(format!("{loss:.4}"));
        }
        TrainEvent::Generated { epoch, text, .. } => {
            println!("sample after epoch {epoch}: {text:?}");
        }
        TrainEvent::Warning(w) => eprintln!("warning: {w}"),
        TrainEvent::EarlyStopped {
            epoch,
            best_epoch,
            restored,
        } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            let kept = if *restored { "kept" } else { "best was" };
            println!("early stopping after epoch {epoch}: no better validation loss; {kept} epoch {best_epoch}'s weights");
        }
        TrainEvent::Epoch(m) => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            // No accuracy column where there is no accuracy (regression, autoencoders).
            let acc = m
                .train_acc
                .map_or(String::new(), |a| format!(" acc {}", fmt_acc(Some(a))));
            println!(
                "epoch {:>3}  train loss {:.4}{acc}  val {}  ({:.1} s)",
                m.epoch,
                m.train_loss,
                fmt_eval(&m.val),
                m.elapsed_ms / 1e3
            );
        }
        _ => {}
    });
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    match terminal {
        Some(TrainEvent::Finished {
            test,
            weights,
            elapsed_ms,
        }) => {
            println!(
                "test {}  (trained in {:.1} s)",
                fmt_eval(&test),
                elapsed_ms / 1e3
            );
            if let Some(test) =
                test.filter(|_| project.mode == crate::graph::TrainingMode::Supervised)
            {
                if let Some(a) = test.accuracy {
                    println!(
                        "final test accuracy: {:.2}% on {} samples",
                        a * 100.0,
                        test.samples
                    );
                }
            }
            if let Some(data) = &data_for_baseline {
                print_regression_baseline(data);
            }
            if let Some(p) = save {
                weights.save(p)?;
                println!("saved weights to {}", p.display());
            }
            Ok(())
        }
        Some(TrainEvent::Diverged { step, what, .. }) => bail!("diverged at step {step}: {what}"),
        Some(TrainEvent::Failed { reason }) => bail!("training failed: {reason}"),
        Some(TrainEvent::Stopped { step, .. }) => bail!("stopped at step {step}"),
        _ => bail!("the training thread ended without a result"),
    }
}
