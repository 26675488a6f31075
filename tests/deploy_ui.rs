//! The studio's ways out and in, used from the menus as a person would: export ONNX and a model
//! card, serve and ask the server, import the ONNX file back, and freeze a layer.

mod common;

use common::ui::{harness, has_text, wait_for};
use egui_kittest::kittest::Queryable;
use glassbox::presets;

/// File ▸ `submenu` ▸ `item`, then the in-app path field (no native dialogs in tests).
fn through_menu(
    h: &mut egui_kittest::Harness<'static, glassbox::ui::Studio>,
    path: &[&str],
    file: &std::path::Path,
    confirm: &str,
) {
    for label in path {
        // A submenu's label carries an arrow after its name.
        match h.query_by_label(label) {
            Some(node) => node.click(),
            None => h.get_by_label_contains(label).click(),
        }
        h.run_steps(2);
    }
    assert!(
        h.state().chrome.prompt.is_some(),
        "no path field after {path:?}"
    );
    h.state_mut().chrome.prompt.as_mut().unwrap().text = file.display().to_string();
    h.run_steps(1);
    h.get_by_label(confirm).click();
    h.run_steps(3);
}

#[test]
fn export_serve_and_import_from_the_menus() {
    let dir = tempfile::tempdir().unwrap();
    let iris = presets::load("mlp-iris").unwrap();
    let mut h = harness(iris.clone());
    h.state_mut().deploy.port = 0;
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.summary.is_some()),
        "the data did not load"
    );
    h.get_by_label("▶ Train").click();
    h.step();
    assert!(
        wait_for(&mut h, 60.0, |s| s.session.weights.is_some()
            && !s.is_training()),
        "training did not finish"
    );

    let onnx = dir.path().join("iris.onnx");
    through_menu(&mut h, &["File", "Export model", "ONNX…"], &onnx, "Export");
    assert!(
        onnx.exists(),
        "no ONNX file; status: {:?}",
        h.state().chrome.message
    );

    let card = dir.path().join("card.md");
    through_menu(
        &mut h,
        &["File", "Export model", "Model card…"],
        &card,
        "Export",
    );
    assert!(
        wait_for(&mut h, 30.0, |_| card.exists()),
        "no model card; status: {:?}",
        h.state().chrome.message
    );
    let md = std::fs::read_to_string(&card).unwrap();
    assert!(md.contains("## Confusion matrix (test)"), "{md}");
    // Written from a run's record: the loss curve is there.
    assert!(dir.path().join("card-loss.png").exists(), "{md}");
    assert!(dir.path().join("card-accuracy.png").exists(), "{md}");

    h.get_by_label("Run").click();
    h.run_steps(2);
    h.get_by_label_contains("Serve predictions").click();
    assert!(
        wait_for(&mut h, 30.0, |s| s.deploy.serving().is_some()),
        "the server did not start: {:?}",
        h.state().chrome.message
    );
    let addr = h.state().deploy.serving().unwrap();
    let (status, body) = common::http::request(
        addr,
        "POST",
        "/predict",
        br#"{"inputs": [[6.3, 3.3, 6.0, 2.5]]}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("virginica"), "{body}");
    h.get_by_label("Run").click();
    h.run_steps(2);
    h.get_by_label_contains("Stop serving").click();
    h.run_steps(2);
    assert!(h.state().deploy.serving().is_none());
    assert!(
        common::http::request(addr, "GET", "/health", b"").is_err(),
        "still serving after Stop"
    );

    through_menu(&mut h, &["File", "Import ONNX…"], &onnx, "Open");
    let s = h.state();
    assert!(s.session.weights.is_some(), "{:?}", s.chrome.message);
    let kinds =
        |g: &glassbox::graph::Graph| g.nodes.iter().map(|n| n.layer.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&s.doc.project.graph), kinds(&iris.graph));
    assert_eq!(
        s.doc.project.data, iris.data,
        "the data settings came back with the file"
    );
}

#[test]
fn a_layer_is_frozen_from_the_inspector_and_shows_a_lock() {
    let mut h = harness(presets::load("cnn-transfer-5-9").unwrap());
    assert!(
        has_text(&h, "🔒 Conv2d  conv1"),
        "the preset's frozen conv shows no lock"
    );
    assert!(!has_text(&h, "🔒 Dense  fc1"));
    assert!(
        has_text(&h, "Starts from the weights of"),
        "the transfer source is not shown"
    );
    h.get_by_label("Dense  fc1").click_accesskit();
    h.run_steps(3);
    h.get_by_label("🔒 Frozen").click();
    h.run_steps(3);
    assert!(h.state().doc.project.graph.node("fc1").unwrap().frozen);
    assert!(has_text(&h, "🔒 Dense  fc1"), "no lock on the frozen node");
}
