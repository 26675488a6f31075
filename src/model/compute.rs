//! The computations behind the ops that are more than one candle call: recurrences, attention,
//! normalisation, pooling over whole axes, the VAE's sampling. f32 runs the kernels; other
//! dtypes (the f64 finite-difference checks) run `kernels::reference`.

use super::kernels;
use super::kernels::{linear, PoolKind};
use candle_core::{Result, Tensor, Var};
use rand_chacha::ChaCha8Rng;

/// The f32 kernel, or candle's reference ops for other dtypes (the f64 gradient checks).
fn by_dtype(
    x: &Tensor,
    kernel: impl FnOnce() -> Result<Tensor>,
    reference: impl FnOnce() -> Result<Tensor>,
) -> Result<Tensor> {
    if x.dtype() == candle_core::DType::F32 {
        kernel()
    } else {
        reference()
    }
}

/// x [B, T, F] · wᵀ + b over all positions in one matmul.
fn linear_seq(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    linear(x, w, Some(b))
}

/// Every step's hidden state [B, T, H], or only the last one [B, H].
fn last_or_all(hs: Tensor, sequences: bool) -> Result<Tensor> {
    if sequences {
        return Ok(hs);
    }
    let t = hs.dim(1)?;
    hs.narrow(1, t - 1, 1)?.squeeze(1)
}

pub(crate) fn lstm(
    x: &Tensor,
    wx: &Tensor,
    wh: &Tensor,
    b: &Tensor,
    sequences: bool,
) -> Result<Tensor> {
    let hs = by_dtype(
        x,
        || kernels::lstm(x, wx, wh, b),
        || kernels::reference::lstm(x, wx, wh, b),
    )?;
    last_or_all(hs, sequences)
}

pub(crate) fn gru(
    x: &Tensor,
    wx: &Tensor,
    wh: &Tensor,
    bx: &Tensor,
    bh: &Tensor,
    sequences: bool,
) -> Result<Tensor> {
    let hs = by_dtype(
        x,
        || kernels::gru(x, wx, wh, bx, bh),
        || kernels::reference::gru(x, wx, wh, bx, bh),
    )?;
    last_or_all(hs, sequences)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    x: &Tensor,
    wqkv: &Tensor,
    bqkv: &Tensor,
    wo: &Tensor,
    bo: &Tensor,
    heads: usize,
    causal: bool,
) -> Result<Tensor> {
    let y = by_dtype(
        x,
        || kernels::projected_attention(x, wqkv, bqkv, heads, causal),
        || kernels::reference::attention(&linear_seq(x, wqkv, bqkv)?, heads, causal),
    )?;
    linear_seq(&y, wo, bo)
}

pub(crate) fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    by_dtype(
        x,
        || kernels::layer_norm(x, gamma, beta, eps),
        || kernels::reference::layer_norm(x, gamma, beta, eps),
    )
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Var,
    running_var: &Var,
    momentum: f64,
    eps: f64,
    train: bool,
) -> Result<Tensor> {
    let c = x.dim(1)?;
    // Statistics per channel: over the batch, and over H, W for images.
    let (stat_shape, reduce): (Vec<usize>, Vec<usize>) = match x.rank() {
        2 => (vec![1, c], vec![0]),
        _ => (vec![1, c, 1, 1], vec![0, 2, 3]),
    };
    let (mean, var) = if train {
        let count = (x.elem_count() / c) as f64;
        let mean = (x.sum_keepdim(reduce.clone())? / count)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = (centred.sqr()?.sum_keepdim(reduce)? / count)?;
        let unbiased = count / (count - 1.0).max(1.0);
        let new_mean = ((running_mean.as_tensor() * (1.0 - momentum))?
            + (mean.detach().flatten_all()? * momentum)?)?;
        let new_var = ((running_var.as_tensor() * (1.0 - momentum))?
            + (var.detach().flatten_all()? * (momentum * unbiased))?)?;
        running_mean.set(&new_mean.detach())?;
        running_var.set(&new_var.detach())?;
        (mean, var)
    } else {
        (
            running_mean
                .as_tensor()
                .detach()
                .reshape(stat_shape.clone())?,
            running_var
                .as_tensor()
                .detach()
                .reshape(stat_shape.clone())?,
        )
    };
    let normed = x
        .broadcast_sub(&mean)?
        .broadcast_div(&(var + eps)?.sqrt()?)?;
    normed
        .broadcast_mul(&gamma.reshape(stat_shape.clone())?)?
        .broadcast_add(&beta.reshape(stat_shape)?)
}

pub(crate) fn rnn(
    x: &Tensor,
    wx: &Tensor,
    wh: &Tensor,
    b: &Tensor,
    sequences: bool,
) -> Result<Tensor> {
    let hs = by_dtype(
        x,
        || kernels::rnn(x, wx, wh, b),
        || kernels::reference::rnn(x, wx, wh, b),
    )?;
    last_or_all(hs, sequences)
}

/// Each channel of an image [B, C, H, W] → [B, C], or each feature of a sequence [B, T, F] →
/// [B, F], reduced to its mean or maximum.
pub(crate) fn global_pool(x: &Tensor, kind: PoolKind) -> Result<Tensor> {
    let (flat, axis) = match x.rank() {
        4 => (x.flatten_from(2)?, 2),
        _ => (x.clone(), 1),
    };
    match kind {
        PoolKind::Avg => flat.mean(axis),
        PoolKind::Max => flat.max(axis),
    }
}

/// The reparameterisation of a VAE: [B, 2z] (means, log-variances) → [B, z], and the KL
/// divergence from N(0, 1) summed over the latent, averaged over the batch.
pub(crate) fn sampling(
    x: &Tensor,
    train: bool,
    rng: Option<&mut ChaCha8Rng>,
) -> Result<(Tensor, Tensor)> {
    let z = x.dim(1)? / 2;
    let mean = x.narrow(1, 0, z)?;
    // Clamped so one wild unit cannot overflow exp() and end the run.
    let logvar = x.narrow(1, z, z)?.clamp(-20.0, 20.0)?;
    let var = logvar.exp()?;
    let kl = ((mean.sqr()? + &var)? - &logvar)?
        .affine(0.5, -0.5)?
        .sum(1)?
        .mean(0)?;
    let sample = match (train, rng) {
        (true, Some(rng)) => {
            use rand_distr::Distribution;
            let normal = rand_distr::StandardNormal;
            let eps: Vec<f32> = (0..mean.elem_count())
                .map(|_| normal.sample(&mut *rng))
                .collect();
            let eps = Tensor::from_vec(eps, mean.shape(), mean.device())?.to_dtype(x.dtype())?;
            (mean + (logvar * 0.5)?.exp()?.mul(&eps)?)?
        }
        _ => mean,
    };
    Ok((sample, kl))
}
