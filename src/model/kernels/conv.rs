//! 2-D convolution (NCHW) by im2col + gemm, with the bias folded into the output and its own
//! backward pass: weight and bias gradients always, the input gradient only when the input
//! needs one (never for the data a network reads). candle's own convolution backward computes
//! the input gradient with a naive loop, always.

use super::conv_unfold::{apart, side_by_side};
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

    /// The convolution of a batch, [`Geometry::group`] samples per product.
    pub fn forward(&self, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let (rows, cols, per_in, per_out) = (
            self.rows(),
            self.cols(),
            self.c * self.h * self.w,
            self.f * self.cols(),
        );
        let n = self.group();
        let mut out = vec![0f32; self.batch * per_out];
        let one = |(x_g, y_g): (&[f32], &mut [f32]), bufs: &mut Buffers, par: Parallelism| {
            let k = y_g.len() / per_out;
            let (buf, product) = bufs;
            buf.resize(rows * k * cols, 0.0);
            for (j, x_b) in x_g.chunks(per_in).enumerate() {
                self.im2col_into(x_b, &mut buf[j * cols..], k * cols);
            }
            let dst: &mut [f32] = if k == 1 {
                &mut *y_g
            } else {
                product.resize(self.f * k * cols, 0.0);
                product
            };
            if let Some(b) = bias {
                for (f, row) in dst.chunks_mut(k * cols).enumerate() {
                    row.fill(b[f]);
                }
            }
            matmul(
                self.f,
                k * cols,
                rows,
                View::rows(w, rows),
                View::rows(buf, k * cols),
                dst,
                bias.is_some(),
                par,
            );
            if k > 1 {
                apart(product, self.f, cols, k, y_g);
            }
        };
        let groups = x.chunks(n * per_in).zip(out.chunks_mut(n * per_out));
        if threads() > 1 && self.batch > 1 {
            groups
                .collect::<Vec<_>>()
                .into_par_iter()
                .for_each_init(Buffers::default, |bufs, g| one(g, bufs, Parallelism::None));
        } else {
            let mut bufs = Buffers::default();
            let par = parallelism(2 * self.f * rows * cols * n);
            groups.for_each(|g| one(g, &mut bufs, par));
        }
        out
    }

    /// Gradients of weight, bias and (when asked) input, [`Geometry::group`] samples per
    /// product.
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
        let (wsize, n) = (self.f * rows, self.group());
        // Per-worker partial sums of dW and db, added at the end.
        let work =
            |range: std::ops::Range<usize>, dx: Option<&mut [f32]>| -> (Vec<f32>, Vec<f32>) {
                let mut dw = vec![0f32; wsize];
                let mut db = vec![0f32; self.f];
                let (mut buf, mut dcols, mut joined) = (Vec::new(), Vec::new(), Vec::new());
                let mut dx = dx;
                for start in range.clone().step_by(n) {
                    let k = n.min(range.end - start);
                    let dy_k = &dy[start * per_out..(start + k) * per_out];
                    let dy_g: &[f32] = if k == 1 {
                        dy_k
                    } else {
                        side_by_side(dy_k, self.f, cols, k, &mut joined);
                        &joined
                    };
                    if want_dw {
                        buf.resize(rows * k * cols, 0.0);
                        let x_k = &x[start * per_in..(start + k) * per_in];
                        for (j, x_b) in x_k.chunks(per_in).enumerate() {
                            self.im2col_into(x_b, &mut buf[j * cols..], k * cols);
                        }
                        matmul(
                            self.f,
                            rows,
                            k * cols,
                            View::rows(dy_g, k * cols),
                            View::transposed(&buf, k * cols),
                            &mut dw,
                            true,
                            Parallelism::None,
                        );
                        for (i, row) in dy_k.chunks(cols).enumerate() {
                            db[i % self.f] += row.iter().sum::<f32>();
                        }
                    }
                    if let Some(dx) = dx.as_deref_mut() {
                        dcols.resize(rows * k * cols, 0.0);
                        matmul(
                            rows,
                            k * cols,
                            self.f,
                            View::transposed(w, rows),
                            View::rows(dy_g, k * cols),
                            &mut dcols,
                            false,
                            Parallelism::None,
                        );
                        let at = start - range.start;
                        let dx_k = &mut dx[at * per_in..(at + k) * per_in];
                        for (j, dx_b) in dx_k.chunks_mut(per_in).enumerate() {
                            self.col2im_from(&dcols[j * cols..], k * cols, dx_b);
                        }
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

/// A worker's scratch matrices: the unfolded samples and the product before it is split.
pub(super) type Buffers = (Vec<f32>, Vec<f32>);

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
