//! Exports checked by the tools that consume them: every preset's ONNX file passes
//! `onnx.checker` (full check) and onnxruntime reproduces Glassbox's outputs on 32 real samples.

mod common;

use candle_core::{Device, Tensor};
use common::python::{deploy_check, python_with};
use glassbox::data::Dataset;
use glassbox::deploy::{deployable_graph, onnx::write_onnx, pytorch::pytorch_source};
use glassbox::fsutil::presets_dir;
use glassbox::graph::{Layer, TrainingMode};
use glassbox::model::{ForwardCtx, Model, Weights};
use glassbox::project::Project;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::path::Path;

const SAMPLES: usize = 32;

/// Initial weights with every constant tensor (norm scales and shifts, running statistics)
/// replaced by random values, so a wrong eps, a swapped mean/variance or a dropped bias shows.
fn perturbed(weights: Weights, rng: &mut ChaCha8Rng) -> Weights {
    let mut w = weights;
    for (name, t) in w.tensors.iter_mut() {
        if t.data.windows(2).all(|p| p[0] == p[1]) {
            let positive = name.ends_with("running_var") || name.ends_with(".weight");
            for v in &mut t.data {
                *v = if positive {
                    rng.random_range(0.5..1.5)
                } else {
                    rng.random_range(-0.5..0.5)
                };
            }
        }
    }
    w
}

/// One preset: its deployable network with perturbed weights, 32 of its test samples (noise
/// for a GAN's generator), Glassbox's outputs for them, and the exported file.
fn export_case(project: &Project, stem: &str, dir: &Path) -> serde_json::Value {
    let graph = deployable_graph(project).unwrap();
    let model = Model::build(&graph, 5).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let weights = perturbed(model.weights().unwrap(), &mut rng);
    model.load_weights(&weights).unwrap();
    let shape = model.input_shape().with_batch(SAMPLES);
    let x = if let TrainingMode::Gan { .. } = project.mode {
        let noise: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| rng.sample(rand_distr::StandardNormal))
            .collect();
        Tensor::from_vec(noise, shape.clone(), &Device::Cpu).unwrap()
    } else {
        let data = Dataset::load(&project.data, Some(&presets_dir())).unwrap();
        let pool: Vec<usize> = [&data.test, &data.val, &data.train]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let idx: Vec<usize> = (0..SAMPLES)
            .map(|i| pool[i * pool.len() / SAMPLES])
            .collect();
        glassbox::train::input_batch(&data, &idx, &model).unwrap()
    };
    let y = model.forward(&x, &mut ForwardCtx::eval()).unwrap();
    let expected: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
    assert!(
        expected.iter().any(|v| *v != 0.0) && expected.iter().all(|v| v.is_finite()),
        "{stem}: Glassbox's own output is degenerate"
    );
    let input_file = dir.join(format!("{stem}.input"));
    let dtype = glassbox::deploy::write_raw_batch(&x, &input_file).unwrap();
    let expected_file = dir.join(format!("{stem}.expected"));
    glassbox::deploy::write_raw_batch(&y, &expected_file).unwrap();
    let model_file = dir.join(format!("{stem}.onnx"));
    write_onnx(project, &weights, &model_file).unwrap();
    let py_file = dir.join(format!("{stem}.py"));
    let source = pytorch_source(project, &format!("{stem}.py")).unwrap();
    std::fs::write(&py_file, source).unwrap();
    let weights_file = dir.join(format!("{stem}.safetensors"));
    weights.save(&weights_file).unwrap();
    json!({
        "name": stem,
        "model": model_file,
        "torch_model": py_file,
        "weights": weights_file,
        "input": {"file": input_file, "shape": shape, "dtype": dtype},
        "expected": {"file": expected_file, "shape": y.dims(), "dtype": "f32"},
    })
}

/// Every preset exported once, with its manifest, shared by the checks below.
fn exported_presets() -> (tempfile::TempDir, std::path::PathBuf, usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for path in glassbox::presets::list() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let project = Project::load(&path).unwrap();
        cases.push(export_case(&project, &stem, dir.path()));
    }
    assert!(cases.len() >= 12, "only {} presets found", cases.len());
    let manifest = dir.path().join("manifest.json");
    std::fs::write(&manifest, serde_json::to_vec(&cases).unwrap()).unwrap();
    (dir, manifest, cases.len())
}

/// Asserts one passing result per case, each within 1e-4 of Glassbox.
fn assert_all_match(results: &[serde_json::Value], cases: usize) {
    assert_eq!(results.len(), cases, "one result per preset: {results:?}");
    let mut failures = Vec::new();
    for r in results {
        println!("{r}");
        let diff = r["max_abs_diff"].as_f64();
        if r["ok"] != true || diff.is_none_or(|d| d > 1e-4) {
            failures.push(r.to_string());
        }
    }
    assert!(failures.is_empty(), "exports that failed: {failures:#?}");
}

#[test]
fn every_preset_exports_to_onnx_that_onnxruntime_runs_the_same() {
    let (_dir, manifest, cases) = exported_presets();
    let Some(python) = python_with(&["onnx", "onnxruntime", "numpy"]) else {
        return;
    };
    assert_all_match(&deploy_check(&python, "onnx", &manifest), cases);
}

#[test]
fn every_preset_exports_to_pytorch_that_compiles_and_where_torch_runs_matches() {
    let (_dir, manifest, cases) = exported_presets();
    let Some(python) = python_with(&["py_compile"]) else {
        return;
    };
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    for case in &list {
        let file = case["torch_model"].as_str().unwrap();
        let out = std::process::Command::new(&python)
            .args(["-m", "py_compile", file])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file} does not compile: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Running the module needs torch (`.ci/run` installs it; see common::python).
    if let Some(py) = common::python::torch_python() {
        assert_all_match(&deploy_check(&py, "torch", &manifest), cases);
    }
}

#[test]
fn a_layer_onnx_cannot_express_is_named_and_no_file_is_written() {
    // A Noise node only makes sense as a GAN's generator source; mixed into a supervised
    // graph the exporter refuses it by name.
    use glassbox::graph::{Edge, Graph, Loss, Node};
    let graph = Graph {
        nodes: vec![
            common::input(&[4]),
            Node::new("noise7", Layer::Noise { dim: 4 }),
            Node::new(
                "cat",
                Layer::Concat {
                    inputs: 2,
                    axis: -1,
                },
            ),
            Node::new(
                "fc",
                Layer::Dense {
                    units: 3,
                    bias: true,
                },
            ),
            common::output(Loss::CrossEntropy),
        ],
        edges: vec![
            Edge::new("in", "cat"),
            Edge::new("noise7", "cat").to_port(1),
            Edge::new("cat", "fc"),
            Edge::new("fc", "out"),
        ],
    };
    let project = Project {
        graph,
        ..Project::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    let weights = Model::build(&project.graph, 1).unwrap().weights().unwrap();
    let err = write_onnx(&project, &weights, &path).unwrap_err();
    assert!(err.to_string().contains("'noise7'"), "{err}");
    assert!(!path.exists(), "a failed export wrote {}", path.display());
}

/// A prediction of `graph` with `weights` on the case's saved input.
fn outputs_of(
    graph: &glassbox::graph::Graph,
    weights: &Weights,
    case: &serde_json::Value,
) -> Vec<f32> {
    let model = Model::build(graph, 1).unwrap();
    model.load_weights(weights).unwrap();
    let shape: Vec<usize> = serde_json::from_value(case["input"]["shape"].clone()).unwrap();
    let bytes = std::fs::read(case["input"]["file"].as_str().unwrap()).unwrap();
    let x = if case["input"]["dtype"] == "i64" {
        let ids: Vec<u32> = bytes
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
            .collect();
        Tensor::from_vec(ids, shape, &Device::Cpu).unwrap()
    } else {
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    };
    let y = model.forward(&x, &mut ForwardCtx::eval()).unwrap();
    y.flatten_all().unwrap().to_vec1().unwrap()
}

fn expected_of(case: &serde_json::Value) -> Vec<f32> {
    let bytes = std::fs::read(case["expected"]["file"].as_str().unwrap()).unwrap();
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn export_then_import_gives_the_same_graph_and_outputs() {
    use glassbox::deploy::onnx::{import_onnx, proto::ModelProto};
    use prost::Message;
    let (_dir, manifest, _) = exported_presets();
    let cases: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let mut read_op_by_op = 0;
    let mut upsample_read = false;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(case["model"].as_str().unwrap()).unwrap();
        let back = import_onnx(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let project = Project::load(&presets_dir().join(format!("{name}.json"))).unwrap();
        let graph = deployable_graph(&project).unwrap();
        let strip = |g: &glassbox::graph::Graph| -> Vec<(String, Layer)> {
            g.nodes
                .iter()
                .map(|n| (n.id.clone(), n.layer.clone()))
                .collect()
        };
        assert_eq!(strip(&back.graph), strip(&graph), "{name}");
        assert_eq!(back.graph.edges, graph.edges, "{name}");
        let d = max_diff(
            &outputs_of(&back.graph, &back.weights, case),
            &expected_of(case),
        );
        assert!(d < 1e-6, "{name}: {d}");

        // Without Glassbox's metadata, as a file from another tool: read op by op, where
        // every op is one the reader knows.
        let mut model = ModelProto::decode(&bytes[..]).unwrap();
        model.metadata_props.clear();
        match import_onnx(&model.encode_to_vec()) {
            Ok(other) => {
                let d = max_diff(
                    &outputs_of(&other.graph, &other.weights, case),
                    &expected_of(case),
                );
                assert!(d < 1e-5, "{name} read op by op: {d}");
                println!(
                    "{name}: read op by op, {} nodes, outputs within {d:e}",
                    other.graph.nodes.len()
                );
                read_op_by_op += 1;
                if name == "autoencoder-upsample-mnist" {
                    // Resize read back as Upsample2d, both modes.
                    let modes: Vec<_> = other
                        .graph
                        .nodes
                        .iter()
                        .filter_map(|n| match n.layer {
                            Layer::Upsample2d { scale: 2, mode } => Some(mode),
                            _ => None,
                        })
                        .collect();
                    assert_eq!(modes.len(), 2, "{name}: {modes:?}");
                    upsample_read = true;
                }
            }
            Err(e) => {
                let msg = e.to_string();
                println!("{name}: not read op by op: {msg}");
                assert!(
                    msg.contains("cannot be exported") || msg.contains("import"),
                    "{name}: {msg}"
                );
            }
        }
    }
    assert!(
        read_op_by_op >= 6,
        "only {read_op_by_op} presets read op by op"
    );
    assert!(
        upsample_read,
        "another tool's Resize was not read as Upsample2d"
    );
}

#[test]
fn a_broken_onnx_file_is_an_error_naming_the_problem() {
    use glassbox::deploy::onnx::import_onnx;
    let err = import_onnx(b"definitely not protobuf \xff\xff")
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not an ONNX model file"), "{err}");
    let err = import_onnx(&[]).err().expect("refused");
    assert!(err.to_string().contains("no graph"), "{err}");
}

#[test]
fn malformed_onnx_graphs_are_errors_naming_the_node_not_panics() {
    use glassbox::deploy::onnx::import_onnx;
    use glassbox::deploy::onnx::proto::{
        tensor_proto::DataType,
        tensor_shape_proto::{dimension::Value as Dim, Dimension},
        type_proto, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto,
        ValueInfoProto,
    };
    use prost::Message;
    let tensor = |name: &str, dims: &[i64]| TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: vec![0.5; dims.iter().product::<i64>() as usize],
        ..Default::default()
    };
    let input = ValueInfoProto {
        name: "x".into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: [Dim::DimParam("b".into()), Dim::DimValue(4)]
                        .into_iter()
                        .map(|v| Dimension {
                            value: Some(v),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let node = |op: &str, inputs: &[&str]| NodeProto {
        name: "bad".into(),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec!["y".into()],
        ..Default::default()
    };
    let file = |n: NodeProto, inits: Vec<TensorProto>| {
        ModelProto {
            graph: Some(GraphProto {
                node: vec![n],
                initializer: inits,
                input: vec![input.clone()],
                output: vec![ValueInfoProto {
                    name: "y".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    };
    for (what, bytes, needle) in [
        (
            "a Gemm without its weight",
            file(node("Gemm", &["x"]), vec![]),
            "input 2 must be",
        ),
        (
            "a Gemm with a 1-D weight",
            file(node("Gemm", &["x", "w"]), vec![tensor("w", &[4])]),
            "not a matrix",
        ),
        (
            "a MatMul with a 3-D weight",
            file(node("MatMul", &["x", "w"]), vec![tensor("w", &[2, 2, 1])]),
            "not a matrix",
        ),
        (
            "a Gather from a 1-D table",
            file(node("Gather", &["t", "x"]), vec![tensor("t", &[9])]),
            "not a matrix",
        ),
        (
            "a Gemm whose bias is computed",
            file(node("Gemm", &["x", "w", "x"]), vec![tensor("w", &[3, 4])]),
            "constant bias",
        ),
    ] {
        let err = import_onnx(&bytes)
            .err()
            .unwrap_or_else(|| panic!("{what} was accepted"));
        let msg = err.to_string();
        assert!(
            msg.contains("'bad'") && msg.contains(needle),
            "{what}: {msg}"
        );
    }
}

/// What another tool's file of a classifier looks like: logits as the only output, no Softmax
/// after them and no Glassbox metadata.
fn as_another_tools_file(bytes: &[u8]) -> Vec<u8> {
    use glassbox::deploy::onnx::proto::ModelProto;
    use prost::Message;
    let mut model = ModelProto::decode(bytes).unwrap();
    model.metadata_props.clear();
    let graph = model.graph.as_mut().unwrap();
    graph
        .output
        .retain(|o| o.name == glassbox::deploy::onnx::OUTPUT);
    graph.node.retain(|n| {
        !n.output
            .iter()
            .any(|o| o == glassbox::deploy::onnx::PROBABILITIES)
    });
    model.encode_to_vec()
}

#[test]
fn an_imported_classifier_of_class_data_is_trained_by_cross_entropy() {
    let project = Project::load(&presets_dir().join("cnn-mnist.json")).unwrap();
    let weights = Model::build(&project.graph, 1).unwrap().weights().unwrap();
    let bytes = glassbox::deploy::onnx::export_project(&project, &weights).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logits.onnx");
    std::fs::write(&path, as_another_tools_file(&bytes)).unwrap();
    let (imported, _, notes) = glassbox::deploy::onnx::import_project(&path).unwrap();
    let loss = imported.graph.nodes.iter().find_map(|n| match &n.layer {
        Layer::Output { loss, .. } => Some(*loss),
        _ => None,
    });
    assert_eq!(
        loss,
        Some(glassbox::graph::Loss::CrossEntropy),
        "notes: {notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("cross-entropy")),
        "{notes:?}"
    );

    // A file that cannot be read as a network says so in terms of importing.
    use glassbox::deploy::onnx::proto::ModelProto;
    use prost::Message;
    let mut broken = ModelProto::decode(&as_another_tools_file(&bytes)[..]).unwrap();
    broken.graph.as_mut().unwrap().output.clear();
    std::fs::write(&path, broken.encode_to_vec()).unwrap();
    let Err(err) = glassbox::deploy::onnx::import_project(&path) else {
        panic!("a file with no output was imported");
    };
    assert!(err.to_string().contains("cannot be imported"), "{err}");
}
