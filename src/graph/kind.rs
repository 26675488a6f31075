//! Layer kinds without their parameters: the palette's entries, their families (groups and
//! colours), names, one-sentence descriptions, default parameters and id prefixes.

use super::spec::{DType, Layer, Loss, Target};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a layer without its parameters: palette entries, colours, names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LayerKind {
    Input,
    Noise,
    Dense,
    Embedding,
    PositionalEmbedding,
    Lstm,
    Gru,
    Rnn,
    SelfAttention,
    Conv2d,
    ConvTranspose2d,
    Conv1d,
    Upsample2d,
    MaxPool2d,
    AvgPool2d,
    GlobalAvgPool,
    GlobalMaxPool,
    Flatten,
    Reshape,
    ReLU,
    LeakyReLU,
    Sigmoid,
    Tanh,
    GELU,
    Softmax,
    Dropout,
    BatchNorm,
    LayerNorm,
    Sampling,
    Add,
    Concat,
    Output,
}

/// Families used to group the palette and colour nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerFamily {
    Io,
    Linear,
    Convolution,
    Shape,
    Activation,
    Regularisation,
    Merge,
    Sequence,
}

impl LayerKind {
    pub const ALL: [LayerKind; 32] = [
        LayerKind::Input,
        LayerKind::Noise,
        LayerKind::Dense,
        LayerKind::Embedding,
        LayerKind::PositionalEmbedding,
        LayerKind::Lstm,
        LayerKind::Gru,
        LayerKind::Rnn,
        LayerKind::SelfAttention,
        LayerKind::Conv1d,
        LayerKind::Conv2d,
        LayerKind::ConvTranspose2d,
        LayerKind::Upsample2d,
        LayerKind::MaxPool2d,
        LayerKind::AvgPool2d,
        LayerKind::GlobalAvgPool,
        LayerKind::GlobalMaxPool,
        LayerKind::Flatten,
        LayerKind::Reshape,
        LayerKind::ReLU,
        LayerKind::LeakyReLU,
        LayerKind::Sigmoid,
        LayerKind::Tanh,
        LayerKind::GELU,
        LayerKind::Softmax,
        LayerKind::Dropout,
        LayerKind::BatchNorm,
        LayerKind::LayerNorm,
        LayerKind::Sampling,
        LayerKind::Add,
        LayerKind::Concat,
        LayerKind::Output,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Input => "Input",
            LayerKind::Noise => "Noise",
            LayerKind::Dense => "Dense",
            LayerKind::Embedding => "Embedding",
            LayerKind::PositionalEmbedding => "PositionalEmbedding",
            LayerKind::Lstm => "LSTM",
            LayerKind::Gru => "GRU",
            LayerKind::Rnn => "RNN",
            LayerKind::SelfAttention => "SelfAttention",
            LayerKind::Conv2d => "Conv2d",
            LayerKind::ConvTranspose2d => "ConvTranspose2d",
            LayerKind::Conv1d => "Conv1d",
            LayerKind::Upsample2d => "Upsample2d",
            LayerKind::MaxPool2d => "MaxPool2d",
            LayerKind::AvgPool2d => "AvgPool2d",
            LayerKind::GlobalAvgPool => "GlobalAvgPool",
            LayerKind::GlobalMaxPool => "GlobalMaxPool",
            LayerKind::Flatten => "Flatten",
            LayerKind::Reshape => "Reshape",
            LayerKind::ReLU => "ReLU",
            LayerKind::LeakyReLU => "LeakyReLU",
            LayerKind::Sigmoid => "Sigmoid",
            LayerKind::Tanh => "Tanh",
            LayerKind::GELU => "GELU",
            LayerKind::Softmax => "Softmax",
            LayerKind::Dropout => "Dropout",
            LayerKind::BatchNorm => "BatchNorm",
            LayerKind::LayerNorm => "LayerNorm",
            LayerKind::Sampling => "Sampling",
            LayerKind::Add => "Add",
            LayerKind::Concat => "Concat",
            LayerKind::Output => "Output",
        }
    }

    /// One sentence for tooltips and the CLI.
    pub fn description(self) -> &'static str {
        match self {
            LayerKind::Input => "Where samples from the data set enter the network; its shape is one sample's shape.",
            LayerKind::Noise => "Random numbers a GAN's generator turns into samples: a fresh draw for every sample.",
            LayerKind::Dense => "Fully connected layer: every output is a weighted sum of all inputs plus a bias.",
            LayerKind::Embedding => "Looks up a learned vector for each token id, turning text into numbers a network can read.",
            LayerKind::PositionalEmbedding => "Adds a learned vector for each position, so later layers know where in the sequence a token is.",
            LayerKind::Lstm => "A recurrent layer that reads a sequence step by step, keeping a memory it learns to update and forget.",
            LayerKind::Gru => "A lighter recurrent layer than the LSTM: a memory with reset and update gates.",
            LayerKind::Rnn => "The simplest recurrent layer: each step mixes the input with the previous state through tanh.",
            LayerKind::SelfAttention => "Lets every position look at the others and mix in what is relevant: the heart of a transformer.",
            LayerKind::Conv2d => "Slides small learned filters over an image to detect local patterns such as edges and strokes.",
            LayerKind::ConvTranspose2d => "Learned upsampling: spreads each input pixel over a window, growing the image (decoders, generators).",
            LayerKind::Conv1d => "Slides filters along a sequence [steps, features] to detect local patterns such as character n-grams.",
            LayerKind::GlobalAvgPool => "Averages each channel over the whole image (or each feature over all steps) into one number.",
            LayerKind::GlobalMaxPool => "Keeps the largest value of each channel over the whole image (or each feature over all steps).",
            LayerKind::Upsample2d => "Enlarges an image by a whole factor, repeating pixels or blending neighbours: upsampling without weights or checkerboards.",
            LayerKind::MaxPool2d => "Keeps the largest value in each window, shrinking the image while keeping strong features.",
            LayerKind::AvgPool2d => "Averages each window, shrinking the image smoothly.",
            LayerKind::Flatten => "Unrolls an image or sequence into one flat vector so Dense layers can read it.",
            LayerKind::Reshape => "Rearranges the values of each sample into a new shape with the same number of values.",
            LayerKind::ReLU => "Passes positive values and zeroes negative ones: the default non-linearity.",
            LayerKind::LeakyReLU => "Like ReLU, but lets a small slope through for negative values so units never die.",
            LayerKind::Sigmoid => "Squashes each value into (0, 1).",
            LayerKind::Tanh => "Squashes each value into (-1, 1).",
            LayerKind::GELU => "A smooth ReLU used in transformers.",
            LayerKind::Softmax => "Turns scores into probabilities that sum to 1 (not needed before a cross-entropy Output).",
            LayerKind::Dropout => "During training, randomly zeroes a fraction of values so the network cannot rely on any one unit.",
            LayerKind::BatchNorm => "Normalises each channel over the batch, which makes deep networks train faster.",
            LayerKind::LayerNorm => "Normalises each sample over its last axis, as transformers do.",
            LayerKind::Sampling => "A variational autoencoder's latent: reads means and log-variances, draws a sample near the mean, and keeps the codes close to a standard normal.",
            LayerKind::Add => "Adds its inputs element by element (residual connections).",
            LayerKind::Concat => "Joins its inputs along one axis.",
            LayerKind::Output => "The prediction: compares the network's output with the target using the chosen loss.",
        }
    }

    pub fn family(self) -> LayerFamily {
        match self {
            LayerKind::Input | LayerKind::Noise | LayerKind::Output => LayerFamily::Io,
            LayerKind::Dense | LayerKind::Embedding => LayerFamily::Linear,
            LayerKind::PositionalEmbedding
            | LayerKind::Lstm
            | LayerKind::Gru
            | LayerKind::Rnn
            | LayerKind::SelfAttention => LayerFamily::Sequence,
            LayerKind::Conv2d
            | LayerKind::ConvTranspose2d
            | LayerKind::Conv1d
            | LayerKind::Upsample2d
            | LayerKind::MaxPool2d
            | LayerKind::AvgPool2d
            | LayerKind::GlobalAvgPool
            | LayerKind::GlobalMaxPool => LayerFamily::Convolution,
            LayerKind::Flatten | LayerKind::Reshape => LayerFamily::Shape,
            LayerKind::ReLU
            | LayerKind::LeakyReLU
            | LayerKind::Sigmoid
            | LayerKind::Tanh
            | LayerKind::GELU
            | LayerKind::Softmax => LayerFamily::Activation,
            LayerKind::Dropout
            | LayerKind::BatchNorm
            | LayerKind::LayerNorm
            | LayerKind::Sampling => LayerFamily::Regularisation,
            LayerKind::Add | LayerKind::Concat => LayerFamily::Merge,
        }
    }

    /// A layer of this kind with sensible default parameters.
    pub fn default_layer(self) -> Layer {
        match self {
            LayerKind::Input => Layer::Input {
                shape: vec![4],
                dtype: DType::F32,
            },
            LayerKind::Noise => Layer::Noise { dim: 64 },
            LayerKind::Dense => Layer::Dense {
                units: 64,
                bias: true,
            },
            LayerKind::PositionalEmbedding => Layer::PositionalEmbedding { max_len: 64 },
            LayerKind::Lstm => Layer::Lstm {
                hidden: 64,
                sequences: true,
            },
            LayerKind::Gru => Layer::Gru {
                hidden: 64,
                sequences: true,
            },
            LayerKind::Rnn => Layer::Rnn {
                hidden: 64,
                sequences: true,
            },
            LayerKind::SelfAttention => Layer::SelfAttention {
                heads: 4,
                causal: true,
            },
            LayerKind::Embedding => Layer::Embedding {
                vocab: 100,
                dim: 16,
            },
            LayerKind::Conv2d => Layer::Conv2d {
                filters: 16,
                kernel: 3,
                stride: 1,
                padding: 1,
                bias: true,
            },
            LayerKind::ConvTranspose2d => Layer::ConvTranspose2d {
                filters: 16,
                kernel: 4,
                stride: 2,
                padding: 1,
                output_padding: 0,
                bias: true,
            },
            LayerKind::Conv1d => Layer::Conv1d {
                filters: 32,
                kernel: 3,
                stride: 1,
                padding: 1,
                bias: true,
            },
            LayerKind::GlobalAvgPool => Layer::GlobalAvgPool,
            LayerKind::GlobalMaxPool => Layer::GlobalMaxPool,
            LayerKind::Upsample2d => Layer::Upsample2d {
                scale: 2,
                mode: Default::default(),
            },
            LayerKind::MaxPool2d => Layer::MaxPool2d {
                kernel: 2,
                stride: 2,
            },
            LayerKind::AvgPool2d => Layer::AvgPool2d {
                kernel: 2,
                stride: 2,
            },
            LayerKind::Flatten => Layer::Flatten,
            LayerKind::Reshape => Layer::Reshape { shape: vec![-1] },
            LayerKind::ReLU => Layer::ReLU,
            LayerKind::LeakyReLU => Layer::LeakyReLU { slope: 0.01 },
            LayerKind::Sigmoid => Layer::Sigmoid,
            LayerKind::Tanh => Layer::Tanh,
            LayerKind::GELU => Layer::GELU,
            LayerKind::Softmax => Layer::Softmax,
            LayerKind::Dropout => Layer::Dropout { p: 0.5 },
            LayerKind::BatchNorm => Layer::BatchNorm {
                momentum: 0.1,
                eps: 1e-5,
            },
            LayerKind::LayerNorm => Layer::LayerNorm { eps: 1e-5 },
            LayerKind::Sampling => Layer::Sampling { beta: 1.0 },
            LayerKind::Add => Layer::Add { inputs: 2 },
            LayerKind::Concat => Layer::Concat { inputs: 2, axis: 0 },
            LayerKind::Output => Layer::Output {
                loss: Loss::CrossEntropy,
                target: Target::Label,
            },
        }
    }

    /// Prefix for automatically named nodes ("fc1", "conv2").
    pub fn id_prefix(self) -> &'static str {
        match self {
            LayerKind::Input => "input",
            LayerKind::Noise => "noise",
            LayerKind::Dense => "fc",
            LayerKind::Embedding => "embed",
            LayerKind::PositionalEmbedding => "pos",
            LayerKind::Lstm => "lstm",
            LayerKind::Gru => "gru",
            LayerKind::Rnn => "rnn",
            LayerKind::SelfAttention => "attn",
            LayerKind::Conv2d => "conv",
            LayerKind::ConvTranspose2d => "deconv",
            LayerKind::Conv1d => "conv1d_",
            LayerKind::GlobalAvgPool => "gap",
            LayerKind::GlobalMaxPool => "gmp",
            LayerKind::Upsample2d => "up",
            LayerKind::MaxPool2d => "maxpool",
            LayerKind::AvgPool2d => "avgpool",
            LayerKind::Flatten => "flatten",
            LayerKind::Reshape => "reshape",
            LayerKind::ReLU => "relu",
            LayerKind::LeakyReLU => "lrelu",
            LayerKind::Sigmoid => "sigmoid",
            LayerKind::Tanh => "tanh",
            LayerKind::GELU => "gelu",
            LayerKind::Softmax => "softmax",
            LayerKind::Dropout => "dropout",
            LayerKind::BatchNorm => "bn",
            LayerKind::LayerNorm => "ln",
            LayerKind::Sampling => "z",
            LayerKind::Add => "add",
            LayerKind::Concat => "concat",
            LayerKind::Output => "output",
        }
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
