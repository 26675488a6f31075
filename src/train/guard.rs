//! Divergence checks: which parameter or layer first held NaN, infinite or exploding values.

use crate::model::{ForwardCtx, Model};
use candle_core::Tensor;

/// The first trainable parameter with a NaN or infinite entry (one sum per parameter: any such
/// entry makes the sum non-finite).
pub(crate) fn first_non_finite_param(model: &Model) -> candle_core::Result<Option<String>> {
    for (name, var) in model.trainable() {
        if !super::optim::all_finite(var.as_tensor())? {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// Activations beyond this magnitude count as exploding.
const EXPLODING: f32 = 1e6;

/// The first layer (in graph order) whose output on `x` holds non-finite or exploding values.
pub fn first_bad_layer(model: &Model, x: &Tensor) -> Option<String> {
    let mut ctx = ForwardCtx::train(None);
    let values = model.forward_all(x, &mut ctx).ok()?;
    let input = model
        .graph()
        .nodes
        .iter()
        .find(|n| matches!(n.layer, crate::graph::Layer::Input { .. }))?
        .id
        .clone();
    values
        .iter()
        .filter(|(id, _)| *id != input)
        .find_map(|(id, v)| {
            let bad = v
                .flatten_all()
                .and_then(|f| f.to_dtype(candle_core::DType::F32))
                .and_then(|f| f.to_vec1::<f32>())
                .map(|v| v.iter().any(|x| !x.is_finite() || x.abs() > EXPLODING))
                .unwrap_or(true);
            bad.then(|| {
                model
                    .graph()
                    .node(id)
                    .map_or_else(|| id.clone(), |n| n.label())
            })
        })
}

pub(crate) fn describe_divergence(
    model: &Model,
    x: &Tensor,
    loss: f32,
) -> (String, Option<String>) {
    let what = if loss.is_nan() { "NaN" } else { "infinite" };
    let layer = first_bad_layer(model, x);
    if let Ok(Some(name)) = first_non_finite_param(model) {
        return (
            format!("the loss became {what}: parameter {name} holds non-finite values after the last update (learning rate too high?)"),
            layer,
        );
    }
    let text = match &layer {
        Some(l) => format!("the loss became {what}: the first non-finite values appear in the output of {l}"),
        None => format!("the loss became {what} while every layer's output was finite (the loss itself overflowed)"),
    };
    (text, layer)
}
