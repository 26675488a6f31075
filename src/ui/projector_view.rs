//! The Projector tab: a node's activations on test samples laid on a plane (PCA, or t-SNE or
//! UMAP in the background with progress and Cancel), one colour per class; hovering a point names its
//! sample, clicking it shows the sample and lists its nearest neighbours in the layer's own
//! space. How faithful the plane is (kNN accuracy in the layer and on the plane,
//! trustworthiness) is printed above it.

use super::data::preview_view::class_color;
use super::job::ModelJob;
use super::panel::{Ctx, Panel, Place};
use crate::graph::Layer;
use crate::insight::projector::{Method, Projection, KNN};
use crate::insight::tsne::TsneSettings;
use crate::insight::umap::UmapSettings;
use egui::{RichText, TextureHandle, Ui};
use egui_plot::{Legend, Plot, PlotPoint, PlotPoints, PlotTransform, Points};

/// Neighbours listed for a clicked sample.
pub const NEIGHBOURS: usize = 8;

/// The method picked in the panel (its settings live beside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Pca,
    Tsne,
    Umap,
}

pub struct ProjectorPanel {
    /// The node projected (None: the one before the output's last layer).
    pub node: Option<String>,
    pub method: Choice,
    pub perplexity: f64,
    pub neighbours: usize,
    pub samples: usize,
    job: Option<ModelJob<Projection>>,
    pub result: Option<Projection>,
    error: Option<String>,
    /// The clicked sample (its place in the projection's samples).
    pub selected: Option<usize>,
    hovered: Option<usize>,
    /// The plot's mapping in the last frame, to tell which point the pointer is on.
    pub transform: Option<PlotTransform>,
    texture: Option<(usize, TextureHandle)>,
}

impl Default for ProjectorPanel {
    fn default() -> Self {
        Self {
            node: None,
            method: Choice::Pca,
            perplexity: 30.0,
            neighbours: 15,
            samples: 1000,
            job: None,
            result: None,
            error: None,
            selected: None,
            hovered: None,
            transform: None,
            texture: None,
        }
    }
}

impl ProjectorPanel {
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    fn method(&self) -> Method {
        match self.method {
            Choice::Pca => Method::Pca,
            Choice::Tsne => Method::Tsne(TsneSettings {
                perplexity: self.perplexity,
                ..Default::default()
            }),
            Choice::Umap => Method::Umap(UmapSettings {
                neighbours: self.neighbours,
                ..Default::default()
            }),
        }
    }

    /// A sensible first node: the input of the last layer before the output (the features the
    /// classifier reads).
    fn default_node(ctx: &Ctx) -> Option<String> {
        let ids: Vec<&str> = ctx
            .project
            .graph
            .nodes
            .iter()
            .filter(|n| !matches!(n.layer, Layer::Input { .. } | Layer::Output { .. }))
            .map(|n| n.id.as_str())
            .collect();
        ids.len()
            .checked_sub(2)
            .and_then(|i| ids.get(i))
            .or(ids.first())
            .map(|s| s.to_string())
    }

    fn start(&mut self, egui: &egui::Context, ctx: &mut Ctx, node: String) {
        let (Some(weights), Some(data)) = (ctx.weights.cloned(), ctx.dataset.clone()) else {
            self.error = Some("Train the network first: the projector shows its layers".into());
            return;
        };
        let (graph, seed) = (ctx.project.graph.clone(), ctx.project.training.seed);
        let split = if data.test.is_empty() {
            data.val.clone()
        } else {
            data.test.clone()
        };
        let method = self.method();
        let idx: Vec<usize> = split
            .into_iter()
            .take(self.samples.clamp(10, method.max_points()))
            .collect();
        let model = (graph, seed, weights);
        let job = ModelJob::spawn(
            "glassbox-projector",
            "projecting",
            egui,
            model,
            move |model, control, progress| {
                crate::insight::project_node(model, &data, &node, &idx, method, control, progress)
                    .map_err(|e| e.to_string())
            },
        );
        match job {
            Ok(job) => {
                self.error = None;
                self.job = Some(job);
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn controls_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        if self.node.is_none() {
            self.node = Self::default_node(ctx);
        }
        ui.horizontal(|ui| {
            ui.label("node");
            let current = self.node.clone().unwrap_or_default();
            egui::ComboBox::from_id_salt("projector-node")
                .selected_text(&current)
                .show_ui(ui, |ui| {
                    for n in &ctx.project.graph.nodes {
                        if !matches!(n.layer, Layer::Output { .. }) {
                            ui.selectable_value(&mut self.node, Some(n.id.clone()), &n.id);
                        }
                    }
                });
            ui.radio_value(&mut self.method, Choice::Pca, "PCA");
            ui.radio_value(&mut self.method, Choice::Tsne, "t-SNE");
            ui.radio_value(&mut self.method, Choice::Umap, "UMAP");
            match self.method {
                Choice::Pca => {}
                Choice::Tsne => {
                    ui.label("perplexity");
                    ui.add(
                        egui::DragValue::new(&mut self.perplexity)
                            .range(2.0..=100.0)
                            .speed(0.5),
                    );
                }
                Choice::Umap => {
                    ui.label("neighbours");
                    ui.add(egui::DragValue::new(&mut self.neighbours).range(2..=100));
                }
            }
            ui.label("samples");
            let max = self.method().max_points();
            ui.add(egui::DragValue::new(&mut self.samples).range(10..=max))
                .on_hover_text(format!(
                    "Test samples projected, up to {max}; t-SNE is exact up to {} and \
                     Barnes-Hut above",
                    crate::insight::tsne::EXACT_POINTS
                ));
            match &self.job {
                Some(job) => job.progress_ui(ui, 160.0),
                None => {
                    let ready = ctx.has_weights && ctx.dataset.is_some() && !ctx.training;
                    if ui
                        .add_enabled(ready, egui::Button::new("▶ Project"))
                        .on_disabled_hover_text(
                            "Train the network (and let the run end) with its data loaded",
                        )
                        .clicked()
                    {
                        if let Some(node) = self.node.clone() {
                            let egui = ui.ctx().clone();
                            self.start(&egui, ctx, node);
                        }
                    }
                }
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(super::theme::ERROR, e);
        }
    }

    /// The sample nearest the pointer within 12 points, by its place in the projection.
    fn point_at(&self, proj: &Projection, pos: egui::Pos2) -> Option<usize> {
        let t = self.transform.as_ref()?;
        proj.points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let at = t.position_from_point(&PlotPoint::new(p[0], p[1]));
                (i, at.distance(pos))
            })
            .filter(|(_, d)| *d < 12.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    /// Where sample number `i` of the projection is drawn in the last frame.
    pub fn screen_pos_of(&self, i: usize) -> Option<egui::Pos2> {
        let p = self.result.as_ref()?.points.get(i)?;
        let t = self.transform.as_ref()?;
        Some(t.position_from_point(&PlotPoint::new(p[0], p[1])))
    }

    /// The points as legend entries: one per class, or for a regression six bands of the
    /// target's value, coloured from low (dark) to high (bright).
    fn series(proj: &Projection, names: &[String]) -> Vec<(String, egui::Color32, Vec<[f64; 2]>)> {
        const BANDS: usize = 6;
        let values: Vec<f32> = proj.values.iter().flatten().copied().collect();
        if !values.is_empty() {
            let (lo, hi) = crate::ui::colormap::range(&values);
            let width = (hi - lo).max(1e-12) / BANDS as f32;
            let target = names.first().cloned().unwrap_or("target".into());
            let mut bands: Vec<Vec<[f64; 2]>> = vec![Vec::new(); BANDS];
            for (p, v) in proj.points.iter().zip(&proj.values) {
                if let Some(v) = v {
                    let k = (((v - lo) / width) as usize).min(BANDS - 1);
                    bands[k].push([p[0] as f64, p[1] as f64]);
                }
            }
            return bands
                .into_iter()
                .enumerate()
                .filter(|(_, pts)| !pts.is_empty())
                .map(|(k, pts)| {
                    let (a, b) = (lo + k as f32 * width, lo + (k + 1) as f32 * width);
                    let colour = crate::ui::colormap::sequential((k as f32 + 0.5) / BANDS as f32);
                    (format!("{target} {a:.1}–{b:.1}"), colour, pts)
                })
                .collect();
        }
        let mut by_class: std::collections::BTreeMap<Option<u32>, Vec<[f64; 2]>> =
            Default::default();
        for (p, l) in proj.points.iter().zip(&proj.labels) {
            by_class
                .entry(*l)
                .or_default()
                .push([p[0] as f64, p[1] as f64]);
        }
        by_class
            .into_iter()
            .map(|(label, pts)| match label {
                Some(c) => (
                    names.get(c as usize).cloned().unwrap_or(c.to_string()),
                    class_color(c),
                    pts,
                ),
                None => ("samples".to_string(), super::theme::TRAIN, pts),
            })
            .collect()
    }

    fn plot_ui(&mut self, ui: &mut Ui, proj: &Projection, names: &[String], height: f32) {
        let series = Self::series(proj, names);
        let marked: Vec<[f64; 2]> = [self.selected, self.hovered]
            .iter()
            .flatten()
            .filter_map(|&i| proj.points.get(i))
            .map(|p| [p[0] as f64, p[1] as f64])
            .collect();
        let response = Plot::new("projector")
            .height(height)
            .legend(Legend::default())
            .allow_scroll(false)
            // A click picks a sample; dragging would move the plane under it.
            .allow_drag(false)
            .show(ui, |plot| {
                for (name, colour, pts) in series {
                    plot.points(
                        Points::new(name, PlotPoints::new(pts))
                            .color(colour)
                            .radius(2.5),
                    );
                }
                plot.points(
                    Points::new("", PlotPoints::new(marked))
                        .color(egui::Color32::WHITE)
                        .radius(5.0)
                        .filled(false),
                );
            });
        self.transform = Some(response.transform);
        self.hovered = response
            .response
            .hover_pos()
            .and_then(|pos| self.point_at(proj, pos));
        if response.response.clicked() {
            if let Some(pos) = response.response.interact_pointer_pos() {
                self.selected = self.point_at(proj, pos);
            }
        }
    }

    fn sample_ui(&mut self, ui: &mut Ui, proj: &Projection, data: &crate::data::Dataset) {
        let names = data.class_names();
        let describe = |i: usize| {
            let index = proj.samples[i];
            let label = proj.labels[i]
                .map(|c| names.get(c as usize).cloned().unwrap_or(c.to_string()))
                .or(proj.values[i].map(|v| format!("{v:.2}")))
                .unwrap_or_default();
            format!("sample {} ({label})", data.origin(index))
        };
        if let Some(h) = self.hovered {
            ui.label(RichText::new(format!("under the pointer: {}", describe(h))).weak());
        }
        let Some(i) = self.selected else {
            ui.label(
                RichText::new(
                    "Click a point to see its sample and its nearest neighbours in the layer.",
                )
                .weak(),
            );
            return;
        };
        ui.label(RichText::new(describe(i)).strong());
        crate::ui::colormap::sample_preview_ui(ui, data, proj.samples[i], &mut self.texture, 84.0);
        ui.label(format!("{NEIGHBOURS} nearest in the layer:"));
        for (j, d) in proj.neighbours(i, NEIGHBOURS) {
            if ui
                .selectable_label(false, format!("{}  (distance {d:.3})", describe(j)))
                .clicked()
            {
                self.selected = Some(j);
            }
        }
    }
}

impl Panel for ProjectorPanel {
    fn name(&self) -> &'static str {
        "Projector"
    }

    fn place(&self) -> Place {
        Place::BottomTab
    }

    fn frame(&mut self, _egui: &egui::Context, _ctx: &mut Ctx) {
        let Some(job) = &self.job else { return };
        if let Some(r) = job.try_take() {
            self.job = None;
            match r {
                Ok(p) => {
                    self.result = Some(p);
                    self.selected = None;
                }
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        self.controls_ui(ui, ctx);
        let (Some(proj), Some(data)) = (self.result.clone(), ctx.dataset.clone()) else {
            ui.label(
                RichText::new(
                    "Train the network, pick a node and press ▶ Project: its activations on the test samples are laid on a plane, each class in its colour.",
                )
                .weak(),
            );
            return;
        };
        let mut line = format!(
            "'{}' ({} values) on {} test samples, {}",
            proj.node,
            proj.dim,
            proj.samples.len(),
            proj.method.name()
        );
        if proj.method == Method::Pca {
            line += &format!(
                " · the axes explain {:.1} % + {:.1} % of the variance",
                proj.explained[0] * 100.0,
                proj.explained[1] * 100.0
            );
        }
        if let (Some(layer), Some(plane)) = (proj.knn_layer, proj.knn_plane) {
            line += &format!(
                " · {KNN}-NN accuracy {:.1} % in the layer, {:.1} % on the plane",
                layer * 100.0,
                plane * 100.0
            );
        }
        if let Some(t) = proj.trustworthiness {
            line += &format!(" · trustworthiness {t:.3}");
        }
        ui.label(line);
        let height = (ui.available_height() - 8.0).max(220.0);
        let names = data.class_names().to_vec();
        ui.horizontal_top(|ui| {
            let w = ui.available_width();
            ui.allocate_ui(egui::vec2(w * 0.62, height), |ui| {
                self.plot_ui(ui, &proj, &names, height)
            });
            ui.vertical(|ui| self.sample_ui(ui, &proj, &data));
        });
    }

    fn on_event(&mut self, ev: &super::panel::StudioEvent) {
        if let super::panel::StudioEvent::Closing = ev {
            if let Some(job) = &self.job {
                job.cancel();
            }
            self.result = None;
            self.node = None;
            self.selected = None;
        }
    }
}
