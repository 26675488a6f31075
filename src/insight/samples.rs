//! New samples from a trained generative model: a GAN's generator on fresh noise, a VAE's
//! decoder on standard normal codes, an autoencoder's decoder on codes drawn like the encoded
//! validation samples. And how a classifier sees them (confidence, distinct classes).

use super::latent::{decode, encode, latent_node};
use super::InsightError;
use crate::data::Dataset;
use crate::graph::{gan_parts, LayerKind, TrainingMode};
use crate::model::{ForwardCtx, Model, Weights};
use crate::project::Project;
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};

/// Codes encoded to estimate an autoencoder's code distribution.
const FIT_SAMPLES: usize = 1000;

/// `n` new samples (flat, in the network's units: 0..1 pixels for 0..1-normalised images).
pub fn draw_samples(
    project: &Project,
    data: &Dataset,
    weights: &Weights,
    n: usize,
    seed: u64,
) -> Result<Vec<Vec<f32>>, InsightError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    match project.mode {
        TrainingMode::Gan { .. } => {
            let (g, noise_dim) = generator(project, weights)?;
            let z: Vec<f32> = (0..n * noise_dim)
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            generate_from(&g, z, noise_dim)
        }
        TrainingMode::Autoencoder { .. } => {
            let model = Model::build(&project.graph, 0)?;
            model.load_weights(weights)?;
            let node = latent_node(&model).ok_or(InsightError::NoLatent)?;
            let variational = model
                .graph()
                .node(&node)
                .is_some_and(|nd| nd.layer.kind() == LayerKind::Sampling);
            let dim = model
                .analysis()
                .node(&node)
                .and_then(|s| s.output.as_ref())
                .map_or(0, |s| s.numel());
            // A VAE's codes follow N(0, 1) by training; a plain autoencoder's follow whatever
            // its encoder makes, so draw from the encoded validation samples' spread.
            let (mean, std) = if variational {
                (vec![0f32; dim], vec![1f32; dim])
            } else {
                let split = if data.val.is_empty() {
                    &data.test
                } else {
                    &data.val
                };
                let idx: Vec<usize> = split.iter().copied().take(FIT_SAMPLES).collect();
                let codes = encode(&model, data, &node, &idx)?;
                spread(&codes, dim)
            };
            let codes: Vec<Vec<f32>> = (0..n)
                .map(|_| {
                    (0..dim)
                        .map(|j| {
                            Normal::new(mean[j], std[j].max(1e-6))
                                .map(|d| d.sample(&mut rng))
                                .unwrap_or(mean[j])
                        })
                        .collect()
                })
                .collect();
            decode(&model, &node, &codes)
        }
        TrainingMode::Supervised => Err(InsightError::NotGenerative),
    }
}

/// A GAN's generator with its share of `weights`, and its noise size.
fn generator(project: &Project, weights: &Weights) -> Result<(Model, usize), InsightError> {
    let parts = gan_parts(&project.graph)?;
    let g = Model::build(&parts.generator, 0)?;
    g.load_weights(&weights.only(&g.variable_names()))?;
    Ok((g, parts.noise_dim))
}

/// The generator's samples of the noise rows in `z` (flat, `noise_dim` per row).
fn generate_from(g: &Model, z: Vec<f32>, noise_dim: usize) -> Result<Vec<Vec<f32>>, InsightError> {
    let n = z.len() / noise_dim.max(1);
    let z = Tensor::from_vec(z, (n, noise_dim), &Device::Cpu)?;
    let y = g.forward(&z, &mut ForwardCtx::eval())?;
    Ok(y.flatten_from(1)
        .and_then(|t| t.to_dtype(candle_core::DType::F32))
        .and_then(|t| t.to_vec2())?)
}

/// Noise interpolation needs a GAN, or says so.
pub fn require_gan(project: &Project) -> Result<(), InsightError> {
    match project.mode {
        TrainingMode::Gan { .. } => Ok(()),
        _ => Err(InsightError::NotAGan),
    }
}

/// A GAN's samples along the great circle between two noise vectors drawn from `seed`
/// (spherical interpolation keeps every step as likely as the ends under N(0, I)).
pub fn gan_interpolation(
    project: &Project,
    weights: &Weights,
    steps: usize,
    seed: u64,
) -> Result<Vec<Vec<f32>>, InsightError> {
    require_gan(project)?;
    let (g, dim) = generator(project, weights)?;
    interpolate_noise(&g, dim, steps, seed)
}

/// Generator `g`'s samples along the great circle between two noise vectors drawn from `seed`.
pub fn interpolate_noise(
    g: &Model,
    dim: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<Vec<f32>>, InsightError> {
    if !(2..=64).contains(&steps) {
        return Err(InsightError::Steps(steps));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = || -> Vec<f32> { (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect() };
    let (a, b) = (draw(), draw());
    let z = slerp_path(&a, &b, steps);
    generate_from(g, z, dim)
}

/// `steps` points from `a` to `b` on the great circle through them (flat, one after another).
pub fn slerp_path(a: &[f32], b: &[f32], steps: usize) -> Vec<f32> {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    let cos = a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b));
    let omega = cos.clamp(-1.0, 1.0).acos();
    (0..steps)
        .flat_map(|k| {
            let t = k as f32 / (steps.max(2) - 1) as f32;
            // Nearly parallel vectors: the straight line is the same path.
            let (wa, wb) = if omega.sin().abs() < 1e-4 {
                (1.0 - t, t)
            } else {
                (
                    ((1.0 - t) * omega).sin() / omega.sin(),
                    (t * omega).sin() / omega.sin(),
                )
            };
            a.iter()
                .zip(b)
                .map(move |(x, y)| wa * x + wb * y)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Per-dimension mean and standard deviation.
fn spread(codes: &[Vec<f32>], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = codes.len().max(1) as f32;
    let mean: Vec<f32> = (0..dim)
        .map(|j| codes.iter().map(|c| c[j]).sum::<f32>() / n)
        .collect();
    let std = (0..dim)
        .map(|j| (codes.iter().map(|c| (c[j] - mean[j]).powi(2)).sum::<f32>() / n).sqrt())
        .collect();
    (mean, std)
}

/// How a classifier sees samples given in raw data units (pixels 0..255): the predicted class
/// and its probability, per sample.
pub fn classify(
    classifier: &Model,
    classifier_data: &Dataset,
    raw_samples: &[Vec<f32>],
) -> Result<Vec<(usize, f32)>, InsightError> {
    let samples = raw_samples;
    let shape = classifier.input_shape();
    if samples.iter().any(|s| s.len() != shape.numel()) {
        return Err(InsightError::ClassifierInput {
            shape: shape.to_string(),
            values: samples.first().map_or(0, Vec::len),
        });
    }
    // The classifier reads its own normalisation.
    let xs: Vec<f32> = samples
        .iter()
        .flat_map(|s| classifier_data.normalize_raw(s))
        .collect();
    let x = Tensor::from_vec(xs, shape.with_batch(samples.len()), &Device::Cpu)?;
    let logits = classifier.forward(&x, &mut ForwardCtx::eval())?;
    let probs = candle_nn::ops::softmax(&logits, 1).and_then(|p| p.to_vec2::<f32>())?;
    Ok(probs
        .iter()
        .map(|row| {
            row.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (k, &p)| if p > b.1 { (k, p) } else { b },
            )
        })
        .collect())
}
