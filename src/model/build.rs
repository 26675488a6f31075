//! Graph → candle model. The model runs the nodes the Output depends on, in topological order,
//! and can return every node's value (for activation views).

use super::layers::{ForwardCtx, Op};
use super::loss::{self, TargetBatch};
use super::params::ParamStore;
use super::weights::{WeightTensor, Weights};
use crate::data::Dataset;
use crate::graph::{analyze, Analysis, Graph, GraphError, LayerKind, Loss, TensorShape};
use candle_core::{DType, Tensor, Var};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("{}", graph_summary(.0))]
    Graph(Vec<GraphError>),
    #[error("the data does not fit the network: {0}")]
    Data(String),
    #[error("the data does not fit the network: {0}")]
    Gan(#[from] crate::graph::GanError),
    #[error("weights do not fit the network: {0}")]
    Weights(String),
    #[error(
        "the network has {params} parameters ({}), more than the {} of memory this machine has available: use fewer units, filters or layers",
        crate::graph::gib(*bytes),
        crate::graph::gib(*available)
    )]
    TooLarge {
        params: usize,
        bytes: u64,
        available: u64,
    },
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

fn graph_summary(errors: &[GraphError]) -> String {
    match errors {
        [one] => one.to_string(),
        _ => {
            let lines: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
            format!(
                "the graph has {} problems:\n{}",
                errors.len(),
                lines.join("\n")
            )
        }
    }
}

/// How the data set's targets are turned into tensors for the Output's loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetEncoding {
    /// Class indices (cross-entropy).
    Labels,
    /// One-hot rows of `n` classes (MSE or BCE against class data).
    OneHot(usize),
    /// Class 0/1 as one number (a single BCE/MSE output on two classes).
    Binary,
    /// Numeric targets as they are.
    Values,
    /// The next token at every position [B, T] (language models over windows of a text).
    SequenceLabels,
}

struct Step {
    node: usize,
    op: Op,
    sources: Vec<usize>,
    /// The next step is an activation that alone reads this layer's output, and both run as
    /// one op: a dense layer and GELU (`kernels::linear_gelu`), a convolution and ReLU
    /// (`kernels::conv2d_relu`).
    fuse_activation: bool,
    /// A recurrent step that reads only an Embedding: the step index of that Embedding, whose
    /// table and token ids it reads directly (`kernels::recurrent_tokens`).
    embedded: Option<usize>,
}

/// Marks each step whose output only the next step, an activation it fuses with, reads.
fn mark_activation_fusions(steps: &mut [Step], pred: usize) {
    for i in 0..steps.len().saturating_sub(1) {
        let node = steps[i].node;
        let readers = steps.iter().filter(|s| s.sources.contains(&node)).count();
        steps[i].fuse_activation = node != pred
            && readers == 1
            && steps[i + 1].sources == [node]
            && steps[i].op.fuses_with_activation(&steps[i + 1].op);
    }
}

/// Marks each recurrent step whose one input is an Embedding's output. (The Embedding still
/// runs, for the activations view and any other reader; the recurrent layer's gradient
/// reaches its table through the one op instead.)
fn mark_embedded_recurrences(steps: &mut [Step]) {
    for i in 0..steps.len() {
        let recurrent = matches!(
            steps[i].op,
            Op::Lstm { .. } | Op::Gru { .. } | Op::Rnn { .. }
        );
        let &[source] = &steps[i].sources[..] else {
            continue;
        };
        steps[i].embedded = steps
            .iter()
            .position(|s| s.node == source && matches!(s.op, Op::Embedding(_)))
            .filter(|_| recurrent);
    }
}

pub struct Model {
    graph: Graph,
    analysis: Analysis,
    steps: Vec<Step>,
    input: usize,
    /// The node whose value is the prediction (the Output's input).
    pred: usize,
    loss: Loss,
    store: ParamStore,
}

impl Model {
    /// Checks the graph and creates every parameter (f32) with values drawn from `seed`.
    pub fn build(graph: &Graph, seed: u64) -> Result<Self, ModelError> {
        Self::build_with_dtype(graph, seed, DType::F32)
    }

    /// Like `build`, with parameters of `dtype` (f64 for gradient checks).
    pub fn build_with_dtype(graph: &Graph, seed: u64, dtype: DType) -> Result<Self, ModelError> {
        let analysis = analyze(graph);
        if !analysis.is_ok() {
            return Err(ModelError::Graph(analysis.errors.clone()));
        }
        // Weights that cannot fit are refused by number before any is allocated: a project
        // file or an import asking for billions of parameters would otherwise abort the
        // process when the allocation fails.
        let params = analysis.total_params();
        let bytes = (params as u64).saturating_mul(dtype.size_in_bytes() as u64);
        if let Some(available) = crate::graph::available_bytes() {
            if !crate::graph::fits(bytes, available) {
                return Err(ModelError::TooLarge {
                    params,
                    bytes,
                    available,
                });
            }
        }
        let output = analysis
            .single(graph, LayerKind::Output)
            .ok_or(ModelError::Graph(vec![GraphError::NoOutput]))?;
        let input = analysis
            .single(graph, LayerKind::Input)
            .ok_or(ModelError::Graph(vec![GraphError::NoInput]))?;
        let loss = match graph.nodes[output].layer {
            crate::graph::Layer::Output { loss, .. } => loss,
            _ => unreachable!("single() returned an Output node"),
        };
        let store = ParamStore::new(seed, dtype);
        let mut steps = Vec::new();
        for i in analysis.needed_for(output) {
            let node = &graph.nodes[i];
            let shapes = &analysis.nodes[i];
            let inputs: Vec<TensorShape> = shapes.inputs.iter().flatten().cloned().collect();
            let out_shape = shapes
                .output
                .clone()
                .expect("a valid graph has every shape");
            let mut op = Op::build(&node.layer, &node.id, &inputs, &out_shape, &store)?;
            if node.frozen {
                op.freeze_statistics();
            }
            let sources = analysis.sources[i].iter().flatten().copied().collect();
            steps.push(Step {
                node: i,
                op,
                sources,
                fuse_activation: false,
                embedded: None,
            });
        }
        let pred = analysis.sources[output][0].expect("a valid Output has its input wired");
        mark_activation_fusions(&mut steps, pred);
        mark_embedded_recurrences(&mut steps);
        Ok(Self {
            graph: graph.clone(),
            analysis,
            steps,
            input,
            pred,
            loss,
            store,
        })
    }

    /// A copy that shares the weights but does not track them: backward passes through it
    /// compute only input gradients (saliency), not parameter gradients.
    pub fn frozen(&self) -> Model {
        Model {
            graph: self.graph.clone(),
            analysis: self.analysis.clone(),
            steps: self
                .steps
                .iter()
                .map(|s| Step {
                    node: s.node,
                    op: s.op.frozen(),
                    sources: s.sources.clone(),
                    fuse_activation: s.fuse_activation,
                    embedded: s.embedded,
                })
                .collect(),
            input: self.input,
            pred: self.pred,
            loss: self.loss,
            store: self.store.clone(),
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    pub fn loss_kind(&self) -> Loss {
        self.loss
    }

    pub fn input_shape(&self) -> &TensorShape {
        self.analysis.nodes[self.input]
            .output
            .as_ref()
            .expect("valid graph")
    }

    pub fn prediction_shape(&self) -> &TensorShape {
        self.analysis.nodes[self.pred]
            .output
            .as_ref()
            .expect("valid graph")
    }

    /// Id of the node that produces the prediction.
    pub fn prediction_node(&self) -> &str {
        &self.graph.nodes[self.pred].id
    }

    pub fn store(&self) -> &ParamStore {
        &self.store
    }

    /// Names of every variable (parameters and buffers), as weight files hold them.
    pub fn variable_names(&self) -> Vec<String> {
        self.store.all().into_iter().map(|(n, _)| n).collect()
    }

    /// Trainable parameters, in graph order.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.store.trainable()
    }

    /// The parameters training updates: the trainable ones outside frozen nodes.
    pub fn updated(&self) -> Vec<(String, Var)> {
        let frozen: Vec<String> = self
            .graph
            .nodes
            .iter()
            .filter(|n| n.frozen)
            .map(|n| format!("{}.", n.id))
            .collect();
        self.trainable()
            .into_iter()
            .filter(|(name, _)| !frozen.iter().any(|p| name.starts_with(p.as_str())))
            .collect()
    }

    pub fn param_count(&self) -> usize {
        self.trainable().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// The prediction for a batch `x` shaped [B, ...input shape].
    pub fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx) -> candle_core::Result<Tensor> {
        let mut values = self.run(x, ctx)?;
        Ok(values[self.pred]
            .take()
            .expect("prediction node is computed"))
    }

    /// Every computed node's value, by node id, in topological order.
    pub fn forward_all(
        &self,
        x: &Tensor,
        ctx: &mut ForwardCtx,
    ) -> candle_core::Result<Vec<(String, Tensor)>> {
        let values = self.run(x, ctx)?;
        Ok(self
            .steps
            .iter()
            .filter_map(|s| {
                values[s.node]
                    .clone()
                    .map(|v| (self.graph.nodes[s.node].id.clone(), v))
            })
            .collect())
    }

    /// The prediction with node `id`'s output replaced by `value` (for gradients with respect
    /// to an intermediate map, as Grad-CAM needs: make `value` a variable).
    pub fn forward_with(
        &self,
        x: &Tensor,
        id: &str,
        value: &Tensor,
        ctx: &mut ForwardCtx,
    ) -> candle_core::Result<Tensor> {
        let Some(at) = self.graph.index_of(id) else {
            candle_core::bail!("node '{id}' is not part of the model");
        };
        let mut values = self.run_from(x, Some((at, value)), ctx)?;
        Ok(values[self.pred]
            .take()
            .expect("prediction node is computed"))
    }

    fn run(&self, x: &Tensor, ctx: &mut ForwardCtx) -> candle_core::Result<Vec<Option<Tensor>>> {
        self.run_from(x, None, ctx)
    }

    fn run_from(
        &self,
        x: &Tensor,
        replace: Option<(usize, &Tensor)>,
        ctx: &mut ForwardCtx,
    ) -> candle_core::Result<Vec<Option<Tensor>>> {
        let mut values: Vec<Option<Tensor>> = vec![None; self.graph.nodes.len()];
        values[self.input] = Some(x.clone());
        let mut fused_next = false;
        for (at, step) in self.steps.iter().enumerate() {
            if std::mem::take(&mut fused_next) || step.node == self.input {
                continue;
            }
            if let Some((node, v)) = replace {
                if node == step.node {
                    values[node] = Some(v.clone());
                    continue;
                }
            }
            let inputs: Vec<&Tensor> = step
                .sources
                .iter()
                .map(|&s| values[s].as_ref().expect("topological order"))
                .collect();
            let _timed = super::profile::scope(
                super::profile::Phase::Forward,
                self.graph.nodes[step.node].layer.kind().name(),
            );
            let activation = self.steps.get(at + 1).filter(|next| {
                step.fuse_activation && !ctx.unfused && replace.is_none_or(|(r, _)| r != next.node)
            });
            if let (Some(activation), Some(&x)) = (activation, inputs.first()) {
                if let Some((y, z)) = step.op.forward_with_activation(x)? {
                    values[step.node] = Some(z);
                    values[activation.node] = Some(y);
                    fused_next = true;
                    continue;
                }
            }
            if let Some(y) = self.embedded_forward(step, &values, replace, ctx)? {
                values[step.node] = Some(y);
                continue;
            }
            let carried = match (ctx.carry.as_deref_mut(), inputs.first()) {
                (Some(carry), Some(&x)) => {
                    let rows = x.dim(0)?;
                    let init = carry.take(step.node, rows);
                    super::carry::forward_carried(&step.op, x, init)
                        .transpose()?
                        .map(|(y, last)| {
                            carry.put(step.node, rows, last);
                            y
                        })
                }
                _ => None,
            };
            let y = match carried {
                Some(y) => y,
                None => step.op.forward(&inputs, ctx)?,
            };
            values[step.node] = Some(y);
        }
        Ok(values)
    }

    /// A recurrent step that reads an Embedding, run as one op from the token ids and the
    /// table (with the carried state, as `forward_carried`). None when the step is not one, or
    /// when the Embedding's output is replaced (saliency's gradient with respect to it).
    fn embedded_forward(
        &self,
        step: &Step,
        values: &[Option<Tensor>],
        replace: Option<(usize, &Tensor)>,
        ctx: &mut ForwardCtx,
    ) -> candle_core::Result<Option<Tensor>> {
        let Some(embedding) = step.embedded.map(|at| &self.steps[at]) else {
            return Ok(None);
        };
        let ids = embedding.sources.first().and_then(|&s| values[s].as_ref());
        let (Op::Embedding(table), Some(ids)) = (&embedding.op, ids) else {
            return Ok(None);
        };
        let usable = table.dtype() == DType::F32 && ids.dtype() == DType::U32;
        if !usable || replace.is_some_and(|(r, _)| r == embedding.node) {
            return Ok(None);
        }
        let rows = ids.dim(0)?;
        let init = ctx
            .carry
            .as_deref_mut()
            .and_then(|c| c.take(step.node, rows));
        let Some(out) = super::carry::forward_embedded(&step.op, ids, table, init) else {
            return Ok(None);
        };
        let (y, last) = out?;
        if let Some(carry) = ctx.carry.as_deref_mut() {
            carry.put(step.node, rows, last);
        }
        Ok(Some(y))
    }

    pub fn loss(&self, pred: &Tensor, target: &TargetBatch) -> candle_core::Result<Tensor> {
        let _timed = super::profile::scope(super::profile::Phase::Step, "loss");
        loss::loss(self.loss, pred, target)
    }

    /// Checks that the data set fits the graph, and decides how targets are encoded.
    pub fn bind_data(&self, data: &Dataset) -> Result<TargetEncoding, ModelError> {
        let input_node = &self.graph.nodes[self.input];
        let input = self.input_shape();
        let wants_tokens = input.dtype == crate::graph::DType::TokenId;
        if wants_tokens != data.is_tokens() {
            return Err(ModelError::Data(if data.is_tokens() {
                format!(
                    "{} takes numbers, but {} is text (token ids): set the Input's values to token ids and add an Embedding",
                    input_node.label(),
                    data.name
                )
            } else {
                format!(
                    "{} takes token ids, but {} gives numbers: set the Input's values to numbers",
                    input_node.label(),
                    data.name
                )
            }));
        }
        if let Some(vocab) = data.vocab_size() {
            for node in &self.graph.nodes {
                if let crate::graph::Layer::Embedding { vocab: v, .. } = node.layer {
                    if v < vocab {
                        return Err(ModelError::Data(format!(
                            "{} has a vocabulary of {v} tokens but {} uses {vocab}: set it to {vocab}",
                            node.label(),
                            data.name
                        )));
                    }
                }
            }
        }
        if input.dims != data.sample_shape {
            return Err(ModelError::Data(format!(
                "{} has shape {input}, but {} samples are {}: set the Input shape to {:?}",
                input_node.label(),
                data.name,
                TensorShape::f32(data.sample_shape.clone()),
                data.sample_shape
            )));
        }
        let out_node = self.graph.nodes[self.pred].label();
        let pred = self.prediction_shape();
        let n_out = pred.numel();
        if pred.rank() == 2 && self.loss == Loss::CrossEntropy {
            let (t, c) = (pred.dims[0], pred.dims[1]);
            let classes = data.n_classes().unwrap_or(0);
            if !data.is_windows() || data.sample_shape != [t] {
                return Err(ModelError::Data(format!(
                    "{out_node} predicts a class at each of {t} steps, which needs next-token data (a text file, next character) with a context of {t}"
                )));
            }
            if c != classes {
                return Err(ModelError::Data(format!(
                    "{out_node} gives {c} scores per step but {} has {classes} tokens: give it {classes} outputs",
                    data.name
                )));
            }
            return Ok(TargetEncoding::SequenceLabels);
        }
        match (self.loss, data.n_classes()) {
            (Loss::CrossEntropy, Some(c)) => {
                if n_out != c {
                    return Err(ModelError::Data(format!(
                        "{out_node} gives {n_out} scores but {} has {c} classes: give it {c} outputs",
                        data.name
                    )));
                }
                Ok(TargetEncoding::Labels)
            }
            (Loss::CrossEntropy, None) => Err(ModelError::Data(format!(
                "cross-entropy needs class labels, but {} has numeric targets: use the MSE loss",
                data.name
            ))),
            (Loss::Mse | Loss::BinaryCrossEntropy, Some(c)) => {
                if n_out == c {
                    Ok(TargetEncoding::OneHot(c))
                } else if n_out == 1 && c == 2 {
                    Ok(TargetEncoding::Binary)
                } else {
                    Err(ModelError::Data(format!(
                        "{out_node} gives {n_out} values but {} has {c} classes: give it {c} outputs",
                        data.name
                    )))
                }
            }
            (Loss::Mse | Loss::BinaryCrossEntropy, None) => {
                let dim = match &data.targets {
                    crate::data::Targets::Values { dim, .. } => *dim,
                    crate::data::Targets::Classes { .. } => unreachable!("n_classes was None"),
                };
                if n_out != dim {
                    return Err(ModelError::Data(format!(
                        "{out_node} gives {n_out} values but {} has {dim} target value(s) per sample",
                        data.name
                    )));
                }
                Ok(TargetEncoding::Values)
            }
        }
    }

    /// Copies the current variables out as plain data.
    pub fn weights(&self) -> candle_core::Result<Weights> {
        let mut w = Weights::default();
        for (name, var) in self.store.all() {
            let t = var.as_tensor();
            w.tensors.insert(
                name,
                WeightTensor {
                    shape: t.dims().to_vec(),
                    data: t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?,
                },
            );
        }
        Ok(w)
    }

    /// Sets every variable from `weights`; names and shapes must match exactly.
    pub fn load_weights(&self, weights: &Weights) -> Result<(), ModelError> {
        let vars = self.store.all();
        // Check everything before changing anything, so a bad file leaves the model as it was.
        let mut values = Vec::with_capacity(vars.len());
        for (name, var) in &vars {
            let Some(t) = weights.tensors.get(name) else {
                return Err(ModelError::Weights(format!(
                    "the file has no tensor '{name}' (was it saved from another network?)"
                )));
            };
            if t.shape != var.dims() {
                return Err(ModelError::Weights(format!(
                    "'{name}' has shape {:?} in the file but {:?} in the network",
                    t.shape,
                    var.dims()
                )));
            }
            values.push(t.to_tensor(var.dtype())?);
        }
        if let Some(extra) = weights
            .tensors
            .keys()
            .find(|k| !vars.iter().any(|(n, _)| n == *k))
        {
            return Err(ModelError::Weights(format!(
                "the file has a tensor '{extra}' that the network does not use"
            )));
        }
        for ((_, var), value) in vars.iter().zip(values) {
            var.set(&value)?;
        }
        Ok(())
    }
}
