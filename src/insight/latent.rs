//! An autoencoder's latent space: the codes of many samples on a plane (the codes themselves
//! when there are two, their first two principal axes above that), a plane point mapped back
//! to a code, and codes decoded into images.

use super::InsightError;
use crate::data::Dataset;
use crate::graph::LayerKind;
use crate::model::{ForwardCtx, Model};
use crate::train::EVAL_BATCH;
use candle_core::{Device, Tensor};

/// How far outside the codes' range a plane point may lie, as a fraction of the range.
const RANGE_MARGIN: f32 = 0.25;

/// The codes of some samples, placed on a plane.
#[derive(Clone, Debug, PartialEq)]
pub struct LatentMap {
    pub node: String,
    /// Size of one code.
    pub dim: usize,
    pub points: Vec<[f32; 2]>,
    pub labels: Vec<Option<u32>>,
    pub samples: Vec<usize>,
    /// For codes of more than two values: their mean and the two principal axes.
    pub projection: Option<(Vec<f32>, [Vec<f32>; 2])>,
    pub x_range: [f32; 2],
    pub y_range: [f32; 2],
}

/// The node whose output is the code: the Sampling node of a VAE, else the narrowest layer
/// between Input and Output (the bottleneck; the first of equals).
pub fn latent_node(model: &Model) -> Option<String> {
    let graph = model.graph();
    let analysis = model.analysis();
    if let Some(n) = graph
        .nodes
        .iter()
        .find(|n| n.layer.kind() == LayerKind::Sampling)
    {
        return Some(n.id.clone());
    }
    let pred = model.prediction_node();
    analysis
        .order
        .iter()
        .map(|&i| (&graph.nodes[i], &analysis.nodes[i]))
        .filter(|(n, _)| {
            !matches!(n.layer.kind(), LayerKind::Input | LayerKind::Output) && n.id != pred
        })
        .filter_map(|(n, s)| Some((n.id.clone(), s.output.as_ref()?.numel())))
        .min_by_key(|(_, numel)| *numel)
        .map(|(id, _)| id)
}

/// The codes of the samples `idx` at `node`.
pub fn encode(
    model: &Model,
    data: &Dataset,
    node: &str,
    idx: &[usize],
) -> candle_core::Result<Vec<Vec<f32>>> {
    let mut codes = Vec::with_capacity(idx.len());
    for chunk in idx.chunks(EVAL_BATCH) {
        let mut xs = Vec::new();
        data.gather_features(chunk, &mut xs);
        let x = Tensor::from_vec(
            xs,
            model.input_shape().with_batch(chunk.len()),
            &Device::Cpu,
        )?;
        let values = model.forward_all(&x, &mut ForwardCtx::eval())?;
        let Some((_, code)) = values.into_iter().find(|(id, _)| id == node) else {
            candle_core::bail!("node '{node}' is not computed by the model");
        };
        let code = code.flatten_from(1)?.to_dtype(candle_core::DType::F32)?;
        codes.extend(code.to_vec2::<f32>()?);
    }
    Ok(codes)
}

/// The codes of `idx` at `node`, when there are samples and each code has at least two values
/// to lay out on a plane.
pub(crate) fn planar_codes(
    model: &Model,
    data: &Dataset,
    node: &str,
    idx: &[usize],
) -> Result<Vec<Vec<f32>>, InsightError> {
    if idx.is_empty() {
        return Err(InsightError::NoSamples);
    }
    let codes = encode(model, data, node, idx)?;
    let dim = codes.first().map_or(0, Vec::len);
    if dim < 2 {
        return Err(InsightError::FlatLatent {
            node: node.to_string(),
            dim,
        });
    }
    Ok(codes)
}

/// Encodes `idx` and lays the codes out on a plane.
pub fn latent_map(
    model: &Model,
    data: &Dataset,
    node: &str,
    idx: &[usize],
) -> Result<LatentMap, InsightError> {
    let codes = planar_codes(model, data, node, idx)?;
    let dim = codes[0].len();
    let (points, projection): (Vec<[f32; 2]>, _) = if dim == 2 {
        (codes.iter().map(|c| [c[0], c[1]]).collect(), None)
    } else {
        let (mean, axes) = principal_axes(&codes);
        let points: Vec<[f32; 2]> = codes
            .iter()
            .map(|c| [project(c, &mean, &axes[0]), project(c, &mean, &axes[1])])
            .collect();
        (points, Some((mean, axes)))
    };
    let span = |k: usize| {
        points
            .iter()
            .fold([f32::INFINITY, f32::NEG_INFINITY], |r, p: &[f32; 2]| {
                [r[0].min(p[k]), r[1].max(p[k])]
            })
    };
    Ok(LatentMap {
        node: node.to_string(),
        dim,
        x_range: span(0),
        y_range: span(1),
        points,
        labels: idx.iter().map(|&i| data.label(i)).collect(),
        samples: idx.to_vec(),
        projection,
    })
}

impl LatentMap {
    /// The code at a point of the plane, or why there is none (outside the codes' range, or
    /// not a number).
    pub fn code_at(&self, p: [f32; 2]) -> Result<Vec<f32>, InsightError> {
        let inside = |v: f32, r: [f32; 2]| {
            let m = (r[1] - r[0]).abs().max(1e-6) * RANGE_MARGIN;
            v.is_finite() && v >= r[0] - m && v <= r[1] + m
        };
        if !(inside(p[0], self.x_range) && inside(p[1], self.y_range)) {
            return Err(InsightError::OffThePlane {
                point: p,
                x: self.x_range,
                y: self.y_range,
            });
        }
        Ok(match &self.projection {
            None => p.to_vec(),
            Some((mean, axes)) => mean
                .iter()
                .enumerate()
                .map(|(j, m)| m + p[0] * axes[0][j] + p[1] * axes[1][j])
                .collect(),
        })
    }
}

/// The images (prediction values) the model's decoder makes of `codes` put in at `node`.
pub fn decode(
    model: &Model,
    node: &str,
    codes: &[Vec<f32>],
) -> Result<Vec<Vec<f32>>, InsightError> {
    let shape = model
        .analysis()
        .node(node)
        .and_then(|s| s.output.clone())
        .ok_or_else(|| InsightError::UnknownNode(node.to_string()))?;
    if let Some(bad) = codes.iter().find(|c| c.len() != shape.numel()) {
        return Err(InsightError::CodeSize {
            node: node.to_string(),
            values: bad.len(),
            holds: shape.numel(),
        });
    }
    let n = codes.len();
    let run = || -> candle_core::Result<Vec<Vec<f32>>> {
        let flat: Vec<f32> = codes.iter().flatten().copied().collect();
        let z = Tensor::from_vec(flat, shape.with_batch(n), &Device::Cpu)?;
        // The encoder part runs on zeros and is thrown away: the decoder sees only `z`.
        let input = model.input_shape();
        let x = Tensor::zeros(input.with_batch(n), candle_core::DType::F32, &Device::Cpu)?;
        let x = if input.dtype == crate::graph::DType::TokenId {
            x.to_dtype(candle_core::DType::U32)?
        } else {
            x
        };
        let y = model.forward_with(&x, node, &z, &mut ForwardCtx::eval())?;
        y.flatten_from(1)?
            .to_dtype(candle_core::DType::F32)?
            .to_vec2()
    };
    Ok(run()?)
}

/// Inputs and outputs, one flat vector per sample.
pub type InputsOutputs = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// Each sample's network input (normalised) and the model's output for it, both flat.
pub fn reconstruct(
    model: &Model,
    data: &Dataset,
    idx: &[usize],
) -> candle_core::Result<InputsOutputs> {
    let mut xs = Vec::new();
    data.gather_features(idx, &mut xs);
    let len = data.sample_len();
    let inputs: Vec<Vec<f32>> = xs.chunks(len.max(1)).map(<[f32]>::to_vec).collect();
    let x = Tensor::from_vec(xs, model.input_shape().with_batch(idx.len()), &Device::Cpu)?;
    let y = model.forward(&x, &mut ForwardCtx::eval())?;
    let outputs = y
        .flatten_from(1)?
        .to_dtype(candle_core::DType::F32)?
        .to_vec2()?;
    Ok((inputs, outputs))
}

fn project(c: &[f32], mean: &[f32], axis: &[f32]) -> f32 {
    c.iter()
        .zip(mean)
        .zip(axis)
        .map(|((v, m), a)| (v - m) * a)
        .sum()
}

/// Mean and the two leading eigenvectors of the codes' covariance.
fn principal_axes(codes: &[Vec<f32>]) -> (Vec<f32>, [Vec<f32>; 2]) {
    let pc = principal_components(codes);
    (pc.mean, pc.axes)
}

/// The codes' two leading principal components.
#[derive(Clone, Debug, PartialEq)]
pub struct Components {
    pub mean: Vec<f32>,
    pub axes: [Vec<f32>; 2],
    /// The variance along each axis (the covariance's eigenvalues).
    pub variance: [f64; 2],
    /// The total variance (the covariance's trace).
    pub total_variance: f64,
}

impl Components {
    /// The share of the total variance each axis explains.
    pub fn explained(&self) -> [f64; 2] {
        let t = self.total_variance.max(1e-300);
        [self.variance[0] / t, self.variance[1] / t]
    }

    /// A code's place on the plane of the two axes.
    pub fn project(&self, c: &[f32]) -> [f32; 2] {
        [
            project(c, &self.mean, &self.axes[0]),
            project(c, &self.mean, &self.axes[1]),
        ]
    }
}

/// Mean, the two leading eigenvectors of the codes' covariance and their eigenvalues (power
/// iteration with deflation: codes are a few hundred values at most).
pub fn principal_components(codes: &[Vec<f32>]) -> Components {
    let d = codes[0].len();
    let n = codes.len() as f64;
    let mut mean = vec![0f64; d];
    for c in codes {
        mean.iter_mut()
            .zip(c)
            .for_each(|(m, v)| *m += *v as f64 / n);
    }
    let mut cov = vec![0f64; d * d];
    for c in codes {
        for i in 0..d {
            let ci = c[i] as f64 - mean[i];
            for j in 0..d {
                cov[i * d + j] += ci * (c[j] as f64 - mean[j]) / n;
            }
        }
    }
    let mut axes: Vec<Vec<f64>> = Vec::new();
    for k in 0..2 {
        // A start that is not orthogonal to any axis in general, orthogonal to the axes found
        // and of unit length, so a spread with fewer than two directions still gives a basis.
        let mut v: Vec<f64> = (0..d).map(|i| 1.0 + (i * (k + 2)) as f64 * 0.37).collect();
        for a in &axes {
            let dot: f64 = v.iter().zip(a).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(a).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        v.iter_mut().for_each(|x| *x /= norm);
        for _ in 0..200 {
            let mut w: Vec<f64> = (0..d)
                .map(|i| (0..d).map(|j| cov[i * d + j] * v[j]).sum())
                .collect();
            for a in &axes {
                let dot: f64 = w.iter().zip(a).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(a).for_each(|(x, y)| *x -= dot * y);
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-12 {
                break;
            }
            v = w.into_iter().map(|x| x / norm).collect();
        }
        axes.push(v);
    }
    let rayleigh = |v: &Vec<f64>| -> f64 {
        (0..d)
            .map(|i| v[i] * (0..d).map(|j| cov[i * d + j] * v[j]).sum::<f64>())
            .sum()
    };
    let f = |v: &Vec<f64>| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    Components {
        mean: mean.iter().map(|&m| m as f32).collect(),
        variance: [rayleigh(&axes[0]), rayleigh(&axes[1])],
        total_variance: (0..d).map(|i| cov[i * d + i]).sum(),
        axes: [f(&axes[0]), f(&axes[1])],
    }
}
