//! The best epoch so far by a validation figure, and early stopping's patience count.

use super::event::EvalMetrics;
use crate::project::training::{EarlyStopping, Monitor};

/// What one epoch's validation meant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The best so far (or the first).
    Improved,
    /// Not better; keep going.
    Waiting,
    /// Not better for `patience_epochs` epochs in a row: stop.
    Stop,
}

/// Watches one validation figure across epochs.
#[derive(Clone, Debug)]
pub struct BestTracker {
    monitor: Monitor,
    early: Option<EarlyStopping>,
    /// (1-based epoch, value) of the best epoch.
    best: Option<(usize, f64)>,
    epochs_since_best: usize,
}

impl BestTracker {
    pub fn new(monitor: Monitor, early: Option<EarlyStopping>) -> Self {
        Self {
            monitor,
            early,
            best: None,
            epochs_since_best: 0,
        }
    }

    pub fn monitor(&self) -> Monitor {
        self.monitor
    }

    /// (1-based epoch, value) of the best epoch so far.
    pub fn best(&self) -> Option<(usize, f64)> {
        self.best
    }

    /// Takes epoch `epoch`'s (1-based) validation figures. Non-finite figures never improve.
    pub fn observe(&mut self, epoch: usize, val: Option<&EvalMetrics>) -> Verdict {
        let value = val
            .and_then(|v| {
                self.monitor
                    .value(v.loss, v.accuracy, v.regression.map(|r| r.r2))
            })
            .filter(|v| v.is_finite());
        let min_delta = self.early.map_or(0.0, |e| e.min_delta);
        let improved = match (value, self.best) {
            (Some(v), None) => Some(v),
            (Some(v), Some((_, b))) if self.monitor.improves(v, b, min_delta) => Some(v),
            _ => None,
        };
        if let Some(v) = improved {
            self.best = Some((epoch, v));
            self.epochs_since_best = 0;
            return Verdict::Improved;
        }
        self.epochs_since_best += 1;
        match self.early {
            Some(e) if self.epochs_since_best >= e.patience_epochs => Verdict::Stop,
            _ => Verdict::Waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(loss: f32) -> EvalMetrics {
        EvalMetrics {
            loss,
            accuracy: Some(1.0 - loss),
            samples: 10,
            regression: None,
        }
    }

    #[test]
    fn patience_counts_epochs_without_a_big_enough_gain() {
        let early = EarlyStopping {
            patience_epochs: 2,
            min_delta: 0.01,
            ..Default::default()
        };
        let mut t = BestTracker::new(Monitor::ValLoss, Some(early));
        assert_eq!(t.observe(1, Some(&val(0.5))), Verdict::Improved);
        assert_eq!(t.observe(2, Some(&val(0.4))), Verdict::Improved);
        // 0.395 is lower, but not by more than min_delta.
        assert_eq!(t.observe(3, Some(&val(0.395))), Verdict::Waiting);
        assert_eq!(t.observe(4, Some(&val(f32::NAN))), Verdict::Stop);
        assert_eq!(t.best(), Some((2, 0.4f32 as f64)));
    }

    #[test]
    fn accuracy_is_better_when_higher_and_no_patience_means_never_stop() {
        let mut t = BestTracker::new(Monitor::ValAccuracy, None);
        assert_eq!(t.observe(1, Some(&val(0.5))), Verdict::Improved);
        for e in 2..20 {
            assert_eq!(t.observe(e, Some(&val(0.9))), Verdict::Waiting);
        }
        assert_eq!(t.observe(20, Some(&val(0.1))), Verdict::Improved);
        assert_eq!(t.best().map(|b| b.0), Some(20));
    }
}
