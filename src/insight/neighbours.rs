//! Each point's k nearest neighbours in its own space, exactly (every pair is measured; at the
//! projector's 10,000 points of 128 values that is 1.3·10¹⁰ multiply-adds, about a second on
//! two cores). Barnes-Hut t-SNE and UMAP start from this graph, and the trustworthiness and kNN
//! accuracy of a large projection read it instead of sorting every row.

use super::InsightError;
use crate::train::Control;
use rayon::prelude::*;

/// The graph: row i holds point i's `k` nearest others, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    pub k: usize,
    /// n × k point indices.
    pub index: Vec<u32>,
    /// n × k Euclidean distances (not squared).
    pub distance: Vec<f32>,
}

impl Neighbours {
    pub fn len(&self) -> usize {
        self.index.len() / self.k.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The graph cut to each point's `k` nearest (all of them when it has fewer).
    pub fn nearest(&self, k: usize) -> Neighbours {
        let k = k.min(self.k);
        let (mut index, mut distance) = (Vec::new(), Vec::new());
        for i in 0..self.len() {
            let (idx, dist) = self.row(i);
            index.extend_from_slice(&idx[..k]);
            distance.extend_from_slice(&dist[..k]);
        }
        Neighbours { k, index, distance }
    }

    /// Point i's neighbours and their distances.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = i * self.k..(i + 1) * self.k;
        (&self.index[r.clone()], &self.distance[r])
    }
}

pub(super) fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The `k` nearest others of every point (k is cut to n − 1). Rows are shared among rayon's
/// threads; `control.stop` ends it with `Stopped`, `progress` gets the share of rows done.
pub fn nearest_neighbours(
    x: &[Vec<f32>],
    k: usize,
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<Neighbours, InsightError> {
    let n = x.len();
    let k = k.min(n.saturating_sub(1));
    if k == 0 {
        return Err(InsightError::NoSamples);
    }
    let mut index = vec![0u32; n * k];
    let mut distance = vec![0f32; n * k];
    // Blocks of rows between progress reports and stop checks.
    let block = 256;
    for start in (0..n).step_by(block) {
        if control.stopped() {
            return Err(InsightError::Stopped);
        }
        let end = (start + block).min(n);
        index[start * k..end * k]
            .par_chunks_mut(k)
            .zip(distance[start * k..end * k].par_chunks_mut(k))
            .enumerate()
            .for_each_init(
                || Vec::with_capacity(n),
                |all, (r, (idx, dist))| {
                    let i = start + r;
                    all.clear();
                    all.extend(
                        (0..n)
                            .filter(|&j| j != i)
                            .map(|j| (squared_distance(&x[i], &x[j]), j as u32)),
                    );
                    all.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
                    let near = &mut all[..k];
                    near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    for (slot, (d, j)) in near.iter().enumerate() {
                        idx[slot] = *j;
                        dist[slot] = d.sqrt();
                    }
                },
            );
        progress(end as f32 / n as f32);
    }
    Ok(Neighbours { k, index, distance })
}

/// Each point's `k` nearest: from `known` when it holds that many (a caller that already
/// searched), else searched here with `progress`.
pub fn known_or_search(
    x: &[Vec<f32>],
    known: Option<&Neighbours>,
    k: usize,
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<Neighbours, InsightError> {
    match known {
        Some(g) if g.len() == x.len() && g.k >= k.min(x.len().saturating_sub(1)) => {
            Ok(g.nearest(k))
        }
        _ => nearest_neighbours(x, k, control, progress),
    }
}

/// The same graph for points on a plane.
pub fn plane_neighbours(points: &[[f32; 2]], k: usize) -> Result<Neighbours, InsightError> {
    let flat: Vec<Vec<f32>> = points.iter().map(|p| p.to_vec()).collect();
    nearest_neighbours(&flat, k, &Control::default(), &mut |_| {})
}

/// Leave-one-out k-nearest-neighbour accuracy from a neighbour graph of at least `k` columns;
/// ties between classes go to the smaller class number.
pub fn knn_accuracy(graph: &Neighbours, labels: &[u32], k: usize) -> f64 {
    let n = graph.len();
    let k = k.min(graph.k);
    if n == 0 || k == 0 {
        return f64::NAN;
    }
    let mut right = 0;
    let mut votes = std::collections::BTreeMap::new();
    for (i, &label) in labels.iter().enumerate().take(n) {
        votes.clear();
        for &j in &graph.row(i).0[..k] {
            *votes.entry(labels[j as usize]).or_insert(0usize) += 1;
        }
        let most = votes.values().copied().max().unwrap_or(0);
        let winner = votes.iter().find(|(_, &c)| c == most).map(|(l, _)| *l);
        right += usize::from(winner == Some(label));
    }
    right as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_are_the_nearest_in_order_and_never_the_point_itself() {
        let x: Vec<Vec<f32>> = [0.0f32, 1.0, 3.0, 7.0, 15.0]
            .iter()
            .map(|&v| vec![v, 0.0])
            .collect();
        let g = nearest_neighbours(&x, 2, &Control::default(), &mut |_| {}).unwrap();
        assert_eq!(g.row(0), (&[1u32, 2][..], &[1.0f32, 3.0][..]));
        assert_eq!(g.row(2).0, &[1, 0]);
        assert_eq!(g.row(4), (&[3u32, 2][..], &[8.0f32, 12.0][..]));
        // k is cut to n − 1.
        assert_eq!(
            nearest_neighbours(&x, 9, &Control::default(), &mut |_| {})
                .unwrap()
                .k,
            4
        );
    }

    #[test]
    fn knn_accuracy_counts_neighbour_votes() {
        let pts: Vec<[f32; 2]> = vec![
            [0.0, 0.0],
            [0.1, 0.0],
            [0.3, 0.0],
            [5.0, 5.0],
            [5.1, 5.0],
            [5.3, 5.0],
        ];
        let g = plane_neighbours(&pts, 2).unwrap();
        assert_eq!(knn_accuracy(&g, &[0, 0, 0, 1, 1, 1], 1), 1.0);
        // Each point's nearest neighbour carries the other label.
        assert_eq!(knn_accuracy(&g, &[0, 1, 0, 1, 0, 1], 1), 0.0);
        assert_eq!(knn_accuracy(&g, &[0, 0, 0, 1, 1, 1], 2), 1.0);
    }

    #[test]
    fn a_known_graph_is_cut_to_the_neighbours_asked_for() {
        let x: Vec<Vec<f32>> = [0.0f32, 1.0, 3.0, 7.0, 15.0]
            .iter()
            .map(|&v| vec![v])
            .collect();
        let wide = nearest_neighbours(&x, 3, &Control::default(), &mut |_| {}).unwrap();
        let stopped = Control::default();
        stopped
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // Cut from the known graph (a search would be stopped).
        let cut = known_or_search(&x, Some(&wide), 2, &stopped, &mut |_| {}).unwrap();
        assert_eq!(
            cut,
            nearest_neighbours(&x, 2, &Control::default(), &mut |_| {}).unwrap()
        );
        // Too few columns known: searched again.
        let narrow = wide.nearest(1);
        assert!(known_or_search(&x, Some(&narrow), 2, &stopped, &mut |_| {}).is_err());
    }

    #[test]
    fn a_stop_ends_it() {
        let control = Control::default();
        control
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let x = vec![vec![0.0f32]; 5];
        let r = nearest_neighbours(&x, 2, &control, &mut |_| {});
        assert!(matches!(r, Err(InsightError::Stopped)));
    }
}
