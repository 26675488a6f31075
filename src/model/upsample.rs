//! Upsample2d as two small matrix products, y = R · x · Cᵀ per channel, R and C the 1-D
//! interpolation matrices of the rows and columns (a one per row for nearest, two weights for
//! bilinear). Matrix products carry candle's gradients, so the layer needs no kernel of its
//! own; at a decoder's sizes (7 → 14 → 28) the matrices are a few hundred values.

use crate::graph::UpsampleMode;
use candle_core::{DType, Device, Result, Tensor};

/// The (size·scale) × size matrix taking a line of `size` values to `size·scale`, as PyTorch's
/// `nn.Upsample` does: nearest repeats each value; bilinear (align_corners=False) reads each
/// new pixel's centre at (i + ½)/scale − ½ in the old line, clamped to its ends.
pub(crate) fn interpolation(size: usize, scale: usize, mode: UpsampleMode) -> Vec<f64> {
    let out = size * scale;
    let mut m = vec![0f64; out * size];
    for i in 0..out {
        match mode {
            UpsampleMode::Nearest => m[i * size + i / scale] = 1.0,
            UpsampleMode::Bilinear => {
                let src = ((i as f64 + 0.5) / scale as f64 - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(size - 1);
                let i1 = (i0 + 1).min(size - 1);
                let t = src - i0 as f64;
                m[i * size + i0] += 1.0 - t;
                m[i * size + i1] += t;
            }
        }
    }
    m
}

/// R (H·s × H) and Cᵀ (W × W·s) in `dtype`.
pub(crate) fn matrices(
    (h, w): (usize, usize),
    scale: usize,
    mode: UpsampleMode,
    dtype: DType,
) -> Result<(Tensor, Tensor)> {
    let rows = Tensor::from_vec(interpolation(h, scale, mode), (h * scale, h), &Device::Cpu)?;
    let cols = Tensor::from_vec(interpolation(w, scale, mode), (w * scale, w), &Device::Cpu)?;
    Ok((
        rows.to_dtype(dtype)?,
        cols.t()?.contiguous()?.to_dtype(dtype)?,
    ))
}

/// x [B, C, H, W] → [B, C, H·s, W·s].
pub(crate) fn upsample(x: &Tensor, rows: &Tensor, cols_t: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    let (oh, ow) = (rows.dim(0)?, cols_t.dim(1)?);
    let planes = x.reshape((b * c, h, w))?;
    rows.broadcast_matmul(&planes)?
        .broadcast_matmul(cols_t)?
        .reshape((b, c, oh, ow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_repeats_and_bilinear_blends_as_pytorch_does() {
        let x = Tensor::new(&[[[[1f32, 2.0], [3.0, 4.0]]]], &Device::Cpu).unwrap();
        let (r, c) = matrices((2, 2), 2, UpsampleMode::Nearest, DType::F32).unwrap();
        let y = upsample(&x, &r, &c)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(
            y,
            [1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]
        );
        // torch.nn.Upsample(scale_factor=2, mode="bilinear")(torch.tensor([[[[1., 2.], [3., 4.]]]]))
        let (r, c) = matrices((2, 2), 2, UpsampleMode::Bilinear, DType::F32).unwrap();
        let y = upsample(&x, &r, &c)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let torch = [
            1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
        ];
        for (a, b) in y.iter().zip(torch) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn every_row_of_an_interpolation_sums_to_one() {
        for mode in UpsampleMode::ALL {
            for (size, scale) in [(1, 3), (5, 2), (7, 4)] {
                let m = interpolation(size, scale, mode);
                for row in m.chunks(size) {
                    assert!(
                        (row.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                        "{mode:?} {row:?}"
                    );
                }
            }
        }
    }
}
