//! Batches as tensors (inputs, encoded targets, labels) and supervised evaluation.

use super::event::EvalMetrics;
use super::run::Control;
use crate::data::{augment_batch, Augmentation, Dataset};
use crate::model::{correct, ForwardCtx, Model, TargetBatch, TargetEncoding};
use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

/// Samples per forward pass when evaluating (no gradients, so bigger than training batches).
pub const EVAL_BATCH: usize = 500;

/// Input tensor, encoded targets, and class labels (for accuracy) of the samples `idx`.
pub fn make_batch(
    data: &Dataset,
    idx: &[usize],
    encoding: TargetEncoding,
    model: &Model,
) -> candle_core::Result<(Tensor, TargetBatch, Vec<u32>)> {
    make_batch_augmented(data, idx, encoding, model, None)
}

/// The samples `idx` as the model's input: token ids (u32) or features (f32).
pub fn input_batch(data: &Dataset, idx: &[usize], model: &Model) -> candle_core::Result<Tensor> {
    let shape = model.input_shape().with_batch(idx.len());
    if data.is_tokens() {
        let mut ids = Vec::new();
        data.gather_tokens(idx, &mut ids);
        Tensor::from_vec(ids, shape, &Device::Cpu)
    } else {
        let mut xs = Vec::new();
        data.gather_features(idx, &mut xs);
        Tensor::from_vec(xs, shape, &Device::Cpu)
    }
}

/// `make_batch`, with training-time augmentation of image samples.
pub fn make_batch_augmented(
    data: &Dataset,
    idx: &[usize],
    encoding: TargetEncoding,
    model: &Model,
    augment: Option<(&Augmentation, &mut ChaCha8Rng)>,
) -> candle_core::Result<(Tensor, TargetBatch, Vec<u32>)> {
    let x = match augment {
        Some((aug, rng)) if !data.is_tokens() => {
            let mut xs = Vec::new();
            data.gather_features(idx, &mut xs);
            augment_batch(&mut xs, &data.sample_shape, aug, rng);
            Tensor::from_vec(xs, model.input_shape().with_batch(idx.len()), &Device::Cpu)?
        }
        _ => input_batch(data, idx, model)?,
    };
    let mut labels = Vec::new();
    if encoding == TargetEncoding::SequenceLabels {
        data.gather_sequence_labels(idx, &mut labels);
    } else {
        data.gather_labels(idx, &mut labels);
    }
    let n = idx.len();
    let target = match encoding {
        TargetEncoding::Labels => {
            TargetBatch::Labels(Tensor::from_vec(labels.clone(), n, &Device::Cpu)?)
        }
        TargetEncoding::SequenceLabels => {
            let t = labels.len() / n.max(1);
            TargetBatch::Labels(Tensor::from_vec(labels.clone(), (n, t), &Device::Cpu)?)
        }
        TargetEncoding::OneHot(c) => {
            let mut v = vec![0f32; n * c];
            for (row, &l) in labels.iter().enumerate() {
                v[row * c + l as usize] = 1.0;
            }
            TargetBatch::Values(Tensor::from_vec(v, (n, c), &Device::Cpu)?)
        }
        TargetEncoding::Binary => {
            let v: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
            TargetBatch::Values(Tensor::from_vec(v, (n, 1), &Device::Cpu)?)
        }
        TargetEncoding::Values => {
            let mut v = Vec::new();
            data.gather_values(idx, &mut v);
            let shape = model.prediction_shape().with_batch(n);
            TargetBatch::Values(Tensor::from_vec(v, shape, &Device::Cpu)?)
        }
    };
    Ok((x, target, labels))
}

/// Loss and accuracy on `indices` in evaluation mode. `Ok(None)` when stopped on the way;
/// `Ok(Some(None))` when there is nothing to evaluate.
pub fn evaluate(
    model: &Model,
    data: &Dataset,
    indices: &[usize],
    encoding: TargetEncoding,
    control: &Control,
) -> candle_core::Result<Option<Option<EvalMetrics>>> {
    if indices.is_empty() {
        return Ok(Some(None));
    }
    let (mut loss_sum, mut right, mut labelled) = (0f64, 0usize, 0usize);
    for chunk in indices.chunks(EVAL_BATCH) {
        if control.stopped() {
            return Ok(None);
        }
        let (x, target, labels) = make_batch(data, chunk, encoding, model)?;
        let pred = model.forward(&x, &mut ForwardCtx::eval())?.detach();
        loss_sum += model.loss(&pred, &target)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        if let Some(c) = correct(model.loss_kind(), &pred, &labels)? {
            right += c;
            labelled += labels.len();
        }
    }
    Ok(Some(Some(EvalMetrics {
        loss: (loss_sum / indices.len() as f64) as f32,
        accuracy: (labelled > 0).then(|| right as f32 / labelled as f32),
        samples: indices.len(),
    })))
}
