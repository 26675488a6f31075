//! Looking inside a model: activations, gradient health, saliency, explanations, evaluation and
//! diagnosis. No egui here; `ui` draws what these compute.

pub mod attention;
pub mod diagnosis;
mod error;
pub mod evaluate;
pub mod explain;
pub mod landscape;
pub mod latent;
pub mod maximize;
pub mod neighbours;
pub mod projector;
pub mod regression;
pub mod saliency;
pub mod samples;
pub mod service;
// What the worker streams while it trains is part of the run's events (train), read here.
pub use crate::train::snapshot;
pub mod stats;
pub mod tryit;
pub mod tsne;
mod tsne_bh;
pub mod umap;

pub use attention::{attention_maps, attention_maps_of, AttentionError, AttentionMap};
pub use diagnosis::{apply_fix, diagnose, Diagnosis, Finding, Fix};
pub use error::InsightError;
pub use evaluate::{
    evaluate_split, linear_baseline, majority_baseline, ClassScores, Evaluation, Prediction,
};
pub use explain::{
    kernel_shap, lime, segment, Explanation, LimeSettings, Segmentation, ShapSettings,
};
pub use landscape::{
    contour_segments, loss_landscape, loss_landscape_along, loss_line, Landscape, LandscapeSpec,
    LossLine, Plane,
};
pub use latent::{decode, latent_map, latent_node, reconstruct, LatentMap};
pub use maximize::{maximize, MaxTarget, MaximizeSettings};
pub use projector::{project_node, Projection};
pub use regression::{
    evaluate_regression, least_squares_baseline, RegressionEvaluation, RegressionPoint,
};
pub use saliency::{saliency, top_classes, Attribution, Baseline, SaliencyMethod};
pub use samples::{classify, draw_samples, gan_interpolation, interpolate_noise, slerp_path};
pub use service::{ExplainMethod, InsightHandle, InsightReply, InsightRequest, SampleView, Split};
pub use snapshot::{Activation, ParamHealth, Snapshot};
pub use stats::{activation_stats, ActivationStats};
pub use tryit::{classify_image, classify_text, ImageVerdict, TextVerdict, TryItError};
