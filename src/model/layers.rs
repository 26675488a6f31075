//! Each layer kind as candle operations: the kernels in `kernels` for f32, and for other dtypes
//! (the f64 finite-difference checks) `kernels::reference`, whose ops all have a backward pass
//! (candle_nn's fused LayerNorm and `softmax_last_dim` do not, so they are written out).

use candle_core::{Result, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::compute::{attention, batch_norm, global_pool, gru, layer_norm, lstm, rnn, sampling};
use super::kernels::{self, conv1d_seq, conv2d, conv_transpose2d, linear, pool2d, relu, PoolKind};

/// Per-forward state: training or evaluation, the seeded generator for dropout and sampling,
/// and the terms layers add to the loss (a VAE's KL divergence).
pub struct ForwardCtx<'a> {
    pub train: bool,
    pub rng: Option<&'a mut ChaCha8Rng>,
    pub penalties: Vec<Tensor>,
    /// Recurrent layers start from (and leave behind) the state of the previous window.
    pub carry: Option<&'a mut super::carry::CarriedState>,
    /// Every layer's output a node of the autograd graph, so none runs fused with the
    /// activation after it (whose pre-activation is then a plain copy): for differentiating
    /// a hidden layer's output (activation maximisation).
    pub unfused: bool,
}

impl<'a> ForwardCtx<'a> {
    pub fn eval() -> ForwardCtx<'static> {
        ForwardCtx {
            train: false,
            rng: None,
            penalties: Vec::new(),
            carry: None,
            unfused: false,
        }
    }

    /// Evaluation with every layer's output differentiable (see `unfused`).
    pub fn eval_unfused() -> ForwardCtx<'static> {
        ForwardCtx {
            unfused: true,
            ..Self::eval()
        }
    }

    /// Training mode; `rng` drives dropout and sampling (None: neither draws anything).
    pub fn train(rng: Option<&'a mut ChaCha8Rng>) -> Self {
        ForwardCtx {
            train: true,
            rng,
            penalties: Vec::new(),
            carry: None,
            unfused: false,
        }
    }

    /// The sum of the penalties the layers added, or None.
    pub fn penalty(&self) -> Result<Option<Tensor>> {
        let mut it = self.penalties.iter();
        let Some(first) = it.next() else {
            return Ok(None);
        };
        it.try_fold(first.clone(), |acc, p| acc + p).map(Some)
    }
}

pub(crate) enum Op {
    Input,
    /// Standard normal noise shaped like its output (the batch comes from the run's input).
    Noise,
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
    Rnn {
        wx: Tensor,
        wh: Tensor,
        b: Tensor,
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
    ConvTranspose2d {
        w: Tensor,
        b: Option<Tensor>,
        stride: usize,
        padding: usize,
        output_padding: usize,
    },
    Conv1d {
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
    GlobalPool(PoolKind),
    /// y = rows · x · cols_t per channel (`upsample.rs`).
    Upsample {
        rows: Tensor,
        cols_t: Tensor,
    },
    Sampling(f64),
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
        /// Frozen: normalise with the running statistics and leave them as they are.
        fixed: bool,
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
    /// Whether this op and the activation reading only its output can run as one op
    /// (`forward_with_activation`): a dense layer and GELU, a convolution and ReLU.
    pub(crate) fn fuses_with_activation(&self, next: &Op) -> bool {
        matches!(
            (self, next),
            (Op::Dense { b: Some(_), .. }, Op::Gelu) | (Op::Conv2d { b: Some(_), .. }, Op::Relu)
        )
    }

    /// This layer and the activation after it in one op: (the activation's output, this
    /// layer's). `None` where the fused kernel does not apply (the f64 path).
    pub(crate) fn forward_with_activation(
        &self,
        x: &Tensor,
    ) -> candle_core::Result<Option<(Tensor, Tensor)>> {
        match self {
            Op::Dense { w, b: Some(b) } => kernels::linear_gelu(x, w, b),
            Op::Conv2d {
                w,
                b: Some(b),
                stride,
                padding,
            } => kernels::conv2d_relu(x, w, b, *stride, *padding),
            _ => Ok(None),
        }
    }

    /// For a frozen node: a BatchNorm keeps its running statistics (the weights are kept by
    /// leaving them out of the optimiser).
    pub(crate) fn freeze_statistics(&mut self) {
        if let Op::BatchNorm { fixed, .. } = self {
            *fixed = true;
        }
    }

    /// The same op reading detached copies of its parameters: gradients then flow only to the
    /// input (saliency, activation maximisation), and no parameter gradient is computed.
    pub(crate) fn frozen(&self) -> Op {
        let d = |t: &Tensor| t.detach();
        let db = |t: &Option<Tensor>| t.as_ref().map(Tensor::detach);
        match self {
            Op::Input => Op::Input,
            Op::Noise => Op::Noise,
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
            Op::Rnn {
                wx,
                wh,
                b,
                sequences,
            } => Op::Rnn {
                wx: d(wx),
                wh: d(wh),
                b: d(b),
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
            Op::ConvTranspose2d {
                w,
                b,
                stride,
                padding,
                output_padding,
            } => Op::ConvTranspose2d {
                w: d(w),
                b: db(b),
                stride: *stride,
                padding: *padding,
                output_padding: *output_padding,
            },
            Op::Conv1d {
                w,
                b,
                stride,
                padding,
            } => Op::Conv1d {
                w: d(w),
                b: db(b),
                stride: *stride,
                padding: *padding,
            },
            Op::GlobalPool(kind) => Op::GlobalPool(*kind),
            Op::Upsample { rows, cols_t } => Op::Upsample {
                rows: rows.clone(),
                cols_t: cols_t.clone(),
            },
            Op::Sampling(beta) => Op::Sampling(*beta),
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
                fixed,
            } => Op::BatchNorm {
                gamma: d(gamma),
                beta: d(beta),
                running_mean: running_mean.clone(),
                running_var: running_var.clone(),
                momentum: *momentum,
                eps: *eps,
                fixed: *fixed,
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

    pub(crate) fn forward(&self, xs: &[&Tensor], ctx: &mut ForwardCtx) -> Result<Tensor> {
        let Some(&x) = xs.first() else {
            candle_core::bail!(
                "a Noise node feeds only a GAN's generator (set the training mode to GAN)"
            );
        };
        match self {
            Op::Input | Op::Output => Ok(x.clone()),
            Op::Noise => candle_core::bail!("a Noise node has no input to read"),
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
            Op::Rnn {
                wx,
                wh,
                b,
                sequences,
            } => rnn(x, wx, wh, b, *sequences),
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
            Op::Upsample { rows, cols_t } => super::upsample::upsample(x, rows, cols_t),
            Op::ConvTranspose2d {
                w,
                b,
                stride,
                padding,
                output_padding,
            } => conv_transpose2d(x, w, b.as_ref(), *stride, *padding, *output_padding),
            Op::Conv1d {
                w,
                b,
                stride,
                padding,
            } => conv1d_seq(x, w, b.as_ref(), *stride, *padding),
            Op::GlobalPool(kind) => global_pool(x, *kind),
            Op::Sampling(beta) => {
                let (z, kl) = sampling(x, ctx.train, ctx.rng.as_deref_mut())?;
                if ctx.train && *beta > 0.0 {
                    ctx.penalties.push((kl * *beta)?);
                }
                Ok(z)
            }
            Op::Flatten => x.flatten_from(1),
            Op::Reshape(dims) => {
                let mut shape = vec![x.dim(0)?];
                shape.extend_from_slice(dims);
                x.reshape(shape)
            }
            Op::Relu => relu(x),
            Op::LeakyRelu(slope) => kernels::leaky_relu(x, *slope as f32),
            Op::Sigmoid => kernels::sigmoid(x),
            Op::Tanh => kernels::tanh(x),
            Op::Gelu => kernels::gelu(x),
            Op::Softmax => kernels::reference::softmax_last(x),
            Op::Dropout(p) => match (&mut ctx.rng, ctx.train && *p > 0.0) {
                (Some(rng), true) => kernels::dropout(x, kernels::DropMask::new(*p, rng.random())),
                _ => Ok(x.clone()),
            },
            Op::BatchNorm {
                gamma,
                beta,
                running_mean,
                running_var,
                momentum,
                eps,
                fixed,
            } => batch_norm(
                x,
                gamma,
                beta,
                running_mean,
                running_var,
                *momentum,
                *eps,
                ctx.train && !fixed,
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
