//! Experiments in the studio, used as a person would: runs are recorded and listed, two are
//! compared, a chart is saved, a run is reopened, a sweep runs from its window, the LR finder's
//! suggestion is applied, and early stopping is switched on from the inspector.

mod common;

use common::ui::{harness, has_text, wait_for};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use glassbox::presets;
use glassbox::ui::experiments::ExperimentsPanel;
use glassbox::ui::Studio;

/// The Runs tab's panel (listing, sweep, LR finder), as the studio registered it.
fn runs(s: &Studio) -> &ExperimentsPanel {
    s.panels.get::<ExperimentsPanel>().expect("the Runs panel")
}

fn runs_mut(s: &mut Studio) -> &mut ExperimentsPanel {
    s.panels
        .get_mut::<ExperimentsPanel>()
        .expect("the Runs panel")
}

fn train_once(h: &mut egui_kittest::Harness<'static, glassbox::ui::Studio>) {
    common::ui::train_to_the_end(h, 60.0);
    h.state_mut().session.weights = None;
}

fn click_menu(h: &mut egui_kittest::Harness<'static, glassbox::ui::Studio>, path: &[&str]) {
    for label in path {
        h.get_by_label(label).click();
        h.run_steps(2);
    }
}

#[test]
fn runs_are_recorded_listed_compared_reopened_and_swept() {
    let dir = tempfile::tempdir().unwrap();
    let mut iris = presets::load("mlp-iris").unwrap();
    iris.training.epochs = 5;
    let mut h = harness(iris);
    h.state_mut().keep.runs.record = true;
    h.state_mut().keep.runs.fallback_dir = Some(dir.path().to_path_buf());
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.summary.is_some()),
        "data did not load"
    );
    h.state_mut().doc.project.training.lr = 0.01;
    train_once(&mut h);
    h.state_mut().doc.project.training.lr = 0.05;
    train_once(&mut h);

    h.key_press_modifiers(Modifiers::COMMAND, Key::Num4);
    h.run_steps(3);
    assert!(
        has_text(&h, "2 run(s)"),
        "the Runs tab does not list both runs"
    );
    let root = h.state().runs_root().unwrap();
    assert!(root.starts_with(dir.path()), "{}", root.display());
    let labels: Vec<String> = runs(h.state())
        .listing
        .runs
        .iter()
        .map(|r| r.meta.label.clone())
        .collect();
    assert!(labels.iter().any(|l| l.ends_with("lr=0.01")), "{labels:?}");
    for label in &labels {
        h.get_by_label(label).click();
        h.run_steps(2);
    }
    assert!(has_text(&h, "Comparing 2 run(s)"));
    // The settings that differ: only the learning rate.
    assert!(has_text(&h, "training.lr"), "no settings diff");
    assert!(!has_text(&h, "training.batch_size"));
    assert!(has_text(&h, "0.05"));

    h.get_by_label("⬇ PNG + CSV").click();
    h.run_steps(2);
    let charts: Vec<_> = std::fs::read_dir(root.join("charts"))
        .expect("no charts folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(charts.iter().any(|c| c.ends_with(".png")), "{charts:?}");
    let csv_name = charts.iter().find(|c| c.ends_with(".csv")).unwrap();
    let csv = std::fs::read_to_string(root.join("charts").join(csv_name)).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 2 * 5,
        "two runs × five epochs of validation loss: {csv}"
    );

    // Open the lr = 0.01 run: its settings come back.
    h.state_mut().doc.project.training.lr = 0.3;
    let opens: Vec<_> = h.query_all_by_label("Open").collect();
    assert_eq!(opens.len(), 2);
    let newest_first_index = labels.iter().position(|l| l.ends_with("lr=0.01")).unwrap();
    opens[newest_first_index].click();
    h.run_steps(3);
    // The project changed (lr 0.3 unsaved), so the studio asks first.
    if h.state().is_dirty() && h.query_by_label("Discard").is_some() {
        h.get_by_label("Discard").click();
        h.run_steps(3);
    }
    assert_eq!(
        h.state().doc.project.training.lr,
        0.01,
        "{:?}",
        h.state().chrome.message
    );
    assert!(
        h.state().session.weights.is_some(),
        "the run's weights were not loaded"
    );

    // A 3-trial sweep from the Sweep window.
    click_menu(&mut h, &["Run", "Sweep…"]);
    runs_mut(h.state_mut()).sweep_form.trials = 3;
    runs_mut(h.state_mut()).sweep_form.epochs = 2;
    runs_mut(h.state_mut()).sweep_form.batch_sizes = None;
    h.run_steps(1);
    h.get_by_label("▶ Start sweep").click();
    h.run_steps(2);
    assert!(
        wait_for(&mut h, 120.0, |s| runs(s)
            .sweep
            .as_ref()
            .is_some_and(|j| j.done.is_some())),
        "the sweep did not finish"
    );
    h.run_steps(3);
    let job = runs(h.state()).sweep.as_ref().unwrap();
    assert_eq!(job.done, Some(Ok(())));
    assert_eq!(job.trials.len(), 3);
    assert!(has_text(&h, "Open best"));
    assert_eq!(runs(h.state()).listing.runs.len(), 5);
}

#[test]
fn the_lr_finder_and_early_stopping_are_one_click_away() {
    let mut iris = presets::load("mlp-iris").unwrap();
    iris.training.lr = 0.5;
    let mut h = harness(iris);
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.summary.is_some()),
        "data did not load"
    );
    click_menu(&mut h, &["Run", "Find learning rate…"]);
    h.get_by_label("▶ Run the range test").click();
    h.run_steps(2);
    assert!(
        wait_for(&mut h, 60.0, |s| runs(s)
            .lr
            .as_ref()
            .is_some_and(|j| j.curve.is_some() || j.error.is_some())),
        "the range test did not end"
    );
    h.run_steps(2);
    let job = runs(h.state()).lr.as_ref().unwrap();
    assert_eq!(job.error, None);
    let suggested = job.curve.as_ref().unwrap().suggested.expect("a suggestion");
    h.get_by_label("Use it").click();
    h.run_steps(2);
    assert_eq!(h.state().doc.project.training.lr, suggested);
    assert!(suggested < 0.5);

    assert!(h.state().doc.project.training.early_stopping.is_none());
    h.get_by_label("Early stopping").click();
    h.run_steps(2);
    let es = h
        .state()
        .doc
        .project
        .training
        .early_stopping
        .expect("early stopping on");
    assert_eq!(es.patience_epochs, 3);
    assert!(has_text(&h, "patience"));
}

#[test]
fn repeating_over_seeds_from_the_runs_tab_draws_the_group_as_a_band() {
    let dir = tempfile::tempdir().unwrap();
    let mut iris = presets::load("mlp-iris").unwrap();
    iris.training.epochs = 10;
    let mut h = harness(iris);
    h.state_mut().keep.runs.record = true;
    h.state_mut().keep.runs.fallback_dir = Some(dir.path().to_path_buf());
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.summary.is_some()),
        "data did not load"
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num4);
    h.run_steps(3);
    assert!(!has_text(&h, "the mean of 3 runs"), "a band before any run");
    h.get_by_label("Repeat ×N seeds").click();
    h.step();
    assert!(
        wait_for(&mut h, 120.0, |s| runs(s).repeat.is_none()
            && runs(s).listing.runs.len() == 3),
        "the three seeds did not run: {:?}",
        h.state().chrome.message
    );
    h.run_steps(3);
    let seeds: std::collections::BTreeSet<u64> = runs(h.state())
        .listing
        .runs
        .iter()
        .filter_map(|r| r.project().ok().map(|p| p.training.seed))
        .collect();
    assert_eq!(seeds, [1, 2, 3].into_iter().collect(), "one run per seed");
    assert_eq!(
        runs(h.state()).selected.len(),
        3,
        "the group's runs are ticked"
    );
    assert_eq!(
        runs(h.state()).drawn_bands,
        vec![("MLP on iris ×3 seeds".to_string(), 3)],
        "the group is not drawn as a band"
    );
    assert!(has_text(&h, "the mean of 3 runs with its 95 % interval"));
    // Each run on its own: no band.
    h.get_by_label("each run on its own").click();
    h.run_steps(2);
    assert!(runs(h.state()).drawn_bands.is_empty());
}
