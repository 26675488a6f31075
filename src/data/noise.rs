//! Label noise on purpose: a share of the training labels flipped at random to another class,
//! so a learner can see what wrong labels cost and whether the data map finds them (Data tab ▸
//! Flip training labels; the lesson "Wrong labels"). Validation and test labels are never
//! touched, so the test accuracy still measures the truth. Seeded: one project, one set of flips.

use super::{DataError, Targets};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The most a project may flip (beyond it most labels would be wrong).
pub const MAX_SHARE: f32 = 0.5;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelNoise {
    /// Share of the training samples whose label is flipped, 0 to `MAX_SHARE`.
    pub share: f32,
    pub seed: u64,
}

impl Default for LabelNoise {
    fn default() -> Self {
        Self {
            share: 0.1,
            seed: 1,
        }
    }
}

impl LabelNoise {
    /// Flips round(share × |train|) of the training samples' labels, each to another class
    /// drawn evenly; returns the flipped samples' indices, ascending.
    pub(super) fn apply(
        &self,
        targets: &mut Targets,
        train: &[usize],
    ) -> Result<Vec<usize>, DataError> {
        if !(0.0..=MAX_SHARE).contains(&self.share) {
            return Err(DataError::Settings(format!(
                "label noise of {} % of the training labels: choose 0 to {} %",
                self.share * 100.0,
                MAX_SHARE * 100.0
            )));
        }
        let Targets::Classes { labels, names } = targets else {
            return Err(DataError::Settings(
                "label noise flips class labels: this data has numbers to predict".into(),
            ));
        };
        let classes = names.len() as u32;
        if classes < 2 {
            return Ok(Vec::new());
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        let mut order = train.to_vec();
        let k = ((self.share * train.len() as f32).round() as usize).min(order.len());
        // The first k of a partial Fisher-Yates shuffle.
        for i in 0..k {
            let j = rng.random_range(i..order.len());
            order.swap(i, j);
        }
        let mut flipped = order[..k].to_vec();
        flipped.sort_unstable();
        for &i in &flipped {
            labels[i] = (labels[i] + rng.random_range(1..classes)) % classes;
        }
        Ok(flipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(n: usize) -> Targets {
        Targets::Classes {
            labels: (0..n).map(|i| (i % 3) as u32).collect(),
            names: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    #[test]
    fn the_share_of_training_labels_changes_and_nothing_else() {
        let mut t = targets(100);
        let train: Vec<usize> = (0..80).collect();
        let noise = LabelNoise {
            share: 0.25,
            seed: 7,
        };
        let flipped = noise.apply(&mut t, &train).unwrap();
        assert_eq!(flipped.len(), 20);
        let Targets::Classes { labels, .. } = &t else {
            unreachable!()
        };
        for (i, &label) in labels.iter().enumerate() {
            let changed = label != (i % 3) as u32;
            assert_eq!(changed, flipped.contains(&i), "sample {i}");
        }
        assert!(flipped.iter().all(|&i| i < 80), "only training samples");
        // Seeded: the same flips again.
        let mut again = targets(100);
        assert_eq!(noise.apply(&mut again, &train).unwrap(), flipped);
        assert_eq!(again, t);
    }

    #[test]
    fn absurd_shares_and_numeric_targets_are_refused() {
        let noise = LabelNoise {
            share: 0.9,
            seed: 1,
        };
        let e = noise.apply(&mut targets(10), &[0, 1]).unwrap_err();
        assert!(e.to_string().contains("choose 0 to 50 %"), "{e}");
        let mut values = Targets::Values {
            values: vec![1.0; 4],
            dim: 1,
            names: vec!["y".into()],
        };
        let e = LabelNoise::default()
            .apply(&mut values, &[0, 1])
            .unwrap_err();
        assert!(e.to_string().contains("numbers to predict"), "{e}");
    }
}
