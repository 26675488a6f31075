//! Which input values a prediction depends on: vanilla gradient, gradient × input, SmoothGrad,
//! integrated gradients, occlusion and Grad-CAM. All explain the chosen class's score (logit).

use crate::model::{ForwardCtx, Model};
use candle_core::{DType, Device, Result, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Forward passes per batch when a method needs many (occlusion, IG, SmoothGrad).
const CHUNK: usize = 128;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Baseline {
    /// All zeros: the data mean when inputs are standardised.
    #[default]
    Zero,
    /// The input blurred (a "no detail" reference).
    Blur,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SaliencyMethod {
    Vanilla,
    GradTimesInput,
    SmoothGrad {
        samples: usize,
        sigma: f32,
    },
    IntegratedGradients {
        steps: usize,
        baseline: Baseline,
    },
    Occlusion {
        patch: usize,
        stride: usize,
    },
    /// Gradient-weighted class activation map of a convolution-shaped node.
    GradCam {
        node: String,
    },
}

impl SaliencyMethod {
    pub fn name(&self) -> &'static str {
        match self {
            SaliencyMethod::Vanilla => "Gradient",
            SaliencyMethod::GradTimesInput => "Gradient × input",
            SaliencyMethod::SmoothGrad { .. } => "SmoothGrad",
            SaliencyMethod::IntegratedGradients { .. } => "Integrated gradients",
            SaliencyMethod::Occlusion { .. } => "Occlusion",
            SaliencyMethod::GradCam { .. } => "Grad-CAM",
        }
    }
}

/// Attribution for every input value (Grad-CAM: one channel at input resolution).
#[derive(Clone, Debug, PartialEq)]
pub struct Attribution {
    pub dims: Vec<usize>,
    pub values: Vec<f32>,
    pub class: usize,
    /// The class score for the unchanged input.
    pub score: f32,
}

fn sample_dims(x: &Tensor) -> Vec<usize> {
    x.dims()[1..].to_vec()
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    t.detach()
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()
}

/// Class scores of a batch (one per row).
pub fn scores(model: &Model, xs: &Tensor, class: usize) -> Result<Vec<f32>> {
    let pred = model.forward(xs, &mut ForwardCtx::eval())?;
    to_vec(&pred.narrow(1, class, 1)?)
}

/// Scores of many inputs given as flat rows of `dims`, evaluated in chunks.
pub fn scores_of(model: &Model, rows: &[f32], dims: &[usize], class: usize) -> Result<Vec<f32>> {
    let per: usize = dims.iter().product();
    let mut out = Vec::with_capacity(rows.len() / per.max(1));
    for chunk in rows.chunks(per * CHUNK) {
        let n = chunk.len() / per;
        let mut shape = vec![n];
        shape.extend_from_slice(dims);
        let xs = Tensor::from_vec(chunk.to_vec(), shape, &Device::Cpu)?;
        out.extend(scores(model, &xs, class)?);
    }
    Ok(out)
}

/// Gradient of the summed class score with respect to each row of `xs` [n, ...].
fn input_grads(model: &Model, xs: &Tensor, class: usize) -> Result<Vec<f32>> {
    let var = Var::from_tensor(&xs.detach())?;
    let pred = model.forward(var.as_tensor(), &mut ForwardCtx::eval())?;
    let total = pred.narrow(1, class, 1)?.sum_all()?;
    let grads = total.backward()?;
    match grads.get(var.as_tensor()) {
        Some(g) => to_vec(g),
        None => Ok(vec![0.0; xs.elem_count()]),
    }
}

/// Row-mean of `values` laid out as `rows` rows.
fn mean_rows(values: &[f32], rows: usize) -> Vec<f32> {
    let per = values.len() / rows.max(1);
    (0..per)
        .map(|j| (0..rows).map(|r| values[r * per + j]).sum::<f32>() / rows as f32)
        .collect()
}

/// A 3×3 box blur per image plane (for [C, H, W]); other shapes are returned as they are.
pub fn blur(values: &[f32], dims: &[usize]) -> Vec<f32> {
    let [c, h, w] = dims[..] else {
        return values.to_vec();
    };
    let mut out = vec![0f32; values.len()];
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let (mut sum, mut n) = (0.0, 0.0);
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                        if yy >= 0 && yy < h as i64 && xx >= 0 && xx < w as i64 {
                            sum += values[ch * h * w + yy as usize * w + xx as usize];
                            n += 1.0;
                        }
                    }
                }
                out[ch * h * w + y * w + x] = sum / n;
            }
        }
    }
    out
}

/// Explains class `class` of the single sample `x` [1, ...].
pub fn saliency(
    model: &Model,
    x: &Tensor,
    class: usize,
    method: &SaliencyMethod,
    seed: u64,
) -> Result<Attribution> {
    // Only input gradients are wanted: skip the parameter gradients.
    let frozen = model.frozen();
    let model = &frozen;
    let dims = sample_dims(x);
    let input = to_vec(x)?;
    let n = input.len();
    let score = scores(model, x, class)?[0];
    let batch = |rows: Vec<f32>| -> Result<Tensor> {
        let count = rows.len() / n;
        let mut shape = vec![count];
        shape.extend_from_slice(&dims);
        Tensor::from_vec(rows, shape, &Device::Cpu)
    };
    let values = match method {
        SaliencyMethod::Vanilla => input_grads(model, x, class)?,
        SaliencyMethod::GradTimesInput => {
            let g = input_grads(model, x, class)?;
            g.iter().zip(&input).map(|(g, x)| g * x).collect()
        }
        SaliencyMethod::SmoothGrad { samples, sigma } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (lo, hi) = input
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            // σ is relative to the input's range, as in the SmoothGrad paper.
            // A non-finite value in the input makes the range, and so the noise, unusable.
            let noise = Normal::new(0.0f32, (sigma * (hi - lo)).max(1e-6)).map_err(|_| {
                candle_core::Error::Msg(format!(
                    "SmoothGrad needs finite inputs, but this one ranges over [{lo}, {hi}]"
                ))
            })?;
            let samples = (*samples).max(1);
            let mut sum = vec![0f32; n];
            let mut done = 0;
            while done < samples {
                let k = (samples - done).min(CHUNK);
                let rows: Vec<f32> = (0..k)
                    .flat_map(|_| {
                        input
                            .iter()
                            .map(|&v| v + noise.sample(&mut rng))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let g = input_grads(model, &batch(rows)?, class)?;
                for (j, s) in sum.iter_mut().enumerate() {
                    *s += (0..k).map(|r| g[r * n + j]).sum::<f32>();
                }
                done += k;
            }
            sum.iter().map(|s| s / samples as f32).collect()
        }
        SaliencyMethod::IntegratedGradients { steps, baseline } => {
            let base = match baseline {
                Baseline::Zero => vec![0f32; n],
                Baseline::Blur => {
                    let mut b = input.clone();
                    for _ in 0..4 {
                        b = blur(&b, &dims);
                    }
                    b
                }
            };
            let steps = (*steps).max(1);
            // Midpoint rule along the straight path from the baseline to the input.
            let alphas: Vec<f32> = (0..steps)
                .map(|k| (k as f32 + 0.5) / steps as f32)
                .collect();
            let mut avg = vec![0f32; n];
            for chunk in alphas.chunks(CHUNK) {
                let rows: Vec<f32> = chunk
                    .iter()
                    .flat_map(|&a| base.iter().zip(&input).map(move |(b, x)| b + a * (x - b)))
                    .collect();
                let g = input_grads(model, &batch(rows)?, class)?;
                let m = mean_rows(&g, chunk.len());
                for (a, v) in avg.iter_mut().zip(m) {
                    *a += v * chunk.len() as f32 / steps as f32;
                }
            }
            avg.iter()
                .zip(input.iter().zip(&base))
                .map(|(g, (x, b))| g * (x - b))
                .collect()
        }
        SaliencyMethod::Occlusion { patch, stride } => {
            occlusion(model, &input, &dims, class, score, *patch, *stride)?
        }
        SaliencyMethod::GradCam { node } => return grad_cam(model, x, class, node, score),
    };
    Ok(Attribution {
        dims,
        values,
        class,
        score,
    })
}

/// How much the score drops when a patch is set to zero, spread over the patch's pixels.
fn occlusion(
    model: &Model,
    input: &[f32],
    dims: &[usize],
    class: usize,
    score: f32,
    patch: usize,
    stride: usize,
) -> Result<Vec<f32>> {
    let patch = patch.max(1);
    let stride = stride.max(1);
    // Images occlude square patches across all channels; flat inputs occlude runs of features.
    let (c, h, w) = match dims[..] {
        [c, h, w] => (c, h, w),
        _ => (1, 1, input.len()),
    };
    let (ph, pw) = (if h == 1 { 1 } else { patch.min(h) }, patch.min(w));
    let ys: Vec<usize> = (0..=h - ph)
        .step_by(if h == 1 { 1 } else { stride })
        .collect();
    let xs: Vec<usize> = (0..=w - pw).step_by(stride).collect();
    let mut rows = Vec::with_capacity(ys.len() * xs.len() * input.len());
    let mut windows = Vec::new();
    for &y0 in &ys {
        for &x0 in &xs {
            let mut v = input.to_vec();
            for ch in 0..c {
                for y in y0..y0 + ph {
                    v[ch * h * w + y * w + x0..ch * h * w + y * w + x0 + pw]
                        .iter_mut()
                        .for_each(|p| *p = 0.0);
                }
            }
            rows.extend(v);
            windows.push((y0, x0));
        }
    }
    let occluded = scores_of(model, &rows, dims, class)?;
    let mut sum = vec![0f32; h * w];
    let mut count = vec![0f32; h * w];
    for ((y0, x0), s) in windows.into_iter().zip(occluded) {
        for y in y0..y0 + ph {
            for x in x0..x0 + pw {
                sum[y * w + x] += score - s;
                count[y * w + x] += 1.0;
            }
        }
    }
    let per_pixel: Vec<f32> = sum
        .iter()
        .zip(&count)
        .map(|(s, c)| if *c > 0.0 { s / c } else { 0.0 })
        .collect();
    // The same attribution for every channel of a pixel.
    Ok((0..c).flat_map(|_| per_pixel.iter().copied()).collect())
}

fn grad_cam(
    model: &Model,
    x: &Tensor,
    class: usize,
    node: &str,
    score: f32,
) -> Result<Attribution> {
    let dims = sample_dims(x);
    let (h_in, w_in) = match dims[..] {
        [_, h, w] => (h, w),
        _ => candle_core::bail!("Grad-CAM needs an image input, got {dims:?}"),
    };
    let values = model.forward_all(&x.detach(), &mut ForwardCtx::eval())?;
    let Some((_, a)) = values.into_iter().find(|(id, _)| id == node) else {
        candle_core::bail!("node '{node}' is not part of the model");
    };
    let (_, c, h, w) = a.dims4().map_err(|_| {
        candle_core::Error::Msg(format!(
            "Grad-CAM needs a [C, H, W] node; '{node}' gives {:?}",
            &a.dims()[1..]
        ))
    })?;
    // The map becomes a leaf variable and the rest of the model runs from it, so its gradient
    // is kept (candle drops the gradients of intermediate tensors).
    let leaf = Var::from_tensor(&a.detach())?;
    let pred = model.forward_with(&x.detach(), node, leaf.as_tensor(), &mut ForwardCtx::eval())?;
    let grads = pred.narrow(1, class, 1)?.sum_all()?.backward()?;
    let Some(g) = grads.get(leaf.as_tensor()) else {
        candle_core::bail!("the score does not depend on '{node}'");
    };
    let a = leaf.as_tensor().clone();
    let (a, g) = (to_vec(&a)?, to_vec(g)?);
    let alpha: Vec<f32> = (0..c)
        .map(|k| g[k * h * w..(k + 1) * h * w].iter().sum::<f32>() / (h * w) as f32)
        .collect();
    let cam: Vec<f32> = (0..h * w)
        .map(|p| {
            (0..c)
                .map(|k| alpha[k] * a[k * h * w + p])
                .sum::<f32>()
                .max(0.0)
        })
        .collect();
    Ok(Attribution {
        dims: vec![1, h_in, w_in],
        values: resize_bilinear(&cam, h, w, h_in, w_in),
        class,
        score,
    })
}

/// Bilinear resize of one plane.
pub fn resize_bilinear(src: &[f32], h: usize, w: usize, nh: usize, nw: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(nh * nw);
    for y in 0..nh {
        let sy = ((y as f32 + 0.5) * h as f32 / nh as f32 - 0.5).clamp(0.0, (h - 1) as f32);
        for x in 0..nw {
            let sx = ((x as f32 + 0.5) * w as f32 / nw as f32 - 0.5).clamp(0.0, (w - 1) as f32);
            let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
            let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
            let (fy, fx) = (sy - y0 as f32, sx - x0 as f32);
            let top = src[y0 * w + x0] * (1.0 - fx) + src[y0 * w + x1] * fx;
            let bottom = src[y1 * w + x0] * (1.0 - fx) + src[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// Class probabilities [n, classes] of a batch: softmax of the scores, or for a single logit
/// (binary cross-entropy) the pair 1 − σ, σ.
pub fn class_probabilities(model: &Model, xs: &Tensor) -> Result<Tensor> {
    probabilities_of(&model.forward(xs, &mut ForwardCtx::eval())?)
}

/// Class probabilities from a classifier's output [B, C]: softmax, or (1 − σ, σ) for a single
/// logit.
pub fn probabilities_of(pred: &Tensor) -> Result<Tensor> {
    if pred.dim(1)? == 1 {
        let p = candle_nn::ops::sigmoid(pred)?;
        Tensor::cat(&[p.affine(-1.0, 1.0)?, p], 1)
    } else {
        candle_nn::ops::softmax(pred, 1)
    }
}

/// The model's top classes for `x` [1, ...] as (class, probability).
pub fn top_classes(model: &Model, x: &Tensor, k: usize) -> Result<Vec<(usize, f32)>> {
    let probs = class_probabilities(model, x)?;
    let mut v: Vec<(usize, f32)> = to_vec(&probs)?.into_iter().enumerate().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(k);
    Ok(v)
}
