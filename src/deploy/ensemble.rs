//! Ensembles: several trained weight files of one project evaluated as one model whose class
//! probabilities are the members' average, with each member's own accuracy beside it.

use super::DeployError;
use crate::data::Dataset;
use crate::insight::saliency::class_probabilities;
use crate::model::Weights;
use crate::project::Project;
use crate::train::{make_batch, EVAL_BATCH};

#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleReport {
    /// Each member's accuracy, in the order given.
    pub members: Vec<f32>,
    /// The averaged model's accuracy.
    pub ensemble: f32,
    pub samples: usize,
}

/// Accuracy of every member and of their average on `indices` (a classifier's data).
pub fn ensemble_accuracy(
    project: &Project,
    weights: &[Weights],
    data: &Dataset,
    indices: &[usize],
) -> Result<EnsembleReport, DeployError> {
    if data.n_classes().is_none() || data.is_windows() {
        return Err(DeployError::NotAClassifier);
    }
    if indices.is_empty() {
        return Err(DeployError::NoSamples);
    }
    let models = super::predict::members(project, weights)?;
    let encoding = models[0].bind_data(data)?;
    let argmax = |row: &[f32]| (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b]));
    let mut right = vec![0usize; models.len()];
    let mut right_avg = 0usize;
    for chunk in indices.chunks(EVAL_BATCH) {
        let (x, _, labels) = make_batch(data, chunk, encoding, &models[0])?;
        let mut sum: Option<Vec<Vec<f32>>> = None;
        for (m, model) in models.iter().enumerate() {
            let p: Vec<Vec<f32>> = class_probabilities(model, &x).and_then(|p| p.to_vec2())?;
            for (row, &l) in p.iter().zip(&labels) {
                right[m] += usize::from(argmax(row) == Some(l as usize));
            }
            sum = Some(match sum {
                None => p,
                Some(mut s) => {
                    s.iter_mut()
                        .zip(&p)
                        .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(x, y)| *x += y));
                    s
                }
            });
        }
        for (row, &l) in sum.unwrap_or_default().iter().zip(&labels) {
            right_avg += usize::from(argmax(row) == Some(l as usize));
        }
    }
    let n = indices.len() as f32;
    Ok(EnsembleReport {
        members: right.iter().map(|&r| r as f32 / n).collect(),
        ensemble: right_avg as f32 / n,
        samples: indices.len(),
    })
}
