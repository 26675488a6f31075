//! Per-layer shape rules and parameter counts. Messages are written to follow the node's label:
//! "Dense 'fc1' " + "expects a flat input, got [B, 32, 7, 7]: add a Flatten before it".

use super::spec::{DType, Layer, Loss, TensorShape};

/// Largest value of one size setting: units, filters, hidden units, vocabulary, a dimension.
pub const MAX_SIZE: usize = 1 << 24;
/// Largest kernel size, stride or padding.
pub const MAX_WINDOW: usize = 1 << 12;
/// Most parameters one layer may hold: 2^30, 4 GiB of f32.
pub const MAX_LAYER_PARAMS: usize = 1 << 30;
/// Most values of one sample at one layer's output: 2^28, 1 GiB of f32.
pub const MAX_SAMPLE_VALUES: usize = 1 << 28;
/// Most inputs of an Add or Concat.
pub const MAX_PORTS: usize = 64;
/// Largest Upsample2d factor (each side; 16 turns 28×28 into 448×448).
pub const MAX_UPSAMPLE: usize = 16;

/// The product of `dims`, or None past `MAX_SAMPLE_VALUES` (never overflows).
pub fn bounded_numel(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_SAMPLE_VALUES)
}

/// Why a layer refuses its inputs or parameters, worded by that layer's own shape rule ("needs
/// [C, H, W] input, got [784]"); the graph's analysis names the node around it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayerShapeError(pub String);

/// Output shape and trainable parameter count of `layer` given its input shapes (one per port).
/// Every size is bounded first, so no count overflows and nothing absurd reaches memory.
pub fn layer_output(
    layer: &Layer,
    inputs: &[&TensorShape],
) -> Result<(TensorShape, usize), LayerShapeError> {
    checked_output(layer, inputs).map_err(LayerShapeError)
}

fn checked_output(layer: &Layer, inputs: &[&TensorShape]) -> Result<(TensorShape, usize), String> {
    check_params(layer)?;
    let (shape, params) = unbounded_output(layer, inputs)?;
    if bounded_numel(&shape.dims).is_none() {
        let dims: Vec<String> = shape.dims.iter().map(|d| d.to_string()).collect();
        return Err(format!(
            "would output [B, {}] per batch: more than {MAX_SAMPLE_VALUES} values ({} GiB of f32) per sample; make it smaller",
            dims.join(", "),
            (MAX_SAMPLE_VALUES * 4) >> 30
        ));
    }
    if params > MAX_LAYER_PARAMS {
        return Err(format!(
            "would hold {params} parameters ({:.1} GiB of f32): at most {MAX_LAYER_PARAMS} per layer; use fewer units or filters",
            params as f64 * 4.0 / (1u64 << 30) as f64
        ));
    }
    Ok((shape, params))
}

fn unbounded_output(
    layer: &Layer,
    inputs: &[&TensorShape],
) -> Result<(TensorShape, usize), String> {
    if let Some(x) = inputs.iter().find(|s| s.dtype == DType::TokenId) {
        if !matches!(layer, Layer::Output { .. } | Layer::Embedding { .. }) {
            return Err(format!(
                "cannot read token ids {x}: integer inputs need an Embedding layer first"
            ));
        }
    }
    match layer {
        Layer::Input { shape, dtype } => Ok((
            TensorShape {
                dims: shape.clone(),
                dtype: *dtype,
            },
            0,
        )),
        Layer::Noise { dim } => Ok((TensorShape::f32([*dim]), 0)),
        Layer::Dense { units, bias } => {
            let x = inputs[0];
            match x.rank() {
                1 | 2 => {
                    let features = *x.dims.last().expect("rank checked");
                    let mut dims = x.dims.clone();
                    *dims.last_mut().expect("rank checked") = *units;
                    let params = features.saturating_mul(*units).saturating_add(if *bias {
                        *units
                    } else {
                        0
                    });
                    Ok((TensorShape::f32(dims), params))
                }
                _ => Err(format!(
                    "expects a flat input, got {x}: add a Flatten before it"
                )),
            }
        }
        Layer::Embedding { vocab, dim } => {
            let x = inputs[0];
            if x.dtype != DType::TokenId {
                return Err(format!(
                    "reads token ids, got numbers {x}: set the Input's values to token ids"
                ));
            }
            if x.rank() != 1 {
                return Err(format!("reads a sequence of token ids [B, T], got {x}"));
            }
            Ok((
                TensorShape::f32([x.dims[0], *dim]),
                vocab.saturating_mul(*dim),
            ))
        }
        Layer::PositionalEmbedding { max_len } => {
            let (t, d) = sequence_dims(inputs[0])?;
            if t > *max_len {
                return Err(format!(
                    "has positions for {max_len} steps but the sequence has {t}: raise its maximum length"
                ));
            }
            Ok((inputs[0].clone(), max_len.saturating_mul(d)))
        }
        Layer::Lstm { hidden, sequences }
        | Layer::Gru { hidden, sequences }
        | Layer::Rnn { hidden, sequences } => {
            let (t, f) = sequence_dims(inputs[0])?;
            // LSTM: four gates and one bias; GRU: three gates, with input and hidden biases
            // (the candidate gate needs its hidden bias inside the reset product); RNN: one.
            let params = match layer {
                Layer::Lstm { .. } => 4 * hidden.saturating_mul(f + hidden) + 4 * hidden,
                Layer::Gru { .. } => 3 * hidden.saturating_mul(f + hidden) + 6 * hidden,
                _ => hidden.saturating_mul(f + hidden) + hidden,
            };
            let dims = if *sequences {
                vec![t, *hidden]
            } else {
                vec![*hidden]
            };
            Ok((TensorShape::f32(dims), params))
        }
        Layer::SelfAttention { heads, .. } => {
            let (_, d) = sequence_dims(inputs[0])?;
            if d % heads != 0 {
                return Err(format!(
                    "splits {d} features into {heads} heads: the features must divide evenly"
                ));
            }
            Ok((inputs[0].clone(), 4 * d.saturating_mul(d) + 4 * d))
        }
        Layer::Conv2d {
            filters,
            kernel,
            stride,
            padding,
            bias,
        } => {
            let (c, h, w) = image_dims(inputs[0])?;
            let out_h = conv_out(h, *kernel, *stride, *padding);
            let out_w = conv_out(w, *kernel, *stride, *padding);
            match (out_h, out_w) {
                (Some(oh), Some(ow)) => {
                    let params = c.saturating_mul(*filters)
                        .saturating_mul(kernel.saturating_mul(*kernel))
                        .saturating_add(if *bias { *filters } else { 0 });
                    Ok((TensorShape::f32([*filters, oh, ow]), params))
                }
                _ => Err(format!(
                    "has a {kernel}×{kernel} kernel, larger than its padded input {}×{} ({}): use a smaller kernel or more padding",
                    h + 2 * padding,
                    w + 2 * padding,
                    inputs[0]
                )),
            }
        }
        Layer::ConvTranspose2d {
            filters,
            kernel,
            stride,
            padding,
            output_padding,
            bias,
        } => {
            let (c, h, w) = image_dims(inputs[0])?;
            if output_padding >= stride {
                return Err(format!(
                    "has output padding {output_padding}, which must be smaller than its stride {stride}"
                ));
            }
            let out = |n| {
                conv_transpose_out(n, *kernel, *stride, *padding, *output_padding)
                    .filter(|&o| o > 0)
            };
            match (out(h), out(w)) {
                (Some(oh), Some(ow)) => {
                    let params = c.saturating_mul(*filters)
                        .saturating_mul(kernel.saturating_mul(*kernel))
                        .saturating_add(if *bias { *filters } else { 0 });
                    Ok((TensorShape::f32([*filters, oh, ow]), params))
                }
                _ => Err(format!(
                    "with padding {padding} removes more than a {kernel}×{kernel} kernel adds to {}: use less padding",
                    inputs[0]
                )),
            }
        }
        Layer::Conv1d {
            filters,
            kernel,
            stride,
            padding,
            bias,
        } => {
            let (t, f) = sequence_dims(inputs[0])?;
            match conv_out(t, *kernel, *stride, *padding) {
                Some(ot) => {
                    let params =
                        f.saturating_mul(*filters)
                        .saturating_mul(*kernel)
                        .saturating_add(if *bias { *filters } else { 0 });
                    Ok((TensorShape::f32([ot, *filters]), params))
                }
                None => Err(format!(
                    "has a kernel of {kernel} steps, longer than its padded input of {} steps ({}): use a smaller kernel or more padding",
                    t + 2 * padding,
                    inputs[0]
                )),
            }
        }
        Layer::GlobalAvgPool | Layer::GlobalMaxPool => {
            let x = inputs[0];
            match x.dims[..] {
                [c, _, _] => Ok((TensorShape::f32([c]), 0)),
                [_, f] => Ok((TensorShape::f32([f]), 0)),
                _ => Err(format!(
                    "pools an image [B, C, H, W] or a sequence [B, steps, features], got {x}"
                )),
            }
        }
        Layer::Sampling { .. } => {
            let x = inputs[0];
            match x.dims[..] {
                [n] if n % 2 == 0 => Ok((TensorShape::f32([n / 2]), 0)),
                _ => Err(format!(
                    "reads means and log-variances side by side [B, 2·latent], got {x}: feed it a Dense layer with twice the latent size"
                )),
            }
        }
        Layer::MaxPool2d { kernel, stride } | Layer::AvgPool2d { kernel, stride } => {
            let (c, h, w) = image_dims(inputs[0])?;
            if h < *kernel || w < *kernel {
                return Err(format!(
                    "has a {kernel}×{kernel} window, larger than its input {}",
                    inputs[0]
                ));
            }
            Ok((
                TensorShape::f32([c, (h - kernel) / stride + 1, (w - kernel) / stride + 1]),
                0,
            ))
        }
        Layer::Upsample2d { scale, .. } => {
            let (c, h, w) = image_dims(inputs[0])?;
            Ok((
                TensorShape::f32([c, h.saturating_mul(*scale), w.saturating_mul(*scale)]),
                0,
            ))
        }
        Layer::Flatten => Ok((TensorShape::f32([inputs[0].numel()]), 0)),
        Layer::Reshape { shape } => reshape(inputs[0], shape).map(|s| (s, 0)),
        Layer::ReLU
        | Layer::LeakyReLU { .. }
        | Layer::Sigmoid
        | Layer::Tanh
        | Layer::GELU
        | Layer::Softmax
        | Layer::Dropout { .. } => Ok((inputs[0].clone(), 0)),
        Layer::BatchNorm { .. } => {
            let x = inputs[0];
            match x.rank() {
                1 | 3 => Ok((x.clone(), 2 * x.dims[0])),
                _ => Err(format!(
                    "normalises features [B, F] or channels [B, C, H, W], got {x}"
                )),
            }
        }
        Layer::LayerNorm { .. } => {
            let x = inputs[0];
            let f = *x
                .dims
                .last()
                .ok_or_else(|| format!("needs at least one feature axis, got {x}"))?;
            Ok((x.clone(), 2 * f))
        }
        Layer::Add { .. } => {
            let first = inputs[0];
            if let Some(other) = inputs.iter().find(|s| s.dims != first.dims) {
                return Err(format!(
                    "adds inputs of different shapes {first} and {other}: they must match exactly"
                ));
            }
            Ok((first.clone(), 0))
        }
        Layer::Concat { axis, .. } => concat(inputs, *axis).map(|s| (s, 0)),
        Layer::Output { loss, .. } => {
            let x = inputs[0];
            match loss {
                Loss::CrossEntropy if !(x.rank() == 1 || x.rank() == 2) || x.dims.last().is_some_and(|&c| c < 2) => Err(format!(
                    "with cross-entropy needs one score per class [B, classes] (or per step [B, steps, classes]), got {x}: end the network with Flatten and a Dense layer with one unit per class"
                )),
                Loss::BinaryCrossEntropy if x.rank() != 1 => Err(format!(
                    "with binary cross-entropy needs flat scores [B, outputs], got {x}: add a Flatten and a Dense layer"
                )),
                _ => Ok((x.clone(), 0)),
            }
        }
    }
}

fn check_params(layer: &Layer) -> Result<(), String> {
    let within = |name: &str, v: usize, max: usize| {
        if v == 0 {
            Err(format!("has {name} 0: it must be at least 1"))
        } else if v > max {
            Err(format!("has {name} {v}: at most {max}"))
        } else {
            Ok(())
        }
    };
    let positive = |name: &str, v: usize| within(name, v, MAX_SIZE);
    let window = |name: &str, v: usize| within(name, v, MAX_WINDOW);
    let padding = |v: usize| {
        if v > MAX_WINDOW {
            Err(format!("has padding {v}: at most {MAX_WINDOW}"))
        } else {
            Ok(())
        }
    };
    let axes = |what: &str, shape: &[usize]| {
        if shape.is_empty() || shape.contains(&0) {
            return Err(format!(
                "has {what} {shape:?}: every axis needs at least one element"
            ));
        }
        if bounded_numel(shape).is_none() {
            return Err(format!(
                "has {what} {shape:?}: more than {MAX_SAMPLE_VALUES} values per sample"
            ));
        }
        Ok(())
    };
    match layer {
        Layer::Input { shape, .. } => axes("shape", shape)?,
        Layer::Dense { units, .. } => positive("units", *units)?,
        Layer::Noise { dim } => positive("size", *dim)?,
        Layer::Embedding { vocab, dim } => {
            positive("vocabulary size", *vocab)?;
            positive("dimension", *dim)?;
        }
        Layer::PositionalEmbedding { max_len } => positive("maximum length", *max_len)?,
        Layer::Lstm { hidden, .. } | Layer::Gru { hidden, .. } | Layer::Rnn { hidden, .. } => {
            positive("hidden units", *hidden)?
        }
        Layer::SelfAttention { heads, .. } => positive("heads", *heads)?,
        Layer::Conv2d {
            filters,
            kernel,
            stride,
            padding: pad,
            ..
        }
        | Layer::ConvTranspose2d {
            filters,
            kernel,
            stride,
            padding: pad,
            ..
        }
        | Layer::Conv1d {
            filters,
            kernel,
            stride,
            padding: pad,
            ..
        } => {
            positive("filters", *filters)?;
            window("kernel size", *kernel)?;
            window("stride", *stride)?;
            padding(*pad)?;
        }
        Layer::MaxPool2d { kernel, stride } | Layer::AvgPool2d { kernel, stride } => {
            window("kernel size", *kernel)?;
            window("stride", *stride)?;
        }
        Layer::Upsample2d { scale, .. } if !(1..=MAX_UPSAMPLE).contains(scale) => {
            return Err(format!(
                "has scale {scale}: choose a whole factor from 1 to {MAX_UPSAMPLE}"
            ));
        }
        Layer::Dropout { p } if !(0.0..1.0).contains(p) => {
            return Err(format!(
                "has drop probability {p}: it must be at least 0 and below 1"
            ));
        }
        Layer::BatchNorm { momentum, .. } if !(0.0..=1.0).contains(momentum) => {
            return Err(format!("has momentum {momentum}: it must be in [0, 1]"));
        }
        Layer::BatchNorm { eps, .. } | Layer::LayerNorm { eps } if *eps <= 0.0 => {
            return Err(format!("has eps {eps}: it must be positive"));
        }
        Layer::Add { inputs } | Layer::Concat { inputs, .. }
            if !(2..=MAX_PORTS).contains(inputs) =>
        {
            return Err(format!("has {inputs} input(s): it needs 2 to {MAX_PORTS}"));
        }
        Layer::Sampling { beta } if !(beta.is_finite() && *beta >= 0.0) => {
            return Err(format!(
                "has KL weight {beta}: it must be a number of at least 0"
            ));
        }
        Layer::LeakyReLU { slope } if !slope.is_finite() => {
            return Err("has a slope that is not a number".into());
        }
        _ => {}
    }
    Ok(())
}

fn sequence_dims(x: &TensorShape) -> Result<(usize, usize), String> {
    match x.dims[..] {
        [t, f] => Ok((t, f)),
        _ => Err(format!(
            "reads a sequence [B, steps, features], got {x}: put an Embedding (for token ids) or a Reshape before it"
        )),
    }
}

fn image_dims(x: &TensorShape) -> Result<(usize, usize, usize), String> {
    match x.dims[..] {
        [c, h, w] => Ok((c, h, w)),
        [n] if is_square(n) => {
            let side = (n as f64).sqrt().round() as usize;
            Err(format!(
                "expects an image [B, channels, height, width], got {x}: add a Reshape to [1, {side}, {side}] before it"
            ))
        }
        _ => Err(format!(
            "expects an image [B, channels, height, width], got {x}: add a Reshape before it"
        )),
    }
}

fn is_square(n: usize) -> bool {
    let s = (n as f64).sqrt().round() as usize;
    s * s == n && n > 1
}

/// Output side of a transposed convolution, or None when the sizes do not give one.
pub fn conv_transpose_out(
    size: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
) -> Option<usize> {
    ((size.checked_sub(1)? * stride).checked_add(kernel + output_padding))?.checked_sub(2 * padding)
}

fn conv_out(size: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    let padded = size + 2 * padding;
    (padded >= kernel).then(|| (padded - kernel) / stride + 1)
}

fn reshape(x: &TensorShape, target: &[i64]) -> Result<TensorShape, String> {
    let total = x.numel();
    let holes = target.iter().filter(|&&d| d == -1).count();
    if holes > 1 {
        return Err(format!(
            "target {target:?} has more than one -1: only one axis can be inferred"
        ));
    }
    if target.iter().any(|&d| d == 0 || d < -1) {
        return Err(format!(
            "target {target:?} has an axis that is not positive (use -1 for one inferred axis)"
        ));
    }
    // An overflowing product cannot match the input's (bounded) count: saturate.
    let known: usize = target.iter().filter(|&&d| d > 0).fold(1usize, |n, &d| {
        n.saturating_mul(usize::try_from(d).unwrap_or(usize::MAX))
    });
    let dims: Vec<usize> = if holes == 1 {
        if known == 0 || total % known != 0 {
            return Err(format!(
                "cannot reshape {x} ({total} values) to {target:?}: {total} is not divisible by {known}"
            ));
        }
        target
            .iter()
            .map(|&d| if d == -1 { total / known } else { d as usize })
            .collect()
    } else {
        if known != total {
            return Err(format!(
                "cannot reshape {x} ({total} values) to {target:?} ({known} values): the counts must match"
            ));
        }
        target.iter().map(|&d| d as usize).collect()
    };
    Ok(TensorShape::f32(dims))
}

fn concat(inputs: &[&TensorShape], axis: i64) -> Result<TensorShape, String> {
    let first = inputs[0];
    let rank = first.rank() as i64;
    let ax = if axis < 0 { rank + axis } else { axis };
    if ax < 0 || ax >= rank {
        return Err(format!(
            "joins along axis {axis}, but its input {first} has only {rank} sample axes"
        ));
    }
    let ax = ax as usize;
    let mut dims = first.dims.clone();
    for other in &inputs[1..] {
        let same_elsewhere = other.rank() == first.rank()
            && other
                .dims
                .iter()
                .zip(&first.dims)
                .enumerate()
                .all(|(i, (a, b))| i == ax || a == b);
        if !same_elsewhere {
            return Err(format!(
                "joins {first} and {other} along axis {axis}: all other axes must match"
            ));
        }
        dims[ax] += other.dims[ax];
    }
    Ok(TensorShape::f32(dims))
}

/// Index of the concat axis counted with the batch dimension, as candle wants it.
pub fn concat_axis_with_batch(axis: i64, sample_rank: usize) -> usize {
    let ax = if axis < 0 {
        sample_rank as i64 + axis
    } else {
        axis
    };
    ax as usize + 1
}
