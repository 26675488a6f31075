//! The graph as plain data: layers with their parameters, nodes, wires.
//!
//! Everything here is serde so a project file, the editor and the CLI share one description.

pub use super::kind::{LayerFamily, LayerKind};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Element type a tensor carries between layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    #[default]
    F32,
    /// Integer token ids (embedding inputs, language models).
    TokenId,
}

/// Shape of one sample (the batch dimension is implicit and shown as `B`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorShape {
    pub dims: Vec<usize>,
    #[serde(default)]
    pub dtype: DType,
}

impl TensorShape {
    pub fn f32(dims: impl Into<Vec<usize>>) -> Self {
        Self {
            dims: dims.into(),
            dtype: DType::F32,
        }
    }

    /// Number of values in one sample.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Dims with the batch dimension in front, for building tensors.
    pub fn with_batch(&self, batch: usize) -> Vec<usize> {
        std::iter::once(batch)
            .chain(self.dims.iter().copied())
            .collect()
    }
}

impl fmt::Display for TensorShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[B")?;
        for d in &self.dims {
            write!(f, ", {d}")?;
        }
        write!(f, "]")?;
        if self.dtype == DType::TokenId {
            write!(f, " ids")?;
        }
        Ok(())
    }
}

/// What a model is trained to do. A text corpus (next character) under `Supervised` trains a
/// language model, which also generates text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum TrainingMode {
    /// The output against the data set's labels or target values.
    #[default]
    Supervised,
    /// The output against the input itself (with a Sampling node: a variational autoencoder).
    Autoencoder {
        /// Standard deviation of Gaussian noise added to the input while training (a denoising
        /// autoencoder); 0 = off.
        #[serde(default)]
        noise_std: f32,
    },
    /// A generator (what the Noise node feeds) against a discriminator (Input → Output),
    /// updated in turn, each with its own Adam.
    Gan {
        #[serde(default = "gan_lr")]
        generator_lr: f64,
        #[serde(default = "gan_lr")]
        discriminator_lr: f64,
        /// Adam's β1 for both (0.5 is the usual choice for GANs).
        #[serde(default = "gan_beta1")]
        beta1: f64,
    },
}

fn gan_lr() -> f64 {
    2e-4
}
fn gan_beta1() -> f64 {
    0.5
}

impl TrainingMode {
    pub fn gan() -> Self {
        TrainingMode::Gan {
            generator_lr: gan_lr(),
            discriminator_lr: gan_lr(),
            beta1: gan_beta1(),
        }
    }
}

impl TrainingMode {
    pub fn label(&self) -> &'static str {
        match self {
            TrainingMode::Supervised => "supervised",
            TrainingMode::Autoencoder { .. } => "autoencoder",
            TrainingMode::Gan { .. } => "GAN",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Loss {
    /// Softmax cross-entropy on raw class scores (logits) against class labels.
    #[default]
    CrossEntropy,
    /// Mean squared error against numeric targets (one-hot for class labels).
    Mse,
    /// Sigmoid + binary cross-entropy on logits against 0/1 targets.
    BinaryCrossEntropy,
}

impl Loss {
    pub const ALL: [Loss; 3] = [Loss::CrossEntropy, Loss::Mse, Loss::BinaryCrossEntropy];

    pub fn label(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross-entropy",
            Loss::Mse => "mean squared error",
            Loss::BinaryCrossEntropy => "binary cross-entropy",
        }
    }
}

/// How `Upsample2d` fills the new pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UpsampleMode {
    /// Each pixel repeated scale × scale times.
    #[default]
    Nearest,
    /// Each new pixel from its four nearest, weighted by distance (pixel centres aligned as
    /// PyTorch's `align_corners=False`).
    Bilinear,
}

impl UpsampleMode {
    pub const ALL: [UpsampleMode; 2] = [UpsampleMode::Nearest, UpsampleMode::Bilinear];

    pub fn label(self) -> &'static str {
        match self {
            UpsampleMode::Nearest => "nearest",
            UpsampleMode::Bilinear => "bilinear",
        }
    }
}

/// What the Output node compares the prediction with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// The data set's label / target column.
    #[default]
    Label,
}

fn yes() -> bool {
    true
}
fn two() -> usize {
    2
}
fn bn_momentum() -> f32 {
    0.1
}
fn norm_eps() -> f32 {
    1e-5
}
fn leaky_slope() -> f32 {
    0.01
}

/// A layer and its parameters. The serde tag `type` keeps project files readable:
/// `{"type": "Dense", "units": 128}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Layer {
    Input {
        shape: Vec<usize>,
        #[serde(default)]
        dtype: DType,
    },
    /// A GAN generator's source: a vector of standard normal noise per sample, [dim].
    Noise {
        dim: usize,
    },
    Dense {
        units: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Token ids [T] → learned vectors [T, dim].
    Embedding {
        vocab: usize,
        dim: usize,
    },
    /// Adds a learned vector per position to a sequence [T, D] (T ≤ max_len).
    PositionalEmbedding {
        max_len: usize,
    },
    /// Long short-term memory over a sequence [T, F] → [T, hidden] (or [hidden], the last step).
    Lstm {
        hidden: usize,
        #[serde(default = "yes")]
        sequences: bool,
    },
    /// Gated recurrent unit over a sequence [T, F] → [T, hidden] (or [hidden], the last step).
    Gru {
        hidden: usize,
        #[serde(default = "yes")]
        sequences: bool,
    },
    /// Plain (Elman) recurrent layer with tanh over a sequence [T, F] → [T, hidden] (or
    /// [hidden], the last step).
    Rnn {
        hidden: usize,
        #[serde(default = "yes")]
        sequences: bool,
    },
    /// Multi-head self-attention over a sequence [T, D] → [T, D].
    SelfAttention {
        heads: usize,
        /// Each position sees only itself and earlier ones (language models).
        #[serde(default)]
        causal: bool,
    },
    Conv2d {
        filters: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Transposed convolution: learned upsampling of an image [C, H, W] → [filters, H', W'].
    ConvTranspose2d {
        filters: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        /// Extra rows/columns on one side of the output (below the stride).
        #[serde(default)]
        output_padding: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Convolution along a sequence [T, F] → [T', filters] (channels last, like the other
    /// sequence layers): n-gram detectors for text, filters for signals.
    Conv1d {
        filters: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    MaxPool2d {
        kernel: usize,
        stride: usize,
    },
    /// Enlarges an image [C, H, W] → [C, H·scale, W·scale] without weights: a decoder's
    /// upsampling without transposed convolution's checkerboards (Odena et al. 2016).
    Upsample2d {
        scale: usize,
        #[serde(default)]
        mode: UpsampleMode,
    },
    /// Mean of each channel over the image [C, H, W] → [C], or of each feature over the
    /// steps of a sequence [T, F] → [F].
    GlobalAvgPool,
    /// Maximum of each channel over the image, or of each feature over the sequence.
    GlobalMaxPool,
    AvgPool2d {
        kernel: usize,
        stride: usize,
    },
    Flatten,
    Reshape {
        /// Target shape without the batch dimension; one entry may be -1 (inferred).
        shape: Vec<i64>,
    },
    ReLU,
    LeakyReLU {
        #[serde(default = "leaky_slope")]
        slope: f32,
    },
    Sigmoid,
    Tanh,
    GELU,
    /// Softmax over the last axis.
    Softmax,
    Dropout {
        p: f32,
    },
    BatchNorm {
        #[serde(default = "bn_momentum")]
        momentum: f32,
        #[serde(default = "norm_eps")]
        eps: f32,
    },
    /// Normalises over the last axis.
    LayerNorm {
        #[serde(default = "norm_eps")]
        eps: f32,
    },
    /// Variational autoencoder's latent: reads means and log-variances [2·z] and draws
    /// z = mean + e^(logvar/2)·ε while training (the mean when evaluating); adds
    /// beta · KL(q(z|x) ‖ N(0, 1)) to the loss.
    Sampling {
        #[serde(default = "one_f32")]
        beta: f32,
    },
    Add {
        #[serde(default = "two")]
        inputs: usize,
    },
    Concat {
        #[serde(default = "two")]
        inputs: usize,
        /// Axis among the sample dims (0 = channels / first feature axis; -1 = last).
        #[serde(default)]
        axis: i64,
    },
    Output {
        #[serde(default)]
        loss: Loss,
        #[serde(default)]
        target: Target,
    },
}

fn one() -> usize {
    1
}
fn one_f32() -> f32 {
    1.0
}

impl Layer {
    pub fn kind(&self) -> LayerKind {
        match self {
            Layer::Input { .. } => LayerKind::Input,
            Layer::Noise { .. } => LayerKind::Noise,
            Layer::Dense { .. } => LayerKind::Dense,
            Layer::Embedding { .. } => LayerKind::Embedding,
            Layer::PositionalEmbedding { .. } => LayerKind::PositionalEmbedding,
            Layer::Lstm { .. } => LayerKind::Lstm,
            Layer::Gru { .. } => LayerKind::Gru,
            Layer::Rnn { .. } => LayerKind::Rnn,
            Layer::SelfAttention { .. } => LayerKind::SelfAttention,
            Layer::Conv2d { .. } => LayerKind::Conv2d,
            Layer::ConvTranspose2d { .. } => LayerKind::ConvTranspose2d,
            Layer::Conv1d { .. } => LayerKind::Conv1d,
            Layer::GlobalAvgPool => LayerKind::GlobalAvgPool,
            Layer::GlobalMaxPool => LayerKind::GlobalMaxPool,
            Layer::MaxPool2d { .. } => LayerKind::MaxPool2d,
            Layer::Upsample2d { .. } => LayerKind::Upsample2d,
            Layer::AvgPool2d { .. } => LayerKind::AvgPool2d,
            Layer::Flatten => LayerKind::Flatten,
            Layer::Reshape { .. } => LayerKind::Reshape,
            Layer::ReLU => LayerKind::ReLU,
            Layer::LeakyReLU { .. } => LayerKind::LeakyReLU,
            Layer::Sigmoid => LayerKind::Sigmoid,
            Layer::Tanh => LayerKind::Tanh,
            Layer::GELU => LayerKind::GELU,
            Layer::Softmax => LayerKind::Softmax,
            Layer::Dropout { .. } => LayerKind::Dropout,
            Layer::BatchNorm { .. } => LayerKind::BatchNorm,
            Layer::LayerNorm { .. } => LayerKind::LayerNorm,
            Layer::Sampling { .. } => LayerKind::Sampling,
            Layer::Add { .. } => LayerKind::Add,
            Layer::Concat { .. } => LayerKind::Concat,
            Layer::Output { .. } => LayerKind::Output,
        }
    }

    /// Number of input ports (an absurd Add/Concat count is capped here, so nothing sizes
    /// itself by it; the node's checks name the real count).
    pub fn input_count(&self) -> usize {
        match self {
            Layer::Input { .. } | Layer::Noise { .. } => 0,
            Layer::Add { inputs } | Layer::Concat { inputs, .. } => {
                (*inputs).min(super::shape::MAX_PORTS)
            }
            _ => 1,
        }
    }

    /// Number of output ports.
    pub fn output_count(&self) -> usize {
        match self {
            Layer::Output { .. } => 0,
            _ => 1,
        }
    }

    /// Short parameter summary for node bodies and tables ("128 units", "32×3×3 s1 p1").
    pub fn summary(&self) -> String {
        match self {
            Layer::Input { shape, dtype } => {
                let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                let ids = if *dtype == DType::TokenId { " ids" } else { "" };
                format!("[{}]{ids}", dims.join(", "))
            }
            Layer::Noise { dim } => format!("{dim} random numbers"),
            Layer::Dense { units, bias } => {
                format!("{units} units{}", if *bias { "" } else { ", no bias" })
            }
            Layer::Embedding { vocab, dim } => format!("{vocab} tokens → {dim}"),
            Layer::PositionalEmbedding { max_len } => format!("up to {max_len} positions"),
            Layer::Lstm { hidden, sequences }
            | Layer::Gru { hidden, sequences }
            | Layer::Rnn { hidden, sequences } => {
                format!(
                    "{hidden} units{}",
                    if *sequences { "" } else { ", last step" }
                )
            }
            Layer::SelfAttention { heads, causal } => {
                format!("{heads} heads{}", if *causal { ", causal" } else { "" })
            }
            Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                ..
            } => format!("{filters} × {kernel}×{kernel}, stride {stride}, pad {padding}"),
            Layer::ConvTranspose2d {
                filters,
                kernel,
                stride,
                padding,
                ..
            } => format!("{filters} × {kernel}×{kernel} up, stride {stride}, pad {padding}"),
            Layer::Conv1d {
                filters,
                kernel,
                stride,
                padding,
                ..
            } => format!("{filters} × {kernel}, stride {stride}, pad {padding}"),
            Layer::Sampling { beta } => format!("KL weight {beta}"),
            Layer::MaxPool2d { kernel, stride } | Layer::AvgPool2d { kernel, stride } => {
                format!("{kernel}×{kernel}, stride {stride}")
            }
            Layer::Upsample2d { scale, mode } => format!("×{scale}, {}", mode.label()),
            Layer::Reshape { shape } => {
                let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                format!("to [{}]", dims.join(", "))
            }
            Layer::LeakyReLU { slope } => format!("slope {slope}"),
            Layer::Dropout { p } => format!("p = {p}"),
            Layer::BatchNorm { momentum, .. } => format!("momentum {momentum}"),
            Layer::LayerNorm { eps } => format!("eps {eps:e}"),
            Layer::Add { inputs } => format!("{inputs} inputs"),
            Layer::Concat { inputs, axis } => format!("{inputs} inputs, axis {axis}"),
            Layer::Output { loss, .. } => loss.label().to_string(),
            Layer::Flatten
            | Layer::GlobalAvgPool
            | Layer::GlobalMaxPool
            | Layer::ReLU
            | Layer::Sigmoid
            | Layer::Tanh
            | Layer::GELU
            | Layer::Softmax => String::new(),
        }
    }
}

/// One node of the graph: a layer with a stable, user-visible id (also the weight prefix).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub layer: Layer,
    /// Top-left corner in the editor's canvas coordinates.
    #[serde(default)]
    pub pos: [f32; 2],
    /// Named sub-graph (encoder/decoder, generator/discriminator) for later training modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Frozen: training leaves this node's weights (and a BatchNorm's statistics) as they are,
    /// as when fine-tuning on top of pre-trained layers.
    #[serde(default, skip_serializing_if = "is_false")]
    pub frozen: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Node {
    pub fn new(id: impl Into<String>, layer: Layer) -> Self {
        Self {
            id: id.into(),
            layer,
            pos: [0.0, 0.0],
            group: None,
            frozen: false,
        }
    }

    pub fn at(mut self, x: f32, y: f32) -> Self {
        self.pos = [x, y];
        self
    }

    /// "Dense 'fc1'": how errors and tables name a node.
    pub fn label(&self) -> String {
        format!("{} '{}'", self.layer.kind(), self.id)
    }
}

/// A wire from an output port to an input port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    #[serde(default)]
    pub from_port: usize,
    pub to: String,
    #[serde(default)]
    pub to_port: usize,
}

impl Edge {
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            from_port: 0,
            to: to.into(),
            to_port: 0,
        }
    }

    pub fn to_port(mut self, port: usize) -> Self {
        self.to_port = port;
        self
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn node_mut(&mut self, id: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.id == id)
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// A fresh id like "fc3" that no node uses yet.
    pub fn fresh_id(&self, kind: LayerKind) -> String {
        let prefix = kind.id_prefix();
        (1..)
            .map(|i| format!("{prefix}{i}"))
            .find(|id| self.node(id).is_none())
            .expect("an unbounded range always yields a free id")
    }

    /// A simple chain: each node feeds the next. Handy for presets and tests.
    pub fn chain(nodes: Vec<Node>) -> Self {
        let edges = nodes
            .windows(2)
            .map(|w| Edge::new(w[0].id.clone(), w[1].id.clone()))
            .collect();
        let mut g = Self { nodes, edges };
        g.layout_left_to_right();
        g
    }

    /// Removes a node and every wire touching it.
    pub fn remove_node(&mut self, id: &str) -> Option<Node> {
        let idx = self.index_of(id)?;
        self.edges.retain(|e| e.from != id && e.to != id);
        Some(self.nodes.remove(idx))
    }

    /// Places nodes in columns by their longest distance from a source (rows in order within a
    /// column), wrapping to a new band every `LAYOUT_COLUMNS` columns so long chains stay readable;
    /// bands alternate direction (a snake), so no wire runs back across the canvas.
    pub fn layout_left_to_right(&mut self) {
        let n = self.nodes.len();
        let index: std::collections::HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, nd)| (nd.id.as_str(), i))
            .collect();
        let wires: Vec<(usize, usize)> = self
            .edges
            .iter()
            .filter_map(|e| Some((*index.get(e.from.as_str())?, *index.get(e.to.as_str())?)))
            .collect();
        let mut depth = vec![0usize; n];
        // Longest-path layering; at most n passes, so a cycle cannot loop forever.
        for _ in 0..n {
            let mut changed = false;
            for &(a, b) in &wires {
                if depth[b] < depth[a] + 1 && depth[a] < n {
                    depth[b] = depth[a] + 1;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let layers = depth.iter().max().map_or(0, |d| d + 1);
        let mut per_layer = vec![0usize; layers];
        depth.iter().for_each(|&d| per_layer[d] += 1);
        // Each band of columns is as tall as its fullest column.
        let bands = layers.div_ceil(LAYOUT_COLUMNS);
        let band_top: Vec<f32> = (0..bands)
            .scan(0.0f32, |top, b| {
                let this = *top;
                let rows = per_layer[b * LAYOUT_COLUMNS..((b + 1) * LAYOUT_COLUMNS).min(layers)]
                    .iter()
                    .max()
                    .copied()
                    .unwrap_or(1);
                *top += rows as f32 * LAYOUT_ROW + LAYOUT_BAND_GAP;
                Some(this)
            })
            .collect();
        let mut rows = vec![0usize; layers];
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let d = depth[i];
            let (band, col) = (d / LAYOUT_COLUMNS, d % LAYOUT_COLUMNS);
            // Odd bands run right to left, so the wire from one band's end to the next band's
            // start drops straight down instead of crossing the whole canvas back.
            let col = if band % 2 == 1 {
                LAYOUT_COLUMNS - 1 - col
            } else {
                col
            };
            node.pos = [
                40.0 + col as f32 * LAYOUT_COL,
                40.0 + band_top[band] + rows[d] as f32 * LAYOUT_ROW,
            ];
            rows[d] += 1;
        }
    }
}

/// Columns per band, column width and row height of the automatic layout.
const LAYOUT_COLUMNS: usize = 5;
const LAYOUT_COL: f32 = 250.0;
const LAYOUT_ROW: f32 = 170.0;
const LAYOUT_BAND_GAP: f32 = 40.0;
