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

    /// Unfolds one sample [C, H, W] into the first OH·OW columns of a matrix [C·KH·KW, ld].
    pub fn im2col_into(&self, x: &[f32], cols: &mut [f32], ld: usize) {
        let (kh, kw, sh, s, ph, pw) = (
            self.kh,
            self.kw,
            self.sh,
            self.sw,
            self.ph as isize,
            self.pw as isize,
        );
        let (ow, oh) = (self.ow, self.oh);
        let p_count = oh * ow;
        for ch in 0..self.c {
            let plane = &x[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let (lo, hi) = self.valid_span(kx);
                    let row = &mut cols[((ch * kh + ky) * kw + kx) * ld..][..p_count];
                    for oy in 0..oh {
                        let iy = (oy * sh + ky) as isize - ph;
                        let dst = &mut row[oy * ow..(oy + 1) * ow];
                        if iy < 0 || iy >= self.h as isize {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * self.w..(iy as usize + 1) * self.w];
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        let x0 = (lo * s + kx) as isize - pw;
                        if s == 1 {
                            dst[lo..hi].copy_from_slice(&src[x0 as usize..x0 as usize + (hi - lo)]);
                        } else {
                            for (j, d) in dst[lo..hi].iter_mut().enumerate() {
                                *d = src[x0 as usize + j * s];
                            }
                        }
                    }
                }
            }
        }
    }

    /// Folds the first OH·OW columns of a matrix [C·KH·KW, ld] back onto one sample [C, H, W],
    /// adding overlaps.
    pub fn col2im_from(&self, cols: &[f32], ld: usize, dx: &mut [f32]) {
        let (kh, kw, sh, s, ph, pw) = (
            self.kh,
            self.kw,
            self.sh,
            self.sw,
            self.ph as isize,
            self.pw as isize,
        );
        let (ow, oh) = (self.ow, self.oh);
        let p_count = oh * ow;
        dx.fill(0.0);
        for ch in 0..self.c {
            let plane = &mut dx[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let (lo, hi) = self.valid_span(kx);
                    let row = &cols[((ch * kh + ky) * kw + kx) * ld..][..p_count];
                    for oy in 0..oh {
                        let iy = (oy * sh + ky) as isize - ph;
                        if iy < 0 || iy >= self.h as isize {
                            continue;
                        }
                        let dst = &mut plane[iy as usize * self.w..(iy as usize + 1) * self.w];
                        let x0 = ((lo * s + kx) as isize - pw) as usize;
                        let src = &row[oy * ow + lo..oy * ow + hi];
                        for (j, v) in src.iter().enumerate() {
                            dst[x0 + j * s] += v;
                        }
                    }
                }
            }
        }
    }
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
