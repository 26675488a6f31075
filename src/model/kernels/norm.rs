//! Layer normalisation over the last axis and GELU, each as one op with its own backward.
//! candle_nn's fused LayerNorm has no backward at all (gradients silently stop), and its
//! composed version takes a dozen passes; GELU's erf goes through scalar libm.

use super::gemm::{f32_slice, with_f32};
use super::simd::{
    gelu_backward, gelu_forward, layer_norm_rows, layer_norm_rows_backward, par_map, par_map2,
};
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use std::sync::Mutex;

pub struct LayerNorm {
    eps: f32,
    /// Per row: mean and 1/σ.
    saved: Mutex<Vec<(f32, f32)>>,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "glassbox-layer-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(<Self as CustomOp3>::name(self));
        let d = *xl.dims().last().unwrap_or(&1);
        let (x, gamma, beta) = (f32_slice(xs, xl)?, f32_slice(gs, gl)?, f32_slice(bs, bl)?);
        if gamma.len() != d || beta.len() != d {
            candle_core::bail!("layer norm: {d} features but {} scales", gamma.len());
        }
        let mut y = vec![0f32; x.len()];
        let mut stats = vec![(0f32, 0f32); x.len() / d.max(1)];
        // One thread: a band of a few hundred kB finishes before a second thread would wake.
        if d > 0 {
            layer_norm_rows(x, gamma, beta, self.eps, &mut y, &mut stats);
        }
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = stats;
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let _timed = crate::model::profile::backward(self.name());
        let d = *x.dims().last().unwrap_or(&1);
        let stats = std::mem::take(&mut *self.saved.lock().unwrap_or_else(|e| e.into_inner()));
        let (dx, dg, db) = with_f32(x, |xv| {
            with_f32(gamma, |gv| {
                with_f32(grad, |g| {
                    let mut dx = vec![0f32; xv.len()];
                    if d == 0 {
                        return (dx, Vec::new(), Vec::new());
                    }
                    let mut dg = vec![0f32; d];
                    let mut db = vec![0f32; d];
                    let mut scratch = vec![0f32; 2 * d];
                    layer_norm_rows_backward(
                        xv,
                        g,
                        &gv[..d],
                        &stats,
                        &mut dx,
                        &mut dg,
                        &mut db,
                        &mut scratch,
                    );
                    (dx, dg, db)
                })
            })
        })???;
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(dg, gamma.shape(), gamma.device())?),
            Some(Tensor::from_vec(db, beta.shape(), beta.device())?),
        ))
    }
}

/// Normalises `x` over its last axis, then scales by `gamma` and shifts by `beta`.
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &gamma.contiguous()?,
        &beta.contiguous()?,
        LayerNorm {
            eps: eps as f32,
            saved: Mutex::new(Vec::new()),
        },
    )
}

/// GELU with the exact (erf) form, as PyTorch's default.
pub struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "glassbox-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(self.name());
        let x = f32_slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        par_map(x, &mut y, gelu_forward);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let _timed = crate::model::profile::backward(self.name());
        // d/dx x·Φ(x) = Φ(x) + x·φ(x)
        let dx = with_f32(arg, |x| {
            with_f32(grad, |g| {
                let mut dx = vec![0f32; x.len()];
                par_map2(x, g, &mut dx, gelu_backward);
                dx
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 {
        return super::reference::gelu(x);
    }
    x.contiguous()?.apply_op1(Gelu)
}
