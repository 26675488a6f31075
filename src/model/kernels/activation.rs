//! ReLU as one pass forward and one backward (candle builds its backward from a comparison,
//! a conversion and a product: three passes and three allocations).

use super::gemm::{f32_slice, threads, with_f32};
use super::simd::{relu_backward, relu_forward};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Elements below which an element-wise pass stays on one thread (waking another costs more).
pub(super) const PARALLEL_ELEMENTS: usize = 1 << 17;

/// Elements per thread's share of an element-wise pass over `len`, or None for one thread.
pub(super) fn element_chunks(len: usize) -> Option<usize> {
    let t = threads();
    (t > 1 && len >= PARALLEL_ELEMENTS).then(|| len.div_ceil(t).next_multiple_of(16))
}

pub struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "glassbox-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(self.name());
        let x = f32_slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        match element_chunks(x.len()) {
            None => relu_forward(x, &mut y),
            Some(per) => y
                .par_chunks_mut(per)
                .zip(x.par_chunks(per))
                .for_each(|(y, x)| relu_forward(x, y)),
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let _timed = crate::model::profile::backward(self.name());
        let dx = with_f32(res, |y| {
            with_f32(grad, |g| {
                let mut dx = vec![0f32; y.len()];
                match element_chunks(y.len()) {
                    None => relu_backward(y, g, &mut dx),
                    Some(per) => dx
                        .par_chunks_mut(per)
                        .zip(y.par_chunks(per).zip(g.par_chunks(per)))
                        .for_each(|(dx, (y, g))| relu_backward(y, g, dx)),
                }
                dx
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, res.shape(), res.device())?))
    }
}

pub fn relu(x: &Tensor) -> Result<Tensor> {
    if x.dtype() != candle_core::DType::F32 {
        return x.relu();
    }
    x.contiguous()?.apply_op1(Relu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::{assert_close, filled, pool_of_all_threads};
    use candle_core::Var;

    /// On a pool of every thread a large ReLU is split across the threads, forward and
    /// backward, and gives the plain element-wise values.
    #[test]
    fn relu_split_across_threads_is_the_plain_loop() {
        let Some(pool) = pool_of_all_threads("the split ReLU") else {
            return;
        };
        let n = PARALLEL_ELEMENTS + 1000;
        let (x, g) = (filled(&[n], 5), filled(&[n], 6));
        let (y, dx, split) = pool.install(|| {
            let x = Var::from_tensor(&x).unwrap();
            let y = relu(x.as_tensor()).unwrap();
            let dx = (&y * &g).unwrap().sum_all().unwrap().backward().unwrap();
            let dx = dx.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
            (y.to_vec1::<f32>().unwrap(), dx, element_chunks(n).is_some())
        });
        assert!(split, "the pool ran ReLU on one thread");
        let (xv, gv) = (x.to_vec1::<f32>().unwrap(), g.to_vec1::<f32>().unwrap());
        let want_y: Vec<f32> = xv.iter().map(|v| v.max(0.0)).collect();
        let want_dx: Vec<f32> = xv
            .iter()
            .zip(&gv)
            .map(|(v, g)| if *v > 0.0 { *g } else { 0.0 })
            .collect();
        assert_close("relu", &y, &want_y, 0.0, 0.5);
        assert_close("relu gradient", &dx, &want_dx, 0.0, 0.5);
    }
}
