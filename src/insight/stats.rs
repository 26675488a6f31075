//! Summary numbers for an activation: mean, spread, and how many units are dead.

use super::snapshot::Activation;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationStats {
    pub mean: f32,
    pub std: f32,
    pub min: f32,
    pub max: f32,
    /// Share of units that are never above zero on any probe sample (for images: channels
    /// whose whole map stays at or below zero).
    pub dead_fraction: f32,
}

pub fn activation_stats(a: &Activation) -> ActivationStats {
    let n = a.values.len().max(1) as f64;
    let mean = a.values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = a
        .values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let (min, max) = a
        .values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let numel = a.numel();
    let samples = a.samples();
    // A unit is a channel for [C, H, W] maps, one value otherwise.
    let (units, per_unit) = match a.dims[..] {
        [c, h, w] => (c, h * w),
        _ => (numel, 1),
    };
    let dead = (0..units)
        .filter(|&u| {
            (0..samples).all(|s| {
                let start = s * numel + u * per_unit;
                a.values[start..start + per_unit].iter().all(|&v| v <= 0.0)
            })
        })
        .count();
    ActivationStats {
        mean: mean as f32,
        std: var.sqrt() as f32,
        min,
        max,
        dead_fraction: if units > 0 {
            dead as f32 / units as f32
        } else {
            0.0
        },
    }
}
