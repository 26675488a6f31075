//! The recurrent layers' per-step product on the AVX2 path: dst [b, rows] += x [b, inner] · Wᵀ
//! for a batch of a few rows (32, or one thread's 16) against a weight matrix that stays the
//! same for all T steps. The `gemm` crate packs W again at every call (10 % of the LSTM
//! workload's time in its packing routines at one thread) and its AVX2 tile is 16 × 6 with the
//! 16 along the destination's contiguous side; here W is packed once per sequence into 16-row
//! panels and each step runs only the 16 × 6 register tile: 16 outputs of W's rows for 6 batch
//! rows, with the batch values broadcast.

/// W [rows, inner] in panels of 16 rows: panel q holds, for each p < inner, the 16 values
/// W[16q .. 16q + 16, p] side by side (zero past the last row).
pub struct Panels {
    data: Vec<f32>,
    rows: usize,
    inner: usize,
}

const LANES: usize = 16;
/// Batch rows per register tile: 2 × 6 accumulators, 2 loads and a broadcast fill 15 of the
/// 16 AVX2 registers.
const TILE_ROWS: usize = 6;

impl Panels {
    /// Packs the matrix whose element (i, p) is `w[i·rs + p·cs]`, i < rows, p < inner.
    pub fn pack(w: &[f32], rows: usize, inner: usize, rs: usize, cs: usize) -> Self {
        let panels = rows.div_ceil(LANES);
        let mut data = vec![0f32; panels * inner * LANES];
        for (q, panel) in data.chunks_exact_mut(inner * LANES).enumerate() {
            for (p, lane) in panel.chunks_exact_mut(LANES).enumerate() {
                for (i, v) in lane.iter_mut().enumerate() {
                    let row = q * LANES + i;
                    if row < rows {
                        *v = w[row * rs + p * cs];
                    }
                }
            }
        }
        Self { data, rows, inner }
    }

    /// Whether this machine runs the packed kernel (AVX2 with FMA).
    pub fn supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// `dst[r·dst_rs + i] += Σ_p x[r·x_rs + p] · W[i, p]` for r < b, i < rows.
    pub fn add_product(&self, x: &[f32], x_rs: usize, b: usize, dst: &mut [f32], dst_rs: usize) {
        if b == 0 || self.rows == 0 {
            return;
        }
        assert!(
            x.len() >= (b - 1) * x_rs + self.inner && dst.len() >= (b - 1) * dst_rs + self.rows,
            "step product: buffers too small"
        );
        #[cfg(target_arch = "x86_64")]
        if Self::supported() {
            // SAFETY: the CPU has AVX2 and FMA (checked above), and the assertion above keeps
            // every row the kernel reads in x and writes in dst inside the slices.
            unsafe { self.add_product_avx2(x, x_rs, b, dst, dst_rs) };
            return;
        }
        for r in 0..b {
            let xr = &x[r * x_rs..r * x_rs + self.inner];
            for i in 0..self.rows {
                let (q, lane) = (i / LANES, i % LANES);
                let panel = &self.data[q * self.inner * LANES..];
                let dot: f32 = xr
                    .iter()
                    .enumerate()
                    .map(|(p, &v)| v * panel[p * LANES + lane])
                    .sum();
                dst[r * dst_rs + i] += dot;
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avx")]
    unsafe fn add_product_avx2(
        &self,
        x: &[f32],
        x_rs: usize,
        b: usize,
        dst: &mut [f32],
        dst_rs: usize,
    ) {
        // x in groups of up to TILE_ROWS rows, interleaved by p: each tile then broadcasts from
        // one contiguous stream instead of rows that may lie t·h apart (the forward's h_{s−1}
        // rows are 64 KiB apart in the lstm workload, the same L1 sets for all six).
        let groups: Vec<(usize, usize)> = row_groups(b).collect();
        let mut xg = vec![0f32; groups.len() * self.inner * TILE_ROWS];
        for (group, &(r0, nb)) in xg.chunks_exact_mut(self.inner * TILE_ROWS).zip(&groups) {
            for n in 0..nb {
                let row = &x[(r0 + n) * x_rs..][..self.inner];
                for (p, &v) in row.iter().enumerate() {
                    group[p * TILE_ROWS + n] = v;
                }
            }
        }
        let dp = dst.as_mut_ptr();
        for q in 0..self.rows.div_ceil(LANES) {
            let a = self.data.as_ptr().add(q * self.inner * LANES);
            let lanes = (self.rows - q * LANES).min(LANES);
            for (gi, &(r0, nb)) in groups.iter().enumerate() {
                let x0 = xg.as_ptr().add(gi * self.inner * TILE_ROWS);
                let d0 = dp.add(r0 * dst_rs + q * LANES);
                tile_rows(nb, (self.inner, a, x0, d0, dst_rs, lanes));
            }
        }
    }
}

/// Rows 0..b in groups of at most TILE_ROWS, as (first row, count), with no group under 3
/// rows unless b itself is under 6: a tile of NB rows keeps 2·NB accumulators, and under 8 the
/// FMA latency (4 cycles, 2 ports) leaves the units idle. 32 rows (the lstm bench's batch at
/// one thread) run as 6, 6, 6, 6, 4, 4 instead of 6, 6, 6, 6, 6, 2: the step product went
/// from 84–86 to 100–104 GFLOP/s on the Zen 4's AVX2 path (`glassbox bench gemm`).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn row_groups(b: usize) -> impl Iterator<Item = (usize, usize)> {
    let full = b / TILE_ROWS;
    let rem = b % TILE_ROWS;
    // A short remainder borrows from the last full group and the two split evenly.
    let (plain, tail): (usize, [usize; 2]) = match rem {
        1..=3 if full > 0 => (
            full - 1,
            [(TILE_ROWS + rem).div_ceil(2), (TILE_ROWS + rem) / 2],
        ),
        _ => (full, [rem, 0]),
    };
    (0..plain).map(|g| (g * TILE_ROWS, TILE_ROWS)).chain(
        tail.into_iter()
            .scan(plain * TILE_ROWS, |at, n| {
                let r0 = *at;
                *at += n;
                Some((r0, n))
            })
            .filter(|&(_, n)| n > 0),
    )
}

/// One tile of `nb` (1 to TILE_ROWS) rows.
///
/// # Safety
/// As `tile`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx")]
unsafe fn tile_rows(nb: usize, t: Tile) {
    match nb {
        1 => tile::<1>(t),
        2 => tile::<2>(t),
        3 => tile::<3>(t),
        4 => tile::<4>(t),
        5 => tile::<5>(t),
        _ => tile::<6>(t),
    }
}

/// (inner, panel, x's group (p-major, TILE_ROWS per p), dst's first value, dst's row stride,
/// valid lanes of the panel).
#[cfg(target_arch = "x86_64")]
type Tile = (usize, *const f32, *const f32, *mut f32, usize, usize);

/// NB batch rows × one 16-row panel, accumulated over `inner` and added into dst.
///
/// # Safety
/// The CPU has AVX2 and FMA; the panel holds `inner`·16 values, the group `inner`·TILE_ROWS,
/// and dst's NB rows of `lanes` values are writable and no one else's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx")]
unsafe fn tile<const NB: usize>((inner, a, x, dst, dst_rs, lanes): Tile) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); 2]; NB];
    for p in 0..inner {
        let a0 = _mm256_loadu_ps(a.add(p * LANES));
        let a1 = _mm256_loadu_ps(a.add(p * LANES + 8));
        for (n, acc) in acc.iter_mut().enumerate() {
            let v = _mm256_broadcast_ss(&*x.add(p * TILE_ROWS + n));
            acc[0] = _mm256_fmadd_ps(a0, v, acc[0]);
            acc[1] = _mm256_fmadd_ps(a1, v, acc[1]);
        }
    }
    for (n, acc) in acc.iter().enumerate() {
        let d = dst.add(n * dst_rs);
        if lanes == LANES {
            _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), acc[0]));
            _mm256_storeu_ps(d.add(8), _mm256_add_ps(_mm256_loadu_ps(d.add(8)), acc[1]));
        } else {
            let mut t = [0f32; LANES];
            _mm256_storeu_ps(t.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(t.as_mut_ptr().add(8), acc[1]);
            for (i, v) in t.iter().take(lanes).enumerate() {
                *d.add(i) += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the plain triple loop, for ragged rows (a part-filled last panel), every
    /// batch remainder of the 6-row tile, strided x and dst, and W read transposed.
    #[test]
    fn matches_the_plain_product() {
        for (b, rows, inner) in [
            (32, 1024, 256),
            (16, 40, 7),
            (7, 17, 33),
            (1, 1, 1),
            (13, 16, 5),
            (9, 20, 11),
            (8, 33, 4),
        ] {
            let (x_rs, dst_rs) = (inner + 3, rows + 5);
            let x: Vec<f32> = (0..b * x_rs)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
                .collect();
            let w: Vec<f32> = (0..rows * inner)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 50.0)
                .collect();
            let base: Vec<f32> = (0..b * dst_rs).map(|i| (i % 11) as f32).collect();
            for transposed in [false, true] {
                // W as [rows, inner] row-major, or the same W stored as its transpose.
                let (store, rs, cs) = if transposed {
                    let mut t = vec![0f32; rows * inner];
                    for i in 0..rows {
                        for p in 0..inner {
                            t[p * rows + i] = w[i * inner + p];
                        }
                    }
                    (t, 1, rows)
                } else {
                    (w.clone(), inner, 1)
                };
                let panels = Panels::pack(&store, rows, inner, rs, cs);
                let mut dst = base.clone();
                panels.add_product(&x, x_rs, b, &mut dst, dst_rs);
                for r in 0..b {
                    for j in 0..dst_rs {
                        let want = if j < rows {
                            let dot: f32 =
                                (0..inner).map(|p| x[r * x_rs + p] * w[j * inner + p]).sum();
                            base[r * dst_rs + j] + dot
                        } else {
                            base[r * dst_rs + j]
                        };
                        let got = dst[r * dst_rs + j];
                        assert!(
                            (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                            "b{b} rows{rows} inner{inner} at {r},{j}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn row_groups_cover_every_row_once() {
        for b in 0..40 {
            let groups: Vec<_> = row_groups(b).collect();
            let mut next = 0;
            for &(r0, n) in &groups {
                assert!(
                    r0 == next && (1..=TILE_ROWS).contains(&n),
                    "b {b}: {groups:?}"
                );
                assert!(n >= 3 || b < TILE_ROWS, "b {b}: a group of {n}");
                next += n;
            }
            assert_eq!(next, b);
        }
    }
}
