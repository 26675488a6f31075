//! The same computations as the kernels, written with candle's own ops: what the kernels are
//! tested against (values and gradients), timed against (`glassbox bench kernels`), and what
//! the model runs for dtypes the kernels do not take (the f64 finite-difference checks).
//! candle's max-pool backward is wrong (see pool.rs), so `max_pool2d` here is for timing only.

use candle_core::{Result, Tensor, D};

pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let k = x.dim(D::Minus1)?;
    let mut out_dims = x.dims().to_vec();
    *out_dims.last_mut().expect("rank ≥ 1") = w.dim(0)?;
    let y = x.reshape(((), k))?.matmul(&w.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    y.reshape(out_dims)
}

pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let y = x.conv2d(w, padding, stride, 1, 1)?;
    match b {
        Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?),
        None => Ok(y),
    }
}

/// 1-D convolution of x [B, C, L] with w [F, C, K] (channels first), one gathered tap at a
/// time: candle's own conv1d weight gradient is wrong here, and its conv2d backward fails when
/// the stride does not divide the padded input.
pub fn conv1d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (_, _, len) = x.dims3()?;
    let (_, _, k) = w.dims3()?;
    let padded = len + 2 * padding;
    if padded < k || stride == 0 {
        candle_core::bail!("conv1d kernel {k} does not fit length {len} with padding {padding}");
    }
    let out = (padded - k) / stride + 1;
    let xp = x.pad_with_zeros(2, padding, padding)?;
    let mut y: Option<Tensor> = None;
    for tap in 0..k {
        let idx: Vec<u32> = (0..out).map(|o| (o * stride + tap) as u32).collect();
        let idx = Tensor::from_vec(idx, out, x.device())?;
        let cols = xp.index_select(&idx, 2)?; // [B, C, out]
        let wt = w.narrow(2, tap, 1)?.squeeze(2)?; // [F, C]
        let part = wt.broadcast_matmul(&cols)?; // [B, F, out]
        y = Some(match y {
            Some(acc) => (acc + part)?,
            None => part,
        });
    }
    let y = y.expect("a kernel has at least one tap");
    match b {
        Some(b) => y.broadcast_add(&b.reshape((1, (), 1))?),
        None => Ok(y),
    }
}

/// Transposed convolution of x [B, C_in, H, W] with w [C_in, C_out, K, K].
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
    output_padding: usize,
) -> Result<Tensor> {
    let y = x.conv_transpose2d(w, padding, output_padding, stride, 1)?;
    match b {
        Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?),
        None => Ok(y),
    }
}

/// Elman RNN step by step, h = tanh(x·W_ihᵀ + h·W_hhᵀ + b) → every hidden state [B, T, H].
pub fn rnn(x: &Tensor, wx: &Tensor, wh: &Tensor, b: &Tensor) -> Result<Tensor> {
    rnn_from(x, wx, wh, b, None)
}

/// [`rnn`] starting from the hidden state `h0` [B, H] (zeros when None).
pub fn rnn_from(
    x: &Tensor,
    wx: &Tensor,
    wh: &Tensor,
    b: &Tensor,
    h0: Option<&Tensor>,
) -> Result<Tensor> {
    let (bsz, t, _) = x.dims3()?;
    let h = wh.dim(1)?;
    let xp = linear(x, wx, Some(b))?;
    let wh_t = wh.t()?;
    let mut hs = initial(h0, (bsz, h), x)?;
    let mut outs = Vec::with_capacity(t);
    for step in 0..t {
        hs = (xp.narrow(1, step, 1)?.squeeze(1)? + hs.matmul(&wh_t)?)?.tanh()?;
        outs.push(hs.clone());
    }
    Tensor::stack(&outs, 1)
}

/// The given state, or zeros shaped `dims` like `x`.
fn initial(state: Option<&Tensor>, dims: (usize, usize), x: &Tensor) -> Result<Tensor> {
    match state {
        Some(s) => s.to_dtype(x.dtype()),
        None => Tensor::zeros(dims, x.dtype(), x.device()),
    }
}

pub fn max_pool2d(x: &Tensor, kernel: usize) -> Result<Tensor> {
    x.max_pool2d(kernel)
}

pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, labels)
}

pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let c = x.broadcast_sub(&mean)?;
    let var = c.sqr()?.mean_keepdim(D::Minus1)?;
    c.broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(gamma)?
        .broadcast_add(beta)
}

pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.gelu_erf()
}

/// Softmax over the last axis from primitive ops, which all have a backward pass (candle_nn's
/// `softmax_last_dim` has none).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Multi-head self-attention core on packed qkv [B, T, 3D] → [B, T, D].
pub fn attention(qkv: &Tensor, heads: usize, causal: bool) -> Result<Tensor> {
    let (b, t, d3) = qkv.dims3()?;
    let d = d3 / 3;
    let hd = d / heads;
    let parts = qkv
        .reshape((b, t, 3, heads, hd))?
        .permute((2, 0, 3, 1, 4))?;
    let (q, k, v) = (
        parts.get(0)?.contiguous()?,
        parts.get(1)?.contiguous()?,
        parts.get(2)?.contiguous()?,
    );
    let mut s = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
    if causal {
        let mask: Vec<f32> = (0..t * t)
            .map(|p| {
                if p % t > p / t {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), qkv.device())?.to_dtype(qkv.dtype())?;
        s = s.broadcast_add(&mask)?;
    }
    softmax_last(&s)?
        .matmul(&v)?
        .transpose(1, 2)?
        .reshape((b, t, d))
}

/// LSTM step by step (gate order i, f, g, o) → every hidden state [B, T, H].
pub fn lstm(x: &Tensor, wx: &Tensor, wh: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(lstm_from(x, wx, wh, b, None)?.0)
}

/// [`lstm`] starting from `(h0, c0)` [B, H] each (zeros when None); also returns the last
/// cell state.
pub fn lstm_from(
    x: &Tensor,
    wx: &Tensor,
    wh: &Tensor,
    b: &Tensor,
    init: Option<(&Tensor, &Tensor)>,
) -> Result<(Tensor, Tensor)> {
    let (bsz, t, _) = x.dims3()?;
    let h = wh.dim(1)?;
    // The input projection for every step at once; only h·W_hh runs per step.
    let xp = linear(x, wx, Some(b))?;
    let wh_t = wh.t()?;
    let mut hs = initial(init.map(|i| i.0), (bsz, h), x)?;
    let mut cs = initial(init.map(|i| i.1), (bsz, h), x)?;
    let mut outs = Vec::with_capacity(t);
    for step in 0..t {
        let gates = (xp.narrow(1, step, 1)?.squeeze(1)? + hs.matmul(&wh_t)?)?;
        let sig = |o: usize| candle_nn::ops::sigmoid(&gates.narrow(1, o * h, h)?);
        let (i, f, o) = (sig(0)?, sig(1)?, sig(3)?);
        let g = gates.narrow(1, 2 * h, h)?.tanh()?;
        cs = ((f * &cs)? + (i * g)?)?;
        hs = (o * cs.tanh()?)?;
        outs.push(hs.clone());
    }
    Ok((Tensor::stack(&outs, 1)?, cs))
}

/// GRU step by step (gate order r, z, n; PyTorch's n) → every hidden state [B, T, H].
pub fn gru(x: &Tensor, wx: &Tensor, wh: &Tensor, bx: &Tensor, bh: &Tensor) -> Result<Tensor> {
    gru_from(x, (wx, wh, bx, bh), None)
}

/// [`gru`] starting from the hidden state `h0` [B, H] (zeros when None).
pub fn gru_from(
    x: &Tensor,
    (wx, wh, bx, bh): (&Tensor, &Tensor, &Tensor, &Tensor),
    h0: Option<&Tensor>,
) -> Result<Tensor> {
    let (bsz, t, _) = x.dims3()?;
    let h = wh.dim(1)?;
    let xp = linear(x, wx, Some(bx))?;
    let wh_t = wh.t()?;
    let mut hs = initial(h0, (bsz, h), x)?;
    let mut outs = Vec::with_capacity(t);
    for step in 0..t {
        let xi = xp.narrow(1, step, 1)?.squeeze(1)?;
        let hp = hs.matmul(&wh_t)?.broadcast_add(bh)?;
        let part = |m: &Tensor, k: usize| m.narrow(1, k * h, h);
        let r = candle_nn::ops::sigmoid(&(part(&xi, 0)? + part(&hp, 0)?)?)?;
        let z = candle_nn::ops::sigmoid(&(part(&xi, 1)? + part(&hp, 1)?)?)?;
        let n = (part(&xi, 2)? + (r * part(&hp, 2)?)?)?.tanh()?;
        hs = ((&n - (&z * &n)?)? + (z * &hs)?)?;
        outs.push(hs.clone());
    }
    Tensor::stack(&outs, 1)
}
