//! A model card: what a trained model is, what it was trained on and how, and how well it does,
//! as Markdown and HTML with the loss curve and confusion matrix beside them. The figures are
//! measured when the card is written (validation and test splits), not copied from a run.

use crate::data::Dataset;
use crate::graph::{analyze, TrainingMode};
use crate::insight::evaluate_split;
use crate::model::{Model, Weights};
use crate::project::Project;
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
) -> Result<ModelCard, String> {
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
    let mode = mode_step(project, data.clone(), Some(weights)).map_err(|e| e.to_string())?;
    let control = Control::default();
    let mut rows = Vec::new();
    for (name, idx) in [("validation", &data.val), ("test", &data.test)] {
        let m = mode
            .evaluate(idx, &control)
            .map_err(|e| e.to_string())?
            .flatten();
        rows.push(match m {
            Some(m) => vec![
                name.into(),
                m.samples.to_string(),
                format!("{:.4}", m.loss),
                pct(m.accuracy),
            ],
            None => vec![name.into(), "0".into(), "–".into(), "–".into()],
        });
    }
    blocks.push(Block::Heading("Results".into()));
    blocks.push(Block::Table(
        ["split", "samples", "loss", "accuracy"]
            .map(String::from)
            .to_vec(),
        rows,
    ));

    if let Some(h) = history.filter(|h| !h.losses.is_empty()) {
        for (what, curve) in [("loss", Curve::loss(h)), ("accuracy", Curve::accuracy(h))] {
            if curve.steps.is_empty() {
                continue;
            }
            let file = format!("{stem}-{what}.png");
            images.push((file.clone(), curve.png()));
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
        let model = Model::build(&project.graph, t.seed).map_err(|e| e.to_string())?;
        model.load_weights(weights).map_err(|e| e.to_string())?;
        let enc = model.bind_data(&data).map_err(|e| e.to_string())?;
        let ev = evaluate_split(&model, &data, &data.test, enc).map_err(|e| e.to_string())?;
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

    /// A 640×360 line chart (no text: the caption carries the numbers).
    fn png(&self) -> Vec<u8> {
        let (w, ht) = (640u32, 360u32);
        let mut img = image::RgbImage::from_pixel(w, ht, image::Rgb([255, 255, 255]));
        let (lo, hi) = self.range();
        let steps = self.total_steps.max(1) as f64;
        let margin = 20.0;
        let to_px = |p: &[f64; 2]| -> (f64, f64) {
            let x = margin + (w as f64 - 2.0 * margin) * p[0] / steps;
            let y = margin + (ht as f64 - 2.0 * margin) * (1.0 - (p[1] - lo) / (hi - lo));
            (x, y)
        };
        for k in 0..=4 {
            let y = (margin + (ht as f64 - 2.0 * margin) * k as f64 / 4.0) as u32;
            for x in margin as u32..w - margin as u32 {
                img.put_pixel(x, y, image::Rgb([225, 225, 225]));
            }
        }
        let mut line = |pts: Vec<(f64, f64)>, color: [u8; 3]| {
            for pair in pts.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                // A non-finite point (a loss that overflowed) draws no segment; a far one
                // draws at most as many dots as the image has pixels across.
                if !(a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite()) {
                    continue;
                }
                let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) as usize)
                    .clamp(1, 4 * (w + ht) as usize);
                for i in 0..=n {
                    let t = i as f64 / n as f64;
                    let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
                        let (px, py) = (x as i64 + dx, y as i64 + dy);
                        if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < ht {
                            img.put_pixel(px as u32, py as u32, image::Rgb(color));
                        }
                    }
                }
            }
        };
        line(self.steps.iter().map(to_px).collect(), [40, 100, 200]);
        line(self.epochs.iter().map(to_px).collect(), [230, 120, 20]);
        let mut png = Vec::new();
        let _ = image::DynamicImage::ImageRgb8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png);
        png
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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

    pub fn html(&self) -> String {
        let mut body = String::new();
        for (i, b) in self.blocks.iter().enumerate() {
            match b {
                Block::Heading(h) => {
                    let tag = if i == 0 { "h1" } else { "h2" };
                    let _ = writeln!(body, "<{tag}>{}</{tag}>", html_escape(h));
                }
                Block::Text(t) => {
                    let _ = writeln!(body, "<p>{}</p>", html_escape(t));
                }
                Block::Table(head, rows) => {
                    body.push_str("<table><tr>");
                    for h in head {
                        let _ = write!(body, "<th>{}</th>", html_escape(h));
                    }
                    body.push_str("</tr>\n");
                    for r in rows {
                        body.push_str("<tr>");
                        for c in r {
                            let _ = write!(body, "<td>{}</td>", html_escape(c));
                        }
                        body.push_str("</tr>\n");
                    }
                    body.push_str("</table>\n");
                }
                Block::Image { file, caption } => {
                    let _ = writeln!(
                        body,
                        "<figure><img src=\"{}\" alt=\"training curve\"><figcaption>{}</figcaption></figure>",
                        html_escape(file),
                        html_escape(caption)
                    );
                }
            }
        }
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
