//! Element-wise activations as one pass forward and one backward: ReLU, leaky ReLU, tanh and
//! sigmoid. candle builds ReLU's backward from a comparison, a conversion and a product, a
//! maximum's (leaky ReLU) from two comparisons, two conversions and four arithmetic passes, and
//! runs tanh and sigmoid through scalar libm calls on one thread.

use super::gemm::{f32_slice, threads, with_f32};
use super::simd::{
    leaky_backward, leaky_forward, relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
    tanh_backward, tanh_forward,
};
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Elements below which an element-wise pass stays on one thread (waking another costs more).
pub(super) const PARALLEL_ELEMENTS: usize = 1 << 17;

/// Elements per thread's share of an element-wise pass over `len`, or None for one thread.
pub(super) fn element_chunks(len: usize) -> Option<usize> {
    let t = threads();
    (t > 1 && len >= PARALLEL_ELEMENTS).then(|| len.div_ceil(t).next_multiple_of(16))
}

/// out = f(a) chunk by chunk, split across the threads when large enough.
pub(super) fn split_map(a: &[f32], out: &mut [f32], f: impl Fn(&[f32], &mut [f32]) + Sync) {
    match element_chunks(out.len()) {
        None => f(a, out),
        Some(per) => out
            .par_chunks_mut(per)
            .zip(a.par_chunks(per))
            .for_each(|(o, a)| f(a, o)),
    }
}

/// out = f(a, b) chunk by chunk, split across the threads when large enough.
pub(super) fn split_map2(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) {
    match element_chunks(out.len()) {
        None => f(a, b, out),
        Some(per) => out
            .par_chunks_mut(per)
            .zip(a.par_chunks(per).zip(b.par_chunks(per)))
            .for_each(|(o, (a, b))| f(a, b, o)),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Relu,
    /// max(x, slope·x).
    Leaky(f32),
    Tanh,
    Sigmoid,
}

struct Activation(Kind);

impl CustomOp1 for Activation {
    fn name(&self) -> &'static str {
        match self.0 {
            Kind::Relu => "glassbox-relu",
            Kind::Leaky(_) => "glassbox-leaky-relu",
            Kind::Tanh => "glassbox-tanh",
            Kind::Sigmoid => "glassbox-sigmoid",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(self.name());
        let x = f32_slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        match self.0 {
            Kind::Relu => split_map(x, &mut y, relu_forward),
            Kind::Leaky(slope) => split_map(x, &mut y, |x, y| leaky_forward(x, slope, y)),
            Kind::Tanh => split_map(x, &mut y, tanh_forward),
            Kind::Sigmoid => split_map(x, &mut y, sigmoid_forward),
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let _timed = crate::model::profile::backward(self.name());
        // Leaky ReLU's slope is read off the input; the others' off the output.
        let from = if matches!(self.0, Kind::Leaky(_)) {
            arg
        } else {
            res
        };
        let dx = with_f32(from, |v| {
            with_f32(grad, |g| {
                let mut dx = vec![0f32; v.len()];
                match self.0 {
                    Kind::Relu => split_map2(v, g, &mut dx, relu_backward),
                    Kind::Leaky(slope) => {
                        split_map2(v, g, &mut dx, |x, g, d| leaky_backward(x, g, slope, d))
                    }
                    Kind::Tanh => split_map2(v, g, &mut dx, tanh_backward),
                    Kind::Sigmoid => split_map2(v, g, &mut dx, sigmoid_backward),
                }
                dx
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, res.shape(), res.device())?))
    }
}

fn apply(x: &Tensor, kind: Kind) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Activation(kind))
}

pub fn relu(x: &Tensor) -> Result<Tensor> {
    if x.dtype() != DType::F32 {
        return x.relu();
    }
    apply(x, Kind::Relu)
}

/// max(x, slope·x).
pub fn leaky_relu(x: &Tensor, slope: f32) -> Result<Tensor> {
    if x.dtype() != DType::F32 {
        return x.maximum(&(x * slope as f64)?);
    }
    apply(x, Kind::Leaky(slope))
}

pub fn tanh(x: &Tensor) -> Result<Tensor> {
    if x.dtype() != DType::F32 {
        return x.tanh();
    }
    apply(x, Kind::Tanh)
}

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    if x.dtype() != DType::F32 {
        return candle_nn::ops::sigmoid(x);
    }
    apply(x, Kind::Sigmoid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::{assert_close, filled, pool_of_all_threads};
    use candle_core::Var;

    /// On a pool of every thread a large activation is split across the threads, forward and
    /// backward, and gives the plain element-wise values.
    #[test]
    fn activations_split_across_threads_are_the_plain_loops() {
        let pool = pool_of_all_threads("the split activations");
        let n = PARALLEL_ELEMENTS + 1000;
        let (x, g) = (filled(&[n], 5), filled(&[n], 6));
        let (xv, gv) = (x.to_vec1::<f32>().unwrap(), g.to_vec1::<f32>().unwrap());
        type Plain = fn(f32) -> (f32, f32);
        let plain: [(Kind, Plain); 4] = [
            (Kind::Relu, |v| if v > 0.0 { (v, 1.0) } else { (0.0, 0.0) }),
            // A tie (x = 0) splits the gradient between x and 0.2·x, as candle's maximum does.
            (Kind::Leaky(0.2), |v| match v {
                v if v > 0.0 => (v, 1.0),
                v if v < 0.0 => (0.2 * v, 0.2),
                v => (v, 0.6),
            }),
            (Kind::Tanh, |v| (v.tanh(), 1.0 - v.tanh() * v.tanh())),
            (Kind::Sigmoid, |v| {
                let s = 1.0 / (1.0 + (-v).exp());
                (s, s * (1.0 - s))
            }),
        ];
        for (kind, f) in plain {
            let (y, dx, split) = pool.install(|| {
                let x = Var::from_tensor(&x).unwrap();
                let y = apply(x.as_tensor(), kind).unwrap();
                let dx = (&y * &g).unwrap().sum_all().unwrap().backward().unwrap();
                let dx = dx.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
                (y.to_vec1::<f32>().unwrap(), dx, element_chunks(n).is_some())
            });
            assert!(split, "the pool ran {kind:?} on one thread");
            let want_y: Vec<f32> = xv.iter().map(|v| f(*v).0).collect();
            let want_dx: Vec<f32> = xv.iter().zip(&gv).map(|(v, g)| g * f(*v).1).collect();
            assert_close(&format!("{kind:?}"), &y, &want_y, 1e-5, 0.5);
            assert_close(&format!("{kind:?} gradient"), &dx, &want_dx, 1e-5, 0.1);
        }
    }
}
