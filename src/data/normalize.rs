//! The shift and scale that normalise a data set's inputs, measured on its training samples.

use super::dataset::Features;
use super::settings::Normalization;

/// (shift, scale) per feature — or one of each for all — so normalised = (raw − shift) · scale.
pub(super) fn normalization(
    features: &Features,
    sample_len: usize,
    train: &[usize],
    mode: Normalization,
) -> (Vec<f32>, Vec<f32>) {
    match features {
        Features::U8(v) => match mode {
            Normalization::None | Normalization::Unit => (vec![0.0], vec![1.0 / 255.0]),
            Normalization::Symmetric => (vec![127.5], vec![1.0 / 127.5]),
            Normalization::Standardize => {
                let (mut sum, mut sq) = (0f64, 0f64);
                for &i in train {
                    for &b in &v[i * sample_len..(i + 1) * sample_len] {
                        let x = b as f64;
                        sum += x;
                        sq += x * x;
                    }
                }
                let count = (train.len() * sample_len) as f64;
                let mean = sum / count;
                let std = (sq / count - mean * mean).max(1e-12).sqrt();
                (vec![mean as f32], vec![(1.0 / std) as f32])
            }
        },
        Features::Tokens(_) | Features::Windows { .. } => (vec![0.0], vec![1.0]),
        Features::F32(v) => match mode {
            Normalization::None => (vec![0.0], vec![1.0]),
            Normalization::Unit | Normalization::Symmetric => {
                let mut lo = vec![f32::INFINITY; sample_len];
                let mut hi = vec![f32::NEG_INFINITY; sample_len];
                for &i in train {
                    for j in 0..sample_len {
                        let x = v[i * sample_len + j];
                        lo[j] = lo[j].min(x);
                        hi[j] = hi[j].max(x);
                    }
                }
                let scale: Vec<f32> = lo
                    .iter()
                    .zip(&hi)
                    .map(|(l, h)| if h > l { 1.0 / (h - l) } else { 1.0 })
                    .collect();
                if mode == Normalization::Symmetric {
                    // (x − mid) · 2/(hi − lo) spans [-1, 1].
                    let mid = lo.iter().zip(&hi).map(|(l, h)| (l + h) / 2.0).collect();
                    (mid, scale.iter().map(|k| 2.0 * k).collect())
                } else {
                    (lo, scale)
                }
            }
            Normalization::Standardize => {
                let mut sum = vec![0f64; sample_len];
                let mut sq = vec![0f64; sample_len];
                for &i in train {
                    for j in 0..sample_len {
                        let x = v[i * sample_len + j] as f64;
                        sum[j] += x;
                        sq[j] += x * x;
                    }
                }
                let count = train.len() as f64;
                let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
                let scale = sq
                    .iter()
                    .zip(&mean)
                    .map(|(s, m)| {
                        let var = s / count - m * m;
                        if var > 1e-12 {
                            (1.0 / var.sqrt()) as f32
                        } else {
                            1.0
                        }
                    })
                    .collect();
                (mean.iter().map(|&m| m as f32).collect(), scale)
            }
        },
    }
}
