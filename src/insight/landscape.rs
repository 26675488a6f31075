//! The loss landscape around trained weights (Li et al. 2018, "Visualizing the Loss Landscape
//! of Neural Nets"): the training loss on a fixed subset at w + x·d₁ + y·d₂ over a grid, d₁ and
//! d₂ random directions *filter-normalised* — each filter (a row of a weight matrix, an output
//! channel of a kernel) scaled to the norm of the same filter in w — so the picture does not
//! depend on each layer's scale. Biases and other 1-D parameters are not moved (the paper's
//! "ignore biasbn").

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
}

impl Default for LandscapeSpec {
    fn default() -> Self {
        Self {
            grid: 25,
            span: 1.0,
            samples: 1024,
            seed: 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Landscape {
    /// The grid's coordinates along each direction (the trained weights at 0).
    pub coords: Vec<f32>,
    /// loss[row][col]: row along the second direction (y), column along the first (x).
    pub loss: Vec<Vec<f32>>,
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
    if !(3..=101).contains(&spec.grid) {
        return Err(InsightError::Grid(spec.grid));
    }
    if data.is_windows() {
        return Err(InsightError::LandscapeMode);
    }
    let encoding = model.bind_data(data)?;
    let subset: Vec<usize> = data
        .train
        .iter()
        .copied()
        .take(spec.samples.max(1))
        .collect();
    let trained = model.weights()?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let (d1, d2) = (direction(&trained, &mut rng), direction(&trained, &mut rng));
    let coords: Vec<f32> = (0..spec.grid)
        .map(|i| -spec.span + 2.0 * spec.span * i as f32 / (spec.grid - 1) as f32)
        .collect();
    let mut loss = vec![vec![0f32; spec.grid]; spec.grid];
    let result = (|| {
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
                progress((r * spec.grid + c + 1) as f32 / (spec.grid * spec.grid) as f32);
            }
        }
        Ok(())
    })();
    model.load_weights(&trained)?;
    result.map(|()| Landscape { coords, loss })
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
