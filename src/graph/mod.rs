//! The network as data: layers, nodes, wires, and the checks that run on every edit.
//! No egui and no candle here, so the editor, the CLI and tests share it.

mod error;
mod fit;
mod gan;
mod kind;
pub mod memory;
mod shape;
mod spec;
mod validate;

pub use error::GraphError;
pub use fit::{fit_to_data, DataShape};
pub use gan::{gan_parts, GanError, GanParts, DISCRIMINATOR_GROUP, GENERATED, GENERATOR_GROUP};
pub use memory::{available_bytes, estimate, fits, gib, MemoryEstimate};
pub use shape::{
    bounded_numel, concat_axis_with_batch, conv_transpose_out, layer_output, LayerShapeError,
    MAX_LAYER_PARAMS, MAX_SAMPLE_VALUES, MAX_SIZE, MAX_UPSAMPLE,
};
pub use spec::{
    DType, Edge, Graph, Layer, LayerFamily, LayerKind, Loss, Node, Target, TensorShape,
    TrainingMode, UpsampleMode,
};
pub use validate::{analyze, Analysis, NodeShapes};
