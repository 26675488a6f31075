//! The studio's ways out and in, used from the menus as a person would: export ONNX and a model
//! card, serve and ask the server, import the ONNX file back, and freeze a layer.

mod common;

use common::ui::{harness, has_text, wait_for};
use egui_kittest::kittest::Queryable;
use glassbox::presets;
use glassbox::ui::serving_view::ServingPanel;
use glassbox::ui::Studio;

fn serving(s: &Studio) -> Option<std::net::SocketAddr> {
    s.panels
        .get::<ServingPanel>()
        .and_then(ServingPanel::serving)
}

fn serve_on_any_port(h: &mut egui_kittest::Harness<'static, Studio>) {
    h.state_mut()
        .panels
        .get_mut::<ServingPanel>()
        .expect("registered")
        .port = 0;
}

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
    serve_on_any_port(&mut h);
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.summary.is_some()),
        "the data did not load"
    );
    common::ui::train_to_the_end(&mut h, 60.0);

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
        wait_for(&mut h, 30.0, |s| serving(s).is_some()),
        "the server did not start: {:?}",
        h.state().chrome.message
    );
    let addr = serving(h.state()).unwrap();
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
    assert!(serving(h.state()).is_none());
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

/// Run ▸ Serve predictions opens the serving panel; requests arriving show in its figures and
/// list, and a feature shifted by two standard deviations is flagged in its drift table.
#[test]
fn the_serving_panel_shows_traffic_and_flags_a_drifted_feature() {
    let mut iris = presets::load("mlp-iris").unwrap();
    iris.serving.drift_window = 150;
    iris.serving.drift_min_samples = 100;
    let data = glassbox::data::Dataset::load(&iris.data, None).unwrap();
    // Untrained weights serve as well as trained ones: drift is about the inputs.
    let weights = glassbox::model::Model::build(&iris.graph, 1)
        .unwrap()
        .weights()
        .unwrap();
    let mut h = harness(iris);
    h.state_mut().session.weights = Some(weights);
    serve_on_any_port(&mut h);
    h.run_steps(2);
    assert!(
        !has_text(&h, "Input drift"),
        "the panel is open before serving"
    );
    h.get_by_label("Run").click();
    h.run_steps(2);
    h.get_by_label_contains("Serve predictions").click();
    assert!(
        wait_for(&mut h, 30.0, |s| serving(s).is_some()),
        "the server did not start: {:?}",
        h.state().chrome.message
    );
    let addr = serving(h.state()).unwrap();
    let send = |row: &[f32]| {
        let values: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        let body = format!("{{\"inputs\": [[{}]]}}", values.join(","));
        let (status, text) =
            common::http::request(addr, "POST", "/predict", body.as_bytes()).unwrap();
        assert_eq!(status, 200, "{text}");
    };
    // Drawn from the data itself (train and test: iris' test split alone is 30 rows).
    let rows: Vec<Vec<f32>> = data
        .train
        .iter()
        .chain(&data.test)
        .map(|&i| data.raw_sample(i))
        .collect();
    for row in rows.iter().cycle().take(150) {
        send(row);
    }
    let panel = |s: &Studio| s.panels.get::<ServingPanel>().unwrap().snapshot.clone();
    assert!(
        wait_for(&mut h, 10.0, |s| panel(s)
            .is_some_and(|p| p.requests == 150 && !p.drift.is_empty())),
        "the panel did not see the requests: {:?}",
        panel(h.state()).map(|p| p.requests)
    );
    h.run_steps(2);
    assert!(has_text(&h, "150 requests, 0 errors"), "no request count");
    assert!(has_text(&h, "petal_length_cm"), "no drift table");
    assert!(!has_text(&h, "⚠"), "drift flagged on unshifted inputs");

    // Petal length two training standard deviations up.
    let col: Vec<f64> = rows.iter().map(|r| r[2] as f64).collect();
    let mean = col.iter().sum::<f64>() / col.len() as f64;
    let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
    for row in rows.iter().cycle().skip(7).take(150) {
        let mut shifted = row.clone();
        shifted[2] += (2.0 * sd) as f32;
        send(&shifted);
    }
    // One bad request shows in the list with its reason.
    let (status, _) =
        common::http::request(addr, "POST", "/predict", b"{\"inputs\": [[1, 2]]}").unwrap();
    assert_eq!(status, 400);
    assert!(
        wait_for(&mut h, 10.0, |s| panel(s).is_some_and(
            |p| p.errors == 1 && p.drift.iter().any(|f| f.drifted)
        )),
        "no feature flagged after the shift: {:?}",
        panel(h.state()).map(|p| p.drift)
    );
    h.run_steps(2);
    assert!(
        has_text(&h, "⚠ petal_length_cm"),
        "the flag is not on screen"
    );
    for other in ["sepal_length_cm", "sepal_width_cm", "petal_width_cm"] {
        assert!(!has_text(&h, &format!("⚠ {other}")), "{other} flagged too");
    }
    assert!(
        has_text(&h, "'petal_length_cm' has drifted"),
        "no message in words"
    );
    assert!(
        has_text(&h, "400 input 1 has 2 values"),
        "the refused request is not listed with its reason"
    );
}
