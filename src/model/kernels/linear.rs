//! Dense layer y = x·Wᵀ + b as one op with its own backward: three gemms and a row sum, and no
//! input gradient when the input is data. candle's version broadcasts the bias (an extra pass)
//! and reduces its gradient with a slow generic sum.

use super::gemm::{f32_slice, matmul, parallelism, split_between, with_f32, View};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

pub struct Linear;

/// (rows over every leading axis, K, M) for x [..., K] and w [M, K].
fn dims(x: &[usize], w: &[usize]) -> Result<(usize, usize, usize)> {
    let (Some((&k, lead)), &[m, k2]) = (x.split_last(), w) else {
        candle_core::bail!("linear expects x [..., K] and w [M, K], got {x:?} and {w:?}");
    };
    if k != k2 {
        candle_core::bail!("linear: x has {k} features but w expects {k2}");
    }
    Ok((lead.iter().product(), k, m))
}

/// x's shape with the last axis `m` wide.
fn out_shape(x: &[usize], m: usize) -> Shape {
    let mut d = x.to_vec();
    if let Some(last) = d.last_mut() {
        *last = m;
    }
    Shape::from(d)
}

pub(super) fn forward(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    n: usize,
    k: usize,
    m: usize,
) -> Vec<f32> {
    let mut y = match b {
        Some(b) => {
            let mut y = Vec::with_capacity(n * m);
            for _ in 0..n {
                y.extend_from_slice(b);
            }
            y
        }
        None => vec![0f32; n * m],
    };
    matmul(
        n,
        m,
        k,
        View::rows(x, k),
        View::transposed(w, k),
        &mut y,
        b.is_some(),
        parallelism(2 * n * m * k),
    );
    y
}

/// (dx when the input is tracked, dw and db when the weights are).
type Grads = (Option<Tensor>, Option<Tensor>, Option<Vec<f32>>);

fn backward(x: &Tensor, w: &Tensor, grad: &Tensor) -> Result<Grads> {
    let (n, k, m) = dims(x.dims(), w.dims())?;
    let (want_dx, want_dw) = (x.track_op(), w.track_op());
    let (par, concurrent) = split_between(parallelism(2 * n * m * k), want_dx && want_dw);
    let (dx, dwb) = with_f32(x, |xv| {
        with_f32(w, |wv| {
            with_f32(grad, |g| {
                let dx = || {
                    want_dx.then(|| {
                        let mut dx = vec![0f32; n * k];
                        matmul(
                            n,
                            k,
                            m,
                            View::rows(g, m),
                            View::rows(wv, k),
                            &mut dx,
                            false,
                            par,
                        );
                        dx
                    })
                };
                let dw = || {
                    want_dw.then(|| {
                        let mut dw = vec![0f32; m * k];
                        matmul(
                            m,
                            k,
                            n,
                            View::transposed(g, m),
                            View::rows(xv, k),
                            &mut dw,
                            false,
                            par,
                        );
                        let mut db = vec![0f32; m];
                        for row in g.chunks(m) {
                            db.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                        }
                        (dw, db)
                    })
                };
                if concurrent {
                    rayon::join(dx, dw)
                } else {
                    (dx(), dw())
                }
            })
        })
    })???;
    let dx = dx
        .map(|d| Tensor::from_vec(d, x.shape(), x.device()))
        .transpose()?;
    let (dw, db) = match dwb {
        Some((dw, db)) => (Some(Tensor::from_vec(dw, (m, k), w.device())?), Some(db)),
        None => (None, None),
    };
    Ok((dx, dw, db))
}

/// x·Wᵀ + b from the storages a three-input op receives: the rows [..., M] and their shape.
/// Shared by the plain dense op and the ops that fuse it with what follows.
pub(super) fn forward_with_bias(
    (xs, xl): (&CpuStorage, &Layout),
    (ws, wl): (&CpuStorage, &Layout),
    (bs, bl): (&CpuStorage, &Layout),
) -> Result<(Vec<f32>, Shape)> {
    let (n, k, m) = dims(xl.dims(), wl.dims())?;
    let (x, w, b) = (f32_slice(xs, xl)?, f32_slice(ws, wl)?, f32_slice(bs, bl)?);
    Ok((forward(x, w, Some(b), n, k, m), out_shape(xl.dims(), m)))
}

/// dx, dW and db as a three-input op returns them, from the gradient of x·Wᵀ + b.
pub(super) fn backward_with_bias(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    grad: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let (dx, dw, db) = backward(x, w, grad)?;
    let db = db
        .map(|d| Tensor::from_vec(d, b.shape(), b.device()))
        .transpose()?;
    Ok((dx, dw, db))
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "glassbox-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(<Self as CustomOp2>::name(self));
        let (n, k, m) = dims(xl.dims(), wl.dims())?;
        let y = forward(f32_slice(xs, xl)?, f32_slice(ws, wl)?, None, n, k, m);
        Ok((CpuStorage::F32(y), out_shape(xl.dims(), m)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let _timed = crate::model::profile::backward(<Self as CustomOp2>::name(self));
        let (dx, dw, _) = backward(x, w, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "glassbox-linear-bias"
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
        let (y, shape) = forward_with_bias((xs, xl), (ws, wl), (bs, bl))?;
        Ok((CpuStorage::F32(y), shape))
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
        backward_with_bias(x, w, b, grad)
    }
}

/// x [..., K] · wᵀ [K, M] + b, over all leading axes at once.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 {
        // The exact f64 path (gradient checks) goes through candle.
        return super::reference::linear(x, w, b);
    }
    // Any rank goes straight in: a reshape around the op would add two nodes whose backward
    // candle pays for with a zero-filled tensor and an addition each, the size of x and y.
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, Linear),
        None => x.apply_op2(&w, Linear),
    }
}
