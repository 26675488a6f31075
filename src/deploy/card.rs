//! A model card: what a trained model is, what it was trained on and how, and how well it does,
//! as Markdown and HTML with the loss curve and confusion matrix beside them. The figures are
//! measured when the card is written (validation and test splits), not copied from a run.

use crate::data::Dataset;
use crate::graph::{analyze, TrainingMode};
use crate::insight::evaluate_split;
use crate::model::{Model, Weights};
use crate::project::Project;
use crate::runs::chart::{encode_png, ChartError};
use crate::train::{mode_step, Control, RunHistory};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One block of the card, rendered the same way into Markdown and HTML.
enum Block {
    Heading(String),
    Text(String),
    Table(Vec<String>, Vec<Vec<String>>),
    Image { file: String, caption: String },
}

pub struct ModelCard {
    blocks: Vec<Block>,
    /// PNG files the card shows: (file name, bytes).
    pub images: Vec<(String, Vec<u8>)>,
}

fn join_f32(v: &[f32]) -> String {
    v.iter()
        .map(|x| format!("{x:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pct(v: Option<f32>) -> String {
    v.map_or("–".into(), |a| format!("{:.2} %", a * 100.0))
}

/// Measures `weights` on the project's data and describes the model. `history`, a run's
/// record from the studio, adds the loss curve; `stem` names the image files.
pub fn model_card(
    project: &Project,
    weights: &Weights,
    data: Arc<Dataset>,
    history: Option<&RunHistory>,
    stem: &str,
) -> Result<ModelCard, super::DeployError> {
    let mut blocks = Vec::new();
    let mut images = Vec::new();
    blocks.push(Block::Heading(format!("Model card: {}", project.name)));
    if !project.description.is_empty() {
        blocks.push(Block::Text(project.description.clone()));
    }
    blocks.push(Block::Text(format!(
        "Written by Glassbox {}. Training mode: {}.",
        env!("CARGO_PKG_VERSION"),
        project.mode.label()
    )));

    // Architecture.
    let analysis = analyze(&project.graph);
    let mut rows = Vec::new();
    for &i in &analysis.order {
        let node = &project.graph.nodes[i];
        let shape = analysis.nodes[i]
            .output
            .as_ref()
            .map_or("–".into(), |s| s.to_string());
        rows.push(vec![
            node.id.clone(),
            node.layer.kind().name().to_string(),
            node.layer.summary(),
            shape,
            analysis.nodes[i].params.to_string(),
            if node.frozen { "frozen" } else { "" }.to_string(),
        ]);
    }
    blocks.push(Block::Heading("Architecture".into()));
    blocks.push(Block::Text(format!(
        "{} layers, {} parameters.",
        project.graph.nodes.len(),
        analysis.total_params()
    )));
    blocks.push(Block::Table(
        ["node", "layer", "settings", "output", "parameters", ""]
            .map(String::from)
            .to_vec(),
        rows,
    ));

    // Data and settings.
    blocks.push(Block::Heading("Data".into()));
    let classes = data.class_names();
    blocks.push(Block::Text(format!(
        "{}: {} training, {} validation, {} test samples of shape {:?}; normalisation {:?}{}.",
        data.name,
        data.train.len(),
        data.val.len(),
        data.test.len(),
        data.sample_shape,
        project.data.normalization,
        if classes.is_empty() {
            String::new()
        } else {
            format!("; {} classes ({})", classes.len(), classes.join(", "))
        }
    )));
    if let Some(s) = data.target_scale() {
        blocks.push(Block::Text(format!(
            "The target ({}) is learnt standardised: the exported model's output is (value − {}) ÷ {}; `glassbox predict` and `serve` answer in the target's units.",
            classes.join(", "),
            join_f32(&s.mean),
            join_f32(&s.std)
        )));
    }
    let t = &project.training;
    blocks.push(Block::Heading(
        "Training settings (as saved in the project)".into(),
    ));
    blocks.push(Block::Table(
        vec!["setting".into(), "value".into()],
        vec![
            vec!["optimiser".into(), t.optimizer.name().into()],
            vec!["learning rate".into(), t.lr.to_string()],
            vec!["schedule".into(), t.schedule.name().into()],
            vec!["weight decay".into(), t.weight_decay.to_string()],
            vec!["batch size".into(), t.batch_size.to_string()],
            vec!["epochs".into(), t.epochs.to_string()],
            vec!["seed".into(), t.seed.to_string()],
            vec![
                "started from".into(),
                t.init_from
                    .clone()
                    .unwrap_or_else(|| "fresh weights".into()),
            ],
        ],
    ));

    // Figures, measured now.
    let mode = mode_step(project, data.clone(), Some(weights))?;
    let control = Control::default();
    let regression = data.target_dim().is_some();
    let mut rows = Vec::new();
    for (name, idx) in [("validation", &data.val), ("test", &data.test)] {
        let m = mode.evaluate(idx, &control)?.flatten();
        rows.push(match m {
            Some(m) => {
                let mut row = vec![name.into(), m.samples.to_string(), format!("{:.4}", m.loss)];
                match m.regression.filter(|_| regression) {
                    Some(r) => row.extend([
                        format!("{:.3}", r.r2),
                        format!("{:.4}", r.rmse),
                        format!("{:.4}", r.mae),
                    ]),
                    None => row.push(pct(m.accuracy)),
                }
                row
            }
            None => {
                let width = if regression { 6 } else { 4 };
                let mut row = vec![name.into(), "0".into()];
                row.resize(width, "–".into());
                row
            }
        });
    }
    let header: &[&str] = if regression {
        &["split", "samples", "loss", "R²", "RMSE", "MAE"]
    } else {
        &["split", "samples", "loss", "accuracy"]
    };
    blocks.push(Block::Heading("Results".into()));
    blocks.push(Block::Table(
        header.iter().map(|h| h.to_string()).collect(),
        rows,
    ));

    if let Some(h) = history.filter(|h| !h.losses.is_empty()) {
        for (what, curve) in [("loss", Curve::loss(h)), ("accuracy", Curve::accuracy(h))] {
            if curve.steps.is_empty() {
                continue;
            }
            let file = format!("{stem}-{what}.png");
            images.push((file.clone(), curve.png()?));
            let (lo, hi) = curve.range();
            blocks.push(Block::Image {
                file,
                caption: format!(
                    "{}: blue, training {what} per step; orange, validation {what} after each \
                     epoch. The y axis runs from {lo:.3} to {hi:.3} over {} steps.",
                    if what == "loss" { "Loss" } else { "Accuracy" },
                    h.step
                ),
            });
        }
    } else {
        blocks.push(Block::Text(
            "No curves: the card was written without a run's record (write it from the \
             studio after training to include them)."
                .into(),
        ));
    }

    let classifier = !classes.is_empty()
        && project.mode == TrainingMode::Supervised
        && !data.is_windows()
        && !data.test.is_empty();
    if classifier {
        let model = Model::build(&project.graph, t.seed)?;
        model.load_weights(weights)?;
        let enc = model.bind_data(&data)?;
        let ev = evaluate_split(&model, &data, &data.test, enc)?;
        blocks.push(Block::Heading("Confusion matrix (test)".into()));
        blocks.push(Block::Text(format!(
            "Rows: the true class; columns: the predicted one. {} of {} right ({:.2} %).",
            ev.confusion
                .iter()
                .enumerate()
                .map(|(i, r)| r[i])
                .sum::<usize>(),
            ev.total(),
            ev.accuracy * 100.0
        )));
        let mut header = vec!["true \\ predicted".to_string()];
        header.extend(ev.classes.iter().cloned());
        let rows = ev
            .confusion
            .iter()
            .enumerate()
            .map(|(i, r)| {
                std::iter::once(ev.classes[i].clone())
                    .chain(r.iter().map(|c| c.to_string()))
                    .collect()
            })
            .collect();
        blocks.push(Block::Table(header, rows));
    }
    blocks.push(Block::Heading("Limits".into()));
    blocks.push(Block::Text(
        "Measured only on the splits above, drawn from the same source as the training data; \
         inputs unlike them (other scanners, fonts, populations, languages) may do worse."
            .into(),
    ));
    Ok(ModelCard { blocks, images })
}

/// A run's per-step series and per-epoch validation points, for one chart.
struct Curve {
    steps: Vec<[f64; 2]>,
    epochs: Vec<[f64; 2]>,
    total_steps: usize,
}

impl Curve {
    fn loss(h: &RunHistory) -> Self {
        Self {
            steps: h.losses.clone(),
            epochs: h
                .epochs
                .iter()
                .filter_map(|e| e.val.map(|v| [e.step as f64, v.loss as f64]))
                .collect(),
            total_steps: h.step,
        }
    }

    fn accuracy(h: &RunHistory) -> Self {
        Self {
            steps: h.accuracies.iter().map(|p| [p[0], p[1]]).collect(),
            epochs: h
                .epochs
                .iter()
                .filter_map(|e| {
                    e.val
                        .and_then(|v| v.accuracy)
                        .map(|a| [e.step as f64, a as f64])
                })
                .collect(),
            total_steps: h.step,
        }
    }

    fn range(&self) -> (f64, f64) {
        let vals = self
            .steps
            .iter()
            .chain(&self.epochs)
            .map(|p| p[1])
            .filter(|v| v.is_finite());
        let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if lo < hi {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        }
    }

    /// A 640×360 line chart (no text: the caption carries the numbers), drawn by plotters.
    fn png(&self) -> Result<Vec<u8>, ChartError> {
        let (w, ht) = (640u32, 360u32);
        let mut rgb = vec![255u8; w as usize * ht as usize * 3];
        self.draw(&mut rgb, w, ht)
            .map_err(|e| ChartError::Draw(e.to_string()))?;
        encode_png(rgb, w, ht)
    }

    fn draw(&self, rgb: &mut [u8], w: u32, ht: u32) -> Result<(), Box<dyn std::error::Error>> {
        use plotters::prelude::*;
        let root = BitMapBackend::with_buffer(rgb, (w, ht)).into_drawing_area();
        root.fill(&WHITE)?;
        let (lo, hi) = self.range();
        let steps = self.total_steps.max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .margin(20)
            .build_cartesian_2d(0.0..steps, lo..hi)?;
        let grid = RGBColor(225, 225, 225);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_labels(5)
            .light_line_style(grid)
            .bold_line_style(grid)
            .draw()?;
        // A non-finite point (a loss that overflowed) is left out rather than drawn.
        let finite = |pts: &[[f64; 2]]| -> Vec<(f64, f64)> {
            pts.iter()
                .filter(|p| p[0].is_finite() && p[1].is_finite())
                .map(|p| (p[0], p[1]))
                .collect()
        };
        let blue = RGBColor(40, 100, 200);
        let orange = RGBColor(230, 120, 20);
        chart.draw_series(LineSeries::new(finite(&self.steps), blue.stroke_width(2)))?;
        chart.draw_series(LineSeries::new(
            finite(&self.epochs),
            orange.stroke_width(2),
        ))?;
        root.present()?;
        Ok(())
    }
}

impl ModelCard {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            match b {
                Block::Heading(h) if out.is_empty() => {
                    let _ = writeln!(out, "# {h}\n");
                }
                Block::Heading(h) => {
                    let _ = writeln!(out, "## {h}\n");
                }
                Block::Text(t) => {
                    let _ = writeln!(out, "{t}\n");
                }
                Block::Table(head, rows) => {
                    let cell = |s: &String| s.replace('|', "\\|");
                    let _ = writeln!(
                        out,
                        "| {} |",
                        head.iter().map(cell).collect::<Vec<_>>().join(" | ")
                    );
                    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                    for r in rows {
                        let _ = writeln!(
                            out,
                            "| {} |",
                            r.iter().map(cell).collect::<Vec<_>>().join(" | ")
                        );
                    }
                    out.push('\n');
                }
                Block::Image { file, caption } => {
                    let _ = writeln!(out, "![{caption}]({file})\n\n{caption}\n");
                }
            }
        }
        out
    }

    /// The card as a web page: its Markdown rendered by pulldown-cmark (tables on).
    pub fn html(&self) -> String {
        let markdown = self.markdown();
        let parser =
            pulldown_cmark::Parser::new_ext(&markdown, pulldown_cmark::Options::ENABLE_TABLES);
        let mut body = String::new();
        pulldown_cmark::html::push_html(&mut body, parser);
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Model card</title>\n<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}</style></head>\n<body>\n{body}</body></html>\n"
        )
    }

    /// Writes `<path>` (Markdown), the same name with .html, and the images beside them;
    /// returns every file written.
    pub fn write(&self, path: &Path) -> std::io::Result<Vec<PathBuf>> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut written = Vec::new();
        for (name, bytes) in &self.images {
            let p = dir.join(name);
            crate::fsutil::write_atomic(&p, bytes)?;
            written.push(p);
        }
        let html = path.with_extension("html");
        crate::fsutil::write_atomic(&html, self.html().as_bytes())?;
        crate::fsutil::write_atomic(path, self.markdown().as_bytes())?;
        written.push(html);
        written.push(path.to_path_buf());
        Ok(written)
    }
}
