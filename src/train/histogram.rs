//! Weights, gradients and activations over a run, TensorBoard's histograms: each snapshot
//! reduces every parameter, its gradient and every node's output on the probe batch to a
//! histogram of `BINS` bins over its own range; a `Timeline` keeps them in step order, thinning
//! the older half when full so a run of any length stays within `Timeline::CAP` columns; a
//! column is re-binned onto one shared range to draw the tensor's heat map over time. The share
//! of a ReLU's units that no probe sample activates ("dead") is kept beside them.

/// Bins per histogram.
pub const BINS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TensorKind {
    Weights,
    Gradients,
    Activations,
}

impl TensorKind {
    pub fn name(self) -> &'static str {
        match self {
            TensorKind::Weights => "weights",
            TensorKind::Gradients => "gradients",
            TensorKind::Activations => "activations",
        }
    }
}

/// Counts of a tensor's finite values in `BINS` equal bins over [min, max].
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// The parameter ("fc1.weight") or node ("relu1").
    pub name: String,
    pub kind: TensorKind,
    pub min: f32,
    pub max: f32,
    pub counts: [u32; BINS],
}

impl Histogram {
    pub fn of(name: &str, kind: TensorKind, values: &[f32]) -> Self {
        let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in values.iter().filter(|v| v.is_finite()) {
            min = min.min(v);
            max = max.max(v);
        }
        let mut counts = [0u32; BINS];
        if min <= max {
            let width = (max - min).max(f32::MIN_POSITIVE);
            for &v in values.iter().filter(|v| v.is_finite()) {
                let b = (((v - min) / width) * BINS as f32) as usize;
                counts[b.min(BINS - 1)] += 1;
            }
        } else {
            (min, max) = (0.0, 0.0);
        }
        Self {
            name: name.to_string(),
            kind,
            min,
            max,
            counts,
        }
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }

    /// The counts spread onto `bins` equal bins over [lo, hi], each source bin's count shared
    /// among the target bins it overlaps in proportion to the overlap (so no target band is
    /// left empty between two full ones), as shares of the total.
    pub fn rebinned(&self, lo: f32, hi: f32, bins: usize) -> Vec<f32> {
        let mut out = vec![0f32; bins];
        let total = self.total().max(1) as f32;
        let width = (hi - lo).max(f32::MIN_POSITIVE) / bins as f32;
        let step = (self.max - self.min) / BINS as f32;
        let target = |v: f32| ((((v - lo) / width).floor()).max(0.0) as usize).min(bins - 1);
        for (k, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let share = c as f32 / total;
            let (a, b) = (self.min + step * k as f32, self.min + step * (k + 1) as f32);
            if b - a <= f32::EPSILON * a.abs().max(1.0) {
                out[target(a)] += share;
                continue;
            }
            for (t, o) in out
                .iter_mut()
                .enumerate()
                .take(target(b) + 1)
                .skip(target(a))
            {
                let (ta, tb) = (lo + width * t as f32, lo + width * (t + 1) as f32);
                let overlap = (b.min(tb) - a.max(ta)).max(0.0);
                *o += share * overlap / (b - a);
            }
        }
        out
    }
}

/// Share of a ReLU node's units that are zero for every probe sample (`values`: samples ×
/// units, row-major).
pub fn dead_share(values: &[f32], units: usize) -> f32 {
    if units == 0 || values.is_empty() {
        return 0.0;
    }
    let samples = values.len() / units;
    let dead = (0..units)
        .filter(|&u| (0..samples).all(|s| values[s * units + u] <= 0.0))
        .count();
    dead as f32 / units as f32
}

/// What one snapshot adds to the timeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Column {
    pub step: usize,
    pub histograms: Vec<Histogram>,
    /// (ReLU node, share of its units dead on the probe batch).
    pub dead: Vec<(String, f32)>,
}

/// A tensor's heat map: the shared value range (lo, hi) and per column (step, shares).
pub type HeatMap = (f32, f32, Vec<(usize, Vec<f32>)>);

/// Snapshots' histograms in step order, at most `CAP` columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    pub columns: Vec<Column>,
}

impl Timeline {
    /// Most columns kept, whatever the run's length.
    pub const CAP: usize = 240;

    /// Adds a column; when full, every other column of the older half goes, so the early run
    /// stays visible at a coarser grain.
    pub fn push(&mut self, column: Column) {
        if column.histograms.is_empty() && column.dead.is_empty() {
            return;
        }
        self.columns.push(column);
        if self.columns.len() > Self::CAP {
            let half = Self::CAP / 2;
            let mut i = 0;
            self.columns.retain(|_| {
                i += 1;
                i > half || i % 2 == 1
            });
        }
    }

    /// The tensors seen, as (name, kind), in first-seen order.
    pub fn tensors(&self) -> Vec<(String, TensorKind)> {
        let mut out: Vec<(String, TensorKind)> = Vec::new();
        for c in &self.columns {
            for h in &c.histograms {
                if !out.iter().any(|(n, k)| *n == h.name && *k == h.kind) {
                    out.push((h.name.clone(), h.kind));
                }
            }
        }
        out
    }

    /// One tensor's heat map: the shared range, and per column (step, shares over `bins`).
    pub fn heat_map(&self, name: &str, kind: TensorKind, bins: usize) -> Option<HeatMap> {
        let hs: Vec<(usize, &Histogram)> = self
            .columns
            .iter()
            .filter_map(|c| {
                c.histograms
                    .iter()
                    .find(|h| h.name == name && h.kind == kind && h.total() > 0)
                    .map(|h| (c.step, h))
            })
            .collect();
        if hs.is_empty() {
            return None;
        }
        let lo = hs.iter().map(|(_, h)| h.min).fold(f32::INFINITY, f32::min);
        let hi = hs
            .iter()
            .map(|(_, h)| h.max)
            .fold(f32::NEG_INFINITY, f32::max);
        let cols = hs
            .iter()
            .map(|(s, h)| (*s, h.rebinned(lo, hi, bins)))
            .collect();
        Some((lo, hi, cols))
    }

    /// One ReLU node's dead share over the run: (step, share).
    pub fn dead_over_time(&self, node: &str) -> Vec<(usize, f32)> {
        self.columns
            .iter()
            .filter_map(|c| {
                c.dead
                    .iter()
                    .find(|(n, _)| n == node)
                    .map(|(_, s)| (c.step, *s))
            })
            .collect()
    }

    /// The ReLU nodes with a dead share, in first-seen order.
    pub fn relu_nodes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.columns {
            for (n, _) in &c.dead {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_every_finite_value_in_its_bin() {
        let v: Vec<f32> = (0..64).map(|i| i as f32).chain([f32::NAN]).collect();
        let h = Histogram::of("w", TensorKind::Weights, &v);
        assert_eq!((h.min, h.max), (0.0, 63.0));
        assert_eq!(h.total(), 64);
        assert!(h.counts.iter().all(|&c| c == 2), "{:?}", h.counts);
        // Onto a range twice as wide, everything lands in the lower half.
        let shares = h.rebinned(0.0, 127.0, 4);
        assert!((shares[0] - 0.5).abs() < 0.01 && (shares[1] - 0.5).abs() < 0.01);
        assert_eq!(&shares[2..], &[0.0, 0.0]);
        assert!((shares.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // Onto more, finer bands than it has bins: none is left empty.
        let fine = h.rebinned(0.0, 63.0, 48);
        assert!(fine.iter().all(|&s| s > 0.0), "{fine:?}");
    }

    #[test]
    fn a_long_run_keeps_at_most_cap_columns_spanning_the_whole_run() {
        let mut t = Timeline::default();
        for step in 0..100_000 {
            t.push(Column {
                step,
                histograms: vec![Histogram::of("w", TensorKind::Weights, &[step as f32])],
                dead: vec![],
            });
        }
        assert!(t.columns.len() <= Timeline::CAP);
        assert_eq!(t.columns[0].step, 0, "the start stays");
        assert_eq!(
            t.columns.last().unwrap().step,
            99_999,
            "the newest is there"
        );
        assert!(t.columns.windows(2).all(|w| w[0].step < w[1].step));
    }

    #[test]
    fn dead_units_are_those_no_sample_activates() {
        // Three samples × four units; units 1 and 3 never fire.
        let v = [1.0, 0.0, 0.5, -1.0, 0.0, 0.0, 0.0, 0.0, 2.0, -3.0, 0.0, 0.0];
        assert_eq!(dead_share(&v, 4), 0.5);
    }

    #[test]
    fn the_heat_map_shares_one_range_across_columns() {
        let mut t = Timeline::default();
        for (step, scale) in [(1, 1.0f32), (2, 4.0)] {
            let v: Vec<f32> = (0..100).map(|i| (i as f32 / 99.0 - 0.5) * scale).collect();
            t.push(Column {
                step,
                histograms: vec![Histogram::of("fc1.weight", TensorKind::Weights, &v)],
                dead: vec![],
            });
        }
        let (lo, hi, cols) = t.heat_map("fc1.weight", TensorKind::Weights, 8).unwrap();
        assert_eq!((lo, hi), (-2.0, 2.0));
        // The narrow early weights fill only the middle quarter of the shared range.
        let early = &cols[0].1;
        assert!(
            early[..3].iter().chain(&early[5..]).all(|&s| s == 0.0),
            "{early:?}"
        );
        assert!((early.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(cols[1].1.iter().all(|&s| s > 0.0));
    }
}
