//! Experiments: early stopping, run folders (recorded, killed, corrupt), sweeps, the LR finder.

mod common;

use common::cli::{glassbox, preset};
use glassbox::data::Dataset;
use glassbox::project::Project;
use glassbox::runs::sweep::{run_sweep, Method, Param, Range, SweepContext, SweepSpec};
use glassbox::runs::{list, RunFolder, RunStatus, Scalars, XAxis};
use glassbox::train::{
    mode_step, Control, EarlyStopping, Monitor, TrainEvent, TrainHandle, TrainRequest,
};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A run that has not ended by then is hung: fail with its last event instead of hanging CI.
const TRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

fn load(name: &str) -> Project {
    glassbox::presets::load(name).unwrap()
}

/// A small MLP on 200 training digits: it overfits within a few epochs.
fn overfitting_mlp() -> Project {
    let mut p = load("mlp-mnist");
    p.data.max_train_samples = Some(200);
    p.training.epochs = 60;
    p.training.batch_size = 20;
    p.training.lr = 3e-3;
    p
}

fn run_events(req: TrainRequest) -> Vec<TrainEvent> {
    let mut events = Vec::new();
    let handle = TrainHandle::spawn(req).unwrap();
    let last = handle
        .wait_timeout(TRAIN_LIMIT, |e| events.push(e.clone()))
        .expect("the run ends in time");
    assert!(last.is_some(), "the worker ended without a terminal event");
    events
}

#[test]
fn early_stopping_stops_an_overfitting_run_and_restores_the_best_epoch() {
    let mut p = overfitting_mlp();
    p.training.early_stopping = Some(EarlyStopping {
        monitor: Monitor::ValLoss,
        patience_epochs: 3,
        min_delta: 0.0,
        restore_best: true,
    });
    let data = Arc::new(Dataset::load(&p.data, None).unwrap());
    let mut req = TrainRequest::new(p.clone());
    req.dataset = Some(data.clone());
    let events = run_events(req);
    let val_losses: Vec<f32> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Epoch(m) => m.val.map(|v| v.loss),
            _ => None,
        })
        .collect();
    let (stopped_after, best_epoch) = events
        .iter()
        .find_map(|e| match e {
            TrainEvent::EarlyStopped {
                epoch,
                best_epoch,
                restored: true,
            } => Some((*epoch, *best_epoch)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no early stop; validation losses {val_losses:?}"));
    assert!(stopped_after < 60, "ran all epochs");
    assert_eq!(stopped_after, best_epoch + 3, "patience 3 after the best");
    assert_eq!(val_losses.len(), stopped_after);
    let best = val_losses[best_epoch - 1];
    // It did overfit: the last epochs' validation loss is above the best.
    assert!(val_losses[stopped_after - 1] > best, "{val_losses:?}");
    let min = val_losses.iter().cloned().fold(f32::INFINITY, f32::min);
    assert_eq!(best, min, "the best epoch has the lowest validation loss");
    let Some(TrainEvent::Finished { weights, .. }) = events.last() else {
        panic!("did not finish: {:?}", events.last());
    };
    // The weights the run ends with give the best epoch's validation loss, not the last's.
    let mode = mode_step(&p, data.clone(), Some(weights)).unwrap();
    let again = mode
        .evaluate(&data.val, &Control::default())
        .unwrap()
        .flatten()
        .unwrap();
    assert!(
        (again.loss - best).abs() < 1e-5,
        "restored weights give {} but the best epoch had {best} (last {})",
        again.loss,
        val_losses[stopped_after - 1]
    );
}

#[test]
fn a_recorded_run_survives_a_restart_with_its_figures_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = load("mlp-iris");
    p.training.epochs = 4;
    let folder = RunFolder::create(dir.path(), &p, "iris baseline").unwrap();
    let mut req = TrainRequest::new(p.clone());
    req.record_to(folder);
    let events = run_events(req);
    assert!(matches!(events.last(), Some(TrainEvent::Finished { .. })));
    // A fresh listing, as after a restart: nothing is kept in memory between the two.
    let listing = list(dir.path());
    assert!(listing.skipped.is_empty(), "{:?}", listing.skipped);
    assert_eq!(listing.runs.len(), 1);
    let run = &listing.runs[0];
    assert_eq!(run.meta.status, RunStatus::Finished);
    assert!(!run.incomplete);
    assert_eq!(run.meta.figures.epochs_done, 4);
    assert!(run.meta.figures.test_accuracy.unwrap() > 0.5);
    assert_eq!(run.project().unwrap(), p);
    let s = Scalars::load(&run.dir).unwrap();
    assert_eq!(s.series("val/loss", XAxis::Epoch).len(), 4);
    assert!(!s.series("train/loss", XAxis::Step).is_empty());
    let w = glassbox::model::Weights::load(&run.weights_path().unwrap()).unwrap();
    assert!(!w.tensors.is_empty());
}

#[test]
fn a_run_killed_mid_way_lists_as_incomplete_with_its_metrics_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args([
            "train",
            &preset("mlp-mnist"),
            "--epochs",
            "200",
            "--max-train",
            "2000",
            "--quiet",
            "--record",
            "--runs-dir",
            runs.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (at most two minutes) until the folder says two epochs are done.
    let t0 = Instant::now();
    let epochs = loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the training process ended early: {status}");
        }
        let l = list(&runs);
        if let Some(r) = l.runs.first() {
            assert!(!r.incomplete, "live run listed as incomplete");
            if r.meta.figures.epochs_done >= 2 {
                break r.meta.figures.epochs_done;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no epoch recorded in 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap(); // SIGKILL: nothing gets to tidy up
    child.wait().unwrap();
    let l = list(&runs);
    assert_eq!(l.runs.len(), 1);
    let r = &l.runs[0];
    assert!(r.incomplete, "{:?}", r.meta.status);
    assert_eq!(r.status_label(), "incomplete");
    assert!(r.meta.figures.epochs_done >= epochs);
    assert!(r.meta.figures.val_accuracy.unwrap() > 0.5);
    let s = Scalars::load(&r.dir).unwrap();
    assert!(s.series("val/accuracy", XAxis::Epoch).len() >= epochs);
    let (ok, out) = glassbox(&[
        "runs",
        &preset("mlp-mnist"),
        "--runs-dir",
        runs.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("incomplete"), "{out}");
}

#[test]
fn corrupt_run_folders_are_skipped_by_name_and_the_rest_still_list() {
    let dir = tempfile::tempdir().unwrap();
    let p = load("mlp-iris");
    let a = RunFolder::create(dir.path(), &p, "good one").unwrap();
    let b = RunFolder::create(dir.path(), &p, "good two").unwrap();
    for (name, content) in [
        ("broken-json", Some(&b"{\"label\": \"x\", "[..])),
        ("binary", Some(&[0xffu8, 0x00, 0x13][..])),
        ("from-the-future", Some(&br#"{"format": 99}"#[..])),
        ("no-meta", None),
    ] {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        if let Some(c) = content {
            std::fs::write(d.join("run.json"), c).unwrap();
        }
    }
    let l = list(dir.path());
    let ids: Vec<&str> = l.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(l.runs.len(), 2, "{ids:?}");
    assert!(ids.contains(&a.id().as_str()) && ids.contains(&b.id().as_str()));
    assert_eq!(l.skipped.len(), 4, "{:?}", l.skipped);
    for name in ["broken-json", "binary", "from-the-future", "no-meta"] {
        assert!(
            l.skipped.iter().any(|s| s.contains(name)),
            "{name} not named in {:?}",
            l.skipped
        );
    }
    assert!(
        l.skipped.iter().any(|s| s.contains("newer")),
        "{:?}",
        l.skipped
    );
}

/// The sweep's space: rate (log scale), batch size, first layer's width, optimiser.
/// Runs `spec` on `p` into `root`, listening to nothing.
fn quiet_sweep(
    p: &Project,
    root: &std::path::Path,
    spec: &SweepSpec,
) -> glassbox::runs::sweep::SweepReport {
    let stop = AtomicBool::new(false);
    let ctx = SweepContext {
        project: p,
        project_dir: None,
        runs_root: root,
        stop: &stop,
    };
    run_sweep(&ctx, spec, &mut |_| {}).unwrap()
}

fn mlp_space() -> Vec<Param> {
    vec![
        Param {
            path: "training.lr".into(),
            range: Range::LogUniform {
                min: 1e-4,
                max: 3e-2,
                steps: 3,
            },
        },
        Param {
            path: "training.batch_size".into(),
            range: Range::Choice {
                values: vec![32.into(), 64.into(), 128.into()],
            },
        },
        Param {
            path: "node.fc1.units".into(),
            range: Range::Choice {
                values: vec![64.into(), 128.into(), 256.into(), 512.into()],
            },
        },
        Param {
            path: "training.optimizer".into(),
            range: Range::Choice {
                values: vec!["adam".into(), "adamw".into(), "sgd".into()],
            },
        },
    ]
}

#[test]
fn a_12_run_random_sweep_finds_settings_at_least_as_good_as_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = load("mlp-mnist");
    p.data.max_train_samples = Some(3_000);
    p.training.epochs = 2;
    // The preset's own settings on the same budget.
    let baseline = RunFolder::create(dir.path(), &p, "default").unwrap();
    let mut req = TrainRequest::new(p.clone());
    req.record_to(baseline.clone());
    run_events(req);
    let default_acc = glassbox::runs::sweep::best_of(&baseline.dir, Monitor::ValAccuracy).unwrap();
    let spec = SweepSpec {
        name: "mlp".into(),
        method: Method::Random,
        trials: 12,
        metric: Monitor::ValAccuracy,
        seed: 7,
        params: mlp_space(),
        ..Default::default()
    };
    let stop = AtomicBool::new(false);
    let ctx = SweepContext {
        project: &p,
        project_dir: None,
        runs_root: dir.path(),
        stop: &stop,
    };
    let mut started = 0;
    let report = run_sweep(&ctx, &spec, &mut |ev| {
        if let glassbox::runs::sweep::SweepEvent::TrialStarted { .. } = ev {
            started += 1;
        }
    })
    .unwrap();
    assert_eq!(started, 12);
    assert_eq!(report.trials.len(), 12);
    let scores: Vec<f64> = report.trials.iter().filter_map(|t| t.score).collect();
    assert_eq!(scores.len(), 12, "{:?}", report.trials);
    let best = report.best().unwrap();
    eprintln!(
        "default {default_acc:.4}; best {:.4} with {:?}; all {scores:?}",
        best.score.unwrap(),
        best.config
    );
    assert!(
        best.score.unwrap() >= default_acc,
        "best {:?} below default {default_acc}",
        best.score
    );
    // The trials differ: a sweep that ran one configuration twelve times would not.
    let spread = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        - scores.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(spread > 0.01, "{scores:?}");
    // Every trial is a run folder with its settings, next to the baseline.
    let l = list(dir.path());
    assert_eq!(l.runs.len(), 13);
    let swept: Vec<_> = l
        .runs
        .iter()
        .filter(|r| r.meta.sweep.as_deref() == Some("mlp"))
        .collect();
    assert_eq!(swept.len(), 12);
    assert!(swept
        .iter()
        .all(|r| r.meta.params.len() == 4 && r.meta.status == RunStatus::Finished));
    let best_run = l.runs.iter().find(|r| r.dir == best.dir).unwrap();
    let bp = best_run.project().unwrap();
    assert_eq!(
        serde_json::to_value(bp.training.lr).unwrap(),
        best.config["training.lr"]
    );
}

#[test]
fn successive_halving_gives_the_survivors_more_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = load("mlp-iris");
    p.training.epochs = 9;
    let spec = SweepSpec {
        name: "halving".into(),
        method: Method::Halving,
        trials: 9,
        eta: 3,
        metric: Monitor::ValLoss,
        params: vec![Param {
            path: "training.lr".into(),
            range: Range::LogUniform {
                min: 1e-4,
                max: 1e-1,
                steps: 3,
            },
        }],
        ..Default::default()
    };
    let report = quiet_sweep(&p, dir.path(), &spec);
    let epochs: Vec<usize> = report.trials.iter().map(|t| t.epochs).collect();
    assert_eq!(epochs, [vec![1; 9], vec![3; 3], vec![9; 1]].concat());
    // Survivors are the best of their rung.
    let rung1: Vec<f64> = report.trials[..9]
        .iter()
        .map(|t| t.score.unwrap())
        .collect();
    let kept = &report.trials[9].config;
    let kept_score = report.trials[..9]
        .iter()
        .find(|t| &t.config == kept)
        .unwrap()
        .score
        .unwrap();
    let mut sorted = rung1.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(
        kept_score <= sorted[2],
        "{kept_score} not among the best three of {rung1:?}"
    );
    assert_eq!(report.best().unwrap().epochs, 9);
}

#[test]
fn a_regression_sweep_is_judged_by_validation_r2() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = load("mlp-auto-mpg");
    p.training.epochs = 15;
    p.training.early_stopping = None;
    let spec = SweepSpec {
        name: "mpg".into(),
        method: Method::Grid,
        metric: Monitor::ValR2,
        params: vec![Param {
            path: "training.lr".into(),
            // 1e-5 barely moves in 15 epochs; 3e-3 learns.
            range: Range::Choice {
                values: vec![1e-5.into(), 3e-3.into()],
            },
        }],
        ..Default::default()
    };
    let report = quiet_sweep(&p, dir.path(), &spec);
    let scores: Vec<f64> = report.trials.iter().map(|t| t.score.unwrap()).collect();
    assert_eq!(scores.len(), 2);
    assert!(scores[1] > 0.6 && scores[0] < scores[1], "{scores:?}");
    let best = report.best().unwrap();
    assert_eq!(best.config["training.lr"], serde_json::json!(3e-3));
    assert!(best.test_r2.is_some_and(|r| r > 0.5) && best.test_accuracy.is_none());
    // The run folders list R² where a classifier's list accuracy.
    let l = list(dir.path());
    assert!(l.runs.iter().all(|r| r.meta.figures.test_r2.is_some()));
}

#[test]
fn the_lr_finder_suggests_a_rate_that_trains() {
    let mut p = load("mlp-mnist");
    p.data.max_train_samples = Some(6_400);
    let curve = glassbox::runs::lr_finder::find_lr(
        &p,
        None,
        None,
        &Default::default(),
        &Control::default(),
    )
    .unwrap();
    let lr = curve.suggested.expect("a suggestion");
    assert!(curve.raw.len() >= 50, "{} steps", curve.raw.len());
    // The loss at the highest rates is far above its best: the ramp found the edge.
    assert!(curve.blew_up, "the loss never blew up up to lr 1");
    assert!((1e-5..1e-1).contains(&lr), "suggested {lr}");
    let mut q = p.clone();
    q.training.lr = lr;
    q.training.epochs = 1;
    let events = run_events(TrainRequest::new(q));
    match events.last() {
        Some(TrainEvent::Finished { test: Some(t), .. }) => {
            assert!(t.accuracy.unwrap() > 0.85, "{t:?} at lr {lr}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_cli_plots_a_run_and_lists_runs_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let (ok, out) = glassbox(&[
        "train",
        &preset("mlp-iris"),
        "--epochs",
        "3",
        "--quiet",
        "--record",
        "--runs-dir",
        runs.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = glassbox(&[
        "runs",
        &preset("mlp-iris"),
        "--runs-dir",
        runs.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{out}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["status"], "finished");
    assert_eq!(rows[0]["figures"]["epochs_done"], 3);
    let run_dir = rows[0]["dir"].as_str().unwrap().to_string();
    let plots = dir.path().join("plots");
    let (ok, out) = glassbox(&["plot", &run_dir, "-o", plots.to_str().unwrap()]);
    assert!(ok, "{out}");
    let csv = std::fs::read_to_string(plots.join("loss.csv")).unwrap();
    assert!(csv.starts_with("series,step,loss"), "{csv}");
    assert!(
        csv.lines().filter(|l| l.starts_with("validation,")).count() == 3,
        "{csv}"
    );
    let png = image::open(plots.join("loss.png")).unwrap();
    assert_eq!((png.width(), png.height()), (960, 540));
}

/// MNIST for `p` with `share` of its training labels moved to another class at random
/// (seeded); the flipped data-set indices.
fn with_flipped_labels(p: &Project, share: f64, seed: u64) -> (Arc<Dataset>, Vec<usize>) {
    use rand::{Rng, SeedableRng};
    let mut data = Dataset::load(&p.data, None).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let k = data.n_classes().unwrap() as u32;
    let mut flipped: Vec<usize> = data
        .train
        .iter()
        .copied()
        .filter(|_| rng.random_bool(share))
        .collect();
    flipped.sort_unstable();
    if let glassbox::data::Targets::Classes { labels, .. } = &mut data.targets {
        for &i in &flipped {
            labels[i] = (labels[i] + rng.random_range(1..k)) % k;
        }
    }
    (Arc::new(data), flipped)
}

#[test]
fn the_data_map_finds_flipped_mnist_labels() {
    let p = load("mlp-mnist");
    let share: f64 = std::env::var("GLASSBOX_FLIP_SHARE").map_or(0.05, |s| s.parse().unwrap());
    let (data, flipped) = with_flipped_labels(&p, share, 11);
    let mut req = TrainRequest::new(p.clone());
    req.dataset = Some(data.clone());
    req.datamap = true;
    let events = run_events(req);
    let (epochs, map) = events
        .iter()
        .rev()
        .find_map(|e| match e {
            TrainEvent::DataMap { epoch, map } => Some((*epoch, map.clone())),
            _ => None,
        })
        .expect("a data map after the last epoch");
    assert_eq!(epochs, p.training.epochs);
    assert_eq!(map.points.len(), data.train.len());
    assert!(map.points.iter().all(|q| q.epochs as usize == epochs));
    // Among the 5 % ranked most likely mislabelled, at least 70 % were flipped (the share
    // can be changed for the figures in the note; the test runs at 5 %).
    let top = map.likely_mislabelled((data.train.len() as f64 * share) as usize);
    let hits = top
        .iter()
        .filter(|q| flipped.binary_search(&q.index).is_ok())
        .count();
    let precision = hits as f64 / top.len() as f64;
    eprintln!(
        "{} flipped of {}; top {}: {hits} flipped ({:.1} %); regions {:?}",
        flipped.len(),
        data.train.len(),
        top.len(),
        precision * 100.0,
        map.region_counts()
    );
    assert!(
        precision >= 0.7,
        "only {:.1} % of the top 5 % were flipped",
        precision * 100.0
    );

    // Relabel the flagged samples as the network predicts them: most get their true label
    // back, and the retrained network is measured beside the noisy one.
    let clean = Dataset::load(&p.data, None).unwrap();
    let mut fixed = (*data).clone();
    if let glassbox::data::Targets::Classes { labels, .. } = &mut fixed.targets {
        for q in &top {
            labels[q.index] = q.predicted;
        }
    }
    let restored = top
        .iter()
        .filter(|q| clean.label(q.index) == Some(q.predicted))
        .count() as f64
        / top.len() as f64;
    let test_acc = |events: &[TrainEvent]| {
        events.iter().find_map(|e| match e {
            TrainEvent::Finished { test, .. } => test.and_then(|t| t.accuracy),
            _ => None,
        })
    };
    let mut req = TrainRequest::new(p.clone());
    req.dataset = Some(Arc::new(fixed));
    let fixed_acc = test_acc(&run_events(req));
    eprintln!(
        "relabelled {} as predicted: {:.1} % got their true label back; test accuracy {:?} with the noise, {fixed_acc:?} relabelled",
        top.len(),
        restored * 100.0,
        test_acc(&events)
    );
    assert!(restored >= 0.85, "{:.1} % restored", restored * 100.0);
}

#[test]
fn repeat_groups_seeds_and_compare_tests_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let runs = runs.to_str().unwrap();
    // The iris MLP, and the same with two units per hidden layer (it sometimes collapses).
    let wide = dir.path().join("wide.json");
    let narrow = dir.path().join("narrow.json");
    let mut p = load("mlp-iris");
    p.save(&wide).unwrap();
    for n in &mut p.graph.nodes {
        if let glassbox::graph::Layer::Dense { units, .. } = &mut n.layer {
            if n.id != "fc3" {
                *units = 2;
            }
        }
    }
    p.save(&narrow).unwrap();
    let seeds_of = |out: &str| -> Vec<f64> {
        out.lines()
            .filter(|l| l.starts_with("seed "))
            .map(|l| {
                l.split("test accuracy % ")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let mut values = Vec::new();
    for (path, group) in [(&wide, "wide"), (&narrow, "narrow")] {
        let (ok, out) = glassbox(&[
            "repeat",
            path.to_str().unwrap(),
            "--seeds",
            "4",
            "--group",
            group,
            "--runs-dir",
            runs,
        ]);
        assert!(ok, "{out}");
        let v = seeds_of(&out);
        assert_eq!(v.len(), 4, "{out}");
        values.push(v);
    }
    let listed = list(std::path::Path::new(runs));
    assert_eq!(listed.runs.len(), 8);
    assert_eq!(
        listed
            .runs
            .iter()
            .filter(|r| r.meta.sweep.as_deref() == Some("wide"))
            .count(),
        4
    );
    let (ok, out) = glassbox(&[
        "compare",
        wide.to_str().unwrap(),
        "wide",
        "narrow",
        "--runs-dir",
        runs,
    ]);
    assert!(ok, "{out}");
    let p_of = |prefix: &str| -> f64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{out}"));
        line.split("p = ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches(';')
            .parse()
            .unwrap()
    };
    let expected = glassbox::runs::significance::welch(&values[0], &values[1]).unwrap();
    assert!((p_of("Welch") - expected.p).abs() < 1e-4, "{out}");
    let mcnemar = p_of("McNemar");
    assert!((0.0..=1.0).contains(&mcnemar), "{out}");
    // The same group against itself: no difference.
    let (ok, same) = glassbox(&[
        "compare",
        wide.to_str().unwrap(),
        "wide",
        "wide",
        "--runs-dir",
        runs,
    ]);
    assert!(ok, "{same}");
    assert!(same.contains("p = 1.0000"), "{same}");
}
