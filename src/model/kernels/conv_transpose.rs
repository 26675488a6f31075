//! Transposed 2-D convolution (the decoder's upsampling layer) on the convolution kernel: its
//! forward pass is a convolution's input gradient, its input gradient is a convolution, and its
//! weight gradient is a convolution's weight gradient with the roles of input and output swapped.
//! Weights are laid out as PyTorch's ConvTranspose2d: [C_in, C_out, K, K].

use super::conv::{Buffers, Geometry};
use super::conv_unfold::{apart, side_by_side};
use super::gemm::{f32_slice, matmul, parallelism, threads, with_f32, View};
use crate::graph::conv_transpose_out;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

pub struct ConvTranspose2d {
    stride: usize,
    padding: usize,
    output_padding: usize,
}

impl ConvTranspose2d {
    /// The convolution that maps this op's output back to its input: x [B, C_in, H, W] and
    /// w [C_in, C_out, K, K] give a convolution from [B, C_out, OH, OW] to [B, C_in, H, W].
    fn geometry(&self, x: &[usize], w: &[usize]) -> Result<Geometry> {
        let ([batch, c_in, h, wd], [c_in2, c_out, k, k2]) = (x, w) else {
            candle_core::bail!(
                "conv_transpose2d expects x [B, C, H, W] and w [C, F, K, K], got {x:?} and {w:?}"
            );
        };
        let (s, p, op) = (self.stride, self.padding, self.output_padding);
        let out = |n: usize| conv_transpose_out(n, *k, s, p, op).filter(|&o| o > 0);
        let (Some(oh), Some(ow)) = (out(*h), out(*wd)) else {
            candle_core::bail!("conv_transpose2d kernel {k} with stride {s} and padding {p} gives no output for {x:?}");
        };
        if c_in != c_in2 || k != k2 || op >= s.max(1) {
            candle_core::bail!("conv_transpose2d weight {w:?} does not fit input {x:?}");
        }
        let g = Geometry::new(&[*batch, *c_out, oh, ow], w, (s, s), (p, p))?;
        if g.oh != *h || g.ow != *wd {
            candle_core::bail!("conv_transpose2d sizes {x:?} and {w:?} do not round-trip");
        }
        Ok(g)
    }

    /// The transposed convolution of a batch, [`Geometry::group`] samples per product.
    fn forward(&self, g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let (rows, cols) = (g.rows(), g.cols());
        let (per_in, per_out, n) = (g.f * cols, g.c * g.h * g.w, g.group());
        let mut out = vec![0f32; g.batch * per_out];
        let one = |(x_g, y_g): (&[f32], &mut [f32]), bufs: &mut Buffers, par: Parallelism| {
            let k = y_g.len() / per_out;
            let (joined, buf) = bufs;
            let x_side: &[f32] = if k == 1 {
                x_g
            } else {
                side_by_side(x_g, g.f, cols, k, joined);
                joined
            };
            buf.resize(rows * k * cols, 0.0);
            matmul(
                rows,
                k * cols,
                g.f,
                View::transposed(w, rows),
                View::rows(x_side, k * cols),
                buf,
                false,
                par,
            );
            for (j, y_b) in y_g.chunks_mut(per_out).enumerate() {
                g.col2im_from(&buf[j * cols..], k * cols, y_b);
                if let Some(b) = bias {
                    for (ch, plane) in y_b.chunks_mut(g.h * g.w).enumerate() {
                        plane.iter_mut().for_each(|v| *v += b[ch]);
                    }
                }
            }
        };
        let groups = x.chunks(n * per_in).zip(out.chunks_mut(n * per_out));
        if threads() > 1 && g.batch > 1 {
            groups
                .collect::<Vec<_>>()
                .into_par_iter()
                .for_each_init(Buffers::default, |bufs, pair| {
                    one(pair, bufs, Parallelism::None)
                });
        } else {
            let mut bufs = Buffers::default();
            let par = parallelism(2 * g.f * rows * cols * n);
            groups.for_each(|pair| one(pair, &mut bufs, par));
        }
        out
    }

    fn grads(&self, x: &Tensor, w: &Tensor, grad: &Tensor) -> Result<TransposeGrads> {
        let g = self.geometry(x.dims(), w.dims())?;
        let (want_dx, want_dw) = (x.track_op(), w.track_op());
        let plane = g.h * g.w;
        let (dx, dw, db) = with_f32(x, |xv| {
            with_f32(w, |wv| {
                with_f32(grad, |gv| {
                    let (dx, dw) = shared_unfolding_grads(&g, gv, wv, xv, want_dx, want_dw);
                    let mut db = vec![0f32; g.c];
                    if want_dw {
                        for (i, p) in gv.chunks(plane).enumerate() {
                            db[i % g.c] += p.iter().sum::<f32>();
                        }
                    }
                    (dx, dw, db)
                })
            })
        })???;
        let dx = dx
            .map(|d| Tensor::from_vec(d, x.shape(), x.device()))
            .transpose()?;
        let dw = dw
            .map(|d| Tensor::from_vec(d, w.shape(), w.device()))
            .transpose()?;
        Ok((dx, dw, want_dw.then_some(db)))
    }
}

/// The input and weight gradients from one unfolding of the output gradient `dy` per group of
/// samples. In the convolution `g` (from this op's output back to its input), dx is the
/// convolution of dy with w, W·unfold(dy), and dW is Σ x·unfold(dy)ᵀ: both multiply the same
/// unfolded dy, which computing them apart (the convolution's forward, then its weight
/// gradient) unfolded twice.
fn shared_unfolding_grads(
    g: &Geometry,
    dy: &[f32],
    w: &[f32],
    x: &[f32],
    want_dx: bool,
    want_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (rows, cols) = (g.rows(), g.cols());
    let (per_dy, per_x, n) = (g.c * g.h * g.w, g.f * cols, g.group());
    let wsize = g.f * rows;
    let work = |range: std::ops::Range<usize>, mut dx: Option<&mut [f32]>| -> Vec<f32> {
        let mut dw = vec![0f32; if want_dw { wsize } else { 0 }];
        let (mut unfolded, mut joined) = (Vec::new(), Vec::new());
        for start in range.clone().step_by(n) {
            let k = n.min(range.end - start);
            unfolded.resize(rows * k * cols, 0.0);
            let dy_k = &dy[start * per_dy..(start + k) * per_dy];
            for (j, dy_b) in dy_k.chunks(per_dy).enumerate() {
                g.im2col_into(dy_b, &mut unfolded[j * cols..], k * cols);
            }
            if let Some(dx) = dx.as_deref_mut() {
                let at = start - range.start;
                let dx_k = &mut dx[at * per_x..(at + k) * per_x];
                let dst: &mut [f32] = if k == 1 {
                    dx_k
                } else {
                    joined.resize(g.f * k * cols, 0.0);
                    &mut joined
                };
                matmul(
                    g.f,
                    k * cols,
                    rows,
                    View::rows(w, rows),
                    View::rows(&unfolded, k * cols),
                    dst,
                    false,
                    Parallelism::None,
                );
                if k > 1 {
                    apart(&joined, g.f, cols, k, dx_k);
                }
            }
            if want_dw {
                let x_k = &x[start * per_x..(start + k) * per_x];
                let x_g: &[f32] = if k == 1 {
                    x_k
                } else {
                    side_by_side(x_k, g.f, cols, k, &mut joined);
                    &joined
                };
                matmul(
                    g.f,
                    rows,
                    k * cols,
                    View::rows(x_g, k * cols),
                    View::transposed(&unfolded, k * cols),
                    &mut dw,
                    true,
                    Parallelism::None,
                );
            }
        }
        dw
    };
    let mut dx = want_dx.then(|| vec![0f32; g.batch * per_x]);
    let t = threads().min(g.batch).max(1);
    let chunk = g.batch.div_ceil(t);
    let range = |i: usize| i * chunk..((i + 1) * chunk).min(g.batch);
    let partials: Vec<Vec<f32>> = match dx.as_mut() {
        Some(dx) => dx
            .par_chunks_mut(chunk * per_x)
            .enumerate()
            .map(|(i, d)| work(range(i), Some(d)))
            .collect(),
        None => (0..t)
            .into_par_iter()
            .map(|i| work(range(i), None))
            .collect(),
    };
    let dw = want_dw.then(|| {
        let mut parts = partials.into_iter();
        let mut dw = parts.next().unwrap_or_else(|| vec![0.0; wsize]);
        for p in parts {
            dw.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        dw
    });
    (dx, dw)
}

type TransposeGrads = (Option<Tensor>, Option<Tensor>, Option<Vec<f32>>);

fn out_shape(g: &Geometry) -> Shape {
    Shape::from((g.batch, g.c, g.h, g.w))
}

impl CustomOp2 for ConvTranspose2d {
    fn name(&self) -> &'static str {
        "glassbox-conv-transpose2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(<Self as CustomOp2>::name(self));
        let g = self.geometry(xl.dims(), wl.dims())?;
        let out = self.forward(&g, f32_slice(xs, xl)?, f32_slice(ws, wl)?, None);
        Ok((CpuStorage::F32(out), out_shape(&g)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let _timed = crate::model::profile::backward(<Self as CustomOp2>::name(self));
        let (dx, dw, _) = self.grads(x, w, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for ConvTranspose2d {
    fn name(&self) -> &'static str {
        "glassbox-conv-transpose2d-bias"
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
        let _timed = crate::model::profile::kernel(<Self as CustomOp3>::name(self));
        let g = self.geometry(xl.dims(), wl.dims())?;
        let out = self.forward(
            &g,
            f32_slice(xs, xl)?,
            f32_slice(ws, wl)?,
            Some(f32_slice(bs, bl)?),
        );
        Ok((CpuStorage::F32(out), out_shape(&g)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let _timed = crate::model::profile::backward(<Self as CustomOp3>::name(self));
        let (dx, dw, db) = self.grads(x, w, grad)?;
        let db = db
            .map(|db| Tensor::from_vec(db, b.shape(), b.device()))
            .transpose()?;
        Ok((dx, dw, db))
    }
}

/// Transposed convolution of `x` [B, C_in, H, W] with `w` [C_in, C_out, K, K] and optional
/// bias [C_out].
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
    output_padding: usize,
) -> Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 {
        return super::reference::conv_transpose2d(x, w, b, stride, padding, output_padding);
    }
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    let op = ConvTranspose2d {
        stride,
        padding,
        output_padding,
    };
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, op),
        None => x.apply_op2(&w, op),
    }
}
