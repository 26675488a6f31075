//! Hostile input, generated: mutated project files, random CSV tables, random IDX files and
//! random graphs (analysed, and when valid built and run). Each case must end in Ok or a named
//! error: never a panic, never an absurd allocation. 10,000 cases per target.

use candle_core::{Device, Tensor};
use glassbox::data::{parse_csv_with, parse_idx, CsvOptions, Task};
use glassbox::graph::{analyze, DType, Edge, Graph, Layer, LayerKind, Node, TensorShape};
use glassbox::model::{ForwardCtx, Model};
use glassbox::project::Project;
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

const CASES: u32 = 10_000;

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    }
}

fn presets() -> Vec<String> {
    // The presets and the lessons' projects.
    let mut v: Vec<String> = ["presets", "presets/lessons"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    v.sort();
    v
}

/// Numbers that break things: zero, negatives, huge, fractional, not numbers at all.
const NASTY: [&str; 14] = [
    "0",
    "-1",
    "1e309",
    "-0.0",
    "4294967296",
    "18446744073709551616",
    "1000000000000",
    "0.5",
    "NaN",
    "null",
    "true",
    "\"x\"",
    "[]",
    "{}",
];

/// A preset's JSON with one of: a truncation, flipped bytes, a number replaced by a nasty
/// value, a key renamed.
fn mutate(json: &str, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut bytes = json.as_bytes().to_vec();
    match rng.random_range(0..4) {
        0 => bytes.truncate(rng.random_range(0..bytes.len())),
        1 => {
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
        }
        2 => {
            // Replace the k-th number.
            let starts: Vec<usize> = (1..bytes.len())
                .filter(|&i| {
                    bytes[i].is_ascii_digit()
                        && !bytes[i - 1].is_ascii_alphanumeric()
                        && bytes[i - 1] != b'.'
                })
                .collect();
            if let Some(&at) = starts.get(rng.random_range(0..starts.len().max(1))) {
                let end = (at..bytes.len())
                    .find(|&i| !(bytes[i].is_ascii_digit() || bytes[i] == b'.' || bytes[i] == b'e'))
                    .unwrap_or(bytes.len());
                let nasty = NASTY[rng.random_range(0..NASTY.len())].as_bytes();
                bytes.splice(at..end, nasty.iter().copied());
            }
        }
        _ => {
            let quotes: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == b'"').collect();
            if let Some(&at) = quotes.get(rng.random_range(0..quotes.len().max(1))) {
                bytes.insert(at + 1, b'z');
            }
        }
    }
    bytes
}

const CELLS: [&str; 16] = [
    "1",
    "2.5",
    "-3",
    "",
    "NaN",
    "inf",
    "-1e309",
    "cat",
    "dog",
    "\"a,b\"",
    "\"\"",
    "é",
    "1e5",
    " ",
    "\"unterminated",
    "0x1F",
];

fn random_table(rng: &mut ChaCha8Rng) -> (Vec<u8>, String) {
    let cols = rng.random_range(1..5);
    let rows = rng.random_range(0..8);
    let sep = [",", "\t", ";"][rng.random_range(0..3)];
    let header: Vec<String> = (0..cols).map(|c| format!("c{c}")).collect();
    let mut text = String::new();
    if rng.random_bool(0.8) {
        text.push_str(&header.join(sep));
        text.push('\n');
    }
    for _ in 0..rows {
        // Rows may be short or long.
        let n = if rng.random_bool(0.9) {
            cols
        } else {
            rng.random_range(0..cols + 2)
        };
        let cells: Vec<&str> = (0..n)
            .map(|_| CELLS[rng.random_range(0..CELLS.len())])
            .collect();
        text.push_str(&cells.join(sep));
        text.push(if rng.random_bool(0.9) { '\n' } else { '\r' });
    }
    let target = if rng.random_bool(0.9) {
        header[rng.random_range(0..cols)].clone()
    } else {
        "missing".into()
    };
    (text.into_bytes(), target)
}

fn random_idx(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let rank = rng.random_range(0..5u8);
    let kind = if rng.random_bool(0.9) {
        0x08
    } else {
        rng.random()
    };
    let mut bytes = vec![0, if rng.random_bool(0.95) { 0 } else { 1 }, kind, rank];
    let mut total: u64 = 1;
    for _ in 0..rank {
        let d: u32 = match rng.random_range(0..4) {
            0 => rng.random(),
            1 => 65535,
            _ => rng.random_range(0..5),
        };
        total = total.saturating_mul(d as u64);
        bytes.extend(d.to_be_bytes());
    }
    // Mostly the promised payload, sometimes a little more or less.
    let payload = if total <= 64 && rng.random_bool(0.7) {
        total as usize
    } else {
        rng.random_range(0..80)
    };
    bytes.extend((0..payload).map(|_| rng.random::<u8>()));
    if rng.random_bool(0.1) {
        bytes.truncate(rng.random_range(0..bytes.len().max(1)));
    }
    bytes
}

/// A layer of `kind` with each numeric setting of its default replaced, now and then, by a
/// small, zero or large value.
fn random_layer(kind: LayerKind, rng: &mut ChaCha8Rng) -> Layer {
    let mut v = serde_json::to_value(kind.default_layer()).unwrap();
    if let Some(obj) = v.as_object_mut() {
        for (key, val) in obj.iter_mut() {
            if key == "type" || !rng.random_bool(0.2) {
                continue;
            }
            if val.is_u64() || val.is_i64() {
                *val = serde_json::json!(match rng.random_range(0..6) {
                    0 => 0,
                    1 => 1i64 << 40,
                    _ => rng.random_range(1..9),
                });
            } else if val.is_f64() {
                *val = serde_json::json!([-1.0, 0.0, 0.5, 2.0][rng.random_range(0..4)]);
            } else if val.is_array() {
                let n = rng.random_range(1..4);
                *val =
                    serde_json::json!((0..n).map(|_| rng.random_range(1..7)).collect::<Vec<i64>>());
            }
        }
    }
    serde_json::from_value(v).unwrap_or_else(|_| kind.default_layer())
}

/// An Input of a random shape, a chain of random layers with some extra wires, often an Output.
fn random_graph(rng: &mut ChaCha8Rng) -> Graph {
    let shapes = [vec![4], vec![3, 5], vec![1, 6, 6], vec![2, 8, 8]];
    let tokens = rng.random_bool(0.2);
    let shape = shapes[rng.random_range(0..shapes.len())].clone();
    let mut nodes = vec![Node::new(
        "n0",
        Layer::Input {
            shape: if tokens { vec![5] } else { shape },
            dtype: if tokens { DType::TokenId } else { DType::F32 },
        },
    )];
    let body: Vec<LayerKind> = LayerKind::ALL
        .iter()
        .copied()
        .filter(|k| !matches!(k, LayerKind::Input | LayerKind::Output))
        .collect();
    for i in 1..rng.random_range(1..6) {
        let kind = body[rng.random_range(0..body.len())];
        nodes.push(Node::new(format!("n{i}"), random_layer(kind, rng)));
    }
    // Often a head that any shape can end in, so a good share of the graphs is valid.
    if rng.random_bool(0.6) {
        nodes.push(Node::new(format!("n{}", nodes.len()), Layer::Flatten));
        let units = rng.random_range(2..9);
        nodes.push(Node::new(
            format!("n{}", nodes.len()),
            Layer::Dense { units, bias: true },
        ));
    }
    if rng.random_bool(0.8) {
        let kind = LayerKind::Output;
        nodes.push(Node::new(
            format!("n{}", nodes.len()),
            random_layer(kind, rng),
        ));
    }
    let mut g = Graph::chain(nodes);
    for _ in 0..if rng.random_bool(0.3) {
        rng.random_range(1..3)
    } else {
        0
    } {
        let n = g.nodes.len();
        let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
        let port = rng.random_range(0..3);
        g.edges
            .push(Edge::new(g.nodes[a].id.clone(), g.nodes[b].id.clone()).to_port(port));
    }
    g
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn project_files_parse_or_name_the_problem(which in 0usize..64, seed in any::<u64>()) {
        thread_local!(static PRESETS: Vec<String> = presets());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let bytes = PRESETS.with(|p| mutate(&p[which % p.len()], &mut rng));
        match Project::from_json_bytes(&bytes, Path::new("fuzz.json")) {
            Ok(project) => {
                // What parses is analysed like any opened project.
                let _ = analyze(&project.graph);
            }
            Err(e) => prop_assert!(e.to_string().contains("fuzz.json"), "{}", e),
        }
    }

    #[test]
    fn csv_tables_parse_or_name_the_problem(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (bytes, target) = random_table(&mut rng);
        let task = [Task::Auto, Task::Classification, Task::Regression][rng.random_range(0..3)];
        if let Err(e) = parse_csv_with(&bytes, Path::new("fuzz.csv"), &target, task, &CsvOptions::default()) {
            prop_assert!(e.to_string().contains("fuzz.csv"), "{}", e);
        }
    }

    #[test]
    fn idx_files_parse_or_name_the_problem(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let bytes = random_idx(&mut rng);
        if let Ok(a) = parse_idx(&bytes) {
            prop_assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
        }
    }
}

/// Random graphs: the analysis never panics, and every graph it accepts builds and runs a
/// batch. Counted, so the test fails if too few are valid to mean anything.
#[test]
fn random_graphs_are_analysed_and_valid_ones_run() {
    let valid = std::cell::Cell::new(0usize);
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let result = runner.run(&any::<u64>(), |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = random_graph(&mut rng);
        let analysis = analyze(&g);
        if !analysis.is_ok() {
            prop_assert!(!analysis.errors.is_empty());
            return Ok(());
        }
        valid.set(valid.get() + 1);
        let model = match Model::build(&g, seed) {
            Ok(m) => m,
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "accepted graph does not build: {e}\n{g:?}"
                )))
            }
        };
        let shape: &TensorShape = model.input_shape();
        let x = if shape.dtype == DType::TokenId {
            Tensor::zeros(shape.with_batch(2), candle_core::DType::U32, &Device::Cpu).unwrap()
        } else {
            Tensor::randn(0f32, 1.0, shape.with_batch(2), &Device::Cpu).unwrap()
        };
        let y = model.forward(&x, &mut ForwardCtx::eval());
        prop_assert!(
            y.is_ok(),
            "accepted graph does not run: {:?}\n{:?}",
            y.err(),
            g
        );
        let y = y.unwrap();
        prop_assert_eq!(&y.dims()[1..], &model.prediction_shape().dims[..]);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    println!(
        "{} of {CASES} random graphs were valid, built and ran",
        valid.get()
    );
    assert!(valid.get() >= 1000, "only {} valid graphs", valid.get());
}
