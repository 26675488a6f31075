//! t-SNE (van der Maaten and Hinton, 2008): each point's neighbours in the layer become a
//! probability distribution of a chosen perplexity, and a plane is fitted by gradient descent
//! so that a heavy-tailed distribution over it matches them — neighbours stay neighbours, and
//! clusters separate. Exact (O(n²) per iteration) up to `EXACT_POINTS`, Barnes-Hut above
//! (`tsne_bh`, up to `MAX_POINTS`); started from the PCA plane (deterministic), with early
//! exaggeration, momentum and per-coordinate gains as in the reference implementation.
//! Progress is reported and a stop flag is honoured. `trustworthiness` (Venna and Kaski, 2001)
//! says how far a plane's neighbourhoods are the layer's own.

use super::neighbours::{known_or_search, squared_distance, Neighbours};
use super::tsne_bh::{self, SparseP};
use super::InsightError;
use crate::train::Control;
use rayon::prelude::*;

/// Most points t-SNE is run on (TensorBoard's projector stops at the same).
pub const MAX_POINTS: usize = 10_000;
/// Up to this many points every pair is attracted and repelled exactly.
pub const EXACT_POINTS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TsneSettings {
    pub perplexity: f64,
    pub iterations: usize,
    /// Barnes-Hut's accuracy: a cell counts as one body when its width is below θ times its
    /// distance (0.5 as in the reference implementation).
    pub theta: f64,
}

impl Default for TsneSettings {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 1000,
            theta: 0.5,
        }
    }
}

/// P, dense or sparse.
enum Affinities {
    Exact(Vec<f64>),
    Sparse(SparseP),
}

const EXAGGERATION: f64 = 12.0;
const EXAGGERATION_ITERS: usize = 250;

/// Squared Euclidean distances between all pairs, row-major n × n.
fn squared_distances(x: &[Vec<f32>]) -> Vec<f64> {
    let n = x.len();
    let mut d = vec![0f64; n * n];
    for i in 0..n {
        for j in (i + 1)..n {
            let s = squared_distance(&x[i], &x[j]);
            d[i * n + j] = s as f64;
            d[j * n + i] = s as f64;
        }
    }
    d
}

/// Row i of P: a Gaussian over the other points whose precision is searched (bisection on
/// log-perplexity) until its entropy is ln(perplexity). Entry `i` is left out (`usize::MAX`:
/// none, for a row of neighbours only).
pub(super) fn conditional_row(dist: &[f64], i: usize, perplexity: f64, row: &mut [f64]) {
    let target = perplexity.ln();
    let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
    // Distances relative to the nearest keep exp() away from underflow.
    let nearest = dist
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(_, &v)| v)
        .fold(f64::INFINITY, f64::min);
    for _ in 0..64 {
        let mut sum = 0.0;
        let mut weighted = 0.0;
        for (j, (&d, p)) in dist.iter().zip(row.iter_mut()).enumerate() {
            if j == i {
                *p = 0.0;
                continue;
            }
            let e = (-(d - nearest) * beta).exp();
            *p = e;
            sum += e;
            weighted += (d - nearest) * e;
        }
        let sum = sum.max(1e-300);
        let entropy = sum.ln() + beta * weighted / sum;
        row.iter_mut().for_each(|p| *p /= sum);
        if (entropy - target).abs() < 1e-5 {
            break;
        }
        if entropy > target {
            lo = beta;
            beta = if hi.is_finite() {
                (beta + hi) / 2.0
            } else {
                beta * 2.0
            };
        } else {
            hi = beta;
            beta = (beta + lo) / 2.0;
        }
    }
}

/// The joint probabilities P (symmetric, summing to 1).
fn joint_probabilities(x: &[Vec<f32>], perplexity: f64) -> Vec<f64> {
    let n = x.len();
    let dist = squared_distances(x);
    let mut p = vec![0f64; n * n];
    for i in 0..n {
        let (row, d) = (&mut p[i * n..(i + 1) * n], &dist[i * n..(i + 1) * n]);
        conditional_row(d, i, perplexity, row);
    }
    for i in 0..n {
        for j in (i + 1)..n {
            let s = ((p[i * n + j] + p[j * n + i]) / (2.0 * n as f64)).max(1e-12);
            p[i * n + j] = s;
            p[j * n + i] = s;
        }
    }
    p
}

/// The perplexity used on `n` points: a perplexity needs about three times as many neighbours.
fn perplexity_for(settings: TsneSettings, n: usize) -> f64 {
    settings
        .perplexity
        .clamp(2.0, (n.saturating_sub(1) as f64 / 3.0).max(2.0))
}

/// The nearest neighbours t-SNE reads on `n` points (none on the exact path).
pub fn neighbours_needed(settings: TsneSettings, n: usize) -> usize {
    if n <= EXACT_POINTS {
        0
    } else {
        (3.0 * perplexity_for(settings, n)).ceil() as usize
    }
}

/// Fits a plane to the points `x`, starting from `init` (e.g. their PCA plane); above
/// `EXACT_POINTS` it reads their neighbours from `known` when given (else searches them).
/// `progress` gets the share done every few iterations; `control.stop` ends it with `Stopped`.
pub fn tsne(
    x: &[Vec<f32>],
    known: Option<&Neighbours>,
    init: &[[f32; 2]],
    settings: TsneSettings,
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<Vec<[f32; 2]>, InsightError> {
    let n = x.len();
    if n < 4 {
        return Err(InsightError::NoSamples);
    }
    let perplexity = perplexity_for(settings, n);
    let p = if n <= EXACT_POINTS {
        Affinities::Exact(joint_probabilities(x, perplexity))
    } else {
        // The neighbour search is about a tenth of the work.
        let k = neighbours_needed(settings, n);
        let g = known_or_search(x, known, k, control, &mut |f| progress(0.1 * f))?;
        Affinities::Sparse(SparseP::from_neighbours(&g, perplexity))
    };
    let (start, share) = match p {
        Affinities::Exact(_) => (0.0, 1.0),
        Affinities::Sparse(_) => (0.1, 0.9),
    };
    fit(&p, init, settings, control, &mut |f| {
        progress(start + share * f)
    })
}

/// The descent itself, from `init` shrunk to a small spread.
fn fit(
    p: &Affinities,
    init: &[[f32; 2]],
    settings: TsneSettings,
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<Vec<[f32; 2]>, InsightError> {
    let n = init.len();
    // The PCA start, shrunk to a small spread (standard deviation 1e-4 on the first axis).
    let sd = (init.iter().map(|q| (q[0] as f64).powi(2)).sum::<f64>() / n as f64)
        .sqrt()
        .max(1e-12);
    let mut y: Vec<[f64; 2]> = init
        .iter()
        .map(|q| [q[0] as f64 * 1e-4 / sd, q[1] as f64 * 1e-4 / sd])
        .collect();
    let mut update = vec![[0f64; 2]; n];
    let mut gains = vec![[1f64; 2]; n];
    let learning_rate = (n as f64 / EXAGGERATION / 4.0).max(50.0);
    let mut grad = vec![[0f64; 2]; n];
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    for iter in 0..settings.iterations {
        if control.stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(InsightError::Stopped);
        }
        let exaggeration = if iter < EXAGGERATION_ITERS {
            EXAGGERATION
        } else {
            1.0
        };
        let momentum = if iter < EXAGGERATION_ITERS { 0.5 } else { 0.8 };
        match p {
            Affinities::Exact(p) => gradient(p, &y, exaggeration, &mut grad, threads),
            Affinities::Sparse(p) => {
                tsne_bh::gradient(p, &y, exaggeration, settings.theta, &mut grad)
            }
        }
        let mut mean = [0f64; 2];
        for i in 0..n {
            for k in 0..2 {
                // Gains grow where the gradient keeps its direction against the update.
                let g = &mut gains[i][k];
                *g = if (grad[i][k] > 0.0) != (update[i][k] > 0.0) {
                    *g + 0.2
                } else {
                    (*g * 0.8).max(0.01)
                };
                update[i][k] = momentum * update[i][k] - learning_rate * *g * grad[i][k];
                y[i][k] += update[i][k];
                mean[k] += y[i][k];
            }
        }
        for q in &mut y {
            q[0] -= mean[0] / n as f64;
            q[1] -= mean[1] / n as f64;
        }
        if iter % 10 == 0 {
            progress(iter as f32 / settings.iterations as f32);
        }
    }
    progress(1.0);
    Ok(y.iter().map(|q| [q[0] as f32, q[1] as f32]).collect())
}

/// Each point's gradient, rows shared among `threads`: one pass over the pairs gathers the
/// attraction Σ p·w·(yᵢ−yⱼ), the unnormalised repulsion Σ w²·(yᵢ−yⱼ) and Σ w (w = 1/(1+d²), the
/// Student-t kernel); the repulsion is divided by Z = Σ w once all rows are done.
fn gradient(p: &[f64], y: &[[f64; 2]], exaggeration: f64, grad: &mut [[f64; 2]], threads: usize) {
    let n = y.len();
    let rows = n.div_ceil(threads.max(1)).max(1);
    // Per row: attraction (x, y), repulsion (x, y), Σ w.
    let mut parts = vec![[0f64; 5]; n];
    std::thread::scope(|s| {
        for (c, chunk) in parts.chunks_mut(rows).enumerate() {
            s.spawn(move || {
                for (r, out) in chunk.iter_mut().enumerate() {
                    let i = c * rows + r;
                    let prow = &p[i * n..(i + 1) * n];
                    let (yi0, yi1) = (y[i][0], y[i][1]);
                    let mut acc = [0f64; 5];
                    for (j, (yj, &pij)) in y.iter().zip(prow).enumerate() {
                        if j == i {
                            continue;
                        }
                        let (dx, dy) = (yi0 - yj[0], yi1 - yj[1]);
                        let w = 1.0 / (1.0 + dx * dx + dy * dy);
                        let a = exaggeration * pij * w;
                        let b = w * w;
                        acc[0] += a * dx;
                        acc[1] += a * dy;
                        acc[2] += b * dx;
                        acc[3] += b * dy;
                        acc[4] += w;
                    }
                    *out = acc;
                }
            });
        }
    });
    let z = parts.iter().map(|a| a[4]).sum::<f64>().max(1e-300);
    for (g, a) in grad.iter_mut().zip(&parts) {
        *g = [4.0 * (a[0] - a[2] / z), 4.0 * (a[1] - a[3] / z)];
    }
}

/// Ranks of every other point by distance from each point (rank 1: the nearest).
#[cfg(test)]
fn neighbour_order(d: &[f64], n: usize, i: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
    order.sort_by(|&a, &b| d[i * n + a].total_cmp(&d[i * n + b]));
    order
}

/// Above this many points trustworthiness is estimated from `TRUST_QUERIES` evenly spaced ones.
pub const TRUST_EXACT_POINTS: usize = 3000;
pub const TRUST_QUERIES: usize = 2000;

/// Trustworthiness of a plane at `k` neighbours: 1 when each point's k nearest on the plane are
/// among its k nearest in the layer; lower the further in the layer the intruders rank. Exact
/// up to `TRUST_EXACT_POINTS`; above, the mean over `TRUST_QUERIES` evenly spaced points (each
/// still ranked against all).
pub fn trustworthiness(layer: &[Vec<f32>], plane: &[[f32; 2]], k: usize) -> f64 {
    let n = layer.len();
    if n < 3 || k == 0 || 2 * k >= n {
        return f64::NAN;
    }
    let queries: Vec<usize> = if n <= TRUST_EXACT_POINTS {
        (0..n).collect()
    } else {
        (0..TRUST_QUERIES).map(|q| q * n / TRUST_QUERIES).collect()
    };
    let penalty: f64 = queries
        .par_iter()
        .map(|&i| intrusion_penalty(layer, plane, i, k))
        .sum::<f64>()
        * n as f64
        / queries.len() as f64;
    let (n, k) = (n as f64, k as f64);
    1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty
}

/// Σ (rank in the layer − k) over point i's k nearest on the plane that are not among its k
/// nearest in the layer (ties ranked by index).
fn intrusion_penalty(layer: &[Vec<f32>], plane: &[[f32; 2]], i: usize, k: usize) -> f64 {
    let dl: Vec<f32> = layer
        .iter()
        .map(|c| squared_distance(&layer[i], c))
        .collect();
    let mut dp: Vec<(f32, usize)> = plane
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(j, q)| (squared_distance(&plane[i], q), j))
        .collect();
    let by_distance = |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    dp.select_nth_unstable_by(k - 1, by_distance);
    let mut penalty = 0.0;
    for &(_, j) in &dp[..k] {
        let rank = 1
            + (0..layer.len())
                .filter(|&m| m != i && by_distance(&(dl[m], m), &(dl[j], j)).is_lt())
                .count();
        if rank > k {
            penalty += (rank - k) as f64;
        }
    }
    penalty
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Three tight clusters in 10-D, started from a plane that mixes them up (UMAP's tests
    /// use them too).
    pub(in crate::insight) fn clusters(per: usize) -> (Vec<Vec<f32>>, Vec<usize>, Vec<[f32; 2]>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (mut x, mut label, mut init) = (Vec::new(), Vec::new(), Vec::new());
        for c in 0..3 {
            for _ in 0..per {
                x.push(
                    (0..10)
                        .map(|d| if d == c { 10.0 } else { 0.0 } + rng.random_range(-0.5..0.5))
                        .collect(),
                );
                label.push(c);
                init.push([rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)]);
            }
        }
        (x, label, init)
    }

    #[test]
    fn tsne_pulls_clusters_apart_from_a_mixed_start() {
        let (x, label, init) = clusters(30);
        let settings = TsneSettings {
            perplexity: 10.0,
            iterations: 500,
            ..Default::default()
        };
        let mut seen = Vec::new();
        let y = tsne(&x, None, &init, settings, &Control::default(), &mut |f| {
            seen.push(f)
        })
        .unwrap();
        // Every point's nearest neighbour on the plane is of its own cluster...
        let flat: Vec<Vec<f32>> = y.iter().map(|q| q.to_vec()).collect();
        let d = squared_distances(&flat);
        for i in 0..y.len() {
            let nearest = neighbour_order(&d, y.len(), i)[0];
            assert_eq!(label[nearest], label[i], "point {i}");
        }
        // ...and the plane is trustworthy, where the random start was not.
        let t = trustworthiness(&x, &y, 5);
        assert!(t > 0.95, "trustworthiness {t}");
        assert!(trustworthiness(&x, &init, 5) < 0.7);
        assert_eq!(seen.last(), Some(&1.0));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "progress went back");
    }

    #[test]
    fn barnes_hut_pulls_clusters_apart_too() {
        let (x, label, init) = clusters(150);
        let g =
            super::super::neighbours::nearest_neighbours(&x, 30, &Control::default(), &mut |_| {})
                .unwrap();
        let p = Affinities::Sparse(SparseP::from_neighbours(&g, 10.0));
        let settings = TsneSettings {
            perplexity: 10.0,
            iterations: 500,
            theta: 0.5,
        };
        let y = fit(&p, &init, settings, &Control::default(), &mut |_| {}).unwrap();
        let flat: Vec<Vec<f32>> = y.iter().map(|q| q.to_vec()).collect();
        let d = squared_distances(&flat);
        for i in 0..y.len() {
            let nearest = neighbour_order(&d, y.len(), i)[0];
            assert_eq!(label[nearest], label[i], "point {i}");
        }
        let t = trustworthiness(&x, &y, 10);
        assert!(t > 0.95, "trustworthiness {t}");
        assert!(trustworthiness(&x, &init, 10) < 0.7);
    }

    #[test]
    fn trustworthiness_from_sampled_points_is_close_to_the_whole() {
        let (x, _, init) = clusters(1200);
        let n = x.len();
        assert!(n > TRUST_EXACT_POINTS);
        // A plane that keeps the clusters but not the order within them.
        let plane: Vec<[f32; 2]> = x
            .iter()
            .zip(&init)
            .map(|(c, r)| [c[0] + c[2] * 0.5 + r[0], c[1] + r[1]])
            .collect();
        let penalty: f64 = (0..n).map(|i| intrusion_penalty(&x, &plane, i, 10)).sum();
        let (nf, k) = (n as f64, 10.0);
        let whole = 1.0 - 2.0 / (nf * k * (2.0 * nf - 3.0 * k - 1.0)) * penalty;
        let sampled = trustworthiness(&x, &plane, 10);
        assert!((whole - sampled).abs() < 0.01, "{whole} against {sampled}");
        assert!(
            whole < 0.95,
            "{whole}: the test needs a plane that is not perfect"
        );
    }

    #[test]
    fn a_stop_ends_it_with_stopped() {
        let (x, _, init) = clusters(10);
        let control = Control::default();
        control
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let r = tsne(
            &x,
            None,
            &init,
            TsneSettings::default(),
            &control,
            &mut |_| {},
        );
        assert!(matches!(r, Err(InsightError::Stopped)));
    }

    #[test]
    fn trustworthiness_is_one_for_the_same_neighbourhoods_and_drops_when_shuffled() {
        let layer: Vec<Vec<f32>> = (0..20).map(|i| vec![i as f32, 0.0, 0.0]).collect();
        let same: Vec<[f32; 2]> = (0..20).map(|i| [i as f32 * 2.0, 1.0]).collect();
        assert!((trustworthiness(&layer, &same, 3) - 1.0).abs() < 1e-12);
        // Reversing keeps the neighbourhoods; interleaving the halves does not.
        let reversed: Vec<[f32; 2]> = (0..20).map(|i| [-(i as f32), 0.0]).collect();
        assert!((trustworthiness(&layer, &reversed, 3) - 1.0).abs() < 1e-12);
        let mixed: Vec<[f32; 2]> = (0..20)
            .map(|i| [((i % 2) * 10 + i / 2) as f32, 0.0])
            .collect();
        assert!(trustworthiness(&layer, &mixed, 3) < 0.9);
    }
}
