//! UMAP (McInnes, Healy and Melville, 2018), as the reference `umap-learn` does it with its
//! defaults: each point's 15 nearest neighbours become a fuzzy set (membership 1 at the nearest,
//! falling off so the memberships sum to log₂ 15), the sets are joined (a + b − ab), and a plane
//! is fitted by stochastic gradient descent that pulls each edge's ends together as often as
//! its weight says and pushes five random points away for each pull. Started from the PCA plane
//! scaled to [0, 10] (the reference starts from a spectral layout; both are deterministic), with
//! a fixed random stream, so one input gives one plane. Progress and a stop flag as t-SNE's.

use super::neighbours::{known_or_search, Neighbours};
use super::InsightError;
use crate::train::Control;
use rand::{Rng, SeedableRng};

/// Most points UMAP is run on (as t-SNE).
pub const MAX_POINTS: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UmapSettings {
    /// Neighbours per point (the reference's `n_neighbors`).
    pub neighbours: usize,
    /// Passes of the descent (the reference's 500 up to 10,000 points).
    pub epochs: usize,
}

impl Default for UmapSettings {
    fn default() -> Self {
        Self {
            neighbours: 15,
            epochs: 500,
        }
    }
}

/// The plane's similarity 1 / (1 + a·d^2b) fitted to min_dist = 0.1, spread = 1 (the
/// reference's defaults and the values its curve fit gives for them).
const A: f64 = 1.576_943_460_405_378;
const B: f64 = 0.895_060_878_122_785_9;
const NEGATIVE_RATE: f64 = 5.0;
const CLIP: f64 = 4.0;

/// One directed edge of the joined fuzzy graph.
struct Edge {
    head: u32,
    tail: u32,
    /// Epochs between two pulls along it (1 for the strongest edge).
    every: f64,
}

/// Each point's memberships: exp(−(d − ρ)/σ) with ρ the distance to its nearest neighbour and σ
/// searched so that they sum to log₂ k.
fn memberships(distance: &[f32]) -> Vec<f64> {
    let k = distance.len();
    let target = (k as f64).log2();
    let rho = distance.iter().copied().find(|&d| d > 0.0).unwrap_or(0.0) as f64;
    let mean = distance.iter().map(|&d| d as f64).sum::<f64>() / k.max(1) as f64;
    let member = |sigma: f64| -> Vec<f64> {
        distance
            .iter()
            .map(|&d| (-((d as f64 - rho).max(0.0)) / sigma).exp())
            .collect()
    };
    let (mut lo, mut hi, mut sigma) = (0.0f64, f64::INFINITY, 1.0f64);
    for _ in 0..64 {
        let sum: f64 = member(sigma).iter().sum();
        if (sum - target).abs() < 1e-5 {
            break;
        }
        if sum > target {
            hi = sigma;
            sigma = (lo + hi) / 2.0;
        } else {
            lo = sigma;
            sigma = if hi.is_finite() {
                (lo + hi) / 2.0
            } else {
                sigma * 2.0
            };
        }
    }
    // The reference's floor keeps a point whose neighbours are all at one distance from σ = 0.
    member(sigma.max(1e-3 * mean).max(1e-12))
}

/// The joined graph as directed edges (each pair both ways), weak edges (below max / epochs,
/// which would never be sampled) dropped.
fn edges(g: &Neighbours, epochs: usize) -> Vec<Edge> {
    let mut pairs: Vec<(u32, u32, f64)> = Vec::with_capacity(2 * g.index.len());
    for i in 0..g.len() {
        let (idx, dist) = g.row(i);
        for (&j, w) in idx.iter().zip(memberships(dist)) {
            let i = i as u32;
            // Keyed by the smaller end; the membership lands on the side it was seen from.
            pairs.push((i.min(j), i.max(j), if i < j { w } else { -w }));
        }
    }
    pairs.sort_by_key(|a| (a.0, a.1));
    let mut joined: Vec<(u32, u32, f64)> = Vec::new();
    let mut k = 0;
    while k < pairs.len() {
        let (i, j) = (pairs[k].0, pairs[k].1);
        let (mut forward, mut back) = (0.0f64, 0.0f64);
        while k < pairs.len() && (pairs[k].0, pairs[k].1) == (i, j) {
            let w = pairs[k].2;
            if w >= 0.0 {
                forward = forward.max(w);
            } else {
                back = back.max(-w);
            }
            k += 1;
        }
        joined.push((i, j, forward + back - forward * back));
    }
    let max = joined.iter().map(|e| e.2).fold(0.0, f64::max);
    let floor = max / epochs.max(1) as f64;
    joined
        .into_iter()
        .filter(|e| e.2 > 0.0 && e.2 >= floor)
        .flat_map(|(i, j, w)| {
            let every = max / w;
            [
                Edge {
                    head: i,
                    tail: j,
                    every,
                },
                Edge {
                    head: j,
                    tail: i,
                    every,
                },
            ]
        })
        .collect()
}

/// Lays the points `x` on a plane, starting from `init` (their PCA plane); their neighbours
/// come from `known` when given (else they are searched).
pub fn umap(
    x: &[Vec<f32>],
    known: Option<&Neighbours>,
    init: &[[f32; 2]],
    settings: UmapSettings,
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<Vec<[f32; 2]>, InsightError> {
    let n = x.len();
    if n < 4 {
        return Err(InsightError::NoSamples);
    }
    let g = known_or_search(x, known, settings.neighbours.max(2), control, &mut |f| {
        progress(0.2 * f)
    })?;
    let edges = edges(&g, settings.epochs);
    let mut y = scaled_start(init);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut next = edges.iter().map(|e| e.every).collect::<Vec<_>>();
    let mut next_negative = edges
        .iter()
        .map(|e| e.every / NEGATIVE_RATE)
        .collect::<Vec<_>>();
    let epochs = settings.epochs.max(1);
    for epoch in 0..epochs {
        if control.stopped() {
            return Err(InsightError::Stopped);
        }
        let rate = 1.0 - epoch as f64 / epochs as f64;
        let now = epoch as f64;
        for (e, edge) in edges.iter().enumerate() {
            if next[e] > now {
                continue;
            }
            let (h, t) = (edge.head as usize, edge.tail as usize);
            let (dx, dy) = (y[h][0] - y[t][0], y[h][1] - y[t][1]);
            let d2 = dx * dx + dy * dy;
            if d2 > 0.0 {
                let c = -2.0 * A * B * d2.powf(B - 1.0) / (A * d2.powf(B) + 1.0);
                let step = [(c * dx).clamp(-CLIP, CLIP), (c * dy).clamp(-CLIP, CLIP)];
                for k in 0..2 {
                    y[h][k] += step[k] * rate;
                    y[t][k] -= step[k] * rate;
                }
            }
            next[e] += edge.every;
            let per_negative = edge.every / NEGATIVE_RATE;
            let negatives = ((now - next_negative[e]) / per_negative).floor().max(0.0) as usize;
            for _ in 0..negatives {
                let other = rng.random_range(0..n);
                if other == h {
                    continue;
                }
                let (dx, dy) = (y[h][0] - y[other][0], y[h][1] - y[other][1]);
                let d2 = dx * dx + dy * dy;
                let c = 2.0 * B / ((0.001 + d2) * (A * d2.powf(B) + 1.0));
                for (k, d) in [dx, dy].into_iter().enumerate() {
                    let step = if c > 0.0 {
                        (c * d).clamp(-CLIP, CLIP)
                    } else {
                        CLIP
                    };
                    y[h][k] += step * rate;
                }
            }
            next_negative[e] += negatives as f64 * per_negative;
        }
        if epoch % 5 == 0 {
            progress(0.2 + 0.8 * epoch as f32 / epochs as f32);
        }
    }
    progress(1.0);
    Ok(y.iter().map(|q| [q[0] as f32, q[1] as f32]).collect())
}

/// The start scaled into [0, 10] on each axis, as the reference scales its own.
fn scaled_start(init: &[[f32; 2]]) -> Vec<[f64; 2]> {
    let mut y: Vec<[f64; 2]> = init.iter().map(|q| [q[0] as f64, q[1] as f64]).collect();
    for k in 0..2 {
        let lo = y.iter().map(|q| q[k]).fold(f64::INFINITY, f64::min);
        let hi = y.iter().map(|q| q[k]).fold(f64::NEG_INFINITY, f64::max);
        let span = (hi - lo).max(1e-12);
        y.iter_mut().for_each(|q| q[k] = 10.0 * (q[k] - lo) / span);
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insight::neighbours::plane_neighbours;
    use crate::insight::tsne::tests::clusters;
    use crate::insight::tsne::trustworthiness;

    #[test]
    fn the_plane_similarity_is_the_fitted_curve_for_min_dist_a_tenth() {
        // 1 up to min_dist, then exp(−(d − min_dist)): the curve A and B were fitted to.
        for i in 0..300 {
            let d = i as f64 * 0.01;
            let want = if d < 0.1 { 1.0 } else { (-(d - 0.1)).exp() };
            let got = 1.0 / (1.0 + A * d.powf(2.0 * B));
            assert!((got - want).abs() < 0.1, "at {d}: {got} against {want}");
        }
    }

    #[test]
    fn memberships_sum_to_log2_k_and_start_at_one() {
        let d = [0.5f32, 0.7, 1.0, 1.1, 1.5, 2.0, 2.2, 3.0];
        let m = memberships(&d);
        assert_eq!(m[0], 1.0);
        assert!((m.iter().sum::<f64>() - 3.0).abs() < 1e-4, "{m:?}");
        assert!(m.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn umap_pulls_clusters_apart_from_a_mixed_start() {
        let (x, label, init) = clusters(100);
        let mut seen = Vec::new();
        let settings = UmapSettings {
            neighbours: 15,
            epochs: 200,
        };
        let y = umap(&x, None, &init, settings, &Control::default(), &mut |f| {
            seen.push(f)
        })
        .unwrap();
        let g = plane_neighbours(&y, 1).unwrap();
        for (i, l) in label.iter().enumerate() {
            assert_eq!(label[g.row(i).0[0] as usize], *l, "point {i}");
        }
        let t = trustworthiness(&x, &y, 10);
        assert!(t > 0.9, "trustworthiness {t}");
        assert!(trustworthiness(&x, &init, 10) < 0.7);
        assert_eq!(seen.last(), Some(&1.0));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "progress went back");
        // One input, one plane.
        let again = umap(&x, None, &init, settings, &Control::default(), &mut |_| {}).unwrap();
        assert_eq!(y, again);
    }

    #[test]
    fn a_stop_ends_it_with_stopped() {
        let (x, _, init) = clusters(10);
        let control = Control::default();
        control
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let r = umap(
            &x,
            None,
            &init,
            UmapSettings::default(),
            &control,
            &mut |_| {},
        );
        assert!(matches!(r, Err(InsightError::Stopped)));
    }
}
