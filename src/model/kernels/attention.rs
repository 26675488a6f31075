//! Multi-head self-attention core as one op: from the packed projections qkv [B, T, 3D] to the
//! mixed values [B, T, D], with scores, (causal) softmax and the value mix per head read and
//! written in place through strides: no permute copies, and a backward that reuses the saved
//! attention weights.

use super::gemm::{f32_slice, matmul, matmul_rows, threads, with_f32, View};
use super::linear;
use super::simd::{softmax_rows, softmax_rows_backward};
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Device, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;
use std::sync::Mutex;

pub struct Attention {
    heads: usize,
    causal: bool,
    /// Softmax weights [B, heads, T, T].
    probs: Mutex<Vec<f32>>,
}

struct Dims {
    b: usize,
    t: usize,
    d: usize,
    hd: usize,
    nh: usize,
}

impl Dims {
    /// Head `h` of q (`part` 0), k (1) or v (2) in one sample's packed qkv [T, 3D], as [T, hd].
    fn head<'a>(&self, qkv: &'a [f32], part: usize, h: usize) -> View<'a> {
        View::strided(&qkv[part * self.d + h * self.hd..], 3 * self.d)
    }
}

impl Attention {
    fn dims(&self, shape: &[usize]) -> Result<Dims> {
        let &[b, t, d3] = shape else {
            candle_core::bail!("attention expects qkv [B, T, 3D], got {shape:?}");
        };
        let d = d3 / 3;
        if d3 % 3 != 0 || d % self.heads != 0 {
            candle_core::bail!(
                "attention: {d3} values per step do not split into q, k, v of {} heads",
                self.heads
            );
        }
        Ok(Dims {
            b,
            t,
            d,
            hd: d / self.heads,
            nh: self.heads,
        })
    }

    /// One sample: scores, softmax and mix for every head; fills `probs` [nh, T, T] and `y` [T, D].
    fn forward_sample(&self, g: &Dims, qkv: &[f32], probs: &mut [f32], y: &mut [f32]) {
        let (t, d, hd) = (g.t, g.d, g.hd);
        let scale = 1.0 / (hd as f32).sqrt();
        for h in 0..g.nh {
            let q = g.head(qkv, 0, h);
            let kt = g.head(qkv, 1, h).t();
            let p = &mut probs[h * t * t..(h + 1) * t * t];
            matmul(t, t, hd, q, kt, p, false, Parallelism::None);
            softmax_rows(p, t, scale, self.causal);
            let v = g.head(qkv, 2, h);
            matmul_rows(
                t,
                hd,
                t,
                View::rows(p, t),
                v,
                &mut y[h * hd..],
                d,
                false,
                Parallelism::None,
            );
        }
    }

    fn backward_sample(
        &self,
        g: &Dims,
        qkv: &[f32],
        probs: &[f32],
        dy: &[f32],
        dqkv: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        let (t, d, hd) = (g.t, g.d, g.hd);
        let scale = 1.0 / (hd as f32).sqrt();
        scratch.resize(t * t, 0.0);
        for h in 0..g.nh {
            let p = &probs[h * t * t..(h + 1) * t * t];
            let d_out = View::strided(&dy[h * hd..], d);
            // dV = Pᵀ · dO
            matmul_rows(
                t,
                hd,
                t,
                View::transposed(p, t),
                d_out,
                &mut dqkv[2 * d + h * hd..],
                3 * d,
                false,
                Parallelism::None,
            );
            // dP = dO · Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale
            let vt = g.head(qkv, 2, h).t();
            let ds = &mut scratch[..t * t];
            matmul(t, t, hd, d_out, vt, ds, false, Parallelism::None);
            softmax_rows_backward(p, ds, t, scale);
            // dQ = dS · K, dK = dSᵀ · Q
            let k = g.head(qkv, 1, h);
            let q = g.head(qkv, 0, h);
            matmul_rows(
                t,
                hd,
                t,
                View::rows(ds, t),
                k,
                &mut dqkv[h * hd..],
                3 * d,
                false,
                Parallelism::None,
            );
            matmul_rows(
                t,
                hd,
                t,
                View::transposed(ds, t),
                q,
                &mut dqkv[d + h * hd..],
                3 * d,
                false,
                Parallelism::None,
            );
        }
    }
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "glassbox-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(self.name());
        let g = self.dims(l.dims())?;
        let y = self.forward_all(&g, f32_slice(s, l)?);
        Ok((CpuStorage::F32(y), Shape::from((g.b, g.t, g.d))))
    }

    fn bwd(&self, qkv: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let _timed = crate::model::profile::backward(self.name());
        let g = self.dims(qkv.dims())?;
        let dqkv = self.backward_all(&g, qkv, grad)?;
        Ok(Some(Tensor::from_vec(dqkv, qkv.shape(), qkv.device())?))
    }
}

impl Attention {
    /// Every sample's heads, on the pool's threads: y [B, T, D], keeping the weights.
    fn forward_all(&self, g: &Dims, qkv: &[f32]) -> Vec<f32> {
        let (t, d) = (g.t, g.d);
        let mut probs = vec![0f32; g.b * g.nh * t * t];
        let mut y = vec![0f32; g.b * t * d];
        let work =
            |((x, p), out): ((&[f32], &mut [f32]), &mut [f32])| self.forward_sample(g, x, p, out);
        let items = qkv
            .chunks(t * 3 * d)
            .zip(probs.chunks_mut(g.nh * t * t))
            .zip(y.chunks_mut(t * d));
        if threads() > 1 && g.b > 1 {
            items.collect::<Vec<_>>().into_par_iter().for_each(work);
        } else {
            items.for_each(work);
        }
        *self.probs.lock().unwrap_or_else(|e| e.into_inner()) = probs;
        y
    }

    /// dqkv [B, T, 3D] from the mixed values' gradient, with the weights the forward kept.
    fn backward_all(&self, g: &Dims, qkv: &Tensor, grad: &Tensor) -> Result<Vec<f32>> {
        let (t, d) = (g.t, g.d);
        let probs = std::mem::take(&mut *self.probs.lock().unwrap_or_else(|e| e.into_inner()));
        if probs.len() != g.b * g.nh * t * t {
            candle_core::bail!("attention backward without its forward");
        }
        with_f32(qkv, |x| {
            with_f32(grad, |dy| {
                let mut dqkv = vec![0f32; g.b * t * 3 * d];
                let items = x
                    .chunks(t * 3 * d)
                    .zip(probs.chunks(g.nh * t * t))
                    .zip(dy.chunks(t * d))
                    .zip(dqkv.chunks_mut(t * 3 * d));
                type Item<'a> = (((&'a [f32], &'a [f32]), &'a [f32]), &'a mut [f32]);
                let work = |(((x, p), dy), out): Item, scratch: &mut Vec<f32>| {
                    self.backward_sample(g, x, p, dy, out, scratch)
                };
                if threads() > 1 && g.b > 1 {
                    items
                        .collect::<Vec<_>>()
                        .into_par_iter()
                        .for_each_init(Vec::new, |s, it| work(it, s));
                } else {
                    let mut scratch = Vec::new();
                    items.for_each(|it| work(it, &mut scratch));
                }
                dqkv
            })
        })?
    }
}

/// The qkv projection and the attention core as one op, from x [B, T, D]: the packed
/// projections [B, T, 3D] and their gradient never become nodes of candle's graph, which
/// would fill a zero tensor of that size and add the gradient into it (see `linear_gelu`).
struct ProjectedAttention {
    core: Attention,
    /// x·W_qkvᵀ + b, kept for the backward.
    qkv: Mutex<Option<Tensor>>,
}

impl CustomOp3 for ProjectedAttention {
    fn name(&self) -> &'static str {
        "glassbox-qkv-attention"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(self.name());
        let (qkv, shape) = linear::forward_with_bias((xs, xl), (ws, wl), (bs, bl))?;
        let g = self.core.dims(shape.dims())?;
        let y = self.core.forward_all(&g, &qkv);
        *self.qkv.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Tensor::from_vec(qkv, shape, &Device::Cpu)?);
        Ok((CpuStorage::F32(y), Shape::from((g.b, g.t, g.d))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let _timed = crate::model::profile::backward(self.name());
        let qkv = self.qkv.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(qkv) = qkv else {
            candle_core::bail!("attention backward without its forward");
        };
        let g = self.core.dims(qkv.dims())?;
        let dqkv = self.core.backward_all(&g, &qkv, grad)?;
        let dqkv = Tensor::from_vec(dqkv, qkv.shape(), qkv.device())?;
        linear::backward_with_bias(x, w, b, &dqkv)
    }
}

/// Self-attention with its qkv projection, x [B, T, D] · W_qkvᵀ + b → [B, T, D] (before the
/// output projection), as one op.
pub fn projected_attention(
    x: &Tensor,
    wqkv: &Tensor,
    bqkv: &Tensor,
    heads: usize,
    causal: bool,
) -> Result<Tensor> {
    let op = ProjectedAttention {
        core: Attention {
            heads,
            causal,
            probs: Mutex::new(Vec::new()),
        },
        qkv: Mutex::new(None),
    };
    x.contiguous()?
        .apply_op3(&wqkv.contiguous()?, &bqkv.contiguous()?, op)
}

/// Self-attention over packed projections `qkv` [B, T, 3D] with `heads` heads → [B, T, D].
pub fn attention(qkv: &Tensor, heads: usize, causal: bool) -> Result<Tensor> {
    qkv.contiguous()?.apply_op1(Attention {
        heads,
        causal,
        probs: Mutex::new(Vec::new()),
    })
}
