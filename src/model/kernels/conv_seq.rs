//! 1-D convolution of a sequence kept channels last, x [B, T, C] → [B, T', F], with weights
//! [F, C, K] as the graph stores them. The whole batch is unfolded into one matrix
//! [B·T', K·C] (a row is K consecutive time steps, each C contiguous values: plain copies) and
//! multiplied once, so a short text's 64 samples make one product of 640 rows instead of 64
//! products of 10, and no transpose to channels first and back is needed. It replaced a
//! height-1 conv2d between two transposes (`glassbox bench cnn1d`).

use super::conv::{conv_grads, ConvGrads};
use super::gemm::{f32_slice, matmul, parallelism, View};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

#[derive(Clone, Copy, Debug)]
struct SeqGeometry {
    batch: usize,
    t: usize,
    c: usize,
    f: usize,
    k: usize,
    stride: usize,
    pad: usize,
    out_t: usize,
}

impl SeqGeometry {
    /// `x` [B, T, C] and `w` [F, C, K].
    fn new(x: &[usize], w: &[usize], stride: usize, pad: usize) -> Result<Self> {
        let ([batch, t, c], [f, c2, k]) = (x, w) else {
            candle_core::bail!("conv1d expects x [B, T, C] and w [F, C, K], got {x:?} and {w:?}");
        };
        if c != c2 {
            candle_core::bail!("conv1d weight {w:?} does not fit input {x:?}");
        }
        if t + 2 * pad < *k || stride == 0 || *k == 0 {
            candle_core::bail!("conv1d kernel {k} does not fit length {t} with padding {pad}");
        }
        Ok(Self {
            batch: *batch,
            t: *t,
            c: *c,
            f: *f,
            k: *k,
            stride,
            pad,
            out_t: (t + 2 * pad - k) / stride + 1,
        })
    }

    fn rows(&self) -> usize {
        self.batch * self.out_t
    }

    /// Width of one unfolded row: K taps of C channels.
    fn width(&self) -> usize {
        self.k * self.c
    }

    /// The input step tap `tap` of output step `o` reads, if it is inside the sequence.
    fn source(&self, o: usize, tap: usize) -> Option<usize> {
        (o * self.stride + tap)
            .checked_sub(self.pad)
            .filter(|&i| i < self.t)
    }

    /// [B·T', K·C]: row (b, o) holds x[b, o·s + tap − p, :] for each tap, zeros outside.
    fn unfold(&self, x: &[f32]) -> Vec<f32> {
        let (c, width) = (self.c, self.width());
        let mut cols = vec![0f32; self.rows() * width];
        for (r, row) in cols.chunks_mut(width).enumerate() {
            let (b, o) = (r / self.out_t, r % self.out_t);
            let sample = &x[b * self.t * c..(b + 1) * self.t * c];
            for tap in 0..self.k {
                if let Some(i) = self.source(o, tap) {
                    row[tap * c..(tap + 1) * c].copy_from_slice(&sample[i * c..(i + 1) * c]);
                }
            }
        }
        cols
    }

    /// Adds each unfolded row's gradient back onto the input steps it was copied from.
    fn fold(&self, dcols: &[f32]) -> Vec<f32> {
        let (c, width) = (self.c, self.width());
        let mut dx = vec![0f32; self.batch * self.t * c];
        for (r, row) in dcols.chunks(width).enumerate() {
            let (b, o) = (r / self.out_t, r % self.out_t);
            let sample = &mut dx[b * self.t * c..(b + 1) * self.t * c];
            for tap in 0..self.k {
                if let Some(i) = self.source(o, tap) {
                    let dst = &mut sample[i * c..(i + 1) * c];
                    dst.iter_mut()
                        .zip(&row[tap * c..(tap + 1) * c])
                        .for_each(|(d, v)| *d += v);
                }
            }
        }
        dx
    }

    /// [F, C, K] → [F, K, C], the order of an unfolded row (or back with `to_graph`).
    fn reorder(&self, w: &[f32], to_graph: bool) -> Vec<f32> {
        let (c, k) = (self.c, self.k);
        let mut out = vec![0f32; w.len()];
        for f in 0..self.f {
            for ch in 0..c {
                for tap in 0..k {
                    let graph = (f * c + ch) * k + tap;
                    let unfolded = (f * k + tap) * c + ch;
                    if to_graph {
                        out[graph] = w[unfolded];
                    } else {
                        out[unfolded] = w[graph];
                    }
                }
            }
        }
        out
    }

    fn forward(&self, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let (rows, width, f) = (self.rows(), self.width(), self.f);
        let cols = self.unfold(x);
        let wu = self.reorder(w, false);
        let mut y = vec![0f32; rows * f];
        if let Some(b) = bias {
            y.chunks_mut(f).for_each(|row| row.copy_from_slice(b));
        }
        matmul(
            rows,
            f,
            width,
            View::rows(&cols, width),
            View::transposed(&wu, width),
            &mut y,
            bias.is_some(),
            parallelism(2 * rows * f * width),
        );
        y
    }

    /// (dW [F, C, K], db [F], dX [B, T, C] when asked).
    fn backward(
        &self,
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        want_dx: bool,
        want_dw: bool,
    ) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
        let (rows, width, f) = (self.rows(), self.width(), self.f);
        let par = parallelism(2 * rows * f * width);
        let (mut dw, mut db) = (Vec::new(), Vec::new());
        if want_dw {
            let cols = self.unfold(x);
            let mut dwu = vec![0f32; f * width];
            matmul(
                f,
                width,
                rows,
                View::transposed(dy, f),
                View::rows(&cols, width),
                &mut dwu,
                false,
                par,
            );
            dw = self.reorder(&dwu, true);
            db = vec![0f32; f];
            for row in dy.chunks(f) {
                db.iter_mut().zip(row).for_each(|(d, v)| *d += v);
            }
        }
        let dx = want_dx.then(|| {
            let wu = self.reorder(w, false);
            let mut dcols = vec![0f32; rows * width];
            matmul(
                rows,
                width,
                f,
                View::rows(dy, f),
                View::rows(&wu, width),
                &mut dcols,
                false,
                par,
            );
            self.fold(&dcols)
        });
        (dw, db, dx)
    }
}

struct Conv1dSeq {
    stride: usize,
    padding: usize,
}

fn out_shape(g: &SeqGeometry) -> Shape {
    Shape::from((g.batch, g.out_t, g.f))
}

impl Conv1dSeq {
    fn grads(&self, x: &Tensor, w: &Tensor, grad: &Tensor) -> Result<ConvGrads> {
        let g = SeqGeometry::new(x.dims(), w.dims(), self.stride, self.padding)?;
        conv_grads(x, w, grad, |xv, wv, gv, want_dx, want_dw| {
            g.backward(xv, wv, gv, want_dx, want_dw)
        })
    }
}

impl CustomOp2 for Conv1dSeq {
    fn name(&self) -> &'static str {
        "glassbox-conv1d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(<Self as CustomOp2>::name(self));
        let g = SeqGeometry::new(xl.dims(), wl.dims(), self.stride, self.padding)?;
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

impl CustomOp3 for Conv1dSeq {
    fn name(&self) -> &'static str {
        "glassbox-conv1d-bias"
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
        let g = SeqGeometry::new(xl.dims(), wl.dims(), self.stride, self.padding)?;
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

/// 1-D convolution of a sequence `x` [B, T, C] with `w` [F, C, K] and optional bias [F] →
/// [B, T', F]. Other dtypes (the f64 gradient checks) go through the reference, channels first.
pub fn conv1d_seq(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 {
        let xc = x.transpose(1, 2)?.contiguous()?;
        return super::reference::conv1d(&xc, w, b, stride, padding)?
            .transpose(1, 2)?
            .contiguous();
    }
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    let op = Conv1dSeq { stride, padding };
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, op),
        None => x.apply_op2(&w, op),
    }
}
