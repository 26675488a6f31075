//! The first hour, as a new user: an empty canvas, a CSV of their own, five layers dragged from
//! the palette and wired, and Train — with no shape typed anywhere: the Input takes the table's
//! width and the last Dense the class count as soon as they are wired.

mod common;

use common::ui::{drag, harness, has_text, wait_for};
use egui::accesskit::Role;
use egui::{Key, Modifiers, Pos2};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use glassbox::graph::Layer;
use glassbox::project::Project;
use glassbox::ui::Studio;

/// A table of 13 measurements and a class: each class raises a different group of columns.
fn write_csv(path: &std::path::Path) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut text: String = (1..=13).map(|i| format!("m{i},")).collect::<String>() + "class\n";
    for row in 0..450 {
        let class = row % 3;
        for col in 0..13 {
            let lift = if col % 3 == class { 1.5 } else { 0.0 };
            let v: f64 = rng.random_range(-1.0..1.0) + lift;
            text += &format!("{v:.3},");
        }
        text += ["low", "mid", "high"][class];
        text += "\n";
    }
    std::fs::write(path, text).unwrap();
}

/// Drags `item` from the palette to `to` on the canvas; returns the new node's id.
fn drop_layer(h: &mut Harness<'static, Studio>, item: &str, to: Pos2) -> String {
    let before: Vec<String> = h
        .state()
        .doc
        .project
        .graph
        .nodes
        .iter()
        .map(|n| n.id.clone())
        .collect();
    let from = h.get_by_label(item).rect().center();
    drag(h, from, to);
    let g = &h.state().doc.project.graph;
    g.nodes
        .iter()
        .map(|n| n.id.clone())
        .find(|id| !before.contains(id))
        .unwrap_or_else(|| panic!("dropping {item} added no node"))
}

fn wire(h: &mut Harness<'static, Studio>, from: &str, to: &str) {
    let out = h
        .state()
        .doc
        .editor
        .pin_pos(from, false, 0)
        .expect("output pin drawn");
    let inp = h
        .state()
        .doc
        .editor
        .pin_pos(to, true, 0)
        .expect("input pin drawn");
    drag(h, out, inp);
    assert!(
        h.state()
            .doc
            .project
            .graph
            .edges
            .iter()
            .any(|e| e.from == from && e.to == to),
        "wire {from} → {to} not made: {:?}",
        h.state().chrome.message
    );
}

/// From an empty canvas: the Data tab takes the table at `csv` (its target found as `target`),
/// and five layers from the palette, wired, make an MLP whose ends fit it.
fn mlp_on_empty_canvas(csv: &std::path::Path, target: &str) -> Harness<'static, Studio> {
    let mut h = harness(Project::default());
    assert!(h.state().doc.project.graph.nodes.is_empty());

    // Data tab ▸ Data set ▸ CSV / TSV table…: no error before a path is given.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num2);
    h.run_steps(2);
    h.get_by_role_and_label(Role::ComboBox, "Data set").click();
    h.run_steps(2);
    h.get_by_label("CSV / TSV table…").click();
    h.run_steps(3);
    // (The first data set, MNIST, may still be loading: it finishes, then the table takes over.)
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.pending.is_some()),
        "no hint for the empty path"
    );
    h.run_steps(2);
    assert!(
        has_text(&h, "Type the path of a CSV"),
        "the hint is not shown"
    );
    assert!(
        !has_text(&h, "cannot read"),
        "an error before any path was typed"
    );
    assert!(
        h.state().data.summary.is_none(),
        "the old preview still shows"
    );
    let field = h.get_by_role_and_label(Role::TextInput, "File");
    field.click();
    h.run_steps(1);
    h.get_by_role_and_label(Role::TextInput, "File")
        .type_text(csv.to_str().unwrap());
    h.run_steps(2);
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.summary.is_some()),
        "the table did not load: {:?} {:?}",
        h.state().data.error,
        h.state().data.pending
    );
    // The class column was found (by its name, or as the one text column).
    match &h.state().doc.project.data.source {
        glassbox::data::DataSource::Csv { target: t, .. } => assert_eq!(t, target),
        other => panic!("{other:?}"),
    }

    // Back to the canvas: five layers from the palette, left to right, wired.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num1);
    h.run_steps(2);
    let canvas = h.state().doc.editor.canvas_rect();
    let at = |i: f32| canvas.left_center() + egui::vec2(90.0 + 170.0 * i, -60.0 + 40.0 * (i % 2.0));
    let input = drop_layer(&mut h, "+ Input", at(0.0));
    let fc1 = drop_layer(&mut h, "+ Dense", at(1.0));
    let relu = drop_layer(&mut h, "+ ReLU", at(2.0));
    let fc2 = drop_layer(&mut h, "+ Dense", at(3.0));
    let output = drop_layer(&mut h, "+ Output", at(4.0));
    // The Input took the table's width as it was added.
    let g = &h.state().doc.project.graph;
    assert!(
        matches!(&g.node(&input).unwrap().layer, Layer::Input { shape, .. } if shape == &vec![13]),
        "{:?}",
        g.node(&input).unwrap().layer
    );
    wire(&mut h, &input, &fc1);
    wire(&mut h, &fc1, &relu);
    wire(&mut h, &relu, &fc2);
    wire(&mut h, &fc2, &output);
    h.run_steps(3);
    let g = &h.state().doc.project.graph;
    assert!(
        matches!(g.node(&fc2).unwrap().layer, Layer::Dense { units: 3, .. }),
        "the last Dense did not take the 3 classes: {:?}",
        g.node(&fc2).unwrap().layer
    );
    assert!(
        h.state().doc.analysis.errors.is_empty(),
        "{:?}",
        h.state().doc.analysis.errors
    );

    h
}

#[test]
fn a_csv_network_from_an_empty_canvas_trains_without_typing_a_shape() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("measurements.csv");
    write_csv(&csv);
    let mut h = mlp_on_empty_canvas(&csv, "class");
    let acc = train_to_the_end(&mut h, 60.0);
    assert!(acc > 0.8, "{acc}");
}

/// A 180-row table whose class column is text, first, and not named like a label.
fn write_grapes_csv(path: &std::path::Path) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut text = String::from("grape,")
        + &(1..=13)
            .map(|i| format!("m{i}"))
            .collect::<Vec<_>>()
            .join(",")
        + "\n";
    for row in 0..180 {
        let class = row % 3;
        text += ["barolo", "grignolino", "barbera"][class];
        for col in 0..13 {
            let lift = if col % 3 == class { 1.5 } else { 0.0 };
            let v: f64 = rng.random_range(-1.0..1.0) + lift;
            text += &format!(",{v:.3}");
        }
        text += "\n";
    }
    std::fs::write(path, text).unwrap();
}

/// Presses Train and waits (at most `limit_s`) for the run's end; its test accuracy.
fn train_to_the_end(h: &mut Harness<'static, Studio>, limit_s: f32) -> f32 {
    h.get_by_label("▶ Train").click();
    h.step();
    assert!(
        wait_for(h, limit_s, |s| !s.is_training()
            && s.session.weights.is_some()),
        "training did not finish: {:?} {:?}",
        h.state().run_state(),
        h.state().chrome.message
    );
    let test = h.state().session.history.as_ref().unwrap().test.unwrap();
    test.accuracy.unwrap()
}

#[test]
fn a_new_projects_defaults_fit_its_data_and_a_short_run_is_called_short() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("wine.csv");
    write_grapes_csv(&csv);
    let mut h = mlp_on_empty_canvas(&csv, "grape");
    // Train with no setting changed: the loop followed the data's size.
    let t = &h.state().doc.project.training;
    assert!(t.epochs > 3 && t.early_stopping.is_some(), "{t:?}");
    let acc = train_to_the_end(&mut h, 120.0);
    assert!(acc >= 0.9, "with the data's defaults: {acc}");

    // Three epochs again: the diagnosis says too few steps, and its button trains long enough.
    h.state_mut().doc.project.training.epochs = 3;
    h.state_mut().session.weights = None;
    train_to_the_end(&mut h, 120.0);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num3);
    h.run_steps(2);
    h.get_by_label("Gradient health & diagnosis").click();
    h.run_steps(3);
    assert!(
        has_text(&h, "still falling when it stopped"),
        "no too-few-steps diagnosis"
    );
    assert!(
        !has_text(&h, "Double the hidden units"),
        "capacity blamed for a short run"
    );
    // The button's words, as the engine's diagnosis of this run gives them.
    let label = {
        let s = h.state();
        let history = s.session.history.as_ref().unwrap();
        glassbox::insight::diagnose(history, None, &s.doc.project.graph)
            .into_iter()
            .find_map(|d| {
                d.fix
                    .filter(|f| matches!(f, glassbox::insight::Fix::MoreEpochs { .. }))
            })
            .expect("a more-epochs fix")
            .label()
    };
    h.state_mut().session.weights = None;
    h.get_by_label(&label).click();
    h.run_steps(2);
    assert!(
        wait_for(&mut h, 120.0, |s| !s.is_training()
            && s.session.weights.is_some()),
        "the fix did not train: {:?}",
        h.state().chrome.message
    );
    let test = h.state().session.history.as_ref().unwrap().test.unwrap();
    assert!(test.accuracy.unwrap() >= 0.9, "after the fix: {test:?}");
}
