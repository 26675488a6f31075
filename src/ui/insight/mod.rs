//! Looking inside: activations of the selected node, saliency and explanations, activation
//! maximisation, evaluation (confusion matrix, per-class scores, mistakes, baselines), and
//! gradient health with a diagnosis. The numbers come from the insight engine.

mod activations_view;
mod attention_view;
mod draw_view;
mod evaluation_view;
mod family;
mod gan_view;
mod generate_view;
mod health_view;
pub mod histograms_view;
mod latent_view;
mod maximize_view;
mod regression_view;
mod requests;
mod saliency_view;
mod text_view;
mod tryit;

pub use activations_view::activations_ui;
use attention_view::attention_ui;
use draw_view::draw_ui;
pub use draw_view::stroke;
use evaluation_view::evaluation_ui;
pub use family::FamilyState;
use gan_view::gan_ui;
use generate_view::generate_ui;
use health_view::health_ui;
use latent_view::latent_ui;
pub use latent_view::pick as pick_latent_point;
use maximize_view::maximize_ui;
use saliency_view::saliency_ui;
use text_view::text_ui;
pub use tryit::{Live, TryItState};

use super::studio::Studio;
use super::theme::ERROR;
use crate::graph::Graph;
use crate::insight::{
    Evaluation, InsightHandle, MaximizeSettings, ParamHealth, SampleView, Snapshot, Split,
};
use crate::model::Weights;
use egui::{ColorImage, TextureHandle, TextureOptions, Ui};
use std::collections::HashMap;

/// Health entries kept for the over-time plots.
const MAX_HEALTH: usize = 400;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InsightTab {
    #[default]
    Saliency,
    Maximize,
    Evaluation,
    Health,
    /// Weights, gradients and outputs over time.
    Histograms,
    /// A language model's generation box.
    Generate,
    /// An autoencoder's reconstructions and latent plane.
    Autoencoder,
    /// A GAN's samples and its two players' scores.
    Gan,
    /// An image classifier's drawing board.
    Draw,
    /// A text classifier's text box.
    TypeText,
    /// A transformer's attention maps.
    Attention,
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
    pub family: FamilyState,
    pub tryit: TryItState,
    pub health: Vec<(usize, Vec<ParamHealth>)>,
    /// Each snapshot's histograms and dead ReLU shares (bounded, see `Timeline::CAP`).
    pub timeline: crate::train::histogram::Timeline,
    pub histograms: histograms_view::HistogramsView,
    pub probe_sample: usize,
    pub per_map_scaling: bool,
    pub tab: InsightTab,
    handle: Option<InsightHandle>,
    handle_graph: Option<Graph>,
    handle_setup: Option<(crate::graph::TrainingMode, crate::data::DataSource)>,
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
    /// A regression's evaluation (see `regression_view`).
    pub regression: Option<regression_view::RegressionEvaluated>,
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
    pub fn take_snapshot(&mut self, mut s: Snapshot) {
        self.timeline.push(std::mem::take(&mut s.column));
        // An epoch's closing snapshot repeats the last measured health: counted once.
        let repeated = self.health.last().is_some_and(|(_, h)| *h == s.health);
        if !s.health.is_empty() && !repeated {
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
        // What the user typed into the generation box outlives the run.
        let family = FamilyState {
            prompt: std::mem::take(&mut self.family.prompt),
            options: self.family.options.clone(),
            ..FamilyState::default()
        };
        let drawn = self.tryit.drawing.iter().any(|&v| v > 0.0);
        let tryit = TryItState {
            text: std::mem::take(&mut self.tryit.text),
            attention_text: std::mem::take(&mut self.tryit.attention_text),
            drawing: std::mem::take(&mut self.tryit.drawing),
            dims: std::mem::take(&mut self.tryit.dims),
            center: self.tryit.center,
            // What was drawn is read again by the next model.
            image_live: Live {
                dirty: drawn,
                in_flight: false,
            },
            ..TryItState::default()
        };
        *self = Self {
            tab,
            family,
            tryit,
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

pub fn insight_panel_ui(ui: &mut Ui, studio: &mut Studio) {
    let autoencoder = matches!(
        studio.doc.project.mode,
        crate::graph::TrainingMode::Autoencoder { .. }
    );
    let gan = matches!(
        studio.doc.project.mode,
        crate::graph::TrainingMode::Gan { .. }
    );
    let supervised = !autoencoder && !gan;
    let language = supervised && studio.doc.project.data.source.is_text_corpus();
    let typed = supervised
        && matches!(
            studio.doc.project.data.source,
            crate::data::DataSource::TextClass { .. }
        );
    let images = supervised
        && !studio.doc.project.data.source.is_text_corpus()
        && studio
            .data
            .summary
            .as_ref()
            .is_some_and(|s| s.sample_shape.len() == 3 && !s.classes.is_empty());
    let attends = supervised
        && studio
            .doc
            .project
            .graph
            .nodes
            .iter()
            .any(|n| n.layer.kind() == crate::graph::LayerKind::SelfAttention);
    // Each family shows the views that mean something for it.
    let fits = |t: InsightTab| match t {
        InsightTab::Autoencoder => autoencoder,
        InsightTab::Generate => language,
        InsightTab::Gan => gan,
        InsightTab::Saliency | InsightTab::Maximize | InsightTab::Evaluation => supervised,
        InsightTab::Health | InsightTab::Histograms => true,
        InsightTab::Draw => images,
        InsightTab::TypeText => typed,
        InsightTab::Attention => attends,
    };
    if !fits(studio.insight.tab) {
        studio.insight.tab = if autoencoder {
            InsightTab::Autoencoder
        } else if gan {
            InsightTab::Gan
        } else {
            InsightTab::Saliency
        };
    }
    ui.horizontal(|ui| {
        let tab = &mut studio.insight.tab;
        for (t, title) in [
            (InsightTab::Autoencoder, "Autoencoder"),
            (InsightTab::Gan, "GAN"),
            (InsightTab::Generate, "Generate text"),
            (InsightTab::Attention, "Attention"),
            (InsightTab::Draw, "Try it: draw"),
            (InsightTab::TypeText, "Try it: type"),
            (InsightTab::Saliency, "Saliency & explanations"),
            (InsightTab::Maximize, "Activation maximisation"),
            (InsightTab::Evaluation, "Evaluation"),
            (InsightTab::Health, "Gradient health & diagnosis"),
            (InsightTab::Histograms, "Weights over time"),
        ] {
            if fits(t) {
                ui.selectable_value(tab, t, title);
            }
        }
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
        InsightTab::Histograms => {
            let insight = &mut studio.insight;
            histograms_view::histograms_ui(ui, &mut insight.histograms, &insight.timeline)
        }
        InsightTab::Generate => generate_ui(ui, studio),
        InsightTab::Autoencoder => latent_ui(ui, studio),
        InsightTab::Gan => gan_ui(ui, studio),
        InsightTab::Draw => draw_ui(ui, studio),
        InsightTab::TypeText => text_ui(ui, studio),
        InsightTab::Attention => attention_ui(ui, studio),
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

/// Repaint context for background threads, from the studio's last frame.
impl Studio {
    pub(super) fn repaint_ctx(&self) -> Option<egui::Context> {
        self.frame.egui.clone()
    }
}
