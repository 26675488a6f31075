//! ReLU as one pass forward and one backward (candle builds its backward from a comparison,
//! a conversion and a product: three passes and three allocations).

use super::gemm::{f32_slice, with_f32};
use super::simd::{relu_backward, relu_forward};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

pub struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "glassbox-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(self.name());
        let x = f32_slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        relu_forward(x, &mut y);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let _timed = crate::model::profile::backward(self.name());
        let dx = with_f32(res, |y| {
            with_f32(grad, |g| {
                let mut dx = vec![0f32; y.len()];
                relu_backward(y, g, &mut dx);
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
