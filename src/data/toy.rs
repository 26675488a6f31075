//! The 2-D toy problems of TensorFlow Playground: circle, XOR, two gaussians, spiral.

use super::dataset::{Features, RawData, Targets};
use super::settings::ToyKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// `n` points in roughly [-1, 1]², two classes, Gaussian `noise` (std) added to the coordinates.
pub fn toy(kind: ToyKind, n: usize, noise: f32, seed: u64) -> RawData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let jitter = Normal::new(0.0f32, noise.max(0.0))
        .unwrap_or_else(|_| Normal::new(0.0, 0.0).expect("zero std is valid"));
    let mut features = Vec::with_capacity(n * 2);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let (x, y, label) = match kind {
            ToyKind::Circle => {
                let inner = i % 2 == 0;
                let r = if inner {
                    rng.random_range(0.0..0.5)
                } else {
                    rng.random_range(0.7..1.0)
                };
                let a = rng.random_range(0.0..std::f32::consts::TAU);
                (r * a.cos(), r * a.sin(), u32::from(inner))
            }
            ToyKind::Xor => {
                let pad = 0.05;
                let mut c = || {
                    let v: f32 = rng.random_range(pad..1.0);
                    if rng.random_bool(0.5) {
                        v
                    } else {
                        -v
                    }
                };
                let (x, y) = (c(), c());
                (x, y, u32::from(x * y > 0.0))
            }
            ToyKind::Gaussians => {
                let label = (i % 2) as u32;
                let centre = if label == 1 { 0.5 } else { -0.5 };
                let spread = Normal::new(0.0f32, 0.25).expect("valid std");
                (
                    centre + spread.sample(&mut rng),
                    centre + spread.sample(&mut rng),
                    label,
                )
            }
            ToyKind::Spiral => {
                let label = (i % 2) as u32;
                let t = (i / 2) as f32 / (n / 2).max(1) as f32;
                let angle = 1.75 * t * std::f32::consts::TAU + label as f32 * std::f32::consts::PI;
                (t * angle.sin(), t * angle.cos(), label)
            }
        };
        features.push(x + jitter.sample(&mut rng));
        features.push(y + jitter.sample(&mut rng));
        labels.push(label);
    }
    RawData {
        origins: Default::default(),
        sample_shape: vec![2],
        features: Features::F32(features),
        targets: Targets::Classes {
            labels,
            names: vec!["orange".into(), "blue".into()],
        },
        feature_names: vec!["x".into(), "y".into()],
        source_test_start: None,
        vocab: None,
        notes: Vec::new(),
    }
}
