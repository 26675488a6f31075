//! Graph → candle model, losses and weights. No egui here.

mod build;
pub mod kernels;
mod layers;
mod loss;
mod params;
mod weights;

pub use build::{Model, ModelError, TargetEncoding};
pub use layers::ForwardCtx;
pub use loss::{correct, loss, TargetBatch};
pub use params::ParamStore;
pub use weights::{WeightTensor, Weights, WeightsError};
