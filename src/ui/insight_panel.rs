//! Looking inside: activations of the selected node, saliency and explanations, activation
//! maximisation, evaluation (confusion matrix, per-class scores, mistakes, baselines), and
//! gradient health with a diagnosis. The numbers come from the insight engine.

use super::colormap::{overlay_image, plane_image, range, sample_image, sequential};
use super::studio::Studio;
use super::theme::{ERROR, OK, TRAIN, VAL};
use crate::graph::Graph;
use crate::insight::{
    activation_stats, apply_fix, diagnose, Activation, Baseline, Evaluation, ExplainMethod,
    InsightHandle, InsightReply, InsightRequest, LimeSettings, MaxTarget, MaximizeSettings,
    ParamHealth, SaliencyMethod, SampleView, Segmentation, ShapSettings, Snapshot, Split,
};
use crate::model::Weights;
use egui::{Color32, ColorImage, RichText, TextureHandle, TextureOptions, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};
use std::collections::HashMap;

/// Health entries kept for the over-time plots.
const MAX_HEALTH: usize = 400;
/// Seconds between live saliency refreshes while training.
const LIVE_EVERY_S: f64 = 1.0;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InsightTab {
    #[default]
    Saliency,
    Maximize,
    Evaluation,
    Health,
}

/// The explanation methods offered, in the order of the menu.
pub const METHODS: [&str; 8] = [
    "Gradient",
    "Gradient × input",
    "SmoothGrad",
    "Integrated gradients",
    "Occlusion",
    "Grad-CAM",
    "LIME",
    "KernelSHAP",
];

#[derive(Clone, Debug, PartialEq)]
pub struct MethodParams {
    pub smooth_samples: usize,
    pub smooth_sigma: f32,
    pub ig_steps: usize,
    pub ig_blur_baseline: bool,
    pub occ_patch: usize,
    pub occ_stride: usize,
    pub cam_node: String,
    pub slic: bool,
    pub grid_cell: usize,
    pub slic_segments: usize,
    pub lime_samples: usize,
    pub shap_background: usize,
    pub shap_coalitions: usize,
}

impl Default for MethodParams {
    fn default() -> Self {
        Self {
            smooth_samples: 24,
            smooth_sigma: 0.1,
            ig_steps: 50,
            ig_blur_baseline: false,
            occ_patch: 4,
            occ_stride: 2,
            cam_node: String::new(),
            slic: false,
            grid_cell: 4,
            slic_segments: 30,
            lime_samples: 400,
            shap_background: 8,
            shap_coalitions: 400,
        }
    }
}

/// One computed map, ready to draw.
#[derive(Clone, Debug)]
pub struct MapResult {
    pub method: String,
    pub sample: SampleView,
    pub dims: Vec<usize>,
    pub values: Vec<f32>,
    pub elapsed_ms: f64,
    pub note: Option<String>,
}

/// An activation-maximisation image as it forms: dims, values, objective so far, finished.
#[derive(Clone, Debug)]
pub struct Maximized {
    pub dims: Vec<usize>,
    pub image: Vec<f32>,
    pub history: Vec<f32>,
    pub done: bool,
}

#[derive(Default)]
pub struct InsightState {
    pub snapshot: Option<Snapshot>,
    pub health: Vec<(usize, Vec<ParamHealth>)>,
    pub probe_sample: usize,
    pub per_map_scaling: bool,
    pub tab: InsightTab,
    handle: Option<InsightHandle>,
    handle_graph: Option<Graph>,
    weights: Option<Weights>,
    pub sample_pos: usize,
    pub class: Option<usize>,
    pub method: usize,
    pub params: MethodParams,
    pub opacity: f32,
    pub live: bool,
    last_live: f64,
    pub map: Option<MapResult>,
    pub compare: Vec<MapResult>,
    compare_queue: Vec<usize>,
    pub max_class: usize,
    /// Maximise a unit of the inspector's node instead of a class.
    pub max_unit: Option<usize>,
    pub max_settings: Option<MaximizeSettings>,
    pub maximize: Option<Maximized>,
    pub eval_split: Option<Split>,
    pub evaluation: Option<(Split, Evaluation)>,
    pub normalized: bool,
    pub cell: Option<(usize, usize)>,
    pub baselines: Option<(Option<f32>, Option<f32>)>,
    pub pending: usize,
    pub error: Option<String>,
    textures: HashMap<String, TextureHandle>,
}

impl InsightState {
    pub fn is_busy(&self) -> bool {
        self.pending > 0
    }

    /// Keeps a snapshot from the training run.
    pub fn take_snapshot(&mut self, s: Snapshot) {
        if !s.health.is_empty() {
            self.health.push((s.step, s.health.clone()));
            if self.health.len() > MAX_HEALTH {
                // Thin out the older half rather than dropping the start of the run.
                let keep: Vec<_> = self
                    .health
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 0 || *i >= MAX_HEALTH / 2)
                    .map(|(_, h)| h.clone())
                    .collect();
                self.health = keep;
            }
        }
        if let Some(w) = &s.weights {
            self.new_weights(w.clone());
        }
        self.snapshot = Some(s);
    }

    pub fn new_weights(&mut self, w: Weights) {
        if let Some(h) = &self.handle {
            h.set_weights(w.clone());
        }
        self.weights = Some(w);
    }

    /// Forgets everything tied to the previous run or project.
    pub fn reset(&mut self) {
        let tab = self.tab;
        *self = Self {
            tab,
            opacity: 0.6,
            ..Default::default()
        };
    }

    fn texture(&mut self, ctx: &egui::Context, name: &str, image: ColorImage) -> TextureHandle {
        match self.textures.get_mut(name) {
            Some(t) => {
                t.set(image, TextureOptions::NEAREST);
                t.clone()
            }
            None => {
                let t = ctx.load_texture(name, image, TextureOptions::NEAREST);
                self.textures.insert(name.to_string(), t.clone());
                t
            }
        }
    }
}

impl Studio {
    /// Makes sure an insight thread runs for the current graph with the latest weights.
    fn insight_ready(&mut self) -> bool {
        let graph = self.project.graph.clone();
        let weights = self
            .insight
            .weights
            .clone()
            .or_else(|| self.weights.clone());
        let dir = self
            .path
            .as_ref()
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf));
        let data = self.data.dataset_for(&self.project.data, dir.as_deref());
        let (Some(weights), Some(data)) = (weights, data) else {
            self.insight.error = Some(if self.data.dataset.is_none() {
                "Load the data first (Data tab).".into()
            } else {
                "Train the network first: explanations need trained weights.".into()
            });
            return false;
        };
        let same = self
            .insight
            .handle_graph
            .as_ref()
            .is_some_and(|g| super::editor::same_structure(g, &graph));
        if self.insight.handle.is_none() || !same {
            let repaint = self.repaint_ctx();
            let notify: Option<crate::train::Notify> =
                repaint.map(|ctx| Box::new(move || ctx.request_repaint()) as crate::train::Notify);
            match InsightHandle::spawn(self.project.clone(), data, weights, notify) {
                Ok(h) => {
                    self.insight.handle = Some(h);
                    self.insight.handle_graph = Some(graph);
                }
                Err(e) => {
                    self.insight.error = Some(format!("cannot start the insight thread: {e}"));
                    return false;
                }
            }
        }
        self.insight.error = None;
        true
    }

    fn insight_request(&mut self, r: InsightRequest) {
        if self.insight_ready() {
            if let Some(h) = &self.insight.handle {
                h.request(r);
                self.insight.pending += 1;
            }
        }
    }

    /// Takes finished insight answers; every frame.
    pub fn poll_insight(&mut self) {
        let mut replies = Vec::new();
        if let Some(h) = &self.insight.handle {
            while let Some(r) = h.try_recv() {
                replies.push(r);
            }
        }
        for r in replies {
            if !matches!(r, InsightReply::MaximizeProgress { .. }) {
                self.insight.pending = self.insight.pending.saturating_sub(1);
            }
            match r {
                InsightReply::Saliency {
                    sample,
                    method,
                    attribution,
                    elapsed_ms,
                } => {
                    let result = MapResult {
                        method: method.name().to_string(),
                        sample,
                        dims: attribution.dims,
                        values: attribution.values,
                        elapsed_ms,
                        note: None,
                    };
                    self.map_arrived(result);
                }
                InsightReply::Explain {
                    sample,
                    method,
                    explanation,
                    elapsed_ms,
                } => {
                    let note = match explanation.r2 {
                        Some(r2) => {
                            format!("{} segments, fit R² = {r2:.2}", explanation.n_segments)
                        }
                        None => format!(
                            "{} segments, Σφ = {:.3} = f(x) − E[f]",
                            explanation.n_segments,
                            explanation.weights.iter().sum::<f32>()
                        ),
                    };
                    let result = MapResult {
                        method: method.name().to_string(),
                        dims: sample.dims.clone(),
                        values: explanation.per_value(),
                        sample,
                        elapsed_ms,
                        note: Some(note),
                    };
                    self.map_arrived(result);
                }
                InsightReply::MaximizeProgress {
                    dims,
                    image,
                    objective,
                    ..
                } => {
                    let mut history = self
                        .insight
                        .maximize
                        .take()
                        .map(|m| m.history)
                        .unwrap_or_default();
                    history.push(objective);
                    self.insight.maximize = Some(Maximized {
                        dims,
                        image,
                        history,
                        done: false,
                    });
                }
                InsightReply::MaximizeDone {
                    dims,
                    image,
                    history,
                } => {
                    self.insight.maximize = Some(Maximized {
                        dims,
                        image,
                        history,
                        done: true,
                    });
                }
                InsightReply::Evaluation { split, evaluation } => {
                    self.insight.evaluation = Some((split, evaluation));
                    self.insight.cell = None;
                }
                InsightReply::Baselines { majority, linear } => {
                    self.insight.baselines = Some((majority, linear))
                }
                InsightReply::Error(e) => {
                    self.insight.error = Some(e);
                    self.insight.compare_queue.clear();
                }
            }
        }
        // Live: refresh the current map during training.
        if self.insight.live
            && self.is_training()
            && self.insight.map.is_some()
            && !self.insight.is_busy()
            && self.time() - self.insight.last_live >= LIVE_EVERY_S
        {
            self.insight.last_live = self.time();
            self.request_current_method();
        }
    }

    fn map_arrived(&mut self, result: MapResult) {
        if self.insight.compare_queue.is_empty() && self.insight.compare.is_empty() {
            self.insight.map = Some(result);
            return;
        }
        self.insight.map = Some(result.clone());
        self.insight.compare.push(result);
        if let Some(next) = self.insight.compare_queue.pop() {
            self.request_method(next);
        }
    }

    fn sample_index(&self) -> Option<usize> {
        let data = self.data.dataset.as_ref()?;
        let split = if data.val.is_empty() {
            &data.test
        } else {
            &data.val
        };
        split
            .get(self.insight.sample_pos.min(split.len().saturating_sub(1)))
            .copied()
    }

    fn method_request(&self, m: usize) -> Option<InsightRequest> {
        let sample = self.sample_index()?;
        let p = &self.insight.params;
        let class = self.insight.class;
        let image = self
            .data
            .dataset
            .as_ref()
            .is_some_and(|d| d.sample_shape.len() == 3);
        let segmentation = if !image {
            Segmentation::Features
        } else if p.slic {
            Segmentation::Slic {
                segments: p.slic_segments,
                compactness: 0.5,
            }
        } else {
            Segmentation::Grid { cell: p.grid_cell }
        };
        let method = match m {
            0 => SaliencyMethod::Vanilla,
            1 => SaliencyMethod::GradTimesInput,
            2 => SaliencyMethod::SmoothGrad {
                samples: p.smooth_samples,
                sigma: p.smooth_sigma,
            },
            3 => SaliencyMethod::IntegratedGradients {
                steps: p.ig_steps,
                baseline: if p.ig_blur_baseline {
                    Baseline::Blur
                } else {
                    Baseline::Zero
                },
            },
            4 => SaliencyMethod::Occlusion {
                patch: p.occ_patch,
                stride: p.occ_stride,
            },
            5 => SaliencyMethod::GradCam {
                node: self.cam_node()?,
            },
            6 => {
                return Some(InsightRequest::Explain {
                    sample,
                    class,
                    method: ExplainMethod::Lime {
                        segmentation,
                        settings: LimeSettings {
                            samples: p.lime_samples,
                            ..Default::default()
                        },
                    },
                })
            }
            _ => {
                return Some(InsightRequest::Explain {
                    sample,
                    class,
                    method: ExplainMethod::KernelShap {
                        segmentation,
                        background: p.shap_background,
                        settings: ShapSettings {
                            max_coalitions: p.shap_coalitions,
                            seed: 0,
                        },
                    },
                })
            }
        };
        Some(InsightRequest::Saliency {
            sample,
            class,
            method,
        })
    }

    /// Nodes with [C, H, W] outputs, where Grad-CAM applies.
    fn conv_nodes(&self) -> Vec<String> {
        self.project
            .graph
            .nodes
            .iter()
            .filter(|n| {
                self.analysis
                    .node(&n.id)
                    .and_then(|s| s.output.as_ref())
                    .is_some_and(|o| o.rank() == 3)
                    && n.layer.kind() != crate::graph::LayerKind::Input
            })
            .map(|n| n.id.clone())
            .collect()
    }

    fn cam_node(&self) -> Option<String> {
        let nodes = self.conv_nodes();
        if nodes.contains(&self.insight.params.cam_node) {
            Some(self.insight.params.cam_node.clone())
        } else {
            nodes.last().cloned()
        }
    }

    fn request_method(&mut self, m: usize) {
        match self.method_request(m) {
            Some(r) => self.insight_request(r),
            None => {
                self.insight.error = Some(if m == 5 {
                    "Grad-CAM needs a convolution layer in the network.".into()
                } else {
                    "Load the data first.".into()
                })
            }
        }
    }

    pub fn request_current_method(&mut self) {
        self.insight.compare.clear();
        self.insight.compare_queue.clear();
        self.request_method(self.insight.method);
    }

    fn request_all_methods(&mut self) {
        self.insight.compare.clear();
        let image = self
            .data
            .dataset
            .as_ref()
            .is_some_and(|d| d.sample_shape.len() == 3);
        let mut queue: Vec<usize> = (0..METHODS.len())
            .filter(|&m| m != 5 || (image && self.cam_node().is_some()))
            .collect();
        queue.reverse();
        if let Some(first) = queue.pop() {
            self.insight.compare_queue = queue;
            self.request_method(first);
        }
    }
}

pub fn insight_panel_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal(|ui| {
        let tab = &mut studio.insight.tab;
        ui.selectable_value(tab, InsightTab::Saliency, "Saliency & explanations");
        ui.selectable_value(tab, InsightTab::Maximize, "Activation maximisation");
        ui.selectable_value(tab, InsightTab::Evaluation, "Evaluation");
        ui.selectable_value(tab, InsightTab::Health, "Gradient health & diagnosis");
        if studio.insight.is_busy() {
            ui.spinner();
        }
        if let Some(e) = &studio.insight.error {
            ui.colored_label(ERROR, e);
        }
    });
    ui.separator();
    match studio.insight.tab {
        InsightTab::Saliency => saliency_ui(ui, studio),
        InsightTab::Maximize => maximize_ui(ui, studio),
        InsightTab::Evaluation => evaluation_ui(ui, studio),
        InsightTab::Health => health_ui(ui, studio),
    }
}

/// The data set's class names (empty until it is loaded).
fn class_names(studio: &Studio) -> Vec<String> {
    studio
        .data
        .summary
        .as_ref()
        .map(|s| s.classes.clone())
        .unwrap_or_default()
}

fn class_name(studio: &Studio, k: usize) -> String {
    studio
        .data
        .summary
        .as_ref()
        .and_then(|s| s.classes.get(k).cloned())
        .unwrap_or_else(|| k.to_string())
}

fn saliency_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(300.0);
            let n = studio.data.dataset.as_ref().map_or(0, |d| {
                if d.val.is_empty() {
                    d.test.len()
                } else {
                    d.val.len()
                }
            });
            ui.horizontal(|ui| {
                ui.label("Sample");
                if ui.small_button("◀").clicked() {
                    studio.insight.sample_pos = studio.insight.sample_pos.saturating_sub(1);
                }
                ui.add(
                    egui::DragValue::new(&mut studio.insight.sample_pos)
                        .range(0..=n.saturating_sub(1)),
                );
                if ui.small_button("▶").clicked() {
                    studio.insight.sample_pos =
                        (studio.insight.sample_pos + 1).min(n.saturating_sub(1));
                }
                ui.label(RichText::new(format!("of {n} validation")).weak());
            });
            let classes = class_names(studio);
            ui.horizontal(|ui| {
                ui.label("Class");
                let text = studio
                    .insight
                    .class
                    .map_or("predicted".to_string(), |k| class_name(studio, k));
                egui::ComboBox::from_id_salt("saliency-class")
                    .selected_text(text)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut studio.insight.class, None, "predicted");
                        for (k, c) in classes.iter().enumerate() {
                            ui.selectable_value(&mut studio.insight.class, Some(k), c);
                        }
                    });
            });
            ui.horizontal(|ui| {
                let l = ui.label("Method");
                egui::ComboBox::from_id_salt("saliency-method")
                    .selected_text(METHODS[studio.insight.method])
                    .show_ui(ui, |ui| {
                        for (i, m) in METHODS.iter().enumerate() {
                            ui.selectable_value(&mut studio.insight.method, i, *m);
                        }
                    })
                    .response
                    .labelled_by(l.id);
            });
            method_params_ui(ui, studio);
            ui.horizontal(|ui| {
                ui.label("Overlay");
                ui.add(egui::Slider::new(&mut studio.insight.opacity, 0.0..=1.0));
            });
            ui.checkbox(&mut studio.insight.live, "Refresh live while training");
            ui.horizontal(|ui| {
                if ui.button("Explain this sample").clicked() {
                    studio.request_current_method();
                }
                if ui.button("Compare all methods").clicked() {
                    studio.request_all_methods();
                }
            });
        });
        ui.separator();
        ui.vertical(|ui| map_view_ui(ui, studio));
    });
}

fn method_params_ui(ui: &mut Ui, studio: &mut Studio) {
    let convs = studio.conv_nodes();
    let cam = studio.cam_node().unwrap_or_default();
    let p = &mut studio.insight.params;
    match studio.insight.method {
        2 => {
            ui.horizontal(|ui| {
                ui.label("samples");
                ui.add(egui::DragValue::new(&mut p.smooth_samples).range(1..=200));
                ui.label("noise σ");
                ui.add(
                    egui::DragValue::new(&mut p.smooth_sigma)
                        .range(0.0..=1.0)
                        .speed(0.01),
                );
            });
        }
        3 => {
            ui.horizontal(|ui| {
                ui.label("steps");
                ui.add(egui::DragValue::new(&mut p.ig_steps).range(2..=500));
                ui.checkbox(&mut p.ig_blur_baseline, "blurred baseline");
            });
        }
        4 => {
            ui.horizontal(|ui| {
                ui.label("patch");
                ui.add(egui::DragValue::new(&mut p.occ_patch).range(1..=16));
                ui.label("stride");
                ui.add(egui::DragValue::new(&mut p.occ_stride).range(1..=16));
            });
        }
        5 => {
            ui.horizontal(|ui| {
                ui.label("layer");
                egui::ComboBox::from_id_salt("cam-node")
                    .selected_text(&cam)
                    .show_ui(ui, |ui| {
                        for n in &convs {
                            ui.selectable_value(&mut p.cam_node, n.clone(), n);
                        }
                    });
            });
        }
        6 | 7 => {
            ui.horizontal(|ui| {
                ui.checkbox(&mut p.slic, "SLIC superpixels");
                if p.slic {
                    ui.add(
                        egui::DragValue::new(&mut p.slic_segments)
                            .range(4..=200)
                            .suffix(" segments"),
                    );
                } else {
                    ui.add(
                        egui::DragValue::new(&mut p.grid_cell)
                            .range(1..=32)
                            .prefix("grid ")
                            .suffix(" px"),
                    );
                }
            });
            ui.horizontal(|ui| {
                if studio.insight.method == 6 {
                    ui.label("perturbations");
                    ui.add(egui::DragValue::new(&mut p.lime_samples).range(20..=5000));
                } else {
                    ui.label("background");
                    ui.add(egui::DragValue::new(&mut p.shap_background).range(1..=100));
                    ui.label("coalitions");
                    ui.add(egui::DragValue::new(&mut p.shap_coalitions).range(20..=10_000));
                }
            });
        }
        _ => {}
    }
}

fn top3_ui(ui: &mut Ui, studio: &Studio, s: &SampleView) {
    let truth = s.label.map_or("?".into(), |l| class_name(studio, l));
    ui.label(format!("sample {} · true class {truth}", s.index));
    for (k, p) in &s.top {
        let mark = if Some(*k) == s.label { "✔" } else { " " };
        ui.monospace(format!(
            "{mark} {:>8} {:5.1} %",
            class_name(studio, *k),
            p * 100.0
        ));
    }
    ui.label(RichText::new(format!("explaining: {}", class_name(studio, s.class))).weak());
}

fn map_view_ui(ui: &mut Ui, studio: &mut Studio) {
    let Some(map) = studio.insight.map.clone() else {
        ui.label(RichText::new("Pick a sample and a method, then Explain this sample.").weak());
        return;
    };
    let ctx = ui.ctx().clone();
    let opacity = studio.insight.opacity;
    if !studio.insight.compare.is_empty() {
        let compare = studio.insight.compare.clone();
        ui.horizontal_wrapped(|ui| {
            for (i, m) in compare.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.label(RichText::new(&m.method).strong());
                    map_image_ui(ui, studio, &ctx, &format!("cmp-{i}"), m, opacity, 110.0);
                    ui.label(
                        RichText::new(format!("{:.0} ms", m.elapsed_ms))
                            .small()
                            .weak(),
                    );
                });
            }
        });
        if !studio.insight.compare_queue.is_empty() {
            ui.label(format!(
                "{} more method(s) to go…",
                studio.insight.compare_queue.len()
            ));
        }
        return;
    }
    ui.horizontal_top(|ui| {
        if let Some(img) = sample_image(&map.sample.raw, &map.sample.dims) {
            let tex = studio.insight.texture(&ctx, "saliency-input", img);
            ui.vertical(|ui| {
                ui.label("input");
                ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(180.0, 180.0)));
            });
        }
        ui.vertical(|ui| {
            ui.label(RichText::new(format!("{} ({:.0} ms)", map.method, map.elapsed_ms)).strong());
            map_image_ui(ui, studio, &ctx, "saliency-map", &map, opacity, 180.0);
            if let Some(n) = &map.note {
                ui.label(RichText::new(n).small());
            }
        });
        ui.vertical(|ui| top3_ui(ui, studio, &map.sample));
    });
}

fn map_image_ui(
    ui: &mut Ui,
    studio: &mut Studio,
    ctx: &egui::Context,
    name: &str,
    m: &MapResult,
    opacity: f32,
    side: f32,
) {
    if m.sample.dims.len() == 3 {
        if let Some(img) = overlay_image(&m.sample.raw, &m.values, &m.sample.dims, opacity) {
            let tex = studio.insight.texture(ctx, name, img);
            ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(side, side)));
        }
        return;
    }
    // Tables: a bar per feature.
    let names = studio
        .data
        .dataset
        .as_ref()
        .map(|d| d.feature_names.clone())
        .unwrap_or_default();
    let bars: Vec<egui_plot::Bar> = m
        .values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            egui_plot::Bar::new(i as f64, v as f64)
                .name(names.get(i).cloned().unwrap_or_else(|| format!("x{i}")))
                .fill(if v >= 0.0 {
                    Color32::from_rgb(220, 80, 70)
                } else {
                    Color32::from_rgb(70, 110, 220)
                })
        })
        .collect();
    let labels = names.clone();
    Plot::new(format!("bars-{name}"))
        .height(side)
        .width(side * 1.8)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .x_axis_formatter(move |g, _| {
            let k = g.value.round();
            if (g.value - k).abs() < 1e-6 && k >= 0.0 {
                labels.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |p| {
            p.bar_chart(egui_plot::BarChart::new("attribution", bars))
        });
}

fn maximize_ui(ui: &mut Ui, studio: &mut Studio) {
    let classes = class_names(studio);
    ui.horizontal(|ui| {
        ui.label("Make the network see class");
        egui::ComboBox::from_id_salt("max-class")
            .selected_text(
                classes
                    .get(studio.insight.max_class)
                    .cloned()
                    .unwrap_or_default(),
            )
            .show_ui(ui, |ui| {
                for (k, c) in classes.iter().enumerate() {
                    ui.selectable_value(&mut studio.insight.max_class, k, c);
                }
            });
        let s = studio
            .insight
            .max_settings
            .get_or_insert_with(MaximizeSettings::default);
        ui.label("steps");
        ui.add(egui::DragValue::new(&mut s.steps).range(10..=2000));
        ui.label("L2");
        ui.add(
            egui::DragValue::new(&mut s.l2)
                .range(0.0..=0.5)
                .speed(0.001),
        );
        ui.label("blur every");
        ui.add(egui::DragValue::new(&mut s.blur_every).range(0..=100));
        let settings = s.clone();
        // A unit of the node selected on the canvas, if the user asks for one.
        let node = studio.editor.selected.clone().filter(|n| {
            studio.project.graph.node(n).is_some_and(|x| {
                !matches!(
                    x.layer.kind(),
                    crate::graph::LayerKind::Output | crate::graph::LayerKind::Input
                )
            })
        });
        ui.separator();
        let mut unit = studio.insight.max_unit.is_some();
        ui.add_enabled(
            node.is_some(),
            egui::Checkbox::new(&mut unit, "or a unit of the selected node"),
        )
        .on_hover_text(
            "Select a node on the canvas: a channel of a convolution, or one unit of a dense layer",
        );
        let mut index = studio.insight.max_unit.unwrap_or(0);
        if unit {
            ui.add(egui::DragValue::new(&mut index).range(0..=4095));
        }
        studio.insight.max_unit = (unit && node.is_some()).then_some(index);
        if ui.button("Start").clicked() {
            let target = match (studio.insight.max_unit, node) {
                (Some(index), Some(node)) => MaxTarget::Unit { node, index },
                _ => MaxTarget::Class(studio.insight.max_class),
            };
            studio.insight.maximize = None;
            studio.insight_request(InsightRequest::Maximize { target, settings });
        }
    });
    let Some(Maximized {
        dims,
        image,
        history,
        done,
    }) = studio.insight.maximize.clone()
    else {
        ui.label(RichText::new("Gradient ascent on the input, from faint noise, towards what the network finds most like the class.").weak());
        return;
    };
    let ctx = ui.ctx().clone();
    ui.horizontal_top(|ui| {
        if let Some(img) = sample_image(&image, &dims) {
            let tex = studio.insight.texture(&ctx, "maximize", img);
            ui.vertical(|ui| {
                ui.label(if done { "result" } else { "forming…" });
                ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(200.0, 200.0)));
            });
        }
        let pts: Vec<[f64; 2]> = history
            .iter()
            .enumerate()
            .map(|(i, v)| [i as f64, *v as f64])
            .collect();
        Plot::new("max-objective")
            .height(200.0)
            .width(360.0)
            .x_axis_label("update")
            .y_axis_label("class score")
            .show(ui, |p| {
                p.line(Line::new("score", PlotPoints::from(pts)).color(TRAIN))
            });
    });
}

fn evaluation_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal(|ui| {
        let split = studio.insight.eval_split.get_or_insert(Split::Validation);
        ui.radio_value(split, Split::Validation, "validation");
        ui.radio_value(split, Split::Test, "test");
        if ui.button("Evaluate").clicked() {
            let split = *split;
            studio.insight_request(InsightRequest::Evaluate { split });
        }
        ui.checkbox(&mut studio.insight.normalized, "normalised by true class");
        if ui
            .button("Compare with baselines")
            .on_hover_text("Majority class, and a linear model trained on the same split")
            .clicked()
        {
            studio.insight_request(InsightRequest::Baselines);
        }
        if let Some((maj, lin)) = studio.insight.baselines {
            let model = studio
                .history
                .as_ref()
                .and_then(|h| h.test)
                .and_then(|t| t.accuracy);
            let f = |a: Option<f32>| a.map_or("–".into(), |a| format!("{:.1} %", a * 100.0));
            ui.label(format!(
                "test accuracy · network {} · linear model {} · majority class {}",
                f(model),
                f(lin),
                f(maj)
            ));
        }
    });
    let Some((split, eval)) = studio.insight.evaluation.clone() else {
        ui.label(
            RichText::new("Evaluate the trained network on the validation or test split.").weak(),
        );
        return;
    };
    ui.label(format!(
        "{} samples ({}), accuracy {:.2} %",
        eval.total(),
        if split == Split::Validation {
            "validation"
        } else {
            "test"
        },
        eval.accuracy * 100.0
    ));
    ui.horizontal_top(|ui| {
        confusion_ui(ui, studio, &eval);
        ui.separator();
        ui.vertical(|ui| {
            egui::ScrollArea::vertical()
                .id_salt("per-class")
                .max_height(ui.available_height())
                .show(ui, |ui| {
                    egui::Grid::new("per-class-scores")
                        .striped(true)
                        .show(ui, |ui| {
                            for h in ["class", "precision", "recall", "F1", "support"] {
                                ui.label(RichText::new(h).strong());
                            }
                            ui.end_row();
                            for (k, s) in eval.per_class().iter().enumerate() {
                                ui.label(&eval.classes[k]);
                                ui.monospace(format!("{:.3}", s.precision));
                                ui.monospace(format!("{:.3}", s.recall));
                                ui.monospace(format!("{:.3}", s.f1));
                                ui.monospace(s.support.to_string());
                                ui.end_row();
                            }
                        });
                });
        });
        ui.separator();
        ui.vertical(|ui| {
            let (title, picks): (String, Vec<crate::insight::Prediction>) =
                match studio.insight.cell {
                    Some((t, p)) => (
                        format!("true {} → predicted {}", eval.classes[t], eval.classes[p]),
                        eval.cell(t, p).into_iter().take(24).cloned().collect(),
                    ),
                    None => (
                        "most confident mistakes".into(),
                        eval.most_confident_mistakes(24)
                            .into_iter()
                            .cloned()
                            .collect(),
                    ),
                };
            ui.label(RichText::new(title).strong());
            gallery_ui(ui, studio, &eval, &picks);
        });
    });
}

#[allow(clippy::needless_range_loop)] // t and p index the matrix, its normalised copy and the names
fn confusion_ui(ui: &mut Ui, studio: &mut Studio, eval: &Evaluation) {
    let k = eval.classes.len();
    let norm = eval.normalized();
    let max = eval
        .confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    let cell = (280.0 / k as f32).clamp(14.0, 34.0);
    egui::Grid::new("confusion")
        .spacing(egui::vec2(1.0, 1.0))
        .show(ui, |ui| {
            ui.label(RichText::new("true ↓ predicted →").small());
            for c in &eval.classes {
                ui.label(RichText::new(c).small());
            }
            ui.end_row();
            for t in 0..k {
                ui.label(RichText::new(&eval.classes[t]).small());
                for p in 0..k {
                    let count = eval.confusion[t][p];
                    let v = if studio.insight.normalized {
                        norm[t][p]
                    } else {
                        count as f32 / max
                    };
                    let fill = if t == p {
                        OK.gamma_multiply(0.15 + 0.85 * v)
                    } else {
                        ERROR.gamma_multiply(if count > 0 { 0.15 + 0.85 * v } else { 0.03 })
                    };
                    let text = if studio.insight.normalized {
                        format!("{:.2}", norm[t][p])
                    } else {
                        count.to_string()
                    };
                    let (rect, resp) = ui.allocate_exact_size(
                        egui::vec2(cell.max(30.0), cell),
                        egui::Sense::click(),
                    );
                    ui.painter().rect_filled(rect, 2.0, fill);
                    ui.painter().text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        text,
                        egui::FontId::monospace(10.0),
                        ui.visuals().strong_text_color(),
                    );
                    if resp
                        .on_hover_text(format!(
                            "true {} predicted {}: {count}",
                            eval.classes[t], eval.classes[p]
                        ))
                        .clicked()
                    {
                        studio.insight.cell = Some((t, p));
                    }
                }
                ui.end_row();
            }
        });
}

fn gallery_ui(
    ui: &mut Ui,
    studio: &mut Studio,
    eval: &Evaluation,
    picks: &[crate::insight::Prediction],
) {
    let Some(data) = studio.data.dataset.clone() else {
        return;
    };
    let ctx = ui.ctx().clone();
    egui::ScrollArea::vertical()
        .id_salt("gallery")
        .max_height(ui.available_height())
        .show(ui, |ui| {
            egui::Grid::new("gallery-grid").show(ui, |ui| {
                for (i, p) in picks.iter().enumerate() {
                    ui.vertical(|ui| {
                        if let Some(img) =
                            sample_image(&data.raw_sample(p.index), &data.sample_shape)
                        {
                            let tex = studio.insight.texture(&ctx, &format!("gallery-{i}"), img);
                            ui.add(
                                egui::Image::new(&tex).fit_to_exact_size(egui::vec2(48.0, 48.0)),
                            );
                        }
                        ui.label(
                            RichText::new(format!(
                                "{}→{} {:.0}%",
                                eval.classes[p.label],
                                eval.classes[p.predicted],
                                p.confidence * 100.0
                            ))
                            .small(),
                        );
                    });
                    if (i + 1) % 6 == 0 {
                        ui.end_row();
                    }
                }
            });
        });
}

fn health_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(420.0);
            ui.label(RichText::new("Diagnosis").strong());
            let diagnoses = match &studio.history {
                Some(h) => diagnose(h, studio.insight.snapshot.as_ref(), &studio.project.graph),
                None => Vec::new(),
            };
            if diagnoses.is_empty() {
                ui.label(
                    RichText::new(if studio.history.is_some() {
                        "Nothing wrong found so far."
                    } else {
                        "Train the network to see a diagnosis."
                    })
                    .weak(),
                );
            }
            let mut apply = None;
            for d in &diagnoses {
                ui.label(RichText::new(&d.message).color(
                    if matches!(d.finding, crate::insight::Finding::Divergence) {
                        ERROR
                    } else {
                        VAL
                    },
                ));
                if let Some(fix) = &d.fix {
                    if ui
                        .add_enabled(!studio.is_training(), egui::Button::new(fix.label()))
                        .clicked()
                    {
                        apply = Some(fix.clone());
                    }
                }
                ui.add_space(4.0);
            }
            if let Some(fix) = apply {
                let mut p = studio.project.clone();
                p.graph = studio.editor.graph();
                let said = apply_fix(&mut p, &fix);
                studio.project.training = p.training.clone();
                studio.editor.replace_graph(p.graph);
                studio.notify(format!("Applied: {said}"));
            }
        });
        ui.separator();
        ui.vertical(|ui| health_plots_ui(ui, &studio.insight.health));
    });
}

fn health_plots_ui(ui: &mut Ui, health: &[(usize, Vec<ParamHealth>)]) {
    if health.is_empty() {
        ui.label(
            RichText::new("Per-layer gradient norms and update sizes appear here while training.")
                .weak(),
        );
        return;
    }
    let params: Vec<String> = health[health.len() - 1]
        .1
        .iter()
        .map(|h| h.param.clone())
        .collect();
    let series = |f: fn(&ParamHealth) -> f32| -> Vec<(String, Vec<[f64; 2]>)> {
        params
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let pts = health
                    .iter()
                    .filter_map(|(step, hs)| {
                        hs.get(i)
                            .map(|h| [*step as f64, (f(h) as f64).max(1e-12).log10()])
                    })
                    .collect();
                (name.clone(), pts)
            })
            .collect()
    };
    let w = (ui.available_width() / 2.0 - 8.0).max(200.0);
    let h = (ui.available_height() - 20.0).max(120.0);
    ui.horizontal(|ui| {
        for (title, f, id) in [
            (
                "gradient norm (log10)",
                (|h: &ParamHealth| h.grad_norm) as fn(&ParamHealth) -> f32,
                "grad-norm",
            ),
            (
                "update / weight (log10)",
                |h: &ParamHealth| h.update_ratio,
                "update-ratio",
            ),
        ] {
            let data = series(f);
            Plot::new(id)
                .width(w)
                .height(h)
                .legend(Legend::default())
                .y_axis_label(title)
                .x_axis_label("step")
                .show(ui, |p| {
                    for (i, (name, pts)) in data.into_iter().enumerate() {
                        let t = i as f32 / params.len().max(1) as f32;
                        p.line(
                            Line::new(name, PlotPoints::from(pts))
                                .color(sequential(0.15 + 0.8 * t))
                                .width(1.5),
                        );
                    }
                    if id == "grad-norm" {
                        p.hline(
                            egui_plot::HLine::new("vanishing (1e-7)", -7.0)
                                .color(ERROR)
                                .style(egui_plot::LineStyle::dashed_loose()),
                        );
                    }
                });
        }
    });
}

/// Activations of node `id` from the latest snapshot, for the inspector.
pub fn activations_ui(ui: &mut Ui, studio: &mut Studio, id: &str) {
    let Some(snap) = studio.insight.snapshot.clone() else {
        ui.label(RichText::new("Train the network to see this layer's activations.").weak());
        return;
    };
    let Some(a) = snap.activations.iter().find(|a| a.node == id).cloned() else {
        ui.label(
            RichText::new("No activations for this node (it is not on the path to the Output).")
                .weak(),
        );
        return;
    };
    let n = a.samples();
    let stats = activation_stats(&a);
    ui.label(RichText::new(format!("Activations at step {}", snap.step)).strong());
    ui.label(format!(
        "mean {:.3} · std {:.3} · range [{:.2}, {:.2}] · dead {:.0} %",
        stats.mean,
        stats.std,
        stats.min,
        stats.max,
        stats.dead_fraction * 100.0
    ));
    ui.horizontal(|ui| {
        ui.label("probe sample");
        if ui.small_button("◀").clicked() {
            studio.insight.probe_sample = studio.insight.probe_sample.saturating_sub(1);
        }
        ui.label(format!(
            "{} / {n}",
            (studio.insight.probe_sample.min(n.saturating_sub(1))) + 1
        ));
        if ui.small_button("▶").clicked() {
            studio.insight.probe_sample =
                (studio.insight.probe_sample + 1).min(n.saturating_sub(1));
        }
        ui.checkbox(&mut studio.insight.per_map_scaling, "scale each map");
    });
    let s = studio.insight.probe_sample.min(n.saturating_sub(1));
    // The probe sample itself, for reference.
    if let (Some(data), Some(&index)) = (studio.data.dataset.clone(), snap.probe.get(s)) {
        if let Some(img) = sample_image(&data.raw_sample(index), &data.sample_shape) {
            let tex = studio.insight.texture(ui.ctx(), "probe-input", img);
            ui.horizontal(|ui| {
                ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(56.0, 56.0)));
                let label = data
                    .label(index)
                    .map(|l| {
                        data.class_names()
                            .get(l as usize)
                            .cloned()
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
                ui.label(format!("sample {index} ({label})"));
            });
        }
    }
    activation_maps_ui(ui, studio, &a, s);
}

fn activation_maps_ui(ui: &mut Ui, studio: &mut Studio, a: &Activation, s: usize) {
    let values = a.sample(s).to_vec();
    let ctx = ui.ctx().clone();
    match a.dims[..] {
        [c, h, w] => {
            ui.label(format!(
                "{c} feature map{} of {h}×{w}",
                if c == 1 { "" } else { "s" }
            ));
            let (glo, ghi) = range(&values);
            let side = if c > 32 { 30.0 } else { 40.0 };
            let per_row = ((ui.available_width() / (side + 3.0)) as usize).max(1);
            egui::Grid::new(("maps", a.node.as_str()))
                .spacing(egui::vec2(3.0, 3.0))
                .show(ui, |ui| {
                    for k in 0..c {
                        let plane = &values[k * h * w..(k + 1) * h * w];
                        let (lo, hi) = if studio.insight.per_map_scaling {
                            range(plane)
                        } else {
                            (glo, ghi)
                        };
                        let tex = studio.insight.texture(
                            &ctx,
                            &format!("act-{k}"),
                            plane_image(plane, h, w, lo, hi),
                        );
                        ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(side, side)))
                            .on_hover_text(format!("map {k}: [{lo:.2}, {hi:.2}]"));
                        if (k + 1) % per_row == 0 {
                            ui.end_row();
                        }
                    }
                });
        }
        _ => {
            // A heat strip: one cell per unit (rows of a sequence for [T, F]).
            let (rows, cols) = match a.dims[..] {
                [t, f] => (t, f),
                _ => (1, values.len()),
            };
            ui.label(format!(
                "{} unit{}",
                values.len(),
                if values.len() == 1 { "" } else { "s" }
            ));
            let (lo, hi) = range(&values);
            let img = plane_image(&values, rows, cols, lo, hi);
            let tex = studio.insight.texture(&ctx, "act-strip", img);
            let width = ui.available_width().min(cols as f32 * 12.0).max(60.0);
            let height = (rows as f32 * 12.0).clamp(14.0, 200.0);
            ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(width, height)))
                .on_hover_text(format!("values from {lo:.3} (dark) to {hi:.3} (yellow)"));
        }
    }
}

/// Repaint context for background threads, from the studio's last frame.
impl Studio {
    pub(super) fn repaint_ctx(&self) -> Option<egui::Context> {
        self.ctx.clone()
    }
}
