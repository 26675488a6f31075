//! Layer → op: each layer's parameters, created with PyTorch's default initialisation and
//! named `<node id>.<param>` so weight files read like a PyTorch state dict.

use super::kernels::PoolKind;
use super::layers::Op;
use super::params::ParamStore;
use crate::graph::{concat_axis_with_batch, Layer, TensorShape};
use candle_core::{Device, Result, Tensor};
use candle_nn::{Init, VarBuilder};

impl Op {
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
            Layer::Noise { .. } => Op::Noise,
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
            Layer::Lstm { hidden, sequences }
            | Layer::Gru { hidden, sequences }
            | Layer::Rnn { hidden, sequences } => {
                let f = inputs[0].dims[1];
                let gates = match layer {
                    Layer::Lstm { .. } => 4,
                    Layer::Gru { .. } => 3,
                    _ => 1,
                };
                // PyTorch's recurrent initialisation: uniform ±1/sqrt(hidden) everywhere.
                let bound = 1.0 / (*hidden as f64).sqrt();
                let init = Init::Uniform {
                    lo: -bound,
                    up: bound,
                };
                let wx = vb.get_with_hints((gates * hidden, f), "weight_ih", init)?;
                let wh = vb.get_with_hints((gates * hidden, *hidden), "weight_hh", init)?;
                if gates == 1 {
                    Op::Rnn {
                        wx,
                        wh,
                        b: vb.get_with_hints(*hidden, "bias", init)?,
                        sequences: *sequences,
                    }
                } else if gates == 4 {
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
            Layer::ConvTranspose2d {
                filters,
                kernel,
                stride,
                padding,
                output_padding,
                bias,
            } => {
                let c_in = inputs[0].dims[0];
                // PyTorch's default for ConvTranspose2d: fan_in counted over the weight's
                // second axis (the output channels).
                let bound = 1.0 / ((filters * kernel * kernel) as f64).sqrt();
                let init = Init::Uniform {
                    lo: -bound,
                    up: bound,
                };
                let w = vb.get_with_hints((c_in, *filters, *kernel, *kernel), "weight", init)?;
                let b = bias
                    .then(|| vb.get_with_hints(*filters, "bias", init))
                    .transpose()?;
                Op::ConvTranspose2d {
                    w,
                    b,
                    stride: *stride,
                    padding: *padding,
                    output_padding: *output_padding,
                }
            }
            Layer::Conv1d {
                filters,
                kernel,
                stride,
                padding,
                bias,
            } => {
                let c_in = inputs[0].dims[1];
                let bound = 1.0 / ((c_in * kernel) as f64).sqrt();
                let init = Init::Uniform {
                    lo: -bound,
                    up: bound,
                };
                let w = vb.get_with_hints((*filters, c_in, *kernel), "weight", init)?;
                let b = bias
                    .then(|| vb.get_with_hints(*filters, "bias", init))
                    .transpose()?;
                Op::Conv1d {
                    w,
                    b,
                    stride: *stride,
                    padding: *padding,
                }
            }
            Layer::GlobalAvgPool => Op::GlobalPool(PoolKind::Avg),
            Layer::GlobalMaxPool => Op::GlobalPool(PoolKind::Max),
            Layer::Sampling { beta } => Op::Sampling(*beta as f64),
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
            Layer::Upsample2d { scale, mode } => {
                let [_, h, w] = inputs[0].dims[..] else {
                    candle_core::bail!("Upsample2d reads an image [C, H, W]");
                };
                let (rows, cols_t) =
                    super::upsample::matrices((h, w), *scale, *mode, store.dtype())?;
                Op::Upsample { rows, cols_t }
            }
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
                    fixed: false,
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
}
