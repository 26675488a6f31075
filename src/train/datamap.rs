//! The data map (Swayamdipta et al. 2020, "Dataset Cartography"): per training sample, the
//! probability the model gives the sample's own label, read from the forward pass each training
//! step already makes (one value per sample per epoch). Its mean over epochs is the sample's
//! *confidence*, its spread the *variability*; samples the model is consistently unsure of (low
//! confidence, low variability) are the likely mislabelled ones.
//!
//! Memory is one running tally per sample (Welford's mean and spread, 20 bytes), whatever the
//! number of epochs.

use candle_core::{DType, Result, Tensor};

/// What one training step saw of its batch, in the batch's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeenLabels {
    /// Probability of each sample's own label.
    pub label_prob: Vec<f32>,
    /// The class each sample was predicted as.
    pub predicted: Vec<u32>,
}

impl SeenLabels {
    /// From a classifier's raw outputs `pred` [B, K] (logits; K = 1: a sigmoid's) and the
    /// batch's labels; None when the shapes are not one row of scores per label.
    pub fn of(pred: &Tensor, labels: &[u32]) -> Result<Option<Self>> {
        let dims = pred.dims();
        if dims.len() != 2 || dims[0] != labels.len() || labels.is_empty() {
            return Ok(None);
        }
        let pred = pred.detach().to_dtype(DType::F32)?;
        let probs = if dims[1] == 1 {
            let p = candle_nn::ops::sigmoid(&pred)?;
            Tensor::cat(&[p.affine(-1.0, 1.0)?, p], 1)?
        } else {
            candle_nn::ops::softmax(&pred, 1)?
        };
        let rows = probs.to_vec2::<f32>()?;
        let mut seen = Self::default();
        for (row, &label) in rows.iter().zip(labels) {
            seen.label_prob
                .push(row.get(label as usize).copied().unwrap_or(0.0));
            let best = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b]));
            seen.predicted.push(best.unwrap_or(0) as u32);
        }
        Ok(Some(seen))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Tally {
    epochs: u32,
    mean: f32,
    m2: f32,
    correct: u32,
    predicted: u32,
}

/// Running per-sample tallies over a run, indexed by data-set index.
#[derive(Clone, Debug, Default)]
pub struct DataMapTally {
    samples: Vec<Tally>,
}

impl DataMapTally {
    pub fn new(data_len: usize) -> Self {
        Self {
            samples: vec![Tally::default(); data_len],
        }
    }

    /// Adds one step's batch (data-set indices) and what the step saw of it.
    pub fn add(&mut self, batch: &[usize], labels: &[u32], seen: &SeenLabels) {
        for ((&i, &label), (&p, &predicted)) in batch
            .iter()
            .zip(labels)
            .zip(seen.label_prob.iter().zip(&seen.predicted))
        {
            let Some(t) = self.samples.get_mut(i) else {
                continue;
            };
            t.epochs += 1;
            let delta = p - t.mean;
            t.mean += delta / t.epochs as f32;
            t.m2 += delta * (p - t.mean);
            t.correct += u32::from(predicted == label);
            t.predicted = predicted;
        }
    }

    /// The map of the samples `train` (those seen at least once), with their labels.
    pub fn map(&self, train: &[usize], label_of: impl Fn(usize) -> Option<u32>) -> DataMap {
        let points = train
            .iter()
            .filter_map(|&i| {
                let t = self.samples.get(i).filter(|t| t.epochs > 0)?;
                Some(MapPoint {
                    index: i,
                    label: label_of(i)?,
                    predicted: t.predicted,
                    confidence: t.mean,
                    variability: (t.m2 / t.epochs as f32).max(0.0).sqrt(),
                    correct_share: t.correct as f32 / t.epochs as f32,
                    epochs: t.epochs,
                })
            })
            .collect();
        DataMap { points }
    }
}

/// One training sample on the map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapPoint {
    /// Index into the data set.
    pub index: usize,
    pub label: u32,
    /// The class predicted the last time the sample was trained on.
    pub predicted: u32,
    /// Mean probability of its own label over the epochs.
    pub confidence: f32,
    /// Standard deviation of that probability over the epochs.
    pub variability: f32,
    /// Share of epochs in which it was predicted right.
    pub correct_share: f32,
    /// Epochs it was seen in.
    pub epochs: u32,
}

/// Where a sample lies on the map (the paper's three regions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// Learnt early and kept: high confidence, low variability.
    Easy,
    /// The model changes its mind: high variability.
    Ambiguous,
    /// Never learnt: low confidence, low variability — often a wrong label.
    HardToLearn,
}

impl Region {
    pub fn name(&self) -> &'static str {
        match self {
            Region::Easy => "easy to learn",
            Region::Ambiguous => "ambiguous",
            Region::HardToLearn => "hard to learn",
        }
    }
}

/// Variability from which a sample counts as ambiguous.
pub const AMBIGUOUS_VARIABILITY: f32 = 0.2;
/// Confidence under which a steady sample counts as hard to learn.
pub const HARD_CONFIDENCE: f32 = 0.5;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataMap {
    pub points: Vec<MapPoint>,
}

impl MapPoint {
    pub fn region(&self) -> Region {
        if self.variability >= AMBIGUOUS_VARIABILITY {
            Region::Ambiguous
        } else if self.confidence < HARD_CONFIDENCE {
            Region::HardToLearn
        } else {
            Region::Easy
        }
    }

    /// How strongly the map suggests a wrong label: low confidence, steadily (0 = not at all,
    /// up to 1).
    pub fn mislabel_score(&self) -> f32 {
        (1.0 - self.confidence) * (1.0 - self.variability.min(0.5) * 2.0)
    }
}

impl DataMap {
    /// The `n` samples most likely mislabelled, likeliest first.
    pub fn likely_mislabelled(&self, n: usize) -> Vec<&MapPoint> {
        let mut v: Vec<&MapPoint> = self.points.iter().collect();
        v.sort_by(|a, b| b.mislabel_score().total_cmp(&a.mislabel_score()));
        v.truncate(n);
        v
    }

    /// The `n` samples with the lowest confidence (the highest mean loss), hardest first.
    pub fn hardest(&self, n: usize) -> Vec<&MapPoint> {
        let mut v: Vec<&MapPoint> = self.points.iter().collect();
        v.sort_by(|a, b| a.confidence.total_cmp(&b.confidence));
        v.truncate(n);
        v
    }

    /// How many samples lie in each region: (easy, ambiguous, hard to learn).
    pub fn region_counts(&self) -> (usize, usize, usize) {
        self.points
            .iter()
            .fold((0, 0, 0), |(e, a, h), p| match p.region() {
                Region::Easy => (e + 1, a, h),
                Region::Ambiguous => (e, a + 1, h),
                Region::HardToLearn => (e, a, h + 1),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(p: &[f32], predicted: &[u32]) -> SeenLabels {
        SeenLabels {
            label_prob: p.to_vec(),
            predicted: predicted.to_vec(),
        }
    }

    #[test]
    fn confidence_and_variability_are_the_mean_and_spread_over_epochs() {
        let mut t = DataMapTally::new(3);
        // Sample 0 steady at 0.9; sample 2 swings 0.2 / 0.8; sample 1 never seen.
        t.add(&[0, 2], &[1, 0], &seen(&[0.9, 0.2], &[1, 1]));
        t.add(&[2, 0], &[0, 1], &seen(&[0.8, 0.9], &[0, 1]));
        let m = t.map(&[0, 1, 2], |_| Some(0));
        assert_eq!(
            m.points.len(),
            2,
            "an unseen sample has no place on the map"
        );
        let (a, b) = (m.points[0], m.points[1]);
        assert!((a.confidence - 0.9).abs() < 1e-6 && a.variability < 1e-6);
        assert!((b.confidence - 0.5).abs() < 1e-6 && (b.variability - 0.3).abs() < 1e-6);
        assert_eq!((a.correct_share, b.correct_share), (1.0, 0.5));
        assert_eq!((a.region(), b.region()), (Region::Easy, Region::Ambiguous));
    }

    #[test]
    fn steady_low_confidence_ranks_first_as_likely_mislabelled() {
        let p = |index, confidence, variability| MapPoint {
            index,
            label: 0,
            predicted: 0,
            confidence,
            variability,
            correct_share: 0.0,
            epochs: 5,
        };
        let m = DataMap {
            points: vec![
                p(0, 0.95, 0.02),
                p(1, 0.05, 0.02),
                p(2, 0.3, 0.35),
                p(3, 0.3, 0.02),
            ],
        };
        let order: Vec<usize> = m.likely_mislabelled(4).iter().map(|p| p.index).collect();
        assert_eq!(order, [1, 3, 2, 0]);
        assert_eq!(m.region_counts(), (1, 1, 2));
        assert_eq!(m.hardest(1)[0].index, 1);
    }

    #[test]
    fn label_probabilities_come_from_the_logits() {
        let pred = Tensor::new(&[[0f32, 0.0], [10.0, -10.0]], &candle_core::Device::Cpu).unwrap();
        let s = SeenLabels::of(&pred, &[1, 1]).unwrap().unwrap();
        assert!((s.label_prob[0] - 0.5).abs() < 1e-6 && s.label_prob[1] < 1e-6);
        assert_eq!(s.predicted[1], 0);
        assert!(SeenLabels::of(&pred, &[1]).unwrap().is_none());
    }
}
