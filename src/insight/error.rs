//! Why a look inside a model could not be made, in words a user can act on.

use crate::graph::GanError;
use crate::model::ModelError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum InsightError {
    #[error(transparent)]
    Gan(#[from] GanError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(
        "only generative models draw new samples: set the training mode to GAN or autoencoder"
    )]
    NotGenerative,
    #[error("noise interpolation belongs to a GAN: set the training mode to GAN")]
    NotAGan,
    #[error("the network has no latent layer")]
    NoLatent,
    #[error("{0} interpolation steps: choose 2 to 64")]
    Steps(usize),
    #[error("the classifier reads {shape}, which does not fit samples of {values} values")]
    ClassifierInput { shape: String, values: usize },
    #[error("there are no samples to encode")]
    NoSamples,
    #[error("'{node}' gives {dim} value(s) per sample: a latent plane needs at least 2")]
    FlatLatent { node: String, dim: usize },
    #[error("({:.2}, {:.2}) lies outside the codes the encoder produced (x {:.2} to {:.2}, y {:.2} to {:.2}): pick a point in or near the cloud", .point[0], .point[1], .x[0], .x[1], .y[0], .y[1])]
    OffThePlane {
        point: [f32; 2],
        x: [f32; 2],
        y: [f32; 2],
    },
    #[error("node '{0}' is not part of the model")]
    UnknownNode(String),
    #[error("a code of {values} values does not fit '{node}', which holds {holds}")]
    CodeSize {
        node: String,
        values: usize,
        holds: usize,
    },
    /// The baseline's own training run failed or diverged (its reason).
    #[error("{0}")]
    BaselineRun(String),
    #[error("a loss landscape needs a supervised model on samples (not a language model, an autoencoder or a GAN)")]
    LandscapeMode,
    #[error("a {0} × {0} grid: choose 3 to 101 cells a side")]
    Grid(usize),
    #[error("{0} points on the line: choose 3 to 401")]
    LinePoints(usize),
    #[error("the two weight files differ at '{0}': they are not weights of the same network")]
    WeightsDiffer(String),
    #[error("the path's plane needs the weights of at least two epochs besides the trained ones: train for two epochs or more")]
    PathTooShort,
    #[error("stopped")]
    Stopped,
}
