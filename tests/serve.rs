//! The prediction server over real loopback HTTP: answers, each kind of bad request getting a
//! 400 that names its problem, a bounded load test at 1 and 8 clients, graceful stop.

mod common;

use common::http::request;
use glassbox::data::Dataset;
use glassbox::deploy::serve::{start, ServeConfig};
use glassbox::fsutil::presets_dir;
use glassbox::model::{Model, Weights};
use glassbox::project::Project;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn serve(preset: &str, weights: Weights, max_body_bytes: usize) -> glassbox::deploy::serve::Server {
    let project = Project::load(&presets_dir().join(format!("{preset}.json"))).unwrap();
    let data = Arc::new(Dataset::load(&project.data, Some(&presets_dir())).unwrap());
    let config = ServeConfig {
        max_body_bytes,
        ..ServeConfig::local(0)
    };
    start(project, vec![weights], data, config).unwrap()
}

fn trained_iris() -> Weights {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iris.safetensors");
    common::cli::train_preset("mlp-iris", &path, &[]);
    Weights::load(&path).unwrap()
}

#[test]
fn predictions_and_a_400_naming_each_bad_request() {
    let server = serve("mlp-iris", trained_iris(), 64 << 10);
    let addr = server.addr();
    assert!(addr.ip().is_loopback());

    let (status, body) = request(addr, "GET", "/health", b"").unwrap();
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["classes"][2], "virginica", "{body}");

    let rows =
        br#"{"inputs": [[5.1, 3.5, 1.4, 0.2], [5.7, 2.8, 4.1, 1.3], [[6.3, 3.3], [6.0, 2.5]]]}"#;
    let (status, body) = request(addr, "POST", "/predict", rows).unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let labels: Vec<&str> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["setosa", "versicolor", "virginica"], "{body}");

    let oversized = format!(
        r#"{{"inputs": [{}]}}"#,
        vec!["[1, 2, 3, 4]"; 8000].join(",")
    );
    for (what, body, needle) in [
        (
            "wrong shape",
            br#"{"inputs": [[5.1, 3.5, 1.4]]}"#.to_vec(),
            "has 3 values; the model takes 4",
        ),
        (
            "wrong type",
            br#"{"inputs": ["a flower"]}"#.to_vec(),
            "is a text; this model takes a list of numbers",
        ),
        (
            "a text among numbers",
            br#"{"inputs": [[5.1, "x", 1.4, 0.2]]}"#.to_vec(),
            "holds a text where a number belongs",
        ),
        (
            "no inputs key",
            br#"{"rows": []}"#.to_vec(),
            r#"needs an "inputs" list"#,
        ),
        (
            "invalid JSON",
            br#"{"inputs": [[5.1,"#.to_vec(),
            "not valid JSON",
        ),
        (
            "oversized body",
            oversized.into_bytes(),
            "larger than 65536 bytes",
        ),
    ] {
        let (status, reply) = request(addr, "POST", "/predict", &body).unwrap();
        assert_eq!(status, 400, "{what}: {reply}");
        let v: Value =
            serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{what}: {e}: {reply}"));
        let message = v["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{what}: {message}");
    }
    server.stop();
    assert!(
        request(addr, "GET", "/health", b"").is_err(),
        "still answering after stop"
    );
}

#[test]
fn a_regression_is_served_in_the_targets_units() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mpg.safetensors");
    common::cli::train_preset("mlp-auto-mpg", &path, &["--epochs", "150"]);
    let server = serve("mlp-auto-mpg", Weights::load(&path).unwrap(), 64 << 10);
    // Two cars of the file (18 and 27 mpg), the category one-hot as the model reads it.
    let project = Project::load(&presets_dir().join("mlp-auto-mpg.json")).unwrap();
    let data = Dataset::load(&project.data, Some(&presets_dir())).unwrap();
    let car = |raw: &[(&str, f32)], origin: &str| -> Vec<f32> {
        data.feature_names
            .iter()
            .map(|f| match f.split_once('=') {
                Some((_, o)) => f32::from(o == origin),
                None => raw.iter().find(|(n, _)| n == f).unwrap().1,
            })
            .collect()
    };
    let heavy = car(
        &[
            ("cylinders", 8.0),
            ("displacement", 307.0),
            ("horsepower", 130.0),
            ("weight_lbs", 3504.0),
            ("acceleration", 12.0),
            ("model_year", 1970.0),
        ],
        "USA",
    );
    let light = car(
        &[
            ("cylinders", 4.0),
            ("displacement", 97.0),
            ("horsepower", 88.0),
            ("weight_lbs", 2130.0),
            ("acceleration", 14.5),
            ("model_year", 1970.0),
        ],
        "Japan",
    );
    let body = serde_json::json!({ "inputs": [heavy, light] }).to_string();
    let (status, reply) = request(server.addr(), "POST", "/predict", body.as_bytes()).unwrap();
    assert_eq!(status, 200, "{reply}");
    let v: Value = serde_json::from_str(&reply).unwrap();
    let mpg: Vec<f64> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["output"][0].as_f64().unwrap())
        .collect();
    assert!(
        (mpg[0] - 18.0).abs() < 6.0 && (mpg[1] - 27.0).abs() < 6.0,
        "not miles per gallon: {reply}"
    );
    server.stop();
}

/// Fixed request count per level, a deadline for the whole test; prints requests/s and latency.
#[test]
fn load_test_at_1_and_8_clients_has_no_errors() {
    let project = Project::load(&presets_dir().join("cnn-mnist.json")).unwrap();
    let weights = Model::build(&project.graph, 1).unwrap().weights().unwrap();
    let server = serve("cnn-mnist", weights, 4 << 20);
    let addr = server.addr();
    let image: Vec<String> = (0..784).map(|i| ((i * 37) % 256).to_string()).collect();
    let body = Arc::new(format!(r#"{{"inputs": [[{}]]}}"#, image.join(",")).into_bytes());
    const REQUESTS: usize = 240;
    let deadline = Instant::now() + Duration::from_secs(120);
    for clients in [1usize, 8] {
        let started = Instant::now();
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                let body = body.clone();
                std::thread::spawn(move || {
                    let mut latencies = Vec::new();
                    let mut errors = Vec::new();
                    for _ in 0..REQUESTS / clients {
                        if Instant::now() > deadline {
                            errors.push("deadline passed".to_string());
                            break;
                        }
                        let t = Instant::now();
                        match request(addr, "POST", "/predict", &body) {
                            Ok((200, reply)) if reply.contains("probabilities") => {
                                latencies.push(t.elapsed())
                            }
                            Ok((status, reply)) => errors.push(format!("{status}: {reply}")),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let mut latencies = Vec::new();
        let mut errors = Vec::new();
        for t in threads {
            let (l, e) = t.join().unwrap();
            latencies.extend(l);
            errors.extend(e);
        }
        let wall = started.elapsed().as_secs_f64();
        assert!(
            errors.is_empty(),
            "{clients} clients: {} errors, first {:?}",
            errors.len(),
            errors.first()
        );
        assert_eq!(latencies.len(), REQUESTS);
        latencies.sort();
        let pct =
            |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
        println!(
            "cnn-mnist, {clients} client(s): {REQUESTS} requests in {wall:.2} s = {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
            REQUESTS as f64 / wall,
            pct(0.5),
            pct(0.99)
        );
    }
    server.stop();
}

/// The value of the sample line starting with `series` (name and labels) in a metrics text.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Every sample of a metrics text as Python's `prometheus_client.parser` reads it:
/// (name, labels, value) lines; None when no Python has the package.
fn parsed_by_prometheus(text: &str) -> Option<Vec<(String, Value, f64)>> {
    let python = common::python::python_with(&["prometheus_client"])?;
    let script = concat!(
        "import sys, json\n",
        "from prometheus_client.openmetrics.parser import text_string_to_metric_families\n",
        "for f in text_string_to_metric_families(sys.stdin.read()):\n",
        "    for s in f.samples:\n",
        "        print(json.dumps([s.name, s.labels, s.value]))\n",
    );
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the text: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

#[test]
fn metrics_count_requests_and_drift_is_flagged_where_the_traffic_moved() {
    let server = serve("mlp-iris", trained_iris(), 64 << 10);
    let addr = server.addr();
    let project = Project::load(&presets_dir().join("mlp-iris.json")).unwrap();
    let data = Dataset::load(&project.data, Some(&presets_dir())).unwrap();
    let (status, body) = request(addr, "GET", "/health", b"").unwrap();
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["weights_hash"].as_str().unwrap().len(), 16, "{body}");
    assert!(health["uptime_s"].as_f64().unwrap() >= 0.0);
    let features: Vec<String> = serde_json::from_value(health["drift_features"].clone()).unwrap();
    assert_eq!(features.len(), 4, "{body}");
    let post = |row: &[f32]| {
        let body = serde_json::json!({ "inputs": [row] }).to_string();
        let (status, reply) = request(addr, "POST", "/predict", body.as_bytes()).unwrap();
        assert_eq!(status, 200, "{reply}");
    };
    // Drift is measured at most every 250 ms: wait, then one more request.
    let settle = || {
        std::thread::sleep(Duration::from_millis(300));
        post(&data.raw_sample(data.test[0]));
    };
    let scrape = || request(addr, "GET", "/metrics", b"").unwrap().1;
    let flags = |text: &str| -> Vec<f64> {
        features
            .iter()
            .map(|f| {
                metric(
                    text,
                    &format!(r#"glassbox_input_drift_flag{{feature="{f}"}}"#),
                )
            })
            .collect()
    };
    // 500 requests drawn from the test split: nothing flagged.
    let test_rows: Vec<Vec<f32>> = data.test.iter().map(|&i| data.raw_sample(i)).collect();
    for k in 0..499 {
        post(&test_rows[k % test_rows.len()]);
    }
    settle();
    let (status, _) = request(addr, "POST", "/predict", br#"{"inputs": [[1, 2]]}"#).unwrap();
    assert_eq!(status, 400);
    let text = scrape();
    assert_eq!(
        flags(&text),
        [0.0; 4],
        "drift flagged on test rows:\n{text}"
    );
    let calm_prediction_psi = metric(&text, "glassbox_prediction_drift_psi");
    assert!(calm_prediction_psi < 0.2, "{calm_prediction_psi}");
    assert_eq!(
        metric(
            &text,
            r#"glassbox_requests_total{route="/predict",status="200"}"#
        ),
        500.0
    );
    assert_eq!(
        metric(
            &text,
            r#"glassbox_requests_total{route="/predict",status="400"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"glassbox_inputs_refused_total{reason="wrong_shape"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"glassbox_request_duration_seconds_count{route="/predict"}"#
        ),
        501.0
    );
    // The same counts as a real Prometheus parser reads them.
    if let Some(samples) = parsed_by_prometheus(&text) {
        let find = |name: &str, labels: &[(&str, &str)]| -> f64 {
            samples
                .iter()
                .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l[*k] == *v))
                .unwrap_or_else(|| panic!("{name}{labels:?} not parsed"))
                .2
        };
        let ok = [("route", "/predict"), ("status", "200")];
        assert_eq!(find("glassbox_requests_total", &ok), 500.0);
        let refused = [("reason", "wrong_shape")];
        assert_eq!(find("glassbox_inputs_refused_total", &refused), 1.0);
        let per_class: f64 = data
            .class_names()
            .iter()
            .map(|c| find("glassbox_predictions_total", &[("class", c.as_str())]))
            .sum();
        assert_eq!(per_class, 500.0);
    }
    // Then 500 with the third feature two training standard deviations up: only it drifts.
    let third: Vec<f32> = data.train.iter().map(|&i| data.raw_sample(i)[2]).collect();
    let mean = third.iter().sum::<f32>() / third.len() as f32;
    let sd = (third.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / third.len() as f32).sqrt();
    for k in 0..500 {
        let mut row = test_rows[k % test_rows.len()].clone();
        row[2] += 2.0 * sd;
        post(&row);
    }
    settle();
    let text = scrape();
    for (j, f) in features.iter().enumerate() {
        let flag = metric(
            &text,
            &format!(r#"glassbox_input_drift_flag{{feature="{f}"}}"#),
        );
        let psi = metric(
            &text,
            &format!(r#"glassbox_input_drift_psi{{feature="{f}"}}"#),
        );
        // The others' PSI on 30 distinct test rows is noisy; the KS test keeps them unflagged.
        if j == 2 {
            assert!(flag == 1.0 && psi > 0.2, "{f}: flag {flag}, PSI {psi}");
        } else {
            assert!(flag == 0.0, "{f}: flag {flag}, PSI {psi}");
        }
    }
    // The predicted classes moved with it (longer petals read as virginica).
    let shifted_prediction_psi = metric(&text, "glassbox_prediction_drift_psi");
    assert!(shifted_prediction_psi > 0.2, "{shifted_prediction_psi}");
    server.stop();
}

#[test]
fn the_request_log_rotates_and_imports_back_as_a_labelled_table() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let project = Project::load(&presets_dir().join("mlp-iris.json")).unwrap();
    let data = Arc::new(Dataset::load(&project.data, Some(&presets_dir())).unwrap());
    let config = ServeConfig {
        log: Some(glassbox::deploy::request_log::LogSettings {
            path: log.clone(),
            inputs: true,
            max_bytes: 2_000,
        }),
        ..ServeConfig::local(0)
    };
    let server = start(project.clone(), vec![trained_iris()], data.clone(), config).unwrap();
    let rows: Vec<Vec<f32>> = data.test.iter().map(|&i| data.raw_sample(i)).collect();
    for row in &rows {
        let body = serde_json::json!({ "inputs": [row] }).to_string();
        let (status, _) = request(server.addr(), "POST", "/predict", body.as_bytes()).unwrap();
        assert_eq!(status, 200);
    }
    server.stop();
    // Rotated at 2 kB: the older lines in requests.jsonl.1, every line one request.
    let older = dir.path().join("requests.jsonl.1");
    assert!(older.exists(), "no rotation");
    let lines: Vec<String> = [&older, &log]
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    // Only the newest full file is kept beside the current one: up to all the requests.
    assert!(
        lines.len() <= rows.len() && lines.len() >= 2,
        "{} lines",
        lines.len()
    );
    for p in [&older, &log] {
        let size = std::fs::metadata(p).unwrap().len();
        assert!(size <= 2_000 + 400, "{} is {size} bytes", p.display());
    }
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let sent: Vec<f64> = rows.last().unwrap().iter().map(|&v| v as f64).collect();
    let logged: Vec<f64> = serde_json::from_value(last["inputs"][0].clone()).unwrap();
    assert!(
        logged.iter().zip(&sent).all(|(a, b)| (a - b).abs() < 1e-4),
        "{logged:?}"
    );
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        assert!(
            v["latency_ms"].as_f64().unwrap() > 0.0 && v["inputs"][0].is_array(),
            "{l}"
        );
        assert!(v["predictions"][0]["label"].is_string(), "{l}");
    }
    // A broken line is named and skipped; the rest becomes a table to label.
    let mut current = std::fs::read_to_string(&log).unwrap();
    current.push_str("{not json\n");
    std::fs::write(&log, &current).unwrap();
    let kept = current.lines().count() - 1;
    let csv = dir.path().join("traffic.csv");
    let import = || {
        common::cli::glassbox(&[
            "import-log",
            log.to_str().unwrap(),
            "--project",
            &common::cli::preset("mlp-iris"),
            "-o",
            csv.to_str().unwrap(),
        ])
    };
    let (ok, out) = import();
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("line {} is not JSON", kept + 1)),
        "{out}"
    );
    let table = std::fs::read_to_string(&csv).unwrap();
    let mut t = table.lines();
    assert_eq!(
        t.next(),
        Some("sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm,label")
    );
    let body: Vec<&str> = t.collect();
    assert_eq!(body.len(), kept);
    assert!(body.iter().all(|r| ["setosa", "versicolor", "virginica"]
        .iter()
        .any(|c| r.ends_with(&format!(",{c}")))));
    // Hashed inputs are counted, not imported.
    std::fs::write(
        &log,
        "{\"time\": 1, \"input_hashes\": [\"ab\"], \"predictions\": []}\n",
    )
    .unwrap();
    let (ok, out) = import();
    assert!(
        !ok && out.contains("cannot be imported") && out.contains("no logged inputs"),
        "{out}"
    );
}

/// Scrapers keep asking for /metrics while the server stops: every answer that arrives is a
/// whole exposition (ends with "# EOF"), later ones are refused connections rather than hangs
/// or half bodies, and stopping takes no longer than the requests in flight.
#[test]
fn metrics_scraped_during_shutdown_are_whole_or_refused() {
    let iris = Project::load(&presets_dir().join("mlp-iris.json")).unwrap();
    let weights = Model::build(&iris.graph, 1).unwrap().weights().unwrap();
    let server = serve("mlp-iris", weights, 1 << 20);
    let addr = server.addr();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (whole, refused, stop_s) = std::thread::scope(|s| {
        let scrapers: Vec<_> = (0..4)
            .map(|_| {
                let stop = &stop;
                s.spawn(move || {
                    let (mut whole, mut refused) = (0, 0);
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        assert!(Instant::now() < deadline, "the scrape loop ran too long");
                        match request(addr, "GET", "/metrics", b"") {
                            Ok((status, body)) => {
                                assert_eq!(status, 200, "{body}");
                                assert!(
                                    body.trim_end().ends_with("# EOF"),
                                    "a partial exposition: {body}"
                                );
                                whole += 1;
                            }
                            Err(_) => refused += 1,
                        }
                    }
                    (whole, refused)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        server.stop();
        let stop_s = t0.elapsed().as_secs_f64();
        // Scrapes after the stop find nothing listening.
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (mut w, mut r) = (0, 0);
        for h in scrapers {
            let (a, b) = h.join().unwrap();
            w += a;
            r += b;
        }
        (w, r, stop_s)
    });
    assert!(whole > 10, "only {whole} scrapes answered before the stop");
    assert!(refused > 0, "no scrape was refused after the stop");
    assert!(stop_s < 5.0, "stopping took {stop_s:.1} s");
    assert!(
        request(addr, "GET", "/metrics", b"").is_err(),
        "still answering after stop"
    );
}
