//! Optimiser updates in place, one pass over each parameter: Adam/AdamW keep their moments as
//! plain vectors, and the weights are changed where they live (candle's update takes about a
//! dozen tensor ops, each allocating).

use super::gemm::with_f32;
use candle_core::{CpuStorage, InplaceOp1, Layout, Result, Tensor};
use std::cell::RefCell;

#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW: decay the weights directly instead of adding wd·w to the gradient.
    pub decoupled: bool,
    /// 1 − β1ᵗ and 1 − β2ᵗ.
    pub bias1: f32,
    pub bias2: f32,
}

struct AdamOp<'a> {
    grad: &'a [f32],
    m: RefCell<&'a mut Vec<f32>>,
    v: RefCell<&'a mut Vec<f32>>,
    step: AdamStep,
}

impl InplaceOp1 for AdamOp<'_> {
    fn name(&self) -> &'static str {
        "glassbox-adam"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let _timed = crate::model::profile::kernel(self.name());
        let CpuStorage::F32(all) = storage else {
            candle_core::bail!("the fused Adam update works on f32 parameters");
        };
        let (a, b) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("parameter is not contiguous".into()))?;
        let w = &mut all[a..b];
        let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
        if m.len() != w.len() {
            **m = vec![0.0; w.len()];
            **v = vec![0.0; w.len()];
        }
        if self.grad.len() != w.len() {
            candle_core::bail!("gradient and parameter sizes differ");
        }
        let s = self.step;
        let (c1, c2) = (1.0 - s.beta1, 1.0 - s.beta2);
        let (inv1, inv2) = (1.0 / s.bias1, 1.0 / s.bias2);
        let decay = if s.decoupled {
            1.0 - s.lr * s.weight_decay
        } else {
            1.0
        };
        let l2 = if s.decoupled { 0.0 } else { s.weight_decay };
        for (((wi, &gi), mi), vi) in w
            .iter_mut()
            .zip(self.grad)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            let g = gi + l2 * *wi;
            *mi = s.beta1 * *mi + c1 * g;
            *vi = s.beta2 * *vi + c2 * g * g;
            *wi = *wi * decay - s.lr * (*mi * inv1) / ((*vi * inv2).sqrt() + s.eps);
        }
        Ok(())
    }
}

/// Updates `param` in place from `grad`, with the moments `m` and `v` (sized on first use).
pub fn adam_update(
    param: &Tensor,
    grad: &Tensor,
    m: &mut Vec<f32>,
    v: &mut Vec<f32>,
    step: AdamStep,
) -> Result<()> {
    with_f32(grad, |g| {
        param.inplace_op1(&AdamOp {
            grad: g,
            m: RefCell::new(m),
            v: RefCell::new(v),
            step,
        })
    })?
}
