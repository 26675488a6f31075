//! 2-D max and average pooling with their own backward pass.
//!
//! candle 0.11's max-pool backward scales the gradient by (number of maxima) / kernel² instead of
//! 1 / (number of maxima), so for the usual single maximum it is k² too small (the gradient check
//! in tests/gradients.rs caught it), and it cannot do overlapping windows at all. This op saves
//! the argmax of every window in the forward pass and scatters the gradient back through it.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

pub struct Pool2d {
    kind: PoolKind,
    kernel: usize,
    stride: usize,
    /// Input dims, and for max pooling the flat input index chosen by each output.
    saved: Mutex<Option<(Vec<usize>, Vec<u32>)>>,
}

/// Pools `x` [B, C, H, W] with a `kernel`×`kernel` window every `stride` pixels (floor mode).
pub fn pool2d(x: &Tensor, kind: PoolKind, kernel: usize, stride: usize) -> Result<Tensor> {
    let x = x.contiguous()?;
    x.apply_op1(Pool2d {
        kind,
        kernel,
        stride,
        saved: Mutex::new(None),
    })
}

fn out_size(size: usize, kernel: usize, stride: usize) -> usize {
    (size - kernel) / stride + 1
}

/// 2×2 max pooling with stride 2 on f32, the common case: a comparison tree the compiler turns
/// into branch-free code, 10× faster than the general loop on random data.
fn max2x2(x: &[f32], planes: usize, h: usize, w: usize) -> (Vec<f32>, Vec<u32>) {
    let (oh, ow) = (h / 2, w / 2);
    let n = planes * oh * ow;
    let mut out = vec![0f32; n];
    let mut arg = vec![0u32; n];
    // Planes `first..` into `out` and `arg`, as many as they hold.
    let fill = |first: usize, out: &mut [f32], arg: &mut [u32]| {
        let mut o = 0;
        for p in first..first + out.len() / (oh * ow).max(1) {
            let plane = &x[p * h * w..(p + 1) * h * w];
            for oy in 0..oh {
                let row0 = &plane[2 * oy * w..(2 * oy + 1) * w];
                let row1 = &plane[(2 * oy + 1) * w..(2 * oy + 2) * w];
                let base = (p * h * w + 2 * oy * w) as u32;
                for ox in 0..ow {
                    let c = 2 * ox;
                    let (a, b, cc, d) = (row0[c], row0[c + 1], row1[c], row1[c + 1]);
                    let (m1, i1) = if b > a { (b, 1u32) } else { (a, 0) };
                    let (m2, i2) = if d > cc {
                        (d, w as u32 + 1)
                    } else {
                        (cc, w as u32)
                    };
                    let (mut m, mut i) = if m2 > m1 { (m2, i2) } else { (m1, i1) };
                    // NaN wins, so divergence shows instead of hiding behind a max.
                    if m.is_nan() | a.is_nan() | b.is_nan() | cc.is_nan() | d.is_nan() {
                        (m, i) = [(a, 0), (b, 1), (cc, w as u32), (d, w as u32 + 1)]
                            .into_iter()
                            .find(|(v, _)| v.is_nan())
                            .unwrap_or((m, i));
                    }
                    out[o] = m;
                    arg[o] = base + c as u32 + i;
                    o += 1;
                }
            }
        }
    };
    match plane_chunks(planes, h * w) {
        None => fill(0, &mut out, &mut arg),
        Some(per) => out
            .par_chunks_mut(per * oh * ow)
            .zip(arg.par_chunks_mut(per * oh * ow))
            .enumerate()
            .for_each(|(k, (out, arg))| fill(k * per, out, arg)),
    }
    (out, arg)
}

/// Planes per thread's share when an input of `planes` planes of `plane` elements is large
/// enough to split, else None.
fn plane_chunks(planes: usize, plane: usize) -> Option<usize> {
    super::activation::element_chunks(planes * plane)
        .map(|_| planes.div_ceil(super::gemm::threads()))
}

/// The max-pool gradient: each output's gradient `g` added at the input index `argmax` chose,
/// into `grad_in` [planes, plane]; split by planes across threads when large.
fn scatter_max(argmax: &[u32], g: &[f32], grad_in: &mut [f32], planes: usize) {
    let (plane, per_out) = (grad_in.len() / planes.max(1), argmax.len() / planes.max(1));
    match plane_chunks(planes, plane) {
        None => {
            for (&i, &v) in argmax.iter().zip(g) {
                grad_in[i as usize] += v;
            }
        }
        Some(per) => grad_in
            .par_chunks_mut(per * plane)
            .zip(
                argmax
                    .par_chunks(per * per_out)
                    .zip(g.par_chunks(per * per_out)),
            )
            .enumerate()
            .for_each(|(k, (dst, (idx, g)))| {
                let base = k * per * plane;
                for (&i, &v) in idx.iter().zip(g) {
                    dst[i as usize - base] += v;
                }
            }),
    }
}

impl Pool2d {
    fn forward<T: WithDType + PartialOrd>(
        &self,
        x: &[T],
        dims: &[usize],
    ) -> Result<(Vec<T>, Vec<u32>)> {
        let (n, c, h, w) = (dims[0], dims[1], dims[2], dims[3]);
        let (k, s) = (self.kernel, self.stride);
        if h < k || w < k {
            candle_core::bail!("pool window {k}×{k} is larger than the input {h}×{w}");
        }
        let (oh, ow) = (out_size(h, k, s), out_size(w, k, s));
        let mut out = Vec::with_capacity(n * c * oh * ow);
        let mut argmax = Vec::with_capacity(if self.kind == PoolKind::Max {
            out.capacity()
        } else {
            0
        });
        let inv = T::from_f64(1.0 / (k * k) as f64);
        for plane in 0..n * c {
            let base = plane * h * w;
            for oy in 0..oh {
                for ox in 0..ow {
                    let (y0, x0) = (oy * s, ox * s);
                    match self.kind {
                        PoolKind::Max => {
                            let mut best = base + y0 * w + x0;
                            for dy in 0..k {
                                let row = base + (y0 + dy) * w + x0;
                                for i in row..row + k {
                                    // NaN wins (x != x), so divergence shows instead of hiding
                                    // behind a max.
                                    #[allow(clippy::eq_op)]
                                    let nan = x[i] != x[i];
                                    if x[i] > x[best] || nan {
                                        best = i;
                                    }
                                }
                            }
                            out.push(x[best]);
                            argmax.push(best as u32);
                        }
                        PoolKind::Avg => {
                            let mut sum = T::zero();
                            for dy in 0..k {
                                let row = base + (y0 + dy) * w + x0;
                                for v in &x[row..row + k] {
                                    sum += *v;
                                }
                            }
                            out.push(sum * inv);
                        }
                    }
                }
            }
        }
        Ok((out, argmax))
    }
}

impl CustomOp1 for Pool2d {
    fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "glassbox-max-pool2d",
            PoolKind::Avg => "glassbox-avg-pool2d",
        }
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(self.name());
        let dims = layout.dims().to_vec();
        if dims.len() != 4 || !layout.is_contiguous() {
            candle_core::bail!("pool2d expects a contiguous [B, C, H, W] tensor, got {dims:?}");
        }
        let start = layout.start_offset();
        let len = layout.shape().elem_count();
        let (out, argmax) = match storage {
            CpuStorage::F32(v)
                if self.kind == PoolKind::Max
                    && self.kernel == 2
                    && self.stride == 2
                    && dims[2] >= 2
                    && dims[3] >= 2 =>
            {
                let (o, a) = max2x2(&v[start..start + len], dims[0] * dims[1], dims[2], dims[3]);
                (CpuStorage::F32(o), a)
            }
            CpuStorage::F32(v) => {
                let (o, a) = self.forward(&v[start..start + len], &dims)?;
                (CpuStorage::F32(o), a)
            }
            CpuStorage::F64(v) => {
                let (o, a) = self.forward(&v[start..start + len], &dims)?;
                (CpuStorage::F64(o), a)
            }
            _ => candle_core::bail!("pool2d supports f32 and f64"),
        };
        let (k, s) = (self.kernel, self.stride);
        let shape = Shape::from((
            dims[0],
            dims[1],
            out_size(dims[2], k, s),
            out_size(dims[3], k, s),
        ));
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some((dims, argmax));
        Ok((out, shape))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let _timed = crate::model::profile::backward(self.name());
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let Some((dims, argmax)) = saved.as_ref() else {
            candle_core::bail!("pool2d backward before forward");
        };
        let dtype = arg.dtype();
        if dtype == candle_core::DType::F32 && self.kind == PoolKind::Max {
            // The training path: scatter the f32 gradient straight through the saved argmax.
            let mut grad_in = vec![0f32; dims.iter().product()];
            super::gemm::with_f32(grad_res, |g| {
                scatter_max(argmax, g, &mut grad_in, dims[0] * dims[1]);
            })?;
            return Ok(Some(Tensor::from_vec(grad_in, dims.clone(), arg.device())?));
        }
        let g: Vec<f64> = grad_res
            .to_dtype(candle_core::DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let mut grad_in = vec![0f64; dims.iter().product()];
        let (h, w) = (dims[2], dims[3]);
        let (_, _, oh, ow) = res.dims4()?;
        let (k, s) = (self.kernel, self.stride);
        match self.kind {
            PoolKind::Max => {
                for (o, &i) in argmax.iter().enumerate() {
                    grad_in[i as usize] += g[o];
                }
            }
            PoolKind::Avg => {
                let inv = 1.0 / (k * k) as f64;
                for (o, go) in g.iter().enumerate() {
                    let plane = o / (oh * ow);
                    let (oy, ox) = ((o / ow) % oh, o % ow);
                    let base = plane * h * w;
                    for dy in 0..k {
                        let row = base + (oy * s + dy) * w + ox * s;
                        for v in &mut grad_in[row..row + k] {
                            *v += go * inv;
                        }
                    }
                }
            }
        }
        let t = Tensor::from_vec(grad_in, dims.clone(), arg.device())?.to_dtype(dtype)?;
        Ok(Some(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::{assert_close, filled, pool_of_all_threads};

    /// On a pool of every thread a large 2×2 max-pool is split by planes: each window's
    /// maximum (the first of equals) and its index, and the gradient scattered through them,
    /// are the plain loops' (a plane shifted by one in either half would show).
    #[test]
    fn max_pool_split_across_threads_is_the_plain_loop() {
        let pool = pool_of_all_threads("the split max-pool");
        let (planes, h, w) = (41, 64, 62);
        let x = filled(&[planes * h * w], 3).to_vec1::<f32>().unwrap();
        let g = filled(&[planes * (h / 2) * (w / 2)], 4)
            .to_vec1::<f32>()
            .unwrap();
        let ((out, arg), grad, split) = pool.install(|| {
            let (out, arg) = max2x2(&x, planes, h, w);
            let mut grad = vec![0f32; x.len()];
            scatter_max(&arg, &g, &mut grad, planes);
            ((out, arg), grad, plane_chunks(planes, h * w).is_some())
        });
        assert!(split, "the pool ran the max-pool on one thread");
        let mut o = 0;
        let mut want_grad = vec![0f32; x.len()];
        for p in 0..planes {
            for oy in 0..h / 2 {
                for ox in 0..w / 2 {
                    let at = |dy: usize, dx: usize| p * h * w + (2 * oy + dy) * w + 2 * ox + dx;
                    let window = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                    let best = window
                        .into_iter()
                        .fold(window[0], |b, i| if x[i] > x[b] { i } else { b });
                    assert_eq!((out[o], arg[o] as usize), (x[best], best), "window {o}");
                    want_grad[best] += g[o];
                    o += 1;
                }
            }
        }
        assert_close("max-pool gradient", &grad, &want_grad, 0.0, 0.5);
    }
}
