//! Activation maximisation: gradient ascent on the input, from faint noise, to find what makes
//! a class score (or one unit) large. L2 decay and periodic blurring keep the image natural.

use super::saliency::blur;
use crate::model::{ForwardCtx, Model};
use candle_core::{DType, Device, Result, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

#[derive(Clone, Debug, PartialEq)]
pub enum MaxTarget {
    Class(usize),
    /// One unit of a node: a channel (mean of its map) for [C, H, W], else one value.
    Unit {
        node: String,
        index: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct MaximizeSettings {
    pub steps: usize,
    /// Step size relative to the gradient's scale.
    pub lr: f32,
    pub l2: f32,
    /// Blur every this many steps (0 = never).
    pub blur_every: usize,
    pub seed: u64,
}

impl Default for MaximizeSettings {
    fn default() -> Self {
        Self {
            steps: 150,
            lr: 0.05,
            l2: 0.01,
            blur_every: 10,
            seed: 0,
        }
    }
}

fn objective(model: &Model, x: &Tensor, target: &MaxTarget) -> Result<Tensor> {
    match target {
        MaxTarget::Class(c) => model
            .forward(x, &mut ForwardCtx::eval())?
            .narrow(1, *c, 1)?
            .sum_all(),
        MaxTarget::Unit { node, index } => {
            // Unfused: a layer fused with its activation leaves its own output as a plain copy.
            let values = model.forward_all(x, &mut ForwardCtx::eval_unfused())?;
            let Some((_, t)) = values.into_iter().find(|(id, _)| id == node) else {
                candle_core::bail!("node '{node}' is not part of the model");
            };
            match t.rank() {
                4 => t.narrow(1, *index, 1)?.mean_all(),
                _ => t.flatten_from(1)?.narrow(1, *index, 1)?.sum_all(),
            }
        }
    }
}

/// Runs the ascent for an input of `dims`; `progress(step, image, objective)` is called every
/// few steps and at the end. Returns the final input and the objective at each step.
pub fn maximize(
    model: &Model,
    dims: &[usize],
    target: &MaxTarget,
    settings: &MaximizeSettings,
    progress: &mut dyn FnMut(usize, &[f32], f32),
) -> Result<(Vec<f32>, Vec<f32>)> {
    let frozen = model.frozen();
    let model = &frozen;
    let n: usize = dims.iter().product();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let noise = Normal::new(0.0f32, 0.1).expect("valid std");
    let mut x: Vec<f32> = (0..n).map(|_| noise.sample(&mut rng)).collect();
    let mut shape = vec![1];
    shape.extend_from_slice(dims);
    let mut history = Vec::with_capacity(settings.steps);
    for step in 0..settings.steps {
        let var = Var::from_vec(x.clone(), shape.clone(), &Device::Cpu)?;
        let obj = objective(model, var.as_tensor(), target)?;
        let value = obj.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        history.push(value);
        let grads = obj.backward()?;
        let g: Vec<f32> = match grads.get(var.as_tensor()) {
            Some(g) => g.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?,
            None => candle_core::bail!("the target does not depend on the input"),
        };
        // Normalised ascent step, minus L2 decay.
        let scale = (g.iter().map(|v| v * v).sum::<f32>() / n as f32)
            .sqrt()
            .max(1e-12);
        for (xi, gi) in x.iter_mut().zip(&g) {
            *xi += settings.lr * gi / scale - settings.l2 * *xi;
        }
        if settings.blur_every > 0 && (step + 1) % settings.blur_every == 0 {
            x = blur(&x, dims);
        }
        if step % 10 == 0 || step + 1 == settings.steps {
            progress(step, &x, value);
        }
    }
    Ok((x, history))
}
