//! 2-D convolution (NCHW) by im2col + gemm, with the bias folded into the output and its own
//! backward pass: weight and bias gradients always, the input gradient only when the input
//! needs one (never for the data a network reads). candle's own convolution backward computes
//! the input gradient with a naive loop, always.

use super::gemm::{f32_slice, matmul, parallelism, threads, with_f32, View};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

/// One convolution's sizes. Kernels, strides and padding are per axis (height, width) so a
/// 1-D convolution runs here as a 2-D one of height 1.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub batch: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub f: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// `x` [B, C, H, W] and `w` [F, C, KH, KW].
    pub fn new(
        x: &[usize],
        w: &[usize],
        (sh, sw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Result<Self> {
        let ([batch, c, h, wd], [f, c2, kh, kw]) = (x, w) else {
            candle_core::bail!(
                "conv2d expects x [B, C, H, W] and w [F, C, KH, KW], got {x:?} and {w:?}"
            );
        };
        if c != c2 {
            candle_core::bail!("conv2d weight {w:?} does not fit input {x:?}");
        }
        if h + 2 * ph < *kh || wd + 2 * pw < *kw || sh == 0 || sw == 0 {
            candle_core::bail!(
                "conv2d kernel {kh}×{kw} does not fit input {x:?} with padding ({ph}, {pw})"
            );
        }
        Ok(Self {
            batch: *batch,
            c: *c,
            h: *h,
            w: *wd,
            f: *f,
            kh: *kh,
            kw: *kw,
            sh,
            sw,
            ph,
            pw,
            oh: (h + 2 * ph - kh) / sh + 1,
            ow: (wd + 2 * pw - kw) / sw + 1,
        })
    }

    pub fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }

    pub fn cols(&self) -> usize {
        self.oh * self.ow
    }

    /// Output columns `ox` whose input column `ox·s + kx − p` lies inside the image.
    fn valid_span(&self, kx: usize) -> (usize, usize) {
        let (s, p, w) = (self.sw as isize, self.pw as isize, self.w as isize);
        let first = ((p - kx as isize).max(0) + s - 1) / s;
        let last = ((w - 1 + p - kx as isize).div_euclid(s) + 1).clamp(first, self.ow as isize);
        (first as usize, last as usize)
    }

    /// Unfolds one sample [C, H, W] into [C·KH·KW, OH·OW].
    pub fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let (kh, kw, sh, s, ph, pw) = (
            self.kh,
            self.kw,
            self.sh,
            self.sw,
            self.ph as isize,
            self.pw as isize,
        );
        let (ow, oh) = (self.ow, self.oh);
        let p_count = oh * ow;
        for ch in 0..self.c {
            let plane = &x[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let (lo, hi) = self.valid_span(kx);
                    let row = &mut cols[((ch * kh + ky) * kw + kx) * p_count..][..p_count];
                    for oy in 0..oh {
                        let iy = (oy * sh + ky) as isize - ph;
                        let dst = &mut row[oy * ow..(oy + 1) * ow];
                        if iy < 0 || iy >= self.h as isize {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * self.w..(iy as usize + 1) * self.w];
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        let x0 = (lo * s + kx) as isize - pw;
                        if s == 1 {
                            dst[lo..hi].copy_from_slice(&src[x0 as usize..x0 as usize + (hi - lo)]);
                        } else {
                            for (j, d) in dst[lo..hi].iter_mut().enumerate() {
                                *d = src[x0 as usize + j * s];
                            }
                        }
                    }
                }
            }
        }
    }

    /// Folds [C·KH·KW, OH·OW] back onto one sample [C, H, W], adding overlaps.
    pub fn col2im(&self, cols: &[f32], dx: &mut [f32]) {
        let (kh, kw, sh, s, ph, pw) = (
            self.kh,
            self.kw,
            self.sh,
            self.sw,
            self.ph as isize,
            self.pw as isize,
        );
        let (ow, oh) = (self.ow, self.oh);
        let p_count = oh * ow;
        dx.fill(0.0);
        for ch in 0..self.c {
            let plane = &mut dx[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let (lo, hi) = self.valid_span(kx);
                    let row = &cols[((ch * kh + ky) * kw + kx) * p_count..][..p_count];
                    for oy in 0..oh {
                        let iy = (oy * sh + ky) as isize - ph;
                        if iy < 0 || iy >= self.h as isize {
                            continue;
                        }
                        let dst = &mut plane[iy as usize * self.w..(iy as usize + 1) * self.w];
                        let x0 = ((lo * s + kx) as isize - pw) as usize;
                        let src = &row[oy * ow + lo..oy * ow + hi];
                        for (j, v) in src.iter().enumerate() {
                            dst[x0 + j * s] += v;
                        }
                    }
                }
            }
        }
    }

    pub fn forward(&self, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let (rows, cols, per_in, per_out) = (
            self.rows(),
            self.cols(),
            self.c * self.h * self.w,
            self.f * self.cols(),
        );
        let mut out = vec![0f32; self.batch * per_out];
        let one = |(x_b, y_b): (&[f32], &mut [f32]), buf: &mut Vec<f32>, par: Parallelism| {
            buf.resize(rows * cols, 0.0);
            self.im2col(x_b, buf);
            if let Some(b) = bias {
                for (f, row) in y_b.chunks_mut(cols).enumerate() {
                    row.iter_mut().for_each(|v| *v = b[f]);
                }
            }
            matmul(
                self.f,
                cols,
                rows,
                View::rows(w, rows),
                View::rows(buf, cols),
                y_b,
                bias.is_some(),
                par,
            );
        };
        let pairs = x.chunks(per_in).zip(out.chunks_mut(per_out));
        if threads() > 1 && self.batch > 1 {
            pairs
                .collect::<Vec<_>>()
                .into_par_iter()
                .for_each_init(Vec::new, |buf, pair| one(pair, buf, Parallelism::None));
        } else {
            let mut buf = Vec::new();
            let par = parallelism(2 * self.f * rows * cols);
            pairs.for_each(|pair| one(pair, &mut buf, par));
        }
        out
    }

    /// Gradients of weight, bias and (when asked) input.
    pub fn backward(
        &self,
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        want_dx: bool,
        want_dw: bool,
    ) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
        let (rows, cols, per_in, per_out) = (
            self.rows(),
            self.cols(),
            self.c * self.h * self.w,
            self.f * self.cols(),
        );
        let wsize = self.f * rows;
        // Per-worker partial sums of dW and db, added at the end.
        let work =
            |range: std::ops::Range<usize>, dx: Option<&mut [f32]>| -> (Vec<f32>, Vec<f32>) {
                let mut dw = vec![0f32; wsize];
                let mut db = vec![0f32; self.f];
                let mut buf = vec![0f32; rows * cols];
                let mut dcols = if dx.is_some() {
                    vec![0f32; rows * cols]
                } else {
                    Vec::new()
                };
                let mut dx = dx;
                for (j, b) in range.enumerate() {
                    let dy_b = &dy[b * per_out..(b + 1) * per_out];
                    if want_dw {
                        self.im2col(&x[b * per_in..(b + 1) * per_in], &mut buf);
                        matmul(
                            self.f,
                            rows,
                            cols,
                            View::rows(dy_b, cols),
                            View::transposed(&buf, cols),
                            &mut dw,
                            true,
                            Parallelism::None,
                        );
                        for (f, row) in dy_b.chunks(cols).enumerate() {
                            db[f] += row.iter().sum::<f32>();
                        }
                    }
                    if let Some(dx) = dx.as_deref_mut() {
                        matmul(
                            rows,
                            cols,
                            self.f,
                            View::transposed(w, rows),
                            View::rows(dy_b, cols),
                            &mut dcols,
                            false,
                            Parallelism::None,
                        );
                        self.col2im(&dcols, &mut dx[j * per_in..(j + 1) * per_in]);
                    }
                }
                (dw, db)
            };
        let mut dx = want_dx.then(|| vec![0f32; self.batch * per_in]);
        let t = threads().min(self.batch).max(1);
        let chunk = self.batch.div_ceil(t);
        let partials: Vec<(Vec<f32>, Vec<f32>)> = match dx.as_mut() {
            Some(dx) => dx
                .par_chunks_mut(chunk * per_in)
                .enumerate()
                .map(|(i, d)| work(i * chunk..((i + 1) * chunk).min(self.batch), Some(d)))
                .collect(),
            None => (0..t)
                .into_par_iter()
                .map(|i| work(i * chunk..((i + 1) * chunk).min(self.batch), None))
                .collect(),
        };
        let mut parts = partials.into_iter();
        let (mut dw, mut db) = parts
            .next()
            .unwrap_or_else(|| (vec![0.0; wsize], vec![0.0; self.f]));
        for (pw, pb) in parts {
            dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
            db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
        }
        (dw, db, dx)
    }
}

pub struct Conv2d {
    stride: (usize, usize),
    padding: (usize, usize),
}

fn out_shape(g: &Geometry) -> Shape {
    Shape::from((g.batch, g.f, g.oh, g.ow))
}

impl CustomOp2 for Conv2d {
    fn name(&self) -> &'static str {
        "glassbox-conv2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(<Self as CustomOp2>::name(self));
        let g = Geometry::new(xl.dims(), wl.dims(), self.stride, self.padding)?;
        let out = g.forward(f32_slice(xs, xl)?, f32_slice(ws, wl)?, None);
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
        let (dw, _, dx) = self.grads(x, w, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for Conv2d {
    fn name(&self) -> &'static str {
        "glassbox-conv2d-bias"
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
        let g = Geometry::new(xl.dims(), wl.dims(), self.stride, self.padding)?;
        let out = g.forward(
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
        let (dw, db, dx) = self.grads(x, w, grad)?;
        let db = db
            .map(|db| Tensor::from_vec(db, b.shape(), b.device()))
            .transpose()?;
        Ok((dx, dw, db))
    }
}

/// (dW and db when the weights are trained, dX when `x` takes part in the graph).
pub(super) type ConvGrads = (Option<Tensor>, Option<Vec<f32>>, Option<Tensor>);

/// Runs a convolution's f32 backward (`backward(x, w, dy, want_dx, want_dw)` → dW, db, dX) on
/// the tensors' values, asking only for the gradients the graph needs, and wraps the results.
pub(super) fn conv_grads(
    x: &Tensor,
    w: &Tensor,
    grad: &Tensor,
    backward: impl FnOnce(&[f32], &[f32], &[f32], bool, bool) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>),
) -> Result<ConvGrads> {
    let (want_dx, want_dw) = (x.track_op(), w.track_op());
    let (dw, db, dx) = with_f32(x, |xv| {
        with_f32(w, |wv| {
            with_f32(grad, |gv| backward(xv, wv, gv, want_dx, want_dw))
        })
    })???;
    let dw = want_dw
        .then(|| Tensor::from_vec(dw, w.shape(), w.device()))
        .transpose()?;
    let db = want_dw.then_some(db);
    let dx = dx
        .map(|d| Tensor::from_vec(d, x.shape(), x.device()))
        .transpose()?;
    Ok((dw, db, dx))
}

impl Conv2d {
    fn grads(&self, x: &Tensor, w: &Tensor, grad: &Tensor) -> Result<ConvGrads> {
        let g = Geometry::new(x.dims(), w.dims(), self.stride, self.padding)?;
        conv_grads(x, w, grad, |xv, wv, gv, want_dx, want_dw| {
            g.backward(xv, wv, gv, want_dx, want_dw)
        })
    }
}

/// Convolution of `x` [B, C, H, W] with `w` [F, C, K, K] and optional bias [F].
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 {
        // The exact f64 path (gradient checks) goes through candle.
        return super::reference::conv2d(x, w, b, stride, padding);
    }
    conv2d_hw(x, w, b, (stride, stride), (padding, padding))
}

/// 1-D convolution of `x` [B, C, L] with `w` [F, C, K] and optional bias [F], run as a 2-D
/// convolution of height 1.
pub fn conv1d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 {
        return super::reference::conv1d(x, w, b, stride, padding);
    }
    let (bsz, c, l) = x.dims3()?;
    let (f, c2, k) = w.dims3()?;
    let y = conv2d_hw(
        &x.reshape((bsz, c, 1, l))?,
        &w.reshape((f, c2, 1, k))?,
        b,
        (1, stride),
        (0, padding),
    )?;
    y.squeeze(2)
}

fn conv2d_hw(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<Tensor> {
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    let op = Conv2d { stride, padding };
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, op),
        None => x.apply_op2(&w, op),
    }
}
