//! Softmax cross-entropy on logits as one op: a single pass computes the loss and keeps the
//! probabilities, and the backward is (p − onehot)/N. candle's composition takes seven ops.

use super::gemm::f32_slice;
use super::simd::softmax_rows_lse;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use std::sync::Mutex;

pub struct SoftmaxCrossEntropy {
    probs: Mutex<Vec<f32>>,
}

impl CustomOp2 for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "glassbox-softmax-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        ls: &CpuStorage,
        ll: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(<Self as CustomOp2>::name(self));
        let &[n, c] = ll.dims() else {
            candle_core::bail!("cross-entropy expects logits [N, C], got {:?}", ll.dims());
        };
        let logits = f32_slice(ls, ll)?;
        let CpuStorage::U32(labels) = ys else {
            candle_core::bail!("cross-entropy expects u32 labels");
        };
        let (a, b) = yl
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("labels must be contiguous".into()))?;
        let labels = &labels[a..b];
        if labels.len() != n {
            candle_core::bail!("{n} rows of logits but {} labels", labels.len());
        }
        if let Some(y) = labels.iter().find(|&&y| y as usize >= c) {
            candle_core::bail!("label {y} is out of range for {c} classes");
        }
        let mut probs = vec![0f32; n * c];
        let mut lse = vec![0f32; n];
        if c > 0 {
            softmax_rows_lse(logits, c, &mut probs, &mut lse);
        }
        let total: f64 = logits
            .chunks(c.max(1))
            .zip(&lse)
            .zip(labels)
            .map(|((row, &l), &y)| (l - row[y as usize]) as f64)
            .sum();
        *self.probs.lock().unwrap_or_else(|e| e.into_inner()) = probs;
        Ok((
            CpuStorage::F32(vec![(total / n as f64) as f32]),
            Shape::from(()),
        ))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        labels: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let _timed = crate::model::profile::backward(self.name());
        let (n, c) = logits.dims2()?;
        let scale = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? / n as f32;
        let labels = labels.to_vec1::<u32>()?;
        let mut d = std::mem::take(&mut *self.probs.lock().unwrap_or_else(|e| e.into_inner()));
        if d.len() != n * c {
            candle_core::bail!("cross-entropy backward without its forward");
        }
        for (row, &y) in d.chunks_mut(c).zip(&labels) {
            row[y as usize] -= 1.0;
            row.iter_mut().for_each(|v| *v *= scale);
        }
        Ok((Some(Tensor::from_vec(d, (n, c), logits.device())?), None))
    }
}

/// Mean cross-entropy of `logits` [N, C] against class `labels` [N] (u32).
pub fn softmax_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    if logits.dtype() != candle_core::DType::F32 {
        return super::reference::cross_entropy(logits, labels);
    }
    logits.contiguous()?.apply_op2(
        &labels.contiguous()?,
        SoftmaxCrossEntropy {
            probs: Mutex::new(Vec::new()),
        },
    )
}
