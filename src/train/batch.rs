//! Batches as tensors (inputs, encoded targets, labels) and supervised evaluation.

use super::event::EvalMetrics;
use super::run::Control;
use crate::data::{augment_batch, Augmentation, Dataset};
use crate::model::{correct, CarriedState, ForwardCtx, Model, TargetBatch, TargetEncoding};
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
    let batches = indices.chunks(EVAL_BATCH).map(<[usize]>::to_vec);
    evaluate_batches(model, data, batches, encoding, control, None)
}

/// Streams a text's windows are evaluated in when recurrent state is carried: fewer streams
/// start fewer windows cold, more keep the batch wide enough to run fast.
pub const EVAL_STREAMS: usize = 16;

/// Like [`evaluate`] for windows that follow each other `stride` apart: the samples are read
/// in `EVAL_STREAMS` streams and recurrent layers carry their state from each window into the
/// next, as the text is read when the model is used.
pub fn evaluate_carrying_state(
    model: &Model,
    data: &Dataset,
    indices: &[usize],
    encoding: TargetEncoding,
    control: &Control,
    stride: usize,
) -> candle_core::Result<Option<Option<EvalMetrics>>> {
    let batches = crate::data::stream_batches(indices, EVAL_STREAMS.min(indices.len().max(1)));
    let mut carry = StateCarrier::new(stride);
    evaluate_batches(
        model,
        data,
        batches.into_iter(),
        encoding,
        control,
        Some(&mut carry),
    )
}

fn evaluate_batches(
    model: &Model,
    data: &Dataset,
    batches: impl Iterator<Item = Vec<usize>>,
    encoding: TargetEncoding,
    control: &Control,
    mut carry: Option<&mut StateCarrier>,
) -> candle_core::Result<Option<Option<EvalMetrics>>> {
    let (mut loss_sum, mut right, mut labelled, mut samples) = (0f64, 0usize, 0usize, 0usize);
    let mut tally = super::RegressionTally::default();
    for chunk in batches {
        if control.stopped() {
            return Ok(None);
        }
        let (x, target, labels) = make_batch(data, &chunk, encoding, model)?;
        let mut ctx = ForwardCtx::eval();
        ctx.carry = carry.as_deref_mut().map(|c| c.before(&chunk));
        let pred = model.forward(&x, &mut ctx)?.detach();
        loss_sum += model.loss(&pred, &target)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        samples += chunk.len();
        if let (TargetEncoding::Values, Some(dim)) = (encoding, data.target_dim()) {
            let (predicted, truth) = super::in_target_units(data, &chunk, &pred)?;
            tally.add(&predicted, &truth, dim);
        }
        if let Some(c) = correct(model.loss_kind(), &pred, &labels)? {
            right += c;
            labelled += labels.len();
        }
    }
    if samples == 0 {
        return Ok(Some(None));
    }
    Ok(Some(Some(EvalMetrics {
        loss: (loss_sum / samples as f64) as f32,
        accuracy: (labelled > 0).then(|| right as f32 / labelled as f32),
        samples,
        regression: tally.finish(),
    })))
}

/// Recurrent state carried from batch to batch, kept for the rows whose window continues the
/// one that row held before (`stride` further on) and zeroed for the rest.
#[derive(Default)]
pub struct StateCarrier {
    stride: usize,
    state: CarriedState,
    previous: Vec<usize>,
}

impl StateCarrier {
    pub fn new(stride: usize) -> Self {
        Self {
            stride,
            ..Self::default()
        }
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The state to start `batch` from.
    pub fn before(&mut self, batch: &[usize]) -> &mut CarriedState {
        let keep: Vec<bool> = if batch.len() == self.previous.len() {
            batch
                .iter()
                .zip(&self.previous)
                .map(|(&now, &before)| now == before + self.stride)
                .collect()
        } else {
            vec![false; batch.len()]
        };
        self.state.keep_rows(&keep);
        self.previous = batch.to_vec();
        &mut self.state
    }
}
