//! Losses on a prediction and a batch of targets, and the accuracy that goes with them.

use crate::graph::Loss;
use candle_core::{DType, Result, Tensor, D};

/// Targets of one batch, encoded for the loss.
pub enum TargetBatch {
    /// Class indices [B] (u32).
    Labels(Tensor),
    /// Numbers shaped like the prediction [B, ...] (f32); one-hot for classes where needed.
    Values(Tensor),
}

pub fn loss(kind: Loss, pred: &Tensor, target: &TargetBatch) -> Result<Tensor> {
    match (kind, target) {
        (Loss::CrossEntropy, TargetBatch::Labels(labels)) => {
            // Sequences [B, T, C] with labels [B, T]: every position is a sample.
            let (pred, labels) = if pred.rank() == 3 {
                let c = pred.dim(2)?;
                (pred.reshape(((), c))?, labels.flatten_all()?)
            } else {
                (pred.clone(), labels.clone())
            };
            super::kernels::softmax_cross_entropy(&pred, &labels)
        }
        (Loss::Mse, TargetBatch::Values(t)) => pred.sub(t)?.sqr()?.mean_all(),
        (Loss::BinaryCrossEntropy, TargetBatch::Values(t)) => {
            // Stable form on logits: max(x, 0) - x t + log(1 + exp(-|x|)).
            let pos = pred.relu()?;
            let softplus = (pred.abs()?.neg()?.exp()? + 1.0)?.log()?;
            ((pos - pred.mul(t)?)? + softplus)?.mean_all()
        }
        _ => candle_core::bail!("{} got targets of the wrong kind", kind.label()),
    }
}

/// Number of correct predictions in the batch, where accuracy means something.
/// `labels` are the class indices of the batch.
pub fn correct(kind: Loss, pred: &Tensor, labels: &[u32]) -> Result<Option<usize>> {
    if labels.is_empty() {
        return Ok(None);
    }
    let pred = match pred.rank() {
        2 => pred.clone(),
        3 => pred.reshape(((), pred.dim(2)?))?,
        _ => return Ok(None),
    };
    let pred = &pred;
    let predicted: Vec<u32> = if pred.dim(1)? == 1 {
        // One output: a positive logit (BCE) or a value above 0.5 (MSE) means class 1.
        let threshold = if kind == Loss::BinaryCrossEntropy {
            0.0
        } else {
            0.5
        };
        pred.flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|v| u32::from(v > threshold))
            .collect()
    } else {
        pred.argmax(D::Minus1)?
            .to_dtype(DType::U32)?
            .to_vec1::<u32>()?
    };
    Ok(Some(
        predicted.iter().zip(labels).filter(|(p, l)| p == l).count(),
    ))
}
