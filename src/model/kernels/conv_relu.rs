//! A 2-D convolution followed by ReLU as one op, y = relu(conv(x, w) + b): the
//! pre-activation's gradient never becomes a node of candle's graph. candle adds every gradient
//! that reaches a node into a zero-filled tensor of its size, on one thread; for the CNN's first
//! layer, [64, 32, 28, 28], that is 6.4 MB filled, read twice and written per step, and as
//! much again for the second.

use super::activation::{split_map, split_map2};
use super::conv::{conv_grads, Geometry};
use super::gemm::{f32_slice, with_f32};
use super::linear_gelu::PreActivation;
use super::simd::{relu_backward, relu_forward};
use candle_core::{CpuStorage, CustomOp3, Device, Layout, Result, Shape, Tensor};

struct ConvRelu {
    stride: (usize, usize),
    padding: (usize, usize),
    /// The pre-activation, for whoever looks at the convolution's own output (activations in
    /// the studio); the backward needs only the output (z > 0 exactly where y > 0).
    z: PreActivation,
}

impl CustomOp3 for ConvRelu {
    fn name(&self) -> &'static str {
        "glassbox-conv2d-relu"
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
        let g = Geometry::new(xl.dims(), wl.dims(), self.stride, self.padding)?;
        let z = g.forward(
            f32_slice(xs, xl)?,
            f32_slice(ws, wl)?,
            Some(f32_slice(bs, bl)?),
        );
        let mut y = vec![0f32; z.len()];
        split_map(&z, &mut y, relu_forward);
        let shape = Shape::from((g.batch, g.f, g.oh, g.ow));
        let z = Tensor::from_vec(z, shape.clone(), &Device::Cpu)?;
        self.z.put(z);
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let _timed = crate::model::profile::backward(self.name());
        let dz = with_f32(res, |y| {
            with_f32(grad, |g| {
                let mut dz = vec![0f32; y.len()];
                split_map2(y, g, &mut dz, relu_backward);
                dz
            })
        })??;
        let dz = Tensor::from_vec(dz, res.shape(), res.device())?;
        let geo = Geometry::new(x.dims(), w.dims(), self.stride, self.padding)?;
        let (dw, db, dx) = conv_grads(x, w, &dz, |xv, wv, gv, want_dx, want_dw| {
            geo.backward(xv, wv, gv, want_dx, want_dw)
        })?;
        let db = db
            .map(|db| Tensor::from_vec(db, b.shape(), b.device()))
            .transpose()?;
        Ok((dx, dw, db))
    }
}

/// relu(conv(x [B, C, H, W], w [F, C, K, K]) + b [F]) and the pre-activation, both
/// [B, F, OH, OW]; `None` off the f32 path (the exact f64 gradient checks run the two ops).
pub fn conv2d_relu(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Option<(Tensor, Tensor)>> {
    if x.dtype() != candle_core::DType::F32 {
        return Ok(None);
    }
    let z = PreActivation::default();
    let op = ConvRelu {
        stride: (stride, stride),
        padding: (padding, padding),
        z: z.clone(),
    };
    let y = x
        .contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)?;
    let z = z.get("convolution + ReLU")?;
    Ok(Some((y, z)))
}
