//! Layer normalisation over the last axis and GELU, each as one op with its own backward.
//! candle_nn's fused LayerNorm has no backward at all (gradients silently stop), and its
//! composed version takes a dozen passes; GELU's erf goes through scalar libm.

use super::gemm::{f32_slice, with_f32};
use super::simd::{
    gelu_backward, gelu_forward, layer_norm_rows, layer_norm_rows_backward, par_chunk_rows,
    par_map, par_map2,
};
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
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
        if d > 0 {
            let eps = self.eps;
            match par_chunk_rows(stats.len(), d) {
                // Inside the training pool the other threads are awake: the transformer's
                // [2048, 128] rows are a band each, not a serial stretch of the step.
                Some(rows) => y
                    .par_chunks_mut(rows * d)
                    .zip(x.par_chunks(rows * d))
                    .zip(stats.par_chunks_mut(rows))
                    .for_each(|((y, x), st)| layer_norm_rows(x, gamma, beta, eps, y, st)),
                None => layer_norm_rows(x, gamma, beta, eps, &mut y, &mut stats),
            }
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
                    let band = |x: &[f32], g: &[f32], dx: &mut [f32], st: &[(f32, f32)]| {
                        let (mut dg, mut db) = (vec![0f32; d], vec![0f32; d]);
                        let mut scratch = vec![0f32; 2 * d];
                        layer_norm_rows_backward(
                            x,
                            g,
                            &gv[..d],
                            st,
                            dx,
                            &mut dg,
                            &mut db,
                            &mut scratch,
                        );
                        (dg, db)
                    };
                    let (dg, db) = match par_chunk_rows(stats.len(), d) {
                        // Each band sums its own dγ and dβ; the bands' sums are added after.
                        Some(rows) => dx
                            .par_chunks_mut(rows * d)
                            .zip(xv.par_chunks(rows * d))
                            .zip(g.par_chunks(rows * d))
                            .zip(stats.par_chunks(rows))
                            .map(|(((dx, x), g), st)| band(x, g, dx, st))
                            .reduce_with(|(mut ga, mut ba), (gb, bb)| {
                                ga.iter_mut().zip(&gb).for_each(|(a, b)| *a += b);
                                ba.iter_mut().zip(&bb).for_each(|(a, b)| *a += b);
                                (ga, ba)
                            })
                            .unwrap_or_else(|| (vec![0f32; d], vec![0f32; d])),
                        None => band(xv, g, &mut dx, &stats),
                    };
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

#[cfg(test)]
mod tests {
    use super::super::filled;
    use super::*;
    use candle_core::Var;

    /// Output, dx, dγ and dβ of a loss that weighs every output differently.
    fn run(x: &Var, gamma: &Var, beta: &Var, weights: &Tensor) -> Vec<Vec<f32>> {
        let y = layer_norm(x.as_tensor(), gamma.as_tensor(), beta.as_tensor(), 1e-5).unwrap();
        let grads = (&y * weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut out = vec![flat(&y)];
        out.extend([x, gamma, beta].map(|v| flat(grads.get(v).unwrap())));
        out
    }

    /// In the training pool the rows run in bands on every thread, each band summing its own
    /// dγ and dβ: the same values as one thread, up to the order of those sums.
    #[test]
    fn bands_on_the_pool_match_one_thread() {
        let pool = crate::model::kernels::pool_of_all_threads("the banded path");
        let (rows, d) = (2048, 128);
        let x = Var::from_tensor(&filled(&[16, rows / 16, d], 1)).unwrap();
        let gamma = Var::from_tensor(&filled(&[d], 2)).unwrap();
        let beta = Var::from_tensor(&filled(&[d], 3)).unwrap();
        let weights = filled(&[16, rows / 16, d], 4);
        let alone = run(&x, &gamma, &beta, &weights);
        let (banded, took_bands) =
            pool.install(|| (run(&x, &gamma, &beta, &weights), par_chunk_rows(rows, d)));
        assert!(took_bands.is_some(), "the pool ran the single-thread path");
        for (name, (a, b)) in ["y", "dx", "dγ", "dβ"]
            .iter()
            .zip(alone.iter().zip(&banded))
        {
            crate::model::kernels::assert_close(name, b, a, 1e-5, 0.1);
        }
    }
}
