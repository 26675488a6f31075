//! Optimiser updates in place, one pass over each parameter: Adam/AdamW keep their moments as
//! plain vectors, and the weights are changed where they live (candle's update takes about a
//! dozen tensor ops, each allocating).

use super::activation::element_chunks;
use super::dispatch::simd_fn;
use super::gemm::with_f32;
use candle_core::{CpuStorage, InplaceOp1, Layout, Result, Tensor};
use rayon::prelude::*;
use std::cell::{Cell, RefCell};

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
    /// Set when an updated weight is NaN or infinite.
    non_finite: Cell<bool>,
}

/// The update's constants, derived once per call.
struct Consts {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    c1: f32,
    c2: f32,
    inv1: f32,
    inv2: f32,
    decay: f32,
    l2: f32,
}

simd_fn! {
    /// One Adam update over a chunk; `bad` is set when a new weight is not finite (checked in
    /// the same pass instead of a second one over every parameter).
    fn adam_chunk(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &Consts, bad: &mut bool) {
        let n = w.len();
        let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
        let mut any = false;
        for i in 0..n {
            let gi = g[i] + k.l2 * w[i];
            m[i] = k.beta1 * m[i] + k.c1 * gi;
            v[i] = k.beta2 * v[i] + k.c2 * gi * gi;
            w[i] = w[i] * k.decay - k.lr * (m[i] * k.inv1) / ((v[i] * k.inv2).sqrt() + k.eps);
            any |= !w[i].is_finite();
        }
        *bad |= any;
    }
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
        let k = Consts {
            lr: s.lr,
            beta1: s.beta1,
            beta2: s.beta2,
            eps: s.eps,
            c1: 1.0 - s.beta1,
            c2: 1.0 - s.beta2,
            inv1: 1.0 / s.bias1,
            inv2: 1.0 / s.bias2,
            decay: if s.decoupled {
                1.0 - s.lr * s.weight_decay
            } else {
                1.0
            },
            l2: if s.decoupled { 0.0 } else { s.weight_decay },
        };
        let bad = match element_chunks(w.len()) {
            None => {
                let mut bad = false;
                adam_chunk(w, self.grad, &mut m[..], &mut v[..], &k, &mut bad);
                bad
            }
            Some(per) => w
                .par_chunks_mut(per)
                .zip(self.grad.par_chunks(per))
                .zip(m.par_chunks_mut(per).zip(v.par_chunks_mut(per)))
                .map(|((w, g), (m, v))| {
                    let mut bad = false;
                    adam_chunk(w, g, m, v, &k, &mut bad);
                    bad
                })
                .reduce(|| false, |a, b| a || b),
        };
        self.non_finite.set(bad);
        Ok(())
    }
}

/// Updates `param` in place from `grad`, with the moments `m` and `v` (sized on first use).
/// Returns whether any updated weight is NaN or infinite.
pub fn adam_update(
    param: &Tensor,
    grad: &Tensor,
    m: &mut Vec<f32>,
    v: &mut Vec<f32>,
    step: AdamStep,
) -> Result<bool> {
    with_f32(grad, |g| {
        let op = AdamOp {
            grad: g,
            m: RefCell::new(m),
            v: RefCell::new(v),
            step,
            non_finite: Cell::new(false),
        };
        param.inplace_op1(&op)?;
        Ok(op.non_finite.get())
    })?
}
