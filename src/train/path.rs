//! The path the weights take: a copy after each epoch (and before the first), kept in a
//! run's history so the loss landscape can draw where training went. Bounded: past
//! `MAX_POINTS` copies or `MAX_BYTES`, every other copy between the first and the last is
//! dropped, so a long run keeps an evenly thinned path.

use crate::model::Weights;
use std::sync::Arc;

pub const MAX_POINTS: usize = 64;
/// The landscape copies the path once more to find its plane, so this is half what it may use.
pub const MAX_BYTES: usize = 128 << 20;

/// (epochs done, the weights then), in order.
#[derive(Clone, Debug, Default)]
pub struct WeightPath {
    pub points: Vec<(usize, Arc<Weights>)>,
}

fn bytes(w: &Weights) -> usize {
    w.tensors.values().map(|t| t.data.len() * 4).sum()
}

impl WeightPath {
    pub fn push(&mut self, epoch: usize, weights: Arc<Weights>) {
        self.push_bounded(epoch, weights, MAX_POINTS, MAX_BYTES);
    }

    fn push_bounded(
        &mut self,
        epoch: usize,
        weights: Arc<Weights>,
        max_points: usize,
        max_bytes: usize,
    ) {
        // A resumed or repeated epoch replaces what was there.
        self.points.retain(|(e, _)| *e < epoch);
        self.points.push((epoch, weights));
        while self.points.len() > 2 && (self.points.len() > max_points || self.bytes() > max_bytes)
        {
            let last = self.points.len() - 1;
            let mut i = 0;
            self.points.retain(|_| {
                let keep = i == 0 || i == last || i % 2 == 0;
                i += 1;
                keep
            });
        }
    }

    pub fn bytes(&self) -> usize {
        self.points.iter().map(|(_, w)| bytes(w)).sum()
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WeightTensor;

    fn w(v: f32, len: usize) -> Arc<Weights> {
        let mut tensors = std::collections::BTreeMap::new();
        tensors.insert(
            "fc.weight".to_string(),
            WeightTensor {
                shape: vec![len],
                data: vec![v; len],
            },
        );
        Arc::new(Weights { tensors })
    }

    #[test]
    fn a_long_run_keeps_a_thinned_path_with_both_ends() {
        let mut path = WeightPath::default();
        for e in 0..=1000 {
            path.push(e, w(e as f32, 4));
        }
        assert!(
            path.len() <= MAX_POINTS && path.len() > MAX_POINTS / 2,
            "{}",
            path.len()
        );
        assert_eq!(path.points[0].0, 0);
        assert_eq!(path.points.last().unwrap().0, 1000);
        assert!(path.points.windows(2).all(|p| p[0].0 < p[1].0));
    }

    #[test]
    fn big_weights_are_bounded_in_bytes() {
        let mut path = WeightPath::default();
        // 4 KiB a copy under a 32 KiB bound: at most eight fit.
        for e in 0..20 {
            path.push_bounded(e, w(0.0, 1024), MAX_POINTS, 32 << 10);
        }
        assert!(
            path.bytes() <= 32 << 10 && path.len() >= 4,
            "{}",
            path.bytes()
        );
        assert_eq!(path.points.last().unwrap().0, 19);
    }
}
