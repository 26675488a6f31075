//! Dense layer y = x·Wᵀ + b as one op with its own backward: three gemms and a row sum, and no
//! input gradient when the input is data. candle's version broadcasts the bias (an extra pass)
//! and reduces its gradient with a slow generic sum.

use super::gemm::{f32_slice, matmul, parallelism, with_f32, View};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

pub struct Linear;

fn dims(x: &Layout, w: &Layout) -> Result<(usize, usize, usize)> {
    let (&[n, k], &[m, k2]) = (x.dims(), w.dims()) else {
        candle_core::bail!(
            "linear expects x [N, K] and w [M, K], got {:?} and {:?}",
            x.dims(),
            w.dims()
        );
    };
    if k != k2 {
        candle_core::bail!("linear: x has {k} features but w expects {k2}");
    }
    Ok((n, k, m))
}

fn forward(x: &[f32], w: &[f32], b: Option<&[f32]>, n: usize, k: usize, m: usize) -> Vec<f32> {
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
    let (n, k) = x.dims2()?;
    let m = w.dim(0)?;
    let (want_dx, want_dw) = (x.track_op(), w.track_op());
    let par = parallelism(2 * n * m * k);
    let (dx, dwb) = with_f32(x, |xv| {
        with_f32(w, |wv| {
            with_f32(grad, |g| {
                let dx = want_dx.then(|| {
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
                });
                let dw = want_dw.then(|| {
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
                });
                (dx, dw)
            })
        })
    })???;
    let dx = dx
        .map(|d| Tensor::from_vec(d, (n, k), x.device()))
        .transpose()?;
    let (dw, db) = match dwb {
        Some((dw, db)) => (Some(Tensor::from_vec(dw, (m, k), w.device())?), Some(db)),
        None => (None, None),
    };
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
        let (n, k, m) = dims(xl, wl)?;
        let y = forward(f32_slice(xs, xl)?, f32_slice(ws, wl)?, None, n, k, m);
        Ok((CpuStorage::F32(y), Shape::from((n, m))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
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
        let (n, k, m) = dims(xl, wl)?;
        let y = forward(
            f32_slice(xs, xl)?,
            f32_slice(ws, wl)?,
            Some(f32_slice(bs, bl)?),
            n,
            k,
            m,
        );
        Ok((CpuStorage::F32(y), Shape::from((n, m))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = backward(x, w, grad)?;
        let db = db
            .map(|d| Tensor::from_vec(d, b.shape(), b.device()))
            .transpose()?;
        Ok((dx, dw, db))
    }
}

/// x [..., K] · wᵀ [K, M] + b, over all leading axes at once.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 {
        // The exact f64 path (gradient checks) goes through candle.
        return super::reference::linear(x, w, b);
    }
    let mut out_dims = x.dims().to_vec();
    let k = *out_dims.last().unwrap_or(&0);
    *out_dims.last_mut().expect("rank ≥ 1") = w.dim(0)?;
    let x2 = x.reshape(((), k))?;
    let (x2, w) = (x2.contiguous()?, w.contiguous()?);
    let y = match b {
        Some(b) => x2.apply_op3(&w, &b.contiguous()?, Linear)?,
        None => x2.apply_op2(&w, Linear)?,
    };
    y.reshape(out_dims)
}
