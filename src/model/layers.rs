//! Each layer kind as candle operations: the kernels in `kernels` for f32, and for other dtypes
//! (the f64 finite-difference checks) `kernels::reference`, whose ops all have a backward pass
//! (candle_nn's fused LayerNorm and `softmax_last_dim` do not, so they are written out).

use crate::graph::{concat_axis_with_batch, Layer, TensorShape};
use candle_core::{Device, Result, Tensor, Var};
use candle_nn::{Init, VarBuilder};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::kernels::{self, conv2d, linear, pool2d, relu, PoolKind};
use super::params::ParamStore;

/// Per-forward state: training or evaluation, and the seeded generator for dropout.
pub struct ForwardCtx<'a> {
    pub train: bool,
    pub rng: Option<&'a mut ChaCha8Rng>,
}

impl ForwardCtx<'_> {
    pub fn eval() -> ForwardCtx<'static> {
        ForwardCtx {
            train: false,
            rng: None,
        }
    }
}

pub(crate) enum Op {
    Input,
    Dense {
        w: Tensor,
        b: Option<Tensor>,
    },
    Embedding(Tensor),
    PositionalEmbedding(Tensor),
    Lstm {
        wx: Tensor,
        wh: Tensor,
        b: Tensor,
        sequences: bool,
    },
    Gru {
        wx: Tensor,
        wh: Tensor,
        bx: Tensor,
        bh: Tensor,
        sequences: bool,
    },
    Attention {
        wqkv: Tensor,
        bqkv: Tensor,
        wo: Tensor,
        bo: Tensor,
        heads: usize,
        causal: bool,
    },
    Conv2d {
        w: Tensor,
        b: Option<Tensor>,
        stride: usize,
        padding: usize,
    },
    Pool {
        kind: PoolKind,
        kernel: usize,
        stride: usize,
    },
    Flatten,
    Reshape(Vec<usize>),
    Relu,
    LeakyRelu(f64),
    Sigmoid,
    Tanh,
    Gelu,
    Softmax,
    Dropout(f32),
    BatchNorm {
        gamma: Tensor,
        beta: Tensor,
        running_mean: Var,
        running_var: Var,
        momentum: f64,
        eps: f64,
    },
    LayerNorm {
        gamma: Tensor,
        beta: Tensor,
        eps: f64,
    },
    Add,
    Concat(usize),
    /// The Output node passes its input through; the loss is applied by the trainer.
    Output,
}

impl Op {
    /// The same op reading detached copies of its parameters: gradients then flow only to the
    /// input (saliency, activation maximisation), and no parameter gradient is computed.
    pub(crate) fn frozen(&self) -> Op {
        let d = |t: &Tensor| t.detach();
        let db = |t: &Option<Tensor>| t.as_ref().map(Tensor::detach);
        match self {
            Op::Input => Op::Input,
            Op::Dense { w, b } => Op::Dense { w: d(w), b: db(b) },
            Op::Embedding(w) => Op::Embedding(d(w)),
            Op::PositionalEmbedding(w) => Op::PositionalEmbedding(d(w)),
            Op::Lstm {
                wx,
                wh,
                b,
                sequences,
            } => Op::Lstm {
                wx: d(wx),
                wh: d(wh),
                b: d(b),
                sequences: *sequences,
            },
            Op::Gru {
                wx,
                wh,
                bx,
                bh,
                sequences,
            } => Op::Gru {
                wx: d(wx),
                wh: d(wh),
                bx: d(bx),
                bh: d(bh),
                sequences: *sequences,
            },
            Op::Attention {
                wqkv,
                bqkv,
                wo,
                bo,
                heads,
                causal,
            } => Op::Attention {
                wqkv: d(wqkv),
                bqkv: d(bqkv),
                wo: d(wo),
                bo: d(bo),
                heads: *heads,
                causal: *causal,
            },
            Op::Conv2d {
                w,
                b,
                stride,
                padding,
            } => Op::Conv2d {
                w: d(w),
                b: db(b),
                stride: *stride,
                padding: *padding,
            },
            Op::Pool {
                kind,
                kernel,
                stride,
            } => Op::Pool {
                kind: *kind,
                kernel: *kernel,
                stride: *stride,
            },
            Op::Flatten => Op::Flatten,
            Op::Reshape(dims) => Op::Reshape(dims.clone()),
            Op::Relu => Op::Relu,
            Op::LeakyRelu(s) => Op::LeakyRelu(*s),
            Op::Sigmoid => Op::Sigmoid,
            Op::Tanh => Op::Tanh,
            Op::Gelu => Op::Gelu,
            Op::Softmax => Op::Softmax,
            Op::Dropout(p) => Op::Dropout(*p),
            Op::BatchNorm {
                gamma,
                beta,
                running_mean,
                running_var,
                momentum,
                eps,
            } => Op::BatchNorm {
                gamma: d(gamma),
                beta: d(beta),
                running_mean: running_mean.clone(),
                running_var: running_var.clone(),
                momentum: *momentum,
                eps: *eps,
            },
            Op::LayerNorm { gamma, beta, eps } => Op::LayerNorm {
                gamma: d(gamma),
                beta: d(beta),
                eps: *eps,
            },
            Op::Add => Op::Add,
            Op::Concat(axis) => Op::Concat(*axis),
            Op::Output => Op::Output,
        }
    }

    /// Creates the op and its parameters (named `<node id>.<param>`).
    pub(crate) fn build(
        layer: &Layer,
        id: &str,
        inputs: &[TensorShape],
        output: &TensorShape,
        store: &ParamStore,
    ) -> Result<Op> {
        let vb: VarBuilder = store.var_builder().pp(id);
        let zeros = Init::Const(0.0);
        Ok(match layer {
            Layer::Input { .. } => Op::Input,
            Layer::Dense { units, bias } => {
                let fan_in = *inputs[0].dims.last().expect("checked by shape inference");
                // PyTorch's default: uniform ±1/sqrt(fan_in) for weight and bias.
                let bound = 1.0 / (fan_in as f64).sqrt();
                let init = Init::Uniform {
                    lo: -bound,
                    up: bound,
                };
                let w = vb.get_with_hints((*units, fan_in), "weight", init)?;
                let b = bias
                    .then(|| vb.get_with_hints(*units, "bias", init))
                    .transpose()?;
                Op::Dense { w, b }
            }
            Layer::Embedding { vocab, dim } => Op::Embedding(vb.get_with_hints(
                (*vocab, *dim),
                "weight",
                Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
            )?),
            Layer::PositionalEmbedding { max_len } => {
                let d = inputs[0].dims[1];
                Op::PositionalEmbedding(vb.get_with_hints(
                    (*max_len, d),
                    "weight",
                    Init::Randn {
                        mean: 0.0,
                        stdev: 0.02,
                    },
                )?)
            }
            Layer::Lstm { hidden, sequences } | Layer::Gru { hidden, sequences } => {
                let f = inputs[0].dims[1];
                let gates = if matches!(layer, Layer::Lstm { .. }) {
                    4
                } else {
                    3
                };
                // PyTorch's recurrent initialisation: uniform ±1/sqrt(hidden) everywhere.
                let bound = 1.0 / (*hidden as f64).sqrt();
                let init = Init::Uniform {
                    lo: -bound,
                    up: bound,
                };
                let wx = vb.get_with_hints((gates * hidden, f), "weight_ih", init)?;
                let wh = vb.get_with_hints((gates * hidden, *hidden), "weight_hh", init)?;
                if gates == 4 {
                    Op::Lstm {
                        wx,
                        wh,
                        b: vb.get_with_hints(gates * hidden, "bias", init)?,
                        sequences: *sequences,
                    }
                } else {
                    Op::Gru {
                        wx,
                        wh,
                        bx: vb.get_with_hints(gates * hidden, "bias_ih", init)?,
                        bh: vb.get_with_hints(gates * hidden, "bias_hh", init)?,
                        sequences: *sequences,
                    }
                }
            }
            Layer::SelfAttention { heads, causal } => {
                let d = inputs[0].dims[1];
                let bound = 1.0 / (d as f64).sqrt();
                let init = Init::Uniform {
                    lo: -bound,
                    up: bound,
                };
                Op::Attention {
                    wqkv: vb.get_with_hints((3 * d, d), "qkv_weight", init)?,
                    bqkv: vb.get_with_hints(3 * d, "qkv_bias", init)?,
                    wo: vb.get_with_hints((d, d), "out_weight", init)?,
                    bo: vb.get_with_hints(d, "out_bias", init)?,
                    heads: *heads,
                    causal: *causal,
                }
            }
            Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                bias,
            } => {
                let c_in = inputs[0].dims[0];
                let fan_in = c_in * kernel * kernel;
                let bound = 1.0 / (fan_in as f64).sqrt();
                let init = Init::Uniform {
                    lo: -bound,
                    up: bound,
                };
                let w = vb.get_with_hints((*filters, c_in, *kernel, *kernel), "weight", init)?;
                let b = bias
                    .then(|| vb.get_with_hints(*filters, "bias", init))
                    .transpose()?;
                Op::Conv2d {
                    w,
                    b,
                    stride: *stride,
                    padding: *padding,
                }
            }
            Layer::MaxPool2d { kernel, stride } => Op::Pool {
                kind: PoolKind::Max,
                kernel: *kernel,
                stride: *stride,
            },
            Layer::AvgPool2d { kernel, stride } => Op::Pool {
                kind: PoolKind::Avg,
                kernel: *kernel,
                stride: *stride,
            },
            Layer::Flatten => Op::Flatten,
            Layer::Reshape { .. } => Op::Reshape(output.dims.clone()),
            Layer::ReLU => Op::Relu,
            Layer::LeakyReLU { slope } => Op::LeakyRelu(*slope as f64),
            Layer::Sigmoid => Op::Sigmoid,
            Layer::Tanh => Op::Tanh,
            Layer::GELU => Op::Gelu,
            Layer::Softmax => Op::Softmax,
            Layer::Dropout { p } => Op::Dropout(*p),
            Layer::BatchNorm { momentum, eps } => {
                let c = inputs[0].dims[0];
                let gamma = vb.get_with_hints(c, "weight", Init::Const(1.0))?;
                let beta = vb.get_with_hints(c, "bias", zeros)?;
                let running_mean = store.buffer(
                    &format!("{id}.running_mean"),
                    Tensor::zeros(c, store.dtype(), &Device::Cpu)?,
                )?;
                let running_var = store.buffer(
                    &format!("{id}.running_var"),
                    Tensor::ones(c, store.dtype(), &Device::Cpu)?,
                )?;
                Op::BatchNorm {
                    gamma,
                    beta,
                    running_mean,
                    running_var,
                    momentum: *momentum as f64,
                    eps: *eps as f64,
                }
            }
            Layer::LayerNorm { eps } => {
                let f = *inputs[0].dims.last().expect("checked by shape inference");
                Op::LayerNorm {
                    gamma: vb.get_with_hints(f, "weight", Init::Const(1.0))?,
                    beta: vb.get_with_hints(f, "bias", zeros)?,
                    eps: *eps as f64,
                }
            }
            Layer::Add { .. } => Op::Add,
            Layer::Concat { axis, .. } => {
                Op::Concat(concat_axis_with_batch(*axis, inputs[0].rank()))
            }
            Layer::Output { .. } => Op::Output,
        })
    }

    pub(crate) fn forward(&self, xs: &[&Tensor], ctx: &mut ForwardCtx) -> Result<Tensor> {
        let x = xs[0];
        match self {
            Op::Input | Op::Output => Ok(x.clone()),
            Op::Dense { w, b } => linear(x, w, b.as_ref()),
            Op::Embedding(w) => {
                let (bsz, t) = x.dims2()?;
                w.index_select(&x.flatten_all()?, 0)?.reshape((bsz, t, ()))
            }
            Op::PositionalEmbedding(table) => {
                let t = x.dim(1)?;
                x.broadcast_add(&table.narrow(0, 0, t)?)
            }
            Op::Lstm {
                wx,
                wh,
                b,
                sequences,
            } => lstm(x, wx, wh, b, *sequences),
            Op::Gru {
                wx,
                wh,
                bx,
                bh,
                sequences,
            } => gru(x, wx, wh, bx, bh, *sequences),
            Op::Attention {
                wqkv,
                bqkv,
                wo,
                bo,
                heads,
                causal,
            } => attention(x, wqkv, bqkv, wo, bo, *heads, *causal),
            Op::Conv2d {
                w,
                b,
                stride,
                padding,
            } => conv2d(x, w, b.as_ref(), *stride, *padding),
            Op::Pool {
                kind,
                kernel,
                stride,
            } => pool2d(x, *kind, *kernel, *stride),
            Op::Flatten => x.flatten_from(1),
            Op::Reshape(dims) => {
                let mut shape = vec![x.dim(0)?];
                shape.extend_from_slice(dims);
                x.reshape(shape)
            }
            Op::Relu => relu(x),
            Op::LeakyRelu(slope) => x.maximum(&(x * *slope)?),
            Op::Sigmoid => candle_nn::ops::sigmoid(x),
            Op::Tanh => x.tanh(),
            Op::Gelu => kernels::gelu(x),
            Op::Softmax => kernels::reference::softmax_last(x),
            Op::Dropout(p) => match (&mut ctx.rng, ctx.train && *p > 0.0) {
                (Some(rng), true) => {
                    let keep = 1.0 - *p;
                    let scale = 1.0 / keep;
                    let mask: Vec<f32> = (0..x.elem_count())
                        .map(|_| {
                            if rng.random::<f32>() < keep {
                                scale
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    x * Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?
                }
                _ => Ok(x.clone()),
            },
            Op::BatchNorm {
                gamma,
                beta,
                running_mean,
                running_var,
                momentum,
                eps,
            } => batch_norm(
                x,
                gamma,
                beta,
                running_mean,
                running_var,
                *momentum,
                *eps,
                ctx.train,
            ),
            Op::LayerNorm { gamma, beta, eps } => layer_norm(x, gamma, beta, *eps),
            Op::Add => {
                let mut acc = x.clone();
                for other in &xs[1..] {
                    acc = (acc + *other)?;
                }
                Ok(acc)
            }
            Op::Concat(axis) => Tensor::cat(xs, *axis),
        }
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

fn lstm(x: &Tensor, wx: &Tensor, wh: &Tensor, b: &Tensor, sequences: bool) -> Result<Tensor> {
    let hs = if x.dtype() == candle_core::DType::F32 {
        kernels::lstm(x, wx, wh, b)?
    } else {
        kernels::reference::lstm(x, wx, wh, b)?
    };
    last_or_all(hs, sequences)
}

fn gru(
    x: &Tensor,
    wx: &Tensor,
    wh: &Tensor,
    bx: &Tensor,
    bh: &Tensor,
    sequences: bool,
) -> Result<Tensor> {
    let hs = if x.dtype() == candle_core::DType::F32 {
        kernels::gru(x, wx, wh, bx, bh)?
    } else {
        kernels::reference::gru(x, wx, wh, bx, bh)?
    };
    last_or_all(hs, sequences)
}

#[allow(clippy::too_many_arguments)]
fn attention(
    x: &Tensor,
    wqkv: &Tensor,
    bqkv: &Tensor,
    wo: &Tensor,
    bo: &Tensor,
    heads: usize,
    causal: bool,
) -> Result<Tensor> {
    let qkv = linear_seq(x, wqkv, bqkv)?;
    let y = if x.dtype() == candle_core::DType::F32 {
        kernels::attention(&qkv, heads, causal)?
    } else {
        kernels::reference::attention(&qkv, heads, causal)?
    };
    linear_seq(&y, wo, bo)
}

pub(crate) fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    if x.dtype() == candle_core::DType::F32 {
        kernels::layer_norm(x, gamma, beta, eps)
    } else {
        kernels::reference::layer_norm(x, gamma, beta, eps)
    }
}

#[allow(clippy::too_many_arguments)]
fn batch_norm(
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
