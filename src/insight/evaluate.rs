//! Evaluation views: confusion matrix, per-class precision/recall/F1, the most confidently wrong
//! samples, and baselines the network should beat.

use crate::data::Dataset;
use crate::graph::{Graph, Layer, Loss, Node, Target};
use crate::model::{ForwardCtx, Model, TargetEncoding};
use crate::project::Project;
use crate::train::{make_batch, Control, Optimizer, TrainEvent, TrainRequest, EVAL_BATCH};
use candle_core::{DType, Result, Tensor};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Index into the data set.
    pub index: usize,
    pub label: usize,
    pub predicted: usize,
    /// Probability of the predicted class.
    pub confidence: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassScores {
    pub precision: f32,
    pub recall: f32,
    pub f1: f32,
    pub support: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub classes: Vec<String>,
    /// confusion[true][predicted].
    pub confusion: Vec<Vec<usize>>,
    pub predictions: Vec<Prediction>,
    pub accuracy: f32,
}

fn probabilities(pred: &Tensor) -> Result<Vec<Vec<f32>>> {
    super::saliency::probabilities_of(pred)?
        .to_dtype(DType::F32)?
        .to_vec2::<f32>()
}

/// Predictions for the samples `indices` of a classification data set.
pub fn evaluate_split(
    model: &Model,
    data: &Dataset,
    indices: &[usize],
    encoding: TargetEncoding,
) -> Result<Evaluation> {
    let classes = data.class_names().to_vec();
    let k = classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut predictions = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(EVAL_BATCH) {
        let (x, _, labels) = make_batch(data, chunk, encoding, model)?;
        let pred = model.forward(&x, &mut ForwardCtx::eval())?.detach();
        for ((row, &index), &label) in probabilities(&pred)?.iter().zip(chunk).zip(&labels) {
            let (predicted, confidence) =
                row.iter()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |b, (i, &p)| if p > b.1 { (i, p) } else { b },
                    );
            confusion[label as usize][predicted.min(k - 1)] += 1;
            predictions.push(Prediction {
                index,
                label: label as usize,
                predicted,
                confidence,
            });
        }
    }
    let right = predictions
        .iter()
        .filter(|p| p.label == p.predicted)
        .count();
    Ok(Evaluation {
        classes,
        confusion,
        accuracy: right as f32 / predictions.len().max(1) as f32,
        predictions,
    })
}

impl Evaluation {
    pub fn total(&self) -> usize {
        self.confusion.iter().flatten().sum()
    }

    /// Each row divided by its sum (recall per true class).
    pub fn normalized(&self) -> Vec<Vec<f32>> {
        self.confusion
            .iter()
            .map(|row| {
                let s = row.iter().sum::<usize>().max(1) as f32;
                row.iter().map(|&c| c as f32 / s).collect()
            })
            .collect()
    }

    pub fn per_class(&self) -> Vec<ClassScores> {
        let k = self.classes.len();
        (0..k)
            .map(|c| {
                let tp = self.confusion[c][c] as f32;
                let predicted: usize = (0..k).map(|r| self.confusion[r][c]).sum();
                let support: usize = self.confusion[c].iter().sum();
                let precision = if predicted > 0 {
                    tp / predicted as f32
                } else {
                    0.0
                };
                let recall = if support > 0 {
                    tp / support as f32
                } else {
                    0.0
                };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect()
    }

    /// Wrong predictions, most confident first.
    pub fn most_confident_mistakes(&self, n: usize) -> Vec<&Prediction> {
        let mut wrong: Vec<&Prediction> = self
            .predictions
            .iter()
            .filter(|p| p.label != p.predicted)
            .collect();
        wrong.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        wrong.truncate(n);
        wrong
    }

    /// Samples whose true class is `label` and prediction `predicted` (a confusion cell).
    pub fn cell(&self, label: usize, predicted: usize) -> Vec<&Prediction> {
        self.predictions
            .iter()
            .filter(|p| p.label == label && p.predicted == predicted)
            .collect()
    }
}

/// Accuracy on `indices` of always answering the training set's most common class.
pub fn majority_baseline(data: &Dataset, indices: &[usize]) -> Option<f32> {
    let k = data.n_classes()?;
    let mut counts = vec![0usize; k];
    data.train
        .iter()
        .filter_map(|&i| data.label(i))
        .for_each(|l| counts[l as usize] += 1);
    let majority = counts.iter().enumerate().max_by_key(|(_, c)| **c)?.0 as u32;
    let right = indices
        .iter()
        .filter(|&&i| data.label(i) == Some(majority))
        .count();
    Some(right as f32 / indices.len().max(1) as f32)
}

/// Test accuracy of a linear classifier (softmax regression) trained on the same split with
/// the project's batch size, for a few epochs.
pub fn linear_baseline(
    project: &Project,
    data: Arc<Dataset>,
    control: &Control,
) -> std::result::Result<Option<f32>, super::InsightError> {
    let Some(k) = data.n_classes() else {
        return Ok(None);
    };
    if data.is_tokens() {
        return Ok(None);
    }
    let mut nodes = vec![Node::new(
        "input",
        Layer::Input {
            shape: data.sample_shape.clone(),
            dtype: crate::graph::DType::F32,
        },
    )];
    if data.sample_shape.len() > 1 {
        nodes.push(Node::new("flatten", Layer::Flatten));
    }
    nodes.push(Node::new(
        "linear",
        Layer::Dense {
            units: k,
            bias: true,
        },
    ));
    nodes.push(Node::new(
        "output",
        Layer::Output {
            loss: Loss::CrossEntropy,
            target: Target::Label,
        },
    ));
    let mut p = project.clone();
    p.graph = Graph::chain(nodes);
    p.training.optimizer = Optimizer::adam();
    p.training.lr = 1e-2;
    p.training.weight_decay = 0.0;
    p.training.schedule = Default::default();
    // At least a few hundred steps (small tables), at most a few epochs (MNIST).
    let steps = crate::data::batches_per_epoch(data.train.len(), p.training.batch_size).max(1);
    p.training.epochs = (400 / steps).clamp(3, 100);
    let mut req = TrainRequest::new(p);
    req.dataset = Some(data);
    let mut result = None;
    crate::train::run_training(req, control, &mut |ev| {
        if ev.is_terminal() {
            result = Some(ev);
        }
    });
    match result {
        Some(TrainEvent::Finished { test, .. }) => Ok(test.and_then(|t| t.accuracy)),
        Some(TrainEvent::Failed { reason }) => Err(super::InsightError::BaselineRun(reason)),
        Some(TrainEvent::Diverged { what, .. }) => Err(super::InsightError::BaselineRun(what)),
        _ => Ok(None),
    }
}
