//! The decision boundary of a 2-D classifier: its predicted class over a grid of inputs.

use super::event::{BoundaryMap, BoundarySpec};
use crate::data::Dataset;
use crate::model::{ForwardCtx, Model};
use candle_core::{Device, Tensor};

/// Predicted class and its probability over a grid of raw 2-D inputs.
pub fn boundary_map(
    model: &Model,
    data: &Dataset,
    spec: BoundarySpec,
    step: usize,
) -> candle_core::Result<BoundaryMap> {
    let n = spec.resolution.max(2);
    let mut xs = Vec::with_capacity(n * n * 2);
    for row in 0..n {
        let y = spec.y[0] + (spec.y[1] - spec.y[0]) * (row as f32 + 0.5) / n as f32;
        for col in 0..n {
            let x = spec.x[0] + (spec.x[1] - spec.x[0]) * (col as f32 + 0.5) / n as f32;
            xs.extend(data.normalize_raw(&[x, y]));
        }
    }
    let input = Tensor::from_vec(xs, (n * n, 2), &Device::Cpu)?;
    let pred = model.forward(&input, &mut ForwardCtx::eval())?.detach();
    let probs = if pred.dim(1)? == 1 {
        let p1 = candle_nn::ops::sigmoid(&pred)?;
        Tensor::cat(&[(p1.affine(-1.0, 1.0))?, p1], 1)?
    } else {
        candle_nn::ops::softmax(&pred, 1)?
    };
    let rows = probs.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?;
    let (class, confidence) = rows
        .iter()
        .map(|r| {
            let (k, p) = r
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (k, &p)| {
                    if p > best.1 {
                        (k, p)
                    } else {
                        best
                    }
                });
            (k as u32, p)
        })
        .unzip();
    Ok(BoundaryMap {
        spec,
        class,
        confidence,
        step,
    })
}
