//! What the worker sends a few times a second so the UI can look inside the model: every node's
//! output on a fixed probe batch, and per-parameter gradient health. Plain data only.

use super::histogram::{dead_share, Column, Histogram, TensorKind};
use crate::model::{ForwardCtx, Model, Weights};
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};

/// One node's output on the probe batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Activation {
    pub node: String,
    /// Shape of one sample's output (no batch dimension).
    pub dims: Vec<usize>,
    /// probe samples × numel values.
    pub values: Vec<f32>,
}

impl Activation {
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// Values of probe sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let n = self.numel();
        &self.values[i * n..(i + 1) * n]
    }

    pub fn samples(&self) -> usize {
        self.values.len() / self.numel().max(1)
    }
}

/// Gradient and update size of one parameter at a step.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamHealth {
    pub param: String,
    /// The node the parameter belongs to (the name before the dot).
    pub node: String,
    pub grad_norm: f32,
    pub weight_norm: f32,
    /// ‖Δw‖ / ‖w‖ of the step's update.
    pub update_ratio: f32,
    /// The gradient's values at this step.
    pub grad_histogram: Option<Histogram>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub step: usize,
    /// Indices (into the data set) of the probe samples.
    pub probe: Vec<usize>,
    pub activations: Vec<Activation>,
    pub health: Vec<ParamHealth>,
    /// The weights at this step, for views that run the model themselves (saliency).
    pub weights: Option<Weights>,
    /// Each parameter's and each node output's histogram, the gradients' (at steps with
    /// health), and each ReLU's dead share on the probe batch.
    pub column: Column,
}

fn l2(t: &Tensor) -> candle_core::Result<f32> {
    t.to_dtype(DType::F32)?
        .sqr()?
        .sum_all()?
        .sqrt()?
        .to_scalar::<f32>()
}

/// Every node's output for the probe batch `x`, in evaluation mode.
pub fn activations(model: &Model, x: &Tensor) -> candle_core::Result<Vec<Activation>> {
    // The Output node only repeats the prediction; leave it out.
    let output = model
        .graph()
        .nodes
        .iter()
        .find(|n| n.layer.kind() == crate::graph::LayerKind::Output)
        .map(|n| n.id.clone());
    model
        .forward_all(x, &mut ForwardCtx::eval())?
        .into_iter()
        .filter(|(node, _)| Some(node) != output.as_ref())
        .map(|(node, t)| {
            let dims = t.dims()[1..].to_vec();
            let values = t
                .detach()
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            Ok(Activation { node, dims, values })
        })
        .collect()
}

/// Copies of the trainable parameters, to measure the next update against.
pub fn param_copies(model: &Model) -> candle_core::Result<Vec<Tensor>> {
    model
        .trainable()
        .iter()
        .map(|(_, v)| v.as_tensor().copy())
        .collect()
}

/// Gradient norms of this step, and update sizes given the parameters before the update.
pub fn health(
    model: &Model,
    grads: &GradStore,
    before: &[Tensor],
) -> candle_core::Result<Vec<ParamHealth>> {
    model
        .trainable()
        .iter()
        .zip(before)
        .map(|((name, var), old)| {
            let w = var.as_tensor();
            let grad_norm = match grads.get(w) {
                Some(g) => l2(g)?,
                None => 0.0,
            };
            let grad_histogram = match grads.get(w) {
                Some(g) => Some(Histogram::of(
                    name,
                    TensorKind::Gradients,
                    &g.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?,
                )),
                None => None,
            };
            let weight_norm = l2(old)?;
            let update = l2(&(w - old)?)?;
            Ok(ParamHealth {
                param: name.clone(),
                node: name.split('.').next().unwrap_or(name).to_string(),
                grad_norm,
                weight_norm,
                update_ratio: if weight_norm > 0.0 {
                    update / weight_norm
                } else {
                    0.0
                },
                grad_histogram,
            })
        })
        .collect()
}

/// The histograms of a snapshot: every trainable parameter's values, the gradients `health`
/// carries, every node's output on the probe batch, and each ReLU's dead share.
pub fn column(
    model: &Model,
    step: usize,
    activations: &[Activation],
    health: &[ParamHealth],
) -> candle_core::Result<Column> {
    let mut histograms = Vec::new();
    for (name, var) in model.trainable() {
        let values = var
            .as_tensor()
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        histograms.push(Histogram::of(&name, TensorKind::Weights, &values));
    }
    histograms.extend(health.iter().filter_map(|h| h.grad_histogram.clone()));
    let mut dead = Vec::new();
    for a in activations {
        histograms.push(Histogram::of(&a.node, TensorKind::Activations, &a.values));
        let relu = model
            .graph()
            .node(&a.node)
            .is_some_and(|n| matches!(n.layer, crate::graph::Layer::ReLU));
        if relu {
            dead.push((a.node.clone(), dead_share(&a.values, a.numel())));
        }
    }
    Ok(Column {
        step,
        histograms,
        dead,
    })
}
