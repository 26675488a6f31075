//! A convolution's unfolding (im2col) and folding back (col2im), into and out of a matrix whose
//! rows may be longer than one sample's columns: small samples unfolded side by side, as one
//! [C·KH·KW, n·OH·OW] matrix, make one product over n·OH·OW columns instead of n narrow ones
//! (the autoencoder's 7 × 7 maps gave the matrix kernel 49 columns a product).

use super::conv::Geometry;
use super::gemm::threads;

/// Columns a product should have at least: small samples are grouped until they reach it.
const GROUP_COLS: usize = 256;

impl Geometry {
    /// Samples per product: enough for [`GROUP_COLS`] columns, but no more than leaves every
    /// thread a share of the batch.
    pub fn group(&self) -> usize {
        let per_thread = self.batch.div_ceil(threads().max(1)).max(1);
        GROUP_COLS.div_ceil(self.cols().max(1)).clamp(1, per_thread)
    }

    /// For each kernel column kx, the output columns whose input column lies inside the image,
    /// and for each kernel row ky the output rows likewise: computed once per sample (their
    /// divisions, per row of the unfolded matrix, took 3 % of the autoencoder's step).
    fn spans(&self) -> (Vec<Span>, Vec<Span>) {
        let cols = (0..self.kw).map(|kx| span(kx, self.sw, self.pw, self.w, self.ow));
        let rows = (0..self.kh).map(|ky| span(ky, self.sh, self.ph, self.h, self.oh));
        (cols.collect(), rows.collect())
    }

    /// Unfolds one sample [C, H, W] into the first OH·OW columns of a matrix [C·KH·KW, ld].
    pub fn im2col_into(&self, x: &[f32], cols: &mut [f32], ld: usize) {
        let (kh, kw, sh, sw, ph, pw) = (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw);
        let (ow, oh) = (self.ow, self.oh);
        let p_count = oh * ow;
        let (col_spans, row_spans) = self.spans();
        for ch in 0..self.c {
            let plane = &x[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            for (ky, &(oy0, oy1)) in row_spans.iter().enumerate() {
                for (kx, &(lo, hi)) in col_spans.iter().enumerate() {
                    let row = &mut cols[((ch * kh + ky) * kw + kx) * ld..][..p_count];
                    // Padding: one fill of the row, not one per output row and edge.
                    if lo > 0 || hi < ow || oy0 > 0 || oy1 < oh {
                        row.fill(0.0);
                    }
                    if lo >= hi {
                        continue;
                    }
                    let x0 = lo * sw + kx - pw;
                    for oy in oy0..oy1 {
                        let iy = oy * sh + ky - ph;
                        let src = &plane[iy * self.w + x0..];
                        let dst = &mut row[oy * ow + lo..oy * ow + hi];
                        if sw == 1 {
                            dst.copy_from_slice(&src[..hi - lo]);
                        } else {
                            gather(dst, src, sw);
                        }
                    }
                }
            }
        }
    }

    /// Folds the first OH·OW columns of a matrix [C·KH·KW, ld] back onto one sample [C, H, W],
    /// adding overlaps to what `dx` holds (every caller passes zeros).
    pub fn col2im_from(&self, cols: &[f32], ld: usize, dx: &mut [f32]) {
        let (kh, kw, sh, sw, ph, pw) = (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw);
        let ow = self.ow;
        let p_count = self.oh * ow;
        let (col_spans, row_spans) = self.spans();
        for ch in 0..self.c {
            let plane = &mut dx[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            for (ky, &(oy0, oy1)) in row_spans.iter().enumerate() {
                for (kx, &(lo, hi)) in col_spans.iter().enumerate() {
                    if lo >= hi {
                        continue;
                    }
                    let row = &cols[((ch * kh + ky) * kw + kx) * ld..][..p_count];
                    let x0 = lo * sw + kx - pw;
                    for oy in oy0..oy1 {
                        let iy = oy * sh + ky - ph;
                        let dst = &mut plane[iy * self.w + x0..];
                        let src = &row[oy * ow + lo..oy * ow + hi];
                        if sw == 1 {
                            for (d, v) in dst.iter_mut().zip(src) {
                                *d += v;
                            }
                        } else {
                            scatter_add(dst, src, sw);
                        }
                    }
                }
            }
        }
    }
}

/// dst[j] = src[j·s]: rows of a strided convolution's unfolding are short (7 on the
/// autoencoder's 7 × 7 maps), so their bounds are checked once per row, not per element (a
/// `step_by` loop spent as long on its bookkeeping as on the copy).
#[inline(always)]
fn gather(dst: &mut [f32], src: &[f32], s: usize) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    assert!((n - 1) * s < src.len(), "strided gather beyond its source");
    for (j, d) in dst.iter_mut().enumerate() {
        // SAFETY: j·s ≤ (n − 1)·s < src.len(), asserted above.
        *d = unsafe { *src.get_unchecked(j * s) };
    }
}

/// dst[j·s] += src[j], bounds checked once per row as in [`gather`].
#[inline(always)]
fn scatter_add(dst: &mut [f32], src: &[f32], s: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    assert!(
        (n - 1) * s < dst.len(),
        "strided scatter beyond its destination"
    );
    for (j, v) in src.iter().enumerate() {
        // SAFETY: j·s ≤ (n − 1)·s < dst.len(), asserted above.
        unsafe { *dst.get_unchecked_mut(j * s) += v };
    }
}

/// A range of output positions, first..last.
type Span = (usize, usize);

/// Output positions o (0 ≤ o < out) whose input position o·s + k − p lies in 0..n, as a range.
fn span(k: usize, s: usize, p: usize, n: usize, out: usize) -> Span {
    let (s, p, k, n) = (s as isize, p as isize, k as isize, n as isize);
    let first = ((p - k).max(0) + s - 1) / s;
    let last = ((n - 1 + p - k).div_euclid(s) + 1).clamp(first, out as isize);
    (first as usize, last as usize)
}

/// `k` matrices [rows, cols], one after another in `src`, side by side as one [rows, k·cols].
pub(super) fn side_by_side(src: &[f32], rows: usize, cols: usize, k: usize, dst: &mut Vec<f32>) {
    dst.resize(rows * k * cols, 0.0);
    for (j, m) in src.chunks_exact(rows * cols).take(k).enumerate() {
        for (r, row) in m.chunks_exact(cols).enumerate() {
            dst[r * k * cols + j * cols..][..cols].copy_from_slice(row);
        }
    }
}

/// The inverse of [`side_by_side`]: [rows, k·cols] back into `k` matrices [rows, cols].
pub(super) fn apart(src: &[f32], rows: usize, cols: usize, k: usize, dst: &mut [f32]) {
    for (j, m) in dst.chunks_exact_mut(rows * cols).take(k).enumerate() {
        for (r, row) in m.chunks_exact_mut(cols).enumerate() {
            row.copy_from_slice(&src[r * k * cols + j * cols..][..cols]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_and_apart_are_inverse_and_place_each_matrix() {
        // Two [2, 3] matrices: 0..6 and 6..12.
        let src: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut joined = Vec::new();
        side_by_side(&src, 2, 3, 2, &mut joined);
        assert_eq!(joined, [0., 1., 2., 6., 7., 8., 3., 4., 5., 9., 10., 11.]);
        let mut back = vec![0f32; 12];
        apart(&joined, 2, 3, 2, &mut back);
        assert_eq!(back, src);
    }
}
