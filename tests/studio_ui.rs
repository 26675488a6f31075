//! The studio driven like a user would, headless with egui_kittest.

mod common;

use common::ui::{drag, press, wait_for};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use glassbox::project::Project;
use glassbox::train::RunState;
use glassbox::ui::{Studio, StudioSettings};
use std::time::{Duration, Instant};

fn studio(project: Project) -> Studio {
    let mut s = Studio::new(project, None, StudioSettings::default());
    s.chrome.dialogs.native = false;
    s.doc.editor.identity_transform = true;
    s
}

fn preset(name: &str) -> Project {
    glassbox::presets::load(name).unwrap()
}

fn harness(s: Studio) -> Harness<'static, Studio> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .with_max_steps(12)
        .with_step_dt(0.05)
        .build_ui_state(|ui, s: &mut Studio| s.ui(ui), s);
    h.run_steps(3);
    h
}

fn has_text(h: &Harness<'static, Studio>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

#[test]
fn open_a_preset_from_the_menu_and_see_its_nodes() {
    let mut h = harness(studio(Project::default()));
    assert!(!has_text(&h, "conv1"));
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label_contains("Open preset").click();
    h.run_steps(2);
    h.get_by_label("cnn-mnist").click();
    h.run_steps(3);
    assert_eq!(h.state().doc.project.name, "CNN on MNIST");
    for title in ["Conv2d  conv1", "MaxPool2d  pool2", "Dense  fc1", "Output"] {
        assert!(has_text(&h, title), "{title} not shown");
    }
    // Shapes show on the ports.
    assert!(has_text(&h, "[B, 64, 7, 7]"));
    assert!(has_text(&h, "421,642 parameters"));
}

#[test]
fn drag_a_dense_layer_from_the_palette_and_wire_it_to_see_its_parameters() {
    let mut h = harness(studio(preset("mlp-iris")));
    let from = h.get_by_label("+ Dense").rect().center();
    let canvas = h.state().doc.editor.canvas_rect();
    let to = canvas.center() + egui::vec2(0.0, canvas.height() * 0.3);
    drag(&mut h, from, to);
    let g = &h.state().doc.project.graph;
    assert!(
        g.node("fc4").is_some(),
        "no new Dense node: {:?}",
        g.nodes.iter().map(|n| &n.id).collect::<Vec<_>>()
    );
    assert!(has_text(&h, "Dense  fc4"));
    // Wire relu2 → fc4: 16 inputs × 64 units + 64 biases.
    let out = h
        .state()
        .doc
        .editor
        .pin_pos("relu2", false, 0)
        .expect("relu2 output pin drawn");
    let inp = h
        .state()
        .doc
        .editor
        .pin_pos("fc4", true, 0)
        .expect("fc4 input pin drawn");
    drag(&mut h, out, inp);
    assert!(h
        .state()
        .doc
        .project
        .graph
        .edges
        .iter()
        .any(|e| e.from == "relu2" && e.to == "fc4"));
    assert!(has_text(&h, "1,088 params"), "parameter count not shown");
    assert_eq!(h.state().doc.analysis.node("fc4").unwrap().params, 1088);
}

#[test]
fn a_wrong_wire_is_refused_with_the_reason() {
    let mut h = harness(studio(preset("cnn-mnist")));
    let edges_before = h.state().doc.project.graph.edges.clone();
    let out = h.state().doc.editor.pin_pos("pool2", false, 0).unwrap();
    let inp = h.state().doc.editor.pin_pos("fc1", true, 0).unwrap();
    drag(&mut h, out, inp);
    assert_eq!(
        h.state().doc.project.graph.edges,
        edges_before,
        "the wire was accepted"
    );
    assert!(has_text(
        &h,
        "expects a flat input, got [B, 64, 7, 7]: add a Flatten before it"
    ));
}

#[test]
fn undo_and_redo_an_edit() {
    let mut h = harness(studio(preset("mlp-iris")));
    h.get_by_label("Dense  fc2").click_accesskit();
    h.run_steps(2);
    assert_eq!(h.state().doc.editor.selected.as_deref(), Some("fc2"));
    h.key_press(Key::Delete);
    h.run_steps(2);
    assert!(h.state().doc.project.graph.node("fc2").is_none());
    assert!(!has_text(&h, "Dense  fc2"));
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert!(h.state().doc.project.graph.node("fc2").is_some());
    assert!(has_text(&h, "Dense  fc2"));
    assert_eq!(h.state().doc.project.graph, preset("mlp-iris").graph);
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run_steps(2);
    assert!(h.state().doc.project.graph.node("fc2").is_none());
    // The toolbar buttons do the same.
    h.get_by_label("⟲ Undo").click();
    h.run_steps(2);
    assert!(h.state().doc.project.graph.node("fc2").is_some());
}

#[test]
fn train_iris_watch_the_curve_grow_then_stop() {
    let mut p = preset("mlp-iris");
    p.training.epochs = 5_000; // long enough to stop by hand
    let mut h = harness(studio(p));
    h.get_by_label("▶ Train").click();
    h.step();
    assert!(
        wait_for(&mut h, 10.0, |s| s
            .session
            .history
            .as_ref()
            .is_some_and(|r| r.step >= 20)),
        "no steps"
    );
    h.step();
    let points_early = h.state().plot_cache_points();
    let step_early = h.state().session.history.as_ref().unwrap().step;
    assert!(points_early > 0, "the loss curve has no points");
    assert!(has_text(&h, &format!("step {step_early} / ")));
    assert!(wait_for(&mut h, 10.0, |s| s
        .session
        .history
        .as_ref()
        .unwrap()
        .step
        > step_early + 50));
    h.step();
    assert!(
        h.state().plot_cache_points() > points_early,
        "the curve did not grow"
    );
    // The status bar says so (the tab called "Training" is always there; this is not).
    assert!(has_text(&h, "Run: Training"));
    // Editing is locked while training.
    assert!(h.state().is_training());
    h.get_by_label("■ Stop").click();
    assert!(
        wait_for(&mut h, 2.0, |s| !s.is_training()),
        "did not stop within 2 s"
    );
    h.run_steps(2);
    assert_eq!(h.state().run_state(), Some(&RunState::Stopped));
    assert!(has_text(&h, "Stopped"));
    assert!(h.state().session.weights.is_some());
}

#[test]
fn save_then_reopen_gives_the_same_graph() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.json");
    let mut h = harness(studio(preset("mlp-iris")));
    // An edit, so there is something to keep: add a Dense layer by double-clicking the
    // palette (near its top, so no scrolling is needed at this window size).
    let at = h.get_by_label("+ Dense").rect().center();
    h.hover_at(at);
    h.step();
    for pressed in [true, false, true, false] {
        press(&h, at, pressed);
        h.step();
    }
    h.run_steps(3);
    assert!(
        h.state().doc.project.graph.node("fc4").is_some(),
        "double-click did not add"
    );
    assert!(h.state().is_dirty());
    let graph = h.state().doc.project.graph.clone();

    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Save As…").click();
    h.run_steps(2);
    // No native dialog in tests: the in-app path field opens.
    assert!(h.state().chrome.prompt.is_some());
    h.state_mut().chrome.prompt.as_mut().unwrap().text = path.display().to_string();
    h.get_by_label("Save").click();
    h.run_steps(3);
    assert!(path.exists());
    assert!(!h.state().is_dirty());

    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("New").click();
    h.run_steps(3);
    assert!(h.state().doc.project.graph.nodes.is_empty());
    assert!(has_text(&h, "drag a layer here") || has_text(&h, "Drag a layer here"));

    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Open…").click();
    h.run_steps(2);
    h.state_mut().chrome.prompt.as_mut().unwrap().text = path.display().to_string();
    h.get_by_label("Open").click();
    h.run_steps(3);
    assert_eq!(h.state().doc.project.graph, graph);
    assert_eq!(h.state().doc.path.as_deref(), Some(path.as_path()));
    assert!(h.state().window_title().contains("mine.json"));
    assert!(!h.state().window_title().contains('•'));
}

#[test]
fn a_new_projects_data_loading_leaves_it_without_unsaved_changes() {
    // The iris preset's load starts, then File ▸ New: the new project loads MNIST and the
    // studio sizes its loop for it — its choice, so nothing counts as unsaved, and opening
    // a file afterwards asks nothing (CI once caught the iris load landing on the new one).
    let mut h = harness(studio(preset("mlp-iris")));
    h.run_steps(2);
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("New").click();
    assert!(
        wait_for(&mut h, 60.0, |s| s
            .data
            .dataset
            .as_ref()
            .is_some_and(|d| d.train.len() > 1000)),
        "MNIST did not load for the new project"
    );
    h.run_steps(2);
    let n = h.state().data.dataset.as_ref().unwrap().train.len();
    assert_eq!(
        h.state().doc.project.training,
        glassbox::project::training::TrainSettings::sized_for(n),
        "the loop was not sized for the new project's data"
    );
    assert!(!h.state().is_dirty(), "sizing the loop counted as an edit");
    assert!(!h.state().window_title().contains('•'));
}

#[test]
fn unsaved_changes_are_asked_about_before_new() {
    let mut h = harness(studio(preset("mlp-iris")));
    h.state_mut().doc.project.name = "changed".into();
    h.step();
    assert!(h.state().window_title().contains('•'));
    h.key_press_modifiers(Modifiers::COMMAND, Key::N);
    h.run_steps(3);
    assert!(has_text(&h, "Unsaved changes"));
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert_eq!(h.state().doc.project.name, "changed");
    h.key_press_modifiers(Modifiers::COMMAND, Key::N);
    h.run_steps(2);
    h.get_by_label("Discard").click();
    h.run_steps(2);
    assert!(h.state().doc.project.graph.nodes.is_empty());
}

#[test]
fn selecting_a_node_shows_its_parameters_and_editing_reruns_shapes() {
    let mut h = harness(studio(preset("mlp-iris")));
    h.get_by_label("Dense  fc1").click_accesskit();
    h.run_steps(2);
    assert!(has_text(&h, "Dense 'fc1'"));
    assert!(has_text(&h, "Units"));
    assert_eq!(h.state().doc.analysis.node("fc1").unwrap().params, 80);
    // Edit the parameter the way the inspector does, then see the new count at once.
    if let Some(n) = h.state_mut().doc.editor.node_mut("fc1") {
        if let glassbox::graph::Layer::Dense { units, .. } = &mut n.layer {
            *units = 32;
        }
    }
    h.run_steps(2);
    assert_eq!(
        h.state().doc.analysis.node("fc1").unwrap().params,
        4 * 32 + 32
    );
    assert!(has_text(&h, "160 params"));
    assert!(h.state().doc.editor.can_undo());
}

#[test]
fn choose_a_csv_in_the_data_panel_and_the_input_follows() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fruit.csv");
    let mut body = String::from("weight,width,sweetness,fruit\n");
    for i in 0..60 {
        let (kind, w) = if i % 2 == 0 {
            ("apple", 150 + i)
        } else {
            ("lemon", 90 + i)
        };
        body += &format!("{w},{},{},{kind}\n", 7 + i % 3, i % 10);
    }
    std::fs::write(&csv, body).unwrap();

    let mut h = harness(studio(preset("mlp-iris")));
    h.get_by_label("Data").click();
    h.run_steps(2);
    assert!(
        wait_for(&mut h, 10.0, |s| s.data.summary.is_some()),
        "iris did not load"
    );
    h.get_by_label("Data set").click();
    h.run_steps(2);
    h.get_by_label("CSV / TSV table…").click();
    h.run_steps(2);
    let field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "File");
    field.click();
    h.run_steps(1);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "File")
        .type_text(&csv.display().to_string());
    h.run_steps(2);
    h.get_by_label("Target").click();
    h.run_steps(2);
    h.get_by_label("fruit").click();
    h.run_steps(2);
    assert!(
        wait_for(&mut h, 10.0, |s| s
            .data
            .summary
            .as_ref()
            .is_some_and(|d| d.name == "fruit.csv")),
        "the CSV did not load: {:?}",
        h.state().data.error
    );
    h.run_steps(2);
    // The preview shows the table head, the stats the class balance, the graph the new width.
    assert!(has_text(&h, "sweetness"));
    assert!(has_text(&h, "apple"));
    assert!(has_text(&h, "Class balance (2 classes)"));
    let g = &h.state().doc.project.graph;
    assert_eq!(
        g.node("input").unwrap().layer,
        glassbox::graph::Layer::Input {
            shape: vec![3],
            dtype: glassbox::graph::DType::F32
        }
    );
    assert!(matches!(
        g.node("fc3").unwrap().layer,
        glassbox::graph::Layer::Dense { units: 2, .. }
    ));
    assert!(h.state().doc.analysis.is_ok());
}

#[test]
fn select_a_node_and_see_its_activation_grid() {
    let mut p = preset("cnn-mnist");
    p.data.max_train_samples = Some(2_000);
    let mut h = harness(studio(p));
    assert!(
        wait_for(&mut h, 10.0, |s| s.data.summary.is_some()),
        "MNIST did not load"
    );
    h.get_by_label("▶ Train").click();
    h.step();
    assert!(
        wait_for(&mut h, 30.0, |s| s.insight.snapshot.is_some()),
        "no snapshot arrived"
    );
    h.get_by_label("■ Stop").click();
    assert!(wait_for(&mut h, 5.0, |s| !s.is_training()));
    h.get_by_label("Conv2d  conv1").click_accesskit();
    h.run_steps(3);
    assert!(
        has_text(&h, "32 feature maps of 28×28"),
        "no activation grid for conv1"
    );
    assert!(has_text(&h, "dead"));
    h.get_by_label("Dense  fc1").click_accesskit();
    h.run_steps(3);
    assert!(has_text(&h, "128 units"));
}

fn trained_iris() -> Harness<'static, Studio> {
    let mut h = harness(studio(preset("mlp-iris")));
    assert!(wait_for(&mut h, 10.0, |s| s.data.summary.is_some()));
    h.get_by_label("▶ Train").click();
    h.step();
    assert!(
        wait_for(&mut h, 20.0, |s| s.session.weights.is_some()
            && !s.is_training()),
        "iris did not train"
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num3);
    h.run_steps(2);
    h
}

#[test]
fn open_the_saliency_view_and_change_the_method() {
    let mut h = trained_iris();
    h.get_by_label("Explain this sample").click();
    assert!(
        wait_for(&mut h, 10.0, |s| s.insight.map.is_some()),
        "{:?}",
        h.state().insight.error
    );
    h.run_steps(2);
    assert!(
        has_text(&h, "Gradient ("),
        "the default method's result is not shown"
    );
    h.get_by_label("Method").click();
    h.run_steps(2);
    h.get_by_label("Integrated gradients").click();
    h.run_steps(2);
    assert!(has_text(&h, "steps"), "the method's settings are not shown");
    h.get_by_label("Explain this sample").click();
    assert!(wait_for(&mut h, 10.0, |s| s
        .insight
        .map
        .as_ref()
        .is_some_and(|m| m.method == "Integrated gradients")));
    h.run_steps(2);
    assert!(has_text(&h, "Integrated gradients ("));
    assert!(has_text(&h, "explaining:"));
}

#[test]
fn the_confusion_matrix_sums_to_the_validation_set() {
    let mut h = trained_iris();
    h.get_by_label("Evaluation").click();
    h.run_steps(2);
    h.get_by_label("Evaluate").click();
    assert!(
        wait_for(&mut h, 10.0, |s| s.insight.evaluation.is_some()),
        "{:?}",
        h.state().insight.error
    );
    h.run_steps(2);
    let val = h.state().data.dataset.as_ref().unwrap().val.len();
    let (_, eval) = h.state().insight.evaluation.clone().unwrap();
    assert_eq!(eval.total(), val);
    assert!(has_text(&h, &format!("{val} samples (validation)")));
    assert!(has_text(&h, "precision"));
}

#[test]
fn a_regression_is_evaluated_as_predicted_against_true_beside_least_squares() {
    let mut p = preset("mlp-auto-mpg");
    p.training.epochs = 150;
    let mut h = harness(studio(p));
    common::ui::train_then_open_insight(&mut h, 60.0);
    let test_fig = h.state().session.history.as_ref().and_then(|h| h.test);
    assert!(
        test_fig.is_some_and(|t| t.regression.is_some() && t.accuracy.is_none()),
        "{test_fig:?}"
    );
    h.get_by_label("Evaluation").click();
    h.run_steps(2);
    h.get_by_label("test").click();
    h.get_by_label("Evaluate").click();
    assert!(
        wait_for(&mut h, 10.0, |s| s.insight.regression.is_some()),
        "{:?}",
        h.state().insight.error
    );
    h.run_steps(2);
    let test = h.state().data.dataset.as_ref().unwrap().test.clone();
    let r = h.state().insight.regression.clone().unwrap();
    // One point per test car, in miles per gallon (not standardised), close to the truth.
    assert_eq!(r.evaluation.points.len(), test.len());
    assert!(r
        .evaluation
        .points
        .iter()
        .all(|p| (5.0..60.0).contains(&p.predicted)));
    assert!(r.evaluation.metrics.r2 > 0.7, "{:?}", r.evaluation.metrics);
    let base = r.baseline.expect("least squares on a table");
    assert!((0.7..0.9).contains(&base.r2), "{base:?}");
    assert!(has_text(&h, "Predicted against true mpg"));
    assert!(has_text(&h, "Residuals (predicted − true)"));
    assert!(has_text(
        &h,
        &format!("{} samples (test) · network R²", test.len())
    ));
    assert!(has_text(&h, "linear least squares R²"));
}

#[test]
fn a_node_keeps_its_size_and_ports_when_its_error_comes_and_goes() {
    let mut h = harness(studio(preset("mlp-iris")));
    let pins = |h: &Harness<'static, Studio>| {
        let e = &h.state().doc.editor;
        (
            e.pin_pos("fc1", true, 0).unwrap(),
            e.pin_pos("fc1", false, 0).unwrap(),
        )
    };
    let before = pins(&h);
    let mut g = h.state().doc.project.graph.clone();
    if let glassbox::graph::Layer::Dense { units, .. } = &mut g.node_mut("fc1").unwrap().layer {
        *units = 0;
    }
    h.state_mut().doc.editor.replace_graph(g);
    h.run_steps(3);
    assert!(
        h.state().doc.analysis.errors_for("fc1").next().is_some(),
        "units 0 is an error"
    );
    assert!(has_text(&h, "⚠ why?"), "no error badge on the node");
    let broken = pins(&h);
    // Within a third of a 9-px pin: the settings' own text ("0 units") may narrow the node a
    // little, but the error adds no line (with the params line dropping at 0, the output pin
    // moved 18 px).
    assert!(
        (broken.0 - before.0).length() < 3.0 && (broken.1 - before.1).length() < 3.0,
        "the ports moved: {before:?} → {broken:?}"
    );
}

#[test]
fn a_graph_that_does_not_fit_its_data_is_fixed_in_one_click() {
    let mut h = harness(studio(preset("mlp-iris")));
    let t0 = Instant::now();
    while h.state().data.summary.is_none() && t0.elapsed() < Duration::from_secs(20) {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.state().data.summary.is_some(), "the data did not load");
    h.run_steps(2);
    assert!(
        h.query_by_label("Fit to the data").is_none(),
        "offered on a fitting graph"
    );
    let mut g = h.state().doc.project.graph.clone();
    if let glassbox::graph::Layer::Input { shape, .. } = &mut g.node_mut("input").unwrap().layer {
        *shape = vec![13];
    }
    h.state_mut().doc.editor.replace_graph(g);
    h.run_steps(3);
    h.get_by_label("Fit to the data").click();
    h.run_steps(3);
    match &h.state().doc.project.graph.node("input").unwrap().layer {
        glassbox::graph::Layer::Input { shape, .. } => assert_eq!(shape, &vec![4]),
        other => panic!("{other:?}"),
    }
    assert!(h.query_by_label("Fit to the data").is_none());
}
