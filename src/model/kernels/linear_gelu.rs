//! A dense layer followed by GELU as one op, y = gelu(x·Wᵀ + b): the pre-activation's gradient
//! never becomes a node of candle's graph. candle adds every gradient that reaches a node into
//! a zero-filled tensor of its size (an allocation, a fill and an addition), which for the
//! transformer's [2048, 512] MLP layer is 4 MiB written twice and read twice per step, and the
//! GELU's own output and gradient buffers go with it.

use super::gemm::with_f32;
use super::linear::{backward_with_bias, forward_with_bias};
use super::simd::{gelu_backward, gelu_forward, par_map, par_map2};
use candle_core::{CpuStorage, CustomOp3, Device, Layout, Result, Shape, Tensor};
use std::sync::{Arc, Mutex};

/// A fused op's pre-activation, kept beside its output: for whoever looks at the first
/// layer's own output (activations in the studio), and for a backward that needs it.
#[derive(Clone, Default)]
pub(super) struct PreActivation(Arc<Mutex<Option<Tensor>>>);

impl PreActivation {
    pub fn put(&self, z: Tensor) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(z);
    }

    /// The kept tensor; `what` names the op in the error when its forward never ran.
    pub fn get(&self, what: &str) -> Result<Tensor> {
        match &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(z) => Ok(z.clone()),
            None => candle_core::bail!("{what}: no pre-activation (the forward did not run)"),
        }
    }
}

struct LinearGelu {
    /// x·Wᵀ + b.
    z: PreActivation,
}

impl CustomOp3 for LinearGelu {
    fn name(&self) -> &'static str {
        "glassbox-linear-gelu"
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
        let _timed = crate::model::profile::kernel(self.name());
        let (z, shape) = forward_with_bias((xs, xl), (ws, wl), (bs, bl))?;
        let mut y = vec![0f32; z.len()];
        par_map(&z, &mut y, gelu_forward);
        let z = Tensor::from_vec(z, shape.clone(), &Device::Cpu)?;
        self.z.put(z);
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
        let _timed = crate::model::profile::backward(self.name());
        let z = self.z.get("dense + GELU")?;
        let dz = with_f32(&z, |z| {
            with_f32(grad, |g| {
                let mut dz = vec![0f32; z.len()];
                par_map2(z, g, &mut dz, gelu_backward);
                dz
            })
        })??;
        let dz = Tensor::from_vec(dz, z.shape(), z.device())?;
        backward_with_bias(x, w, b, &dz)
    }
}

/// gelu(x [..., K] · wᵀ [K, M] + b) and the pre-activation, both [..., M]; `None` off the f32
/// path (the exact f64 gradient checks go through the separate ops).
pub fn linear_gelu(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Option<(Tensor, Tensor)>> {
    if x.dtype() != candle_core::DType::F32 {
        return Ok(None);
    }
    let z = PreActivation::default();
    let y = x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        LinearGelu { z: z.clone() },
    )?;
    let z = z.get("dense + GELU")?;
    Ok(Some((y, z)))
}

#[cfg(test)]
mod tests {
    use super::super::filled;
    use super::*;
    use candle_core::Var;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    /// The fused op gives the separate dense and GELU ops' output, pre-activation and every
    /// gradient, over a rank-3 input as the transformer feeds it.
    #[test]
    fn matches_dense_then_gelu() {
        let x = Var::from_tensor(&filled(&[3, 5, 7], 1)).unwrap();
        let w = Var::from_tensor(&(filled(&[6, 7], 2) * 0.5).unwrap()).unwrap();
        let b = Var::from_tensor(&filled(&[6], 3)).unwrap();
        // A loss that weighs each output differently, so a transposed gradient cannot pass.
        let weights = filled(&[3, 5, 6], 4);
        let (y, z) = linear_gelu(x.as_tensor(), w.as_tensor(), b.as_tensor())
            .unwrap()
            .unwrap();
        let fused = (&y * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let z_ref =
            super::super::linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap();
        let y_ref = super::super::gelu(&z_ref).unwrap();
        let apart = (&y_ref * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(max_diff(&y, &y_ref) < 1e-6 && max_diff(&z, &z_ref) < 1e-6);
        // Half of the pre-activations negative, so GELU bends and the test is not linear.
        let negative = z_ref
            .lt(0f32)
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap();
        let share: f32 = negative.mean_all().unwrap().to_scalar().unwrap();
        assert!((0.2..0.8).contains(&share), "{share}");
        for v in [&x, &w, &b] {
            let (g, r) = (fused.get(v).unwrap(), apart.get(v).unwrap());
            let scale: f32 = r
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(scale > 0.1, "gradient {scale}");
            assert!(max_diff(g, r) < 1e-5 * scale.max(1.0), "{} vs {}", g, r);
        }
    }
}
