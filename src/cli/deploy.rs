//! `glassbox export` and `glassbox predict`: a trained model out as ONNX, PyTorch or
//! safetensors, and predictions for a CSV of rows, an image or a text.

use super::load_project;
use crate::data::{read_image_sample, Dataset};
use crate::deploy::onnx::write_onnx;
use crate::deploy::predict::{PredictInput, Predictor};
use crate::deploy::pytorch::write_pytorch;
use crate::deploy::serve::{start, ServeConfig};
use crate::model::{Model, Weights};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// ONNX (opset 17), weights embedded: onnxruntime, OpenCV, TensorRT, browsers.
    Onnx,
    /// One .py file with an nn.Module, a weight loader and a (torchrun-ready) training loop;
    /// the weights are written beside it.
    Pytorch,
    /// The weights as safetensors, checked against the project.
    Safetensors,
    /// A model card: Markdown (and .html beside it) with the architecture, data, settings
    /// and figures measured now on the validation and test splits.
    Card,
}

/// The training split as the PyTorch file's --data: "x" (inputs as Glassbox feeds them) and
/// "y" (class ids, next-token ids or target values), all float32.
fn training_data(project: &crate::project::Project, project_path: &Path) -> Result<Weights> {
    let data = Dataset::load(&project.data, project_path.parent())?;
    let idx = &data.train;
    let n = idx.len();
    let (x, x_shape): (Vec<f32>, Vec<usize>) = if data.is_tokens() {
        let mut ids = Vec::new();
        data.gather_tokens(idx, &mut ids);
        (
            ids.into_iter().map(|v| v as f32).collect(),
            vec![n, data.sample_len()],
        )
    } else {
        let mut xs = Vec::new();
        data.gather_features(idx, &mut xs);
        let mut shape = vec![n];
        shape.extend_from_slice(&data.sample_shape);
        (xs, shape)
    };
    let mut y = Vec::new();
    if data.is_windows() {
        let mut ids = Vec::new();
        data.gather_sequence_labels(idx, &mut ids);
        y.extend(ids.into_iter().map(|v| v as f32));
    } else if data.n_classes().is_some() {
        let mut ids = Vec::new();
        data.gather_labels(idx, &mut ids);
        y.extend(ids.into_iter().map(|v| v as f32));
    } else {
        data.gather_values(idx, &mut y);
    }
    let y_shape = vec![n, y.len() / n.max(1)];
    let tensor = |shape: Vec<usize>, data: Vec<f32>| crate::model::WeightTensor { shape, data };
    Ok(Weights {
        tensors: [
            ("x".to_string(), tensor(x_shape, x)),
            ("y".to_string(), tensor(y_shape, y)),
        ]
        .into_iter()
        .collect(),
    })
}

pub fn export(
    project_path: &Path,
    weights_path: &Path,
    format: ExportFormat,
    out: &Path,
    with_data: bool,
) -> Result<()> {
    let project = load_project(project_path)?;
    let weights = Weights::load(weights_path)?;
    match format {
        ExportFormat::Onnx => {
            write_onnx(&project, &weights, out)?;
            println!(
                "wrote {} (ONNX opset {})",
                out.display(),
                crate::deploy::onnx::OPSET
            );
        }
        ExportFormat::Pytorch => {
            let files = write_pytorch(&project, &weights, out)?;
            println!(
                "wrote {} and its weights {}",
                files.module.display(),
                files.weights.display()
            );
            match &files.candle {
                Ok(file) => println!("wrote the same model as candle code: {}", file.display()),
                Err(why) => println!("no candle snippet: {why}"),
            }
            let mut data_arg = String::new();
            if with_data {
                let data_out = out.with_extension("data.safetensors");
                training_data(&project, project_path)?.save(&data_out)?;
                println!("wrote the training split to {}", data_out.display());
                data_arg = format!(" --data {}", data_out.display());
            }
            println!(
                "  try: python {} --weights {}{data_arg}",
                out.display(),
                files.weights.display()
            );
        }
        ExportFormat::Card => {
            let data = Arc::new(Dataset::load(&project.data, project_path.parent())?);
            let stem = out
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model-card".into());
            let card = crate::deploy::card::model_card(&project, &weights, data, None, &stem)?;
            let written = card
                .write(out)
                .with_context(|| format!("cannot write the model card to {}", out.display()))?;
            for f in written {
                println!("wrote {}", f.display());
            }
        }
        ExportFormat::Safetensors => {
            let model = Model::build(&project.graph, project.training.seed)?;
            model.load_weights(&weights)?;
            weights.save(out)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}

/// Every weight file given (an ensemble's members), or the first that cannot be read.
fn load_all(paths: &[PathBuf]) -> Result<Vec<Weights>> {
    Ok(paths
        .iter()
        .map(|p| Weights::load(p))
        .collect::<std::result::Result<_, _>>()?)
}

/// The inputs a file (or `--text`) holds, in the data's raw units.
fn read_inputs(input: &Path, predictor: &Predictor, data: &Dataset) -> Result<Vec<PredictInput>> {
    let ext = input
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if predictor.takes_text() {
        let text = std::fs::read_to_string(input)
            .with_context(|| format!("cannot read {} as text", input.display()))?;
        return Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| PredictInput::Text(l.to_string()))
            .collect());
    }
    if matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "bmp") {
        let shape = predictor.input_shape();
        let values = read_image_sample(input, shape, shape.first() == Some(&1))?;
        return Ok(vec![PredictInput::Values(values)]);
    }
    read_csv_rows(input, &data.feature_names)
}

/// Where a feature the model reads comes from in a user's CSV row.
enum Pick {
    Column(usize),
    /// A category one-hot encoded at training (`origin=Europe`): 1 where the column holds it.
    OneHot(usize, String),
}

/// Rows of numbers; with a header, the data set's feature columns are picked by name (so a
/// row of the training CSV, target column and all, can be given as it is, its categories
/// written as words).
fn read_csv_rows(path: &Path, features: &[String]) -> Result<Vec<PredictInput>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows: Vec<csv::StringRecord> = Vec::new();
    for (i, r) in reader.records().enumerate() {
        rows.push(r.with_context(|| format!("{} line {}", path.display(), i + 1))?);
    }
    let category = |f: &str| {
        f.split_once('=')
            .map(|(c, v)| (c.to_string(), v.to_string()))
    };
    // A header names at least one of the columns the model reads.
    let is_header = |r: &csv::StringRecord| {
        r.iter().any(|c| {
            features
                .iter()
                .any(|f| f == c.trim() || category(f).is_some_and(|(col, _)| col == c.trim()))
        })
    };
    let columns: Option<Vec<Pick>> = match rows.first() {
        Some(head) if is_header(head) => {
            let names: Vec<&str> = head.iter().map(str::trim).collect();
            let picked = features
                .iter()
                .map(|f| {
                    if let Some(i) = names.iter().position(|n| n == f) {
                        return Ok(Pick::Column(i));
                    }
                    category(f)
                        .and_then(|(col, value)| {
                            Some(Pick::OneHot(names.iter().position(|n| *n == col)?, value))
                        })
                        .with_context(|| {
                            format!(
                                "{} has no column '{f}', which the model reads",
                                path.display()
                            )
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            rows.remove(0);
            Some(picked)
        }
        _ => None,
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let line = i + 1 + usize::from(columns.is_some());
            let number = |c: &str| {
                c.trim().parse::<f32>().with_context(|| {
                    format!("{} line {line}: '{c}' is not a number", path.display())
                })
            };
            let values = match &columns {
                Some(cols) => cols
                    .iter()
                    .map(|pick| match pick {
                        Pick::Column(c) => number(r.get(*c).unwrap_or("")),
                        Pick::OneHot(c, value) => {
                            Ok(f32::from(r.get(*c).map(str::trim) == Some(value.as_str())))
                        }
                    })
                    .collect::<Result<Vec<f32>>>()?,
                None => r.iter().map(number).collect::<Result<Vec<f32>>>()?,
            };
            Ok(PredictInput::Values(values))
        })
        .collect()
}

pub fn eval_ensemble(project_path: &Path, weights_paths: &[PathBuf]) -> Result<()> {
    let project = load_project(project_path)?;
    let weights = load_all(weights_paths)?;
    let data = Dataset::load(&project.data, project_path.parent())?;
    for (name, idx) in [("validation", &data.val), ("test", &data.test)] {
        let r = crate::deploy::ensemble::ensemble_accuracy(&project, &weights, &data, idx)?;
        for (path, acc) in weights_paths.iter().zip(&r.members) {
            println!("{name:<10} {:6.2}%  {}", acc * 100.0, path.display());
        }
        println!(
            "{name:<10} {:6.2}%  ensemble of {} on {} samples",
            r.ensemble * 100.0,
            weights.len(),
            r.samples
        );
    }
    Ok(())
}

pub fn import_onnx(file: &Path, out: &Path) -> Result<()> {
    let (project, weights, notes) = crate::deploy::onnx::import_project(file)?;
    for n in &notes {
        println!("note: {n}");
    }
    let weights_out = out.with_extension("safetensors");
    project.save(out)?;
    weights.save(&weights_out)?;
    println!(
        "wrote {} ({} nodes) and its weights {}\n  try: glassbox check {}",
        out.display(),
        project.graph.nodes.len(),
        weights_out.display(),
        out.display()
    );
    Ok(())
}

pub fn serve(
    project_path: &Path,
    weights_paths: &[PathBuf],
    (host, port): (std::net::IpAddr, u16),
    max_body_bytes: usize,
    log: Option<crate::deploy::request_log::LogSettings>,
) -> Result<()> {
    let project = load_project(project_path)?;
    let weights = load_all(weights_paths)?;
    let data = Dataset::load(&project.data, project_path.parent()).with_context(|| {
        format!(
            "cannot serve {}: the server needs the project's training data for the inputs' \
             normalisation, the class names and the drift reference, and it cannot be read \
             (put it back, or point the project's data source at where it is now)",
            project_path.display()
        )
    })?;
    let data = Arc::new(data);
    if let Some(l) = &log {
        println!(
            "logging requests to {} ({}, rotated at {} MiB)",
            l.path.display(),
            if l.inputs {
                "with their inputs"
            } else {
                "inputs hashed"
            },
            l.max_bytes >> 20
        );
    }
    let config = ServeConfig {
        addr: std::net::SocketAddr::new(host, port),
        max_body_bytes,
        stop_on_ctrl_c: true,
        log,
    };
    let server = start(project, weights, data, config)?;
    let addr = server.addr();
    println!("serving on http://{addr}  (Ctrl-C stops)");
    println!("  GET  http://{addr}/health");
    println!(
        "  GET  http://{addr}/metrics   (Prometheus / OpenMetrics text; drift per input feature)"
    );
    println!("  POST http://{addr}/predict   body: {{\"inputs\": [[...one sample...], ...]}}");
    if !host.is_loopback() {
        eprintln!("warning: listening on {host}, reachable from other machines; nothing authenticates requests");
    }
    server.wait();
    println!("stopped");
    Ok(())
}

pub fn predict(
    project_path: &Path,
    weights_paths: &[PathBuf],
    input: Option<&Path>,
    text: Option<&str>,
    json: bool,
) -> Result<()> {
    let project = load_project(project_path)?;
    let weights = load_all(weights_paths)?;
    let data = Arc::new(Dataset::load(&project.data, project_path.parent())?);
    let predictor = Predictor::new(&project, &weights, data.clone())?;
    let inputs = match (text, input) {
        (Some(t), _) => vec![PredictInput::Text(t.to_string())],
        (None, Some(path)) => read_inputs(path, &predictor, &data)?,
        (None, None) => bail!("give an input file (CSV rows, an image, a text file) or --text"),
    };
    let outputs = predictor.predict(&inputs)?;
    for (i, out) in outputs.iter().enumerate() {
        if json {
            let line = serde_json::json!({
                "label": out.label,
                "probabilities": out.probabilities,
                "output": out.values,
            });
            println!("{line}");
            continue;
        }
        match (&out.label, &out.probabilities) {
            (Some(label), Some(p)) => {
                let names = predictor.class_names();
                let mut ranked: Vec<(usize, f32)> = p.iter().copied().enumerate().collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                let top: Vec<String> = ranked
                    .iter()
                    .take(3)
                    .map(|&(c, q)| {
                        let name = names.get(c).cloned().unwrap_or_else(|| c.to_string());
                        format!("{name} {:.1}%", q * 100.0)
                    })
                    .collect();
                println!("{}: {label}  ({})", i + 1, top.join(", "));
            }
            // A regression names its target(s), in their own units.
            _ if data.target_dim().is_some() => {
                let named: Vec<String> = out
                    .values
                    .iter()
                    .zip(data.class_names())
                    .map(|(v, name)| format!("{name} {v:.4}"))
                    .collect();
                println!("{}: {}", i + 1, named.join(", "));
            }
            _ => println!("{}: {:?}", i + 1, out.values),
        }
    }
    Ok(())
}

/// `glassbox import-log`: the logged inputs as a CSV to label and train on, each row's label
/// the model's answer (a class name; for a regression, its first output).
pub fn import_log(log: &Path, project_path: &Path, output: &Path) -> Result<()> {
    use crate::deploy::request_log::read_log;
    let project = load_project(project_path)?;
    let text =
        std::fs::read_to_string(log).with_context(|| format!("cannot read {}", log.display()))?;
    let (inputs, bad, hashed) = read_log(&text);
    for b in &bad {
        eprintln!("warning: {}: {b}; skipped", log.display());
    }
    if hashed > 0 {
        eprintln!(
            "note: {hashed} request(s) were logged with --log-inputs=false (hashes only) and cannot be imported"
        );
    }
    if inputs.is_empty() {
        bail!("{} holds no logged inputs to import", log.display());
    }
    let data = Dataset::load(&project.data, project_path.parent())?;
    let mut w = csv::Writer::from_path(output)
        .with_context(|| format!("cannot write {}", output.display()))?;
    let texts = inputs.iter().all(|i| i.input.is_string());
    let width = data.sample_len();
    let mut header: Vec<String> = if texts {
        vec!["text".into()]
    } else if data.feature_names.len() == width {
        data.feature_names.clone()
    } else {
        (0..width).map(|j| format!("x{j}")).collect()
    };
    // The label starts as the model's answer: the user corrects the wrong ones.
    header.push("label".to_string());
    w.write_record(&header)?;
    let mut written = 0;
    for (k, item) in inputs.iter().enumerate() {
        let mut row: Vec<String> = match &item.input {
            serde_json::Value::String(t) if texts => vec![t.clone()],
            serde_json::Value::Array(v) if !texts && v.len() == width => {
                v.iter().map(|x| x.to_string()).collect()
            }
            other => {
                eprintln!(
                    "warning: logged input {} does not fit the project ({} values expected): skipped",
                    k + 1,
                    width
                );
                let _ = other;
                continue;
            }
        };
        row.push(item.predicted.clone().unwrap_or_default());
        w.write_record(&row)?;
        written += 1;
    }
    w.flush()?;
    println!(
        "wrote {} ({written} input(s); its label column holds the model's answers: correct the wrong ones, then train with `glassbox new --data {} --target label`)",
        output.display(),
        output.display()
    );
    Ok(())
}
