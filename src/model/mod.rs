//! Graph → candle model, losses and weights. No egui here.

mod build;
mod carry;
mod compute;
mod generate;
pub mod kernels;
mod layers;
mod loss;
mod op_build;
mod params;
pub mod profile;
mod transfer;
mod upsample;
mod weights;

pub use build::{Model, ModelError, TargetEncoding};
pub use carry::CarriedState;
pub use generate::{
    check_language_model, encode_prompt, generate, GenerateError, SampleOptions, MAX_GENERATE_CHARS,
};
pub use layers::ForwardCtx;
pub use loss::{correct, loss, TargetBatch};
pub use params::ParamStore;
pub use transfer::TransferReport;
pub use weights::{WeightTensor, Weights, WeightsError};
