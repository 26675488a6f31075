//! Attention maps, after BertViz: for each self-attention layer, each head's softmax weights
//! of every query position over the key positions, for one input sequence. They are
//! recomputed from the layer's input and its q/k projections, exactly as the layer mixes.

use crate::graph::Layer;
use crate::model::{ForwardCtx, Model};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AttentionError {
    #[error("the network has no self-attention layer on the way to its output")]
    NoAttention,
    #[error("attention maps need 1 to {MAX_ATTENTION_LEN} tokens, got {0}")]
    Length(usize),
    #[error("attention layer '{0}': {1}")]
    Weights(String, String),
    #[error(transparent)]
    Model(#[from] candle_core::Error),
}

type Result<T> = std::result::Result<T, AttentionError>;

/// Longest sequence whose maps are drawn (every preset's context fits).
pub const MAX_ATTENTION_LEN: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct AttentionMap {
    pub node: String,
    pub heads: usize,
    pub causal: bool,
    /// Sequence length.
    pub len: usize,
    /// Softmax weights [heads, query, key], each query row summing to 1.
    pub weights: Vec<f32>,
}

impl AttentionMap {
    /// The map of the first `n` queries over the first `n` keys.
    pub fn cut(self, n: usize) -> AttentionMap {
        let n = n.min(self.len);
        if n == self.len {
            return self;
        }
        let mut weights = Vec::with_capacity(self.heads * n * n);
        for h in 0..self.heads {
            for q in 0..n {
                weights.extend((0..n).map(|k| self.at(h, q, k)));
            }
        }
        AttentionMap {
            len: n,
            weights,
            ..self
        }
    }

    pub fn at(&self, head: usize, query: usize, key: usize) -> f32 {
        self.weights[(head * self.len + query) * self.len + key]
    }
}

/// The maps of every self-attention layer the prediction goes through, for token `ids`, cut
/// to the first `shown` positions (a classifier reads its text padded to its length).
pub fn attention_maps_of(model: &Model, ids: &[u32], shown: usize) -> Result<Vec<AttentionMap>> {
    let maps = attention_maps(model, ids)?;
    Ok(maps.into_iter().map(|m| m.cut(shown)).collect())
}

/// The maps of every self-attention layer the prediction goes through, for token `ids`.
pub fn attention_maps(model: &Model, ids: &[u32]) -> Result<Vec<AttentionMap>> {
    if ids.is_empty() || ids.len() > MAX_ATTENTION_LEN {
        return Err(AttentionError::Length(ids.len()));
    }
    let x = Tensor::from_vec(ids.to_vec(), (1, ids.len()), &Device::Cpu)?;
    let values: HashMap<String, Tensor> = model
        .forward_all(&x, &mut ForwardCtx::eval())?
        .into_iter()
        .collect();
    // Only the q/k/v projections are read, not a copy of every weight.
    let vars = model.store().all();
    let var = |name: String| -> Result<Option<Vec<f32>>> {
        match vars.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(Some(
                v.as_tensor()
                    .flatten_all()?
                    .to_dtype(DType::F32)?
                    .to_vec1()?,
            )),
            None => Ok(None),
        }
    };
    let graph = model.graph();
    let mut maps = Vec::new();
    for node in &graph.nodes {
        let Layer::SelfAttention { heads, causal } = node.layer else {
            continue;
        };
        let Some(source) = graph
            .edges
            .iter()
            .find(|e| e.to == node.id)
            .and_then(|e| values.get(&e.from))
        else {
            continue; // not on the way to the prediction
        };
        let (Some(w), Some(b)) = (
            var(format!("{}.qkv_weight", node.id))?,
            var(format!("{}.qkv_bias", node.id))?,
        ) else {
            return Err(AttentionError::Weights(
                node.id.clone(),
                "no q/k/v weights".into(),
            ));
        };
        let input: Vec<Vec<f32>> = source.get(0)?.to_dtype(DType::F32)?.to_vec2()?;
        maps.push(head_weights(&node.id, &input, &w, &b, heads, causal)?);
    }
    if maps.is_empty() {
        return Err(AttentionError::NoAttention);
    }
    Ok(maps)
}

/// Softmax(q kᵀ / √d_head) per head from the layer input `x` [T, D] and the packed
/// projection `w` [3D, D], `b` [3D] (q, then k, then v; head h owns columns h·d_head..).
fn head_weights(
    node: &str,
    x: &[Vec<f32>],
    w: &[f32],
    b: &[f32],
    heads: usize,
    causal: bool,
) -> Result<AttentionMap> {
    let t = x.len();
    let d = x.first().map_or(0, Vec::len);
    if d == 0 || heads == 0 || d % heads != 0 || w.len() != 3 * d * d || b.len() != 3 * d {
        return Err(AttentionError::Weights(
            node.into(),
            format!("weights do not fit {heads} heads over {d} values"),
        ));
    }
    let hd = d / heads;
    // Only q and k are needed: rows 0..2D of the projection.
    let proj = |row: &[f32], j: usize| -> f32 {
        b[j] + row
            .iter()
            .zip(&w[j * d..(j + 1) * d])
            .map(|(a, c)| a * c)
            .sum::<f32>()
    };
    let qk: Vec<Vec<f32>> = x
        .iter()
        .map(|row| (0..2 * d).map(|j| proj(row, j)).collect())
        .collect();
    let scale = 1.0 / (hd as f32).sqrt();
    let mut weights = vec![0f32; heads * t * t];
    for h in 0..heads {
        for i in 0..t {
            let q = &qk[i][h * hd..(h + 1) * hd];
            let keys = if causal { i + 1 } else { t };
            let scores: Vec<f32> = (0..keys)
                .map(|j| {
                    let k = &qk[j][d + h * hd..d + (h + 1) * hd];
                    q.iter().zip(k).map(|(a, c)| a * c).sum::<f32>() * scale
                })
                .collect();
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f32 = exps.iter().sum();
            let row = &mut weights[(h * t + i) * t..(h * t + i + 1) * t];
            for (j, e) in exps.iter().enumerate() {
                row[j] = e / sum;
            }
        }
    }
    Ok(AttentionMap {
        node: node.to_string(),
        heads,
        causal,
        len: t,
        weights,
    })
}
