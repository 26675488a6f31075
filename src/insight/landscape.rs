//! The loss landscape around trained weights (Li et al. 2018, "Visualizing the Loss Landscape
//! of Neural Nets"): the training loss on a fixed subset at w + x·d₁ + y·d₂ over a grid, d₁ and
//! d₂ random directions *filter-normalised* — each filter (a row of a weight matrix, an output
//! channel of a kernel) scaled to the norm of the same filter in w — so the picture does not
//! depend on each layer's scale. Biases and other 1-D parameters are not moved (the paper's
//! "ignore biasbn"). Or, to see where training went, the plane of the path itself: the two
//! principal directions of the weights recorded after each epoch, taken from the trained ones
//! (the paper's §7, since a random plane is all but orthogonal to any path in so many
//! dimensions); the path is drawn projected on whichever plane is chosen.

use super::InsightError;
use crate::data::Dataset;
use crate::model::{Model, WeightTensor, Weights};
use crate::train::{evaluate, Control};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// What to compute: `grid` × `grid` cells over [-span, span]² in direction units, on the first
/// `samples` training samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LandscapeSpec {
    pub grid: usize,
    pub span: f32,
    pub samples: usize,
    pub seed: u64,
    pub plane: Plane,
}

/// Which plane the slice lies in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Plane {
    /// Two random filter-normalised directions: the shape of the minimum.
    #[default]
    Random,
    /// The path's two principal directions (unit length in weight space); the span is set
    /// to take in the whole path.
    Path,
}

impl Default for LandscapeSpec {
    fn default() -> Self {
        Self {
            grid: 25,
            span: 1.0,
            samples: 1024,
            seed: 1,
            plane: Plane::Random,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Landscape {
    /// The grid's coordinates along each direction (the trained weights at 0).
    pub coords: Vec<f32>,
    /// loss[row][col]: row along the second direction (y), column along the first (x).
    pub loss: Vec<Vec<f32>>,
    pub plane: Plane,
    /// The recorded weights' places on the plane, in the grid's units, oldest first.
    pub path: Vec<[f32; 2]>,
    /// The share of the path's squared distance from the trained weights the plane holds
    /// (1: the path lies in it).
    pub path_share: Option<f64>,
}

impl Landscape {
    /// (x, y, loss) per cell, row by row.
    pub fn cells(&self) -> impl Iterator<Item = (f32, f32, f32)> + '_ {
        self.loss.iter().enumerate().flat_map(move |(r, row)| {
            row.iter()
                .enumerate()
                .map(move |(c, &l)| (self.coords[c], self.coords[r], l))
        })
    }

    /// The (row, column) of the lowest loss.
    pub fn lowest(&self) -> (usize, usize) {
        let mut best = (0, 0, f32::INFINITY);
        for (r, row) in self.loss.iter().enumerate() {
            for (c, &l) in row.iter().enumerate() {
                if l < best.2 {
                    best = (r, c, l);
                }
            }
        }
        (best.0, best.1)
    }
}

/// A random direction shaped like `w`, each filter scaled to that filter's norm in `w`.
fn direction(w: &Weights, rng: &mut ChaCha8Rng) -> Weights {
    let tensors = w
        .tensors
        .iter()
        .map(|(name, t)| {
            let mut d: Vec<f32> = (0..t.data.len())
                .map(|_| StandardNormal.sample(rng))
                .collect();
            if t.shape.len() <= 1 {
                d.iter_mut().for_each(|v| *v = 0.0);
            } else {
                let filter = t.data.len() / t.shape[0].max(1);
                for (dv, wv) in d.chunks_mut(filter).zip(t.data.chunks(filter)) {
                    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    let k = norm(wv) / norm(dv).max(1e-12);
                    dv.iter_mut().for_each(|v| *v *= k);
                }
            }
            (
                name.clone(),
                WeightTensor {
                    shape: t.shape.clone(),
                    data: d,
                },
            )
        })
        .collect();
    Weights { tensors }
}

/// The loss over the grid, cell by cell (`progress` gets the share done); `model` holds the
/// trained weights again afterwards.
pub fn loss_landscape(
    model: &Model,
    data: &Dataset,
    spec: LandscapeSpec,
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<Landscape, InsightError> {
    loss_landscape_along(model, data, spec, &[], control, progress)
}

/// As `loss_landscape`, with the weights recorded along training (`path`, oldest first)
/// projected on the plane — and giving the plane when `spec.plane` is `Path`.
pub fn loss_landscape_along(
    model: &Model,
    data: &Dataset,
    mut spec: LandscapeSpec,
    path: &[&Weights],
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<Landscape, InsightError> {
    if !(3..=101).contains(&spec.grid) {
        return Err(InsightError::Grid(spec.grid));
    }
    if data.is_windows() {
        return Err(InsightError::LandscapeMode);
    }
    let trained = model.weights()?;
    let moves: Vec<Vec<f32>> = path
        .iter()
        .map(|w| difference(w, &trained))
        .collect::<Result<_, _>>()?;
    let (d1, d2, places, share) = match spec.plane {
        Plane::Random => {
            let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
            let (d1, d2) = (direction(&trained, &mut rng), direction(&trained, &mut rng));
            let (f1, f2) = (flatten(&d1), flatten(&d2));
            let (places, share) = project_on(&moves, &f1, &f2);
            (d1, d2, places, share)
        }
        Plane::Path => {
            let (f1, f2, places, share) = path_plane(&moves)?;
            let far = places
                .iter()
                .flat_map(|p| [p[0].abs(), p[1].abs()])
                .fold(0f32, f32::max);
            spec.span = (far * 1.25).max(1e-3);
            (
                unflatten(&f1, &trained),
                unflatten(&f2, &trained),
                places,
                share,
            )
        }
    };
    let coords: Vec<f32> = (0..spec.grid)
        .map(|i| -spec.span + 2.0 * spec.span * i as f32 / (spec.grid - 1) as f32)
        .collect();
    let loss = slice(
        model,
        data,
        spec.samples,
        (&trained, &d1, &d2),
        &coords,
        control,
        progress,
    );
    model.load_weights(&trained)?;
    Ok(Landscape {
        coords,
        loss: loss?,
        plane: spec.plane,
        path: places,
        path_share: share,
    })
}

/// The loss at trained + x·d₁ + y·d₂ for every (x, y) of `coords`², row by row.
fn slice(
    model: &Model,
    data: &Dataset,
    samples: usize,
    (trained, d1, d2): (&Weights, &Weights, &Weights),
    coords: &[f32],
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<Vec<Vec<f32>>, InsightError> {
    let encoding = model.bind_data(data)?;
    let subset: Vec<usize> = data.train.iter().copied().take(samples.max(1)).collect();
    let n = coords.len();
    let mut loss = vec![vec![0f32; n]; n];
    for (r, &y) in coords.iter().enumerate() {
        for (c, &x) in coords.iter().enumerate() {
            let mut moved = trained.clone();
            for (name, t) in moved.tensors.iter_mut() {
                let (a, b) = (&d1.tensors[name].data, &d2.tensors[name].data);
                for ((v, da), db) in t.data.iter_mut().zip(a).zip(b) {
                    *v += x * da + y * db;
                }
            }
            model.load_weights(&moved)?;
            let m = evaluate(model, data, &subset, encoding, control)?
                .ok_or(InsightError::Stopped)?
                .ok_or(InsightError::NoSamples)?;
            loss[r][c] = m.loss;
            progress((r * n + c + 1) as f32 / (n * n) as f32);
        }
    }
    Ok(loss)
}

/// All of a set of weights as one vector, tensors in name order.
fn flatten(w: &Weights) -> Vec<f32> {
    w.tensors
        .values()
        .flat_map(|t| t.data.iter().copied())
        .collect()
}

/// A flat vector back in the shapes of `like`.
fn unflatten(v: &[f32], like: &Weights) -> Weights {
    let mut at = 0;
    let tensors = like
        .tensors
        .iter()
        .map(|(name, t)| {
            let data = v[at..at + t.data.len()].to_vec();
            at += t.data.len();
            (
                name.clone(),
                WeightTensor {
                    shape: t.shape.clone(),
                    data,
                },
            )
        })
        .collect();
    Weights { tensors }
}

/// `w` − `trained`, flattened; weights of another network are refused by name.
fn difference(w: &Weights, trained: &Weights) -> Result<Vec<f32>, InsightError> {
    let mut out = Vec::new();
    for (name, t) in &trained.tensors {
        let Some(o) = w.tensors.get(name).filter(|o| o.shape == t.shape) else {
            return Err(InsightError::WeightsDiffer(name.clone()));
        };
        out.extend(o.data.iter().zip(&t.data).map(|(a, b)| a - b));
    }
    Ok(out)
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Each move's least-squares place on the plane of `d1` and `d2`, and the share of the
/// moves' squared length the plane holds.
fn project_on(moves: &[Vec<f32>], d1: &[f32], d2: &[f32]) -> (Vec<[f32; 2]>, Option<f64>) {
    let (g11, g12, g22) = (dot(d1, d1), dot(d1, d2), dot(d2, d2));
    let det = (g11 * g22 - g12 * g12).max(1e-300);
    let (mut kept, mut total) = (0.0, 0.0);
    let places = moves
        .iter()
        .map(|m| {
            let (b1, b2) = (dot(d1, m), dot(d2, m));
            let x = (g22 * b1 - g12 * b2) / det;
            let y = (g11 * b2 - g12 * b1) / det;
            // |projection|² = x·b1 + y·b2 for a least-squares fit.
            kept += x * b1 + y * b2;
            total += dot(m, m);
            [x as f32, y as f32]
        })
        .collect();
    (
        places,
        (total > 0.0).then(|| (kept / total).clamp(0.0, 1.0)),
    )
}

/// Two directions (flat), the moves' places on them and the share of the moves they hold.
type PathPlane = (Vec<f32>, Vec<f32>, Vec<[f32; 2]>, Option<f64>);

/// The path's own plane: the top two eigenvectors u of the moves' Gram matrix give the
/// directions Σᵢ uᵢ·moveᵢ / √λ (unit length, orthogonal), and move j lies at √λ·u_j on each.
fn path_plane(moves: &[Vec<f32>]) -> Result<PathPlane, InsightError> {
    let e = moves.len();
    let gram: Vec<Vec<f64>> = (0..e)
        .map(|i| (0..e).map(|j| dot(&moves[i], &moves[j])).collect())
        .collect();
    let total: f64 = (0..e).map(|i| gram[i][i]).sum();
    let (l1, u1) = top_eigen(&gram, None);
    let (l2, u2) = top_eigen(&gram, Some((l1, &u1)));
    if l2 <= total * 1e-12 || l2 <= 0.0 {
        return Err(InsightError::PathTooShort);
    }
    let direction = |l: f64, u: &[f64]| -> Vec<f32> {
        let mut d = vec![0f64; moves[0].len()];
        for (m, &ui) in moves.iter().zip(u) {
            for (dv, &mv) in d.iter_mut().zip(m) {
                *dv += ui * mv as f64;
            }
        }
        d.iter().map(|v| (v / l.sqrt()) as f32).collect()
    };
    let places = u1
        .iter()
        .zip(&u2)
        .map(|(a, b)| [(l1.sqrt() * a) as f32, (l2.sqrt() * b) as f32])
        .collect();
    Ok((
        direction(l1, &u1),
        direction(l2, &u2),
        places,
        Some((l1 + l2) / total),
    ))
}

/// The largest eigenvalue of a symmetric positive semi-definite matrix and its unit
/// eigenvector, by power iteration (after removing a known pair, for the second).
fn top_eigen(g: &[Vec<f64>], without: Option<(f64, &[f64])>) -> (f64, Vec<f64>) {
    let n = g.len();
    let apply = |v: &[f64]| -> Vec<f64> {
        let mut out: Vec<f64> = g
            .iter()
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect();
        if let Some((l, u)) = without {
            let along: f64 = u.iter().zip(v).map(|(a, b)| a * b).sum();
            out.iter_mut()
                .zip(u)
                .for_each(|(o, ui)| *o -= l * along * ui);
        }
        out
    };
    // A start with a share of every direction (no symmetry to get stuck in).
    let mut v: Vec<f64> = (0..n).map(|i| 1.0 + i as f64 * 0.618_034 % 1.0).collect();
    let mut lambda = 0.0;
    for _ in 0..1000 {
        let w = apply(&v);
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm <= 0.0 {
            return (0.0, v);
        }
        let next: Vec<f64> = w.iter().map(|x| x / norm).collect();
        let moved: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = next;
        lambda = norm;
        if moved < 1e-12 {
            break;
        }
    }
    (lambda, v)
}

/// The loss along a line, as (α, loss) in α order.
#[derive(Clone, Debug, PartialEq)]
pub struct LossLine {
    pub points: Vec<(f32, f32)>,
}

impl LossLine {
    /// The loss at the point nearest `alpha`.
    pub fn at(&self, alpha: f32) -> f32 {
        self.points
            .iter()
            .min_by(|a, b| (a.0 - alpha).abs().total_cmp(&(b.0 - alpha).abs()))
            .map_or(f32::NAN, |p| p.1)
    }

    /// The highest loss between the two ends (0 ≤ α ≤ 1).
    pub fn highest_between(&self) -> f32 {
        self.points
            .iter()
            .filter(|p| (0.0..=1.0).contains(&p.0))
            .map(|p| p.1)
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// Whether the loss rises above both ends on the way: the ends lie in different basins.
    pub fn has_barrier(&self) -> bool {
        self.highest_between() > self.at(0.0).max(self.at(1.0)) + 1e-4
    }
}

/// The loss along the straight line between two sets of weights (Goodfellow et al. 2015):
/// θ(α) = (1 − α)·`from` + α·`to` at `points` values of α from −0.25 to 1.25, on the first
/// `samples` training samples. A line that falls steadily from one end to the other and rises
/// past it says both ends lie in one basin; a bump between two trained runs is the barrier
/// between their minima. `model` holds its own weights again afterwards.
pub fn loss_line(
    model: &Model,
    data: &Dataset,
    (from, to): (&Weights, &Weights),
    (points, samples): (usize, usize),
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<LossLine, InsightError> {
    if !(3..=401).contains(&points) {
        return Err(InsightError::LinePoints(points));
    }
    if data.is_windows() {
        return Err(InsightError::LandscapeMode);
    }
    let encoding = model.bind_data(data)?;
    let subset: Vec<usize> = data.train.iter().copied().take(samples.max(1)).collect();
    let own = model.weights()?;
    let mut out = Vec::with_capacity(points);
    let result = (|| {
        for i in 0..points {
            let alpha = -0.25 + 1.5 * i as f32 / (points - 1) as f32;
            let mut moved = to.clone();
            for (name, t) in moved.tensors.iter_mut() {
                let Some(a) = from.tensors.get(name).filter(|a| a.shape == t.shape) else {
                    return Err(InsightError::WeightsDiffer(name.clone()));
                };
                for (v, &a) in t.data.iter_mut().zip(&a.data) {
                    *v = (1.0 - alpha) * a + alpha * *v;
                }
            }
            model.load_weights(&moved)?;
            let m = evaluate(model, data, &subset, encoding, control)?
                .ok_or(InsightError::Stopped)?
                .ok_or(InsightError::NoSamples)?;
            out.push((alpha, m.loss));
            progress((i + 1) as f32 / points as f32);
        }
        Ok(())
    })();
    model.load_weights(&own)?;
    result.map(|()| LossLine { points: out })
}

/// Where a grid of values crosses `level` (marching squares): line segments in grid units
/// (x: column, y: row, both from 0), each crossing placed by linear interpolation along the
/// cell's edge. A cell crossed four times (a saddle) gives two segments.
pub fn contour_segments(grid: &[Vec<f32>], level: f32) -> Vec<[[f32; 2]; 2]> {
    let mut out = Vec::new();
    for r in 0..grid.len().saturating_sub(1) {
        for c in 0..grid[r].len().min(grid[r + 1].len()).saturating_sub(1) {
            // Corners counter-clockwise from (c, r); edge k runs from corner k to k + 1.
            let corners = [
                ([c as f32, r as f32], grid[r][c]),
                ([c as f32 + 1.0, r as f32], grid[r][c + 1]),
                ([c as f32 + 1.0, r as f32 + 1.0], grid[r + 1][c + 1]),
                ([c as f32, r as f32 + 1.0], grid[r + 1][c]),
            ];
            let mut cross = Vec::with_capacity(4);
            for k in 0..4 {
                let ((p, a), (q, b)) = (corners[k], corners[(k + 1) % 4]);
                if (a < level) != (b < level) && a.is_finite() && b.is_finite() {
                    let t = (level - a) / (b - a);
                    cross.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
                }
            }
            for pair in cross.chunks_exact(2) {
                out.push([pair[0], pair[1]]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bowls_contour_is_a_circle_of_the_levels_radius() {
        // v = x² + y² around the grid's middle: the contour at 9 is the circle of radius 3.
        let grid: Vec<Vec<f32>> = (0..11)
            .map(|r| {
                (0..11)
                    .map(|c| ((c - 5) * (c - 5) + (r - 5) * (r - 5)) as f32)
                    .collect()
            })
            .collect();
        let segments = contour_segments(&grid, 9.0);
        assert!(segments.len() >= 12, "{}", segments.len());
        for p in segments.iter().flatten() {
            let radius = (p[0] - 5.0).hypot(p[1] - 5.0);
            assert!((radius - 3.0).abs() < 0.35, "{p:?} at {radius}");
        }
        // The circle goes all the way round.
        let angles: Vec<f32> = segments
            .iter()
            .map(|s| (s[0][1] - 5.0).atan2(s[0][0] - 5.0))
            .collect();
        for quarter in 0..4 {
            let lo = -std::f32::consts::PI + quarter as f32 * std::f32::consts::FRAC_PI_2;
            assert!(angles
                .iter()
                .any(|&a| a >= lo && a < lo + std::f32::consts::FRAC_PI_2));
        }
        assert!(contour_segments(&grid, 100.0).is_empty());
    }

    #[test]
    fn a_move_within_the_plane_is_placed_exactly() {
        let d1 = [1.0f32, 0.0, 1.0, 0.0];
        let d2 = [0.0f32, 2.0, 1.0, 0.0];
        let inside: Vec<f32> = (0..4).map(|i| 2.0 * d1[i] - d2[i]).collect();
        let (places, share) = project_on(&[inside], &d1, &d2);
        assert!((places[0][0] - 2.0).abs() < 1e-6 && (places[0][1] + 1.0).abs() < 1e-6);
        assert!((share.unwrap() - 1.0).abs() < 1e-9);
        // A move across the plane keeps only its part in it.
        let (places, share) = project_on(&[vec![0.0, 0.0, 0.0, 3.0]], &d1, &d2);
        assert_eq!(places[0], [0.0, 0.0]);
        assert_eq!(share, Some(0.0));
    }

    #[test]
    fn the_paths_plane_keeps_a_flat_path_whole() {
        // Moves in the plane of two tilted directions of a 5-D space: the plane holds all of
        // them and each keeps its distance from the end.
        let u = [0.6f32, 0.8, 0.0, 0.0, 0.0];
        let v = [0.0f32, 0.0, 0.0, 1.0, 0.0];
        let moves: Vec<Vec<f32>> = [(3.0f32, 1.0f32), (2.0, -1.5), (1.0, 0.5), (0.0, 0.0)]
            .iter()
            .map(|&(a, b)| (0..5).map(|i| a * u[i] + b * v[i]).collect())
            .collect();
        let (d1, d2, places, share) = path_plane(&moves).unwrap();
        assert!((share.unwrap() - 1.0).abs() < 1e-9);
        assert!((dot(&d1, &d1) - 1.0).abs() < 1e-6 && dot(&d1, &d2).abs() < 1e-6);
        for (m, p) in moves.iter().zip(&places) {
            let (len, on) = (dot(m, m).sqrt(), (p[0] as f64).hypot(p[1] as f64));
            assert!((len - on).abs() < 1e-5, "{len} against {on}");
        }
        // A path along one line has no second direction.
        let line: Vec<Vec<f32>> = (0..4)
            .map(|k| u.iter().map(|x| x * k as f32).collect())
            .collect();
        assert!(matches!(path_plane(&line), Err(InsightError::PathTooShort)));
    }
}
