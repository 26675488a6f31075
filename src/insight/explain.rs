//! Model-agnostic explanations: LIME (a weighted linear model around one sample) and KernelSHAP
//! (Shapley values by weighted regression over coalitions). Both work on segments: superpixels
//! of an image (a grid or SLIC) or the features of a table row.

use super::saliency::scores_of;
use crate::model::Model;
use candle_core::Result;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug, PartialEq)]
pub enum Segmentation {
    /// Square cells of `cell` pixels.
    Grid { cell: usize },
    /// SLIC superpixels: about `segments` regions, `compactness` trading colour for shape.
    Slic { segments: usize, compactness: f32 },
    /// Every input value its own segment (tables).
    Features,
}

/// Segment id of each input value, and the number of segments.
pub fn segment(input: &[f32], dims: &[usize], seg: &Segmentation) -> (Vec<usize>, usize) {
    match (dims, seg) {
        (&[c, h, w], Segmentation::Grid { cell }) => {
            let cell = (*cell).max(1);
            let cols = w.div_ceil(cell);
            let plane: Vec<usize> = (0..h * w)
                .map(|p| (p / w / cell) * cols + (p % w) / cell)
                .collect();
            let n = h.div_ceil(cell) * cols;
            ((0..c).flat_map(|_| plane.iter().copied()).collect(), n)
        }
        (
            &[c, h, w],
            Segmentation::Slic {
                segments,
                compactness,
            },
        ) => {
            let plane = slic(input, c, h, w, *segments, *compactness);
            let n = plane.iter().max().map_or(1, |m| m + 1);
            ((0..c).flat_map(|_| plane.iter().copied()).collect(), n)
        }
        _ => ((0..input.len()).collect(), input.len()),
    }
}

/// SLIC (simple linear iterative clustering) on a [C, H, W] image; labels are compacted to
/// 0..n with empty clusters dropped.
fn slic(
    input: &[f32],
    c: usize,
    h: usize,
    w: usize,
    segments: usize,
    compactness: f32,
) -> Vec<usize> {
    let s = ((h * w) as f32 / segments.max(1) as f32).sqrt().max(1.0);
    let step = s.round().max(1.0) as usize;
    let pixel = |y: usize, x: usize| -> Vec<f32> {
        (0..c).map(|ch| input[ch * h * w + y * w + x]).collect()
    };
    // Centres: (y, x, colour).
    let mut centres: Vec<(f32, f32, Vec<f32>)> = Vec::new();
    let mut y = step / 2;
    while y < h {
        let mut x = step / 2;
        while x < w {
            centres.push((y as f32, x as f32, pixel(y, x)));
            x += step;
        }
        y += step;
    }
    let (lo, hi) = input
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let range = (hi - lo).max(1e-6);
    let m = compactness.max(1e-3);
    let mut label = vec![0usize; h * w];
    for _ in 0..10 {
        let mut best = vec![f32::INFINITY; h * w];
        for (k, (cy, cx, col)) in centres.iter().enumerate() {
            let (y0, y1) = (
                (*cy - 2.0 * s).max(0.0) as usize,
                ((*cy + 2.0 * s) as usize + 1).min(h),
            );
            let (x0, x1) = (
                (*cx - 2.0 * s).max(0.0) as usize,
                ((*cx + 2.0 * s) as usize + 1).min(w),
            );
            for yy in y0..y1 {
                for xx in x0..x1 {
                    let dc: f32 = (0..c)
                        .map(|ch| ((input[ch * h * w + yy * w + xx] - col[ch]) / range).powi(2))
                        .sum();
                    let ds = ((yy as f32 - cy).powi(2) + (xx as f32 - cx).powi(2)) / (s * s);
                    let d = dc + ds * m * m;
                    if d < best[yy * w + xx] {
                        best[yy * w + xx] = d;
                        label[yy * w + xx] = k;
                    }
                }
            }
        }
        let mut sums = vec![(0.0f32, 0.0f32, vec![0.0f32; c], 0usize); centres.len()];
        for yy in 0..h {
            for xx in 0..w {
                let e = &mut sums[label[yy * w + xx]];
                e.0 += yy as f32;
                e.1 += xx as f32;
                for ch in 0..c {
                    e.2[ch] += input[ch * h * w + yy * w + xx];
                }
                e.3 += 1;
            }
        }
        for (centre, (sy, sx, sc, n)) in centres.iter_mut().zip(sums) {
            if n > 0 {
                let n = n as f32;
                *centre = (sy / n, sx / n, sc.iter().map(|v| v / n).collect());
            }
        }
    }
    let mut remap = std::collections::HashMap::new();
    label
        .iter()
        .map(|&l| {
            let next = remap.len();
            *remap.entry(l).or_insert(next)
        })
        .collect()
}

/// An explanation: one weight per segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    pub segments: Vec<usize>,
    pub n_segments: usize,
    pub weights: Vec<f32>,
    /// LIME: the intercept. KernelSHAP: E[f] over the background.
    pub base: f32,
    /// The explained score f(x).
    pub fx: f32,
    /// LIME's weighted R² of its linear fit.
    pub r2: Option<f32>,
}

impl Explanation {
    /// Segments by weight, largest first.
    pub fn ranking(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.n_segments).collect();
        order.sort_by(|&a, &b| self.weights[b].total_cmp(&self.weights[a]));
        order
    }

    /// The weight of each input value's segment (for drawing as a map).
    pub fn per_value(&self) -> Vec<f32> {
        self.segments.iter().map(|&s| self.weights[s]).collect()
    }
}

/// `x` with segments switched off where `mask` is false, taking the values of `fill`.
fn masked(x: &[f32], fill: &[f32], segments: &[usize], mask: &[bool]) -> Vec<f32> {
    x.iter()
        .zip(fill)
        .zip(segments)
        .map(|((&v, &f), &s)| if mask[s] { v } else { f })
        .collect()
}

/// Solves the weighted least-squares problem min Σ w (y − Xβ)² + ridge‖β‖² (no penalty on the
/// first column when `free_first`).
pub fn weighted_least_squares(
    x: &[Vec<f64>],
    y: &[f64],
    w: &[f64],
    ridge: f64,
    free_first: bool,
) -> Vec<f64> {
    let p = x.first().map_or(0, Vec::len);
    let mut a = vec![vec![0f64; p + 1]; p];
    for ((row, &yi), &wi) in x.iter().zip(y).zip(w) {
        for i in 0..p {
            for j in 0..p {
                a[i][j] += wi * row[i] * row[j];
            }
            a[i][p] += wi * row[i] * yi;
        }
    }
    for (i, r) in a.iter_mut().enumerate() {
        if !(free_first && i == 0) {
            r[i] += ridge;
        }
    }
    solve(a)
}

/// Gaussian elimination with partial pivoting on an augmented [A | b] matrix.
fn solve(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        let p = a[col][col];
        if p.abs() < 1e-12 {
            continue;
        }
        for row in 0..n {
            if row != col {
                let f = a[row][col] / p;
                if f != 0.0 {
                    let pivot_row = a[col].clone();
                    for (v, pv) in a[row][col..=n].iter_mut().zip(&pivot_row[col..=n]) {
                        *v -= f * pv;
                    }
                }
            }
        }
    }
    (0..n)
        .map(|i| {
            if a[i][i].abs() < 1e-12 {
                0.0
            } else {
                a[i][n] / a[i][i]
            }
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct LimeSettings {
    pub samples: usize,
    /// Width of the exponential kernel on the share of segments switched off.
    pub kernel_width: f32,
    pub seed: u64,
}

impl Default for LimeSettings {
    fn default() -> Self {
        Self {
            samples: 500,
            kernel_width: 0.25,
            seed: 0,
        }
    }
}

/// LIME: random on/off patterns of segments (off = `baseline` values), a weighted linear fit
/// of the class score on the pattern, weights by closeness to the full sample.
pub fn lime(
    model: &Model,
    x: &[f32],
    dims: &[usize],
    class: usize,
    seg: &Segmentation,
    baseline: &[f32],
    settings: &LimeSettings,
) -> Result<Explanation> {
    let (segments, m) = segment(x, dims, seg);
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let mut masks: Vec<Vec<bool>> = vec![vec![true; m]];
    for _ in 1..settings.samples.max(m + 2) {
        masks.push((0..m).map(|_| rng.random_bool(0.5)).collect());
    }
    let rows: Vec<f32> = masks
        .iter()
        .flat_map(|mask| masked(x, baseline, &segments, mask))
        .collect();
    let ys = scores_of(model, &rows, dims, class)?;
    let kernel = |mask: &Vec<bool>| {
        let on = mask.iter().filter(|&&b| b).count() as f64;
        // Cosine distance between the pattern and all-on.
        let d = 1.0 - (on / m as f64).sqrt();
        (-(d * d) / (settings.kernel_width as f64).powi(2)).exp()
    };
    let weights: Vec<f64> = masks.iter().map(kernel).collect();
    let design: Vec<Vec<f64>> = masks
        .iter()
        .map(|mask| {
            std::iter::once(1.0)
                .chain(mask.iter().map(|&b| f64::from(u8::from(b))))
                .collect()
        })
        .collect();
    let y: Vec<f64> = ys.iter().map(|&v| v as f64).collect();
    let beta = weighted_least_squares(&design, &y, &weights, 1e-3, true);
    // Weighted R² of the fit.
    let wsum: f64 = weights.iter().sum();
    let ymean = y.iter().zip(&weights).map(|(a, w)| a * w).sum::<f64>() / wsum;
    let (mut ss_res, mut ss_tot) = (0.0, 0.0);
    for ((row, &yi), &wi) in design.iter().zip(&y).zip(&weights) {
        let fit: f64 = row.iter().zip(&beta).map(|(a, b)| a * b).sum();
        ss_res += wi * (yi - fit).powi(2);
        ss_tot += wi * (yi - ymean).powi(2);
    }
    Ok(Explanation {
        segments,
        n_segments: m,
        weights: beta[1..].iter().map(|&b| b as f32).collect(),
        base: beta[0] as f32,
        fx: ys[0],
        r2: (ss_tot > 0.0).then(|| (1.0 - ss_res / ss_tot) as f32),
    })
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShapSettings {
    /// All coalitions are used when there are at most this many; otherwise this many are sampled.
    pub max_coalitions: usize,
    pub seed: u64,
}

impl Default for ShapSettings {
    fn default() -> Self {
        Self {
            max_coalitions: 1024,
            seed: 0,
        }
    }
}

fn choose(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// KernelSHAP: the value of a coalition is the mean score over `background` samples with the
/// absent segments taken from them; Shapley values come from a weighted regression under the
/// constraint that they sum to f(x) − E[f].
pub fn kernel_shap(
    model: &Model,
    x: &[f32],
    dims: &[usize],
    class: usize,
    seg: &Segmentation,
    background: &[Vec<f32>],
    settings: &ShapSettings,
) -> Result<Explanation> {
    if background.is_empty() {
        candle_core::bail!("KernelSHAP needs at least one background sample");
    }
    let (segments, m) = segment(x, dims, seg);
    // f(x) and E[f] over the background.
    let fx = scores_of(model, x, dims, class)?[0];
    let base_rows: Vec<f32> = background.iter().flatten().copied().collect();
    let base_scores = scores_of(model, &base_rows, dims, class)?;
    let base = base_scores.iter().sum::<f32>() / base_scores.len() as f32;
    if m == 1 {
        return Ok(Explanation {
            segments,
            n_segments: 1,
            weights: vec![fx - base],
            base,
            fx,
            r2: None,
        });
    }
    // Coalitions with their kernel weights: all of them when few, else sampled by size.
    let total = 2f64.powi(m as i32) - 2.0;
    let mut coalitions: Vec<(Vec<bool>, f64)> = Vec::new();
    if total <= settings.max_coalitions as f64 {
        for bits in 1..(1u64 << m) - 1 {
            let mask: Vec<bool> = (0..m).map(|i| bits >> i & 1 == 1).collect();
            let k = mask.iter().filter(|&&b| b).count();
            coalitions.push((
                mask,
                (m - 1) as f64 / (choose(m, k) * k as f64 * (m - k) as f64),
            ));
        }
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let size_weight: Vec<f64> = (1..m)
            .map(|k| (m - 1) as f64 / (k as f64 * (m - k) as f64))
            .collect();
        let sum: f64 = size_weight.iter().sum();
        let mut ids: Vec<usize> = (0..m).collect();
        for _ in 0..settings.max_coalitions {
            let mut r = rng.random::<f64>() * sum;
            let mut k = 1;
            for (i, w) in size_weight.iter().enumerate() {
                if r < *w {
                    k = i + 1;
                    break;
                }
                r -= w;
            }
            ids.shuffle(&mut rng);
            let mut mask = vec![false; m];
            ids[..k].iter().for_each(|&i| mask[i] = true);
            coalitions.push((mask, 1.0));
        }
    }
    // Value of each coalition: mean over the background of the spliced input.
    let mut rows = Vec::with_capacity(coalitions.len() * background.len() * x.len());
    for (mask, _) in &coalitions {
        for b in background {
            rows.extend(masked(x, b, &segments, mask));
        }
    }
    let s = scores_of(model, &rows, dims, class)?;
    let values: Vec<f64> = s
        .chunks(background.len())
        .map(|c| c.iter().map(|&v| v as f64).sum::<f64>() / c.len() as f64)
        .collect();
    // Eliminate the last segment with the efficiency constraint φ_M = (f(x) − E f) − Σ φ_i.
    let delta = (fx - base) as f64;
    let z = |b: bool| f64::from(u8::from(b));
    let design: Vec<Vec<f64>> = coalitions
        .iter()
        .map(|(mask, _)| (0..m - 1).map(|i| z(mask[i]) - z(mask[m - 1])).collect())
        .collect();
    let y: Vec<f64> = coalitions
        .iter()
        .zip(&values)
        .map(|((mask, _), v)| v - base as f64 - z(mask[m - 1]) * delta)
        .collect();
    let w: Vec<f64> = coalitions.iter().map(|(_, w)| *w).collect();
    let phi = weighted_least_squares(&design, &y, &w, 1e-9, false);
    let last = delta - phi.iter().sum::<f64>();
    let weights: Vec<f32> = phi
        .iter()
        .chain(std::iter::once(&last))
        .map(|&v| v as f32)
        .collect();
    Ok(Explanation {
        segments,
        n_segments: m,
        weights,
        base,
        fx,
        r2: None,
    })
}
