//! Thin, safe wrapper over the `gemm` crate (the same matrix kernel candle uses), and helpers to
//! read tensor data without copies.

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};
use gemm::Parallelism;

/// Threads for tensor maths (RAYON_NUM_THREADS, else all cores), as candle counts them.
pub fn threads() -> usize {
    let counted = candle_core::utils::get_num_threads();
    #[cfg(test)]
    let counted = counted.max(TEST_MIN_THREADS.load(std::sync::atomic::Ordering::Relaxed));
    counted
}

/// In unit tests on one core, `kernels::pool_of_all_threads` raises this to 2 so the parallel
/// paths (which must give the serial results) run there too, time-sliced.
#[cfg(test)]
pub(crate) static TEST_MIN_THREADS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(1);

/// Parallel only when the work is big enough to pay for waking the other threads. Inside a
/// pool (training) the others are awake and a split pays from ~4 MFLOP; from a plain thread
/// (an explanation of one sample) waking the pool costs far more.
pub fn parallelism(flops: usize) -> Parallelism {
    let t = threads();
    let min_flops = if rayon::current_thread_index().is_some() {
        4_000_000
    } else {
        64_000_000
    };
    if t > 1 && flops >= min_flops {
        Parallelism::Rayon(t)
    } else {
        Parallelism::None
    }
}

/// How two independent products of equal size share the threads: with two or more, each takes
/// half of them (one thread each on two cores) and both run at once, instead of each being split
/// across all of them in turn; then no thread packs an operand that another also packs, and
/// each product keeps whole-matrix panels. Returns the parallelism for each product and whether
/// they run concurrently.
pub fn split_between(par: Parallelism, both: bool) -> (Parallelism, bool) {
    match par {
        Parallelism::Rayon(t) if both && t >= 2 => {
            let each = if t / 2 > 1 {
                Parallelism::Rayon(t / 2)
            } else {
                Parallelism::None
            };
            (each, true)
        }
        _ => (par, false),
    }
}

/// A matrix view: element (i, j) is at `data[off + i*rs + j*cs]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rs: isize,
    pub cs: isize,
}

impl<'a> View<'a> {
    /// Row-major [rows, cols].
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self::strided(data, cols)
    }

    /// Rows of contiguous values that start `row_stride` apart (a column block of a wider
    /// matrix, or every T-th row of a sequence batch).
    pub fn strided(data: &'a [f32], row_stride: usize) -> Self {
        Self {
            data,
            rs: row_stride as isize,
            cs: 1,
        }
    }

    /// The transpose of a row-major [rows, cols] matrix, seen as [cols, rows].
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self::strided(data, cols).t()
    }

    /// The same matrix transposed.
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// Like `matmul`, into rows of `dst` that are `dst_rs` apart (a column block of a wider matrix).
#[allow(clippy::too_many_arguments)] // the shape of a gemm call
pub fn matmul_rows(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    par: Parallelism,
) {
    matmul_strided(m, n, k, a, b, (dst, dst_rs, 1), accumulate, par);
}

/// Like `matmul`, into a column-major `dst`: element (i, j) at `dst[i + j·ld]`. The gemm
/// crate's micro-kernels tile the destination's contiguous side by 16 (AVX2) and the other by
/// 6, so a product with few rows (an LSTM step's batch of 32) runs faster with its rows
/// contiguous: 83 against 65 GFLOP/s for [32,256]·[256,1024] on a Zen 4's AVX2 path.
#[allow(clippy::too_many_arguments)] // the shape of a gemm call
pub fn matmul_colmajor(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    dst: &mut [f32],
    ld: usize,
    accumulate: bool,
    par: Parallelism,
) {
    matmul_strided(m, n, k, a, b, (dst, 1, ld), accumulate, par);
}

#[allow(clippy::too_many_arguments)] // the shape of a gemm call
fn matmul_strided(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    (dst, dst_rs, dst_cs): (&mut [f32], usize, usize),
    accumulate: bool,
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst_rs.min(dst_cs) == 1 && dst.len() > (m - 1) * dst_rs + (n - 1) * dst_cs,
        "destination too small"
    );
    let last = |v: &View, r: usize, c: usize| (r as isize - 1) * v.rs + (c as isize - 1) * v.cs;
    assert!(
        k > 0 && last(&a, m, k) < a.data.len() as isize && last(&b, k, n) < b.data.len() as isize,
        "operand too small"
    );
    let block = Block {
        a: a.data.as_ptr(),
        a_rs: a.rs,
        a_cs: a.cs,
        b: b.data.as_ptr(),
        b_rs: b.rs,
        b_cs: b.cs,
        dst: dst.as_mut_ptr(),
        dst_rs: dst_rs as isize,
        dst_cs: dst_cs as isize,
    };
    match par {
        Parallelism::Rayon(t) if t > 1 => split(m, n, k, block, accumulate, t),
        // SAFETY: the asserts keep every index inside the slices; `dst` is exclusively borrowed.
        _ => unsafe { block.run(m, n, k, accumulate, Parallelism::None) },
    }
}

/// Fewest rows (or columns) of the output one thread takes in a split.
const MIN_SPLIT: usize = 16;

/// Splits the output into `threads` bands along its longer side and runs each band as a
/// single-threaded gemm on its own thread: no synchronisation inside the product. On the
/// 2-vCPU AVX2 machine it took the transformer's dense backward from 44.8 to 37.1 ms per step
/// against the gemm crate's own threading (`glassbox bench transformer --profile`); more is
/// not there to take, as two single-threaded gemm processes side by side each run at 60 of
/// the 94 GFLOP/s one gets alone (`glassbox bench gemm`).
fn split(m: usize, n: usize, k: usize, block: Block, accumulate: bool, threads: usize) {
    use rayon::prelude::*;
    let by_rows = m >= n;
    let long = if by_rows { m } else { n };
    let parts = threads.min(long / MIN_SPLIT).max(1);
    if parts == 1 {
        // SAFETY: as in `matmul_rows`.
        return unsafe { block.run(m, n, k, accumulate, Parallelism::None) };
    }
    (0..parts).into_par_iter().for_each(|p| {
        let (lo, hi) = (p * long / parts, (p + 1) * long / parts);
        // SAFETY: bands are disjoint parts of the output (rows lo..hi, or columns lo..hi),
        // inside the extents `matmul_rows` asserted; the operands are only read.
        unsafe {
            if by_rows {
                block
                    .rows(lo)
                    .run(hi - lo, n, k, accumulate, Parallelism::None)
            } else {
                block
                    .cols(lo)
                    .run(m, hi - lo, k, accumulate, Parallelism::None)
            }
        }
    });
}

/// A gemm's operands as raw parts: A [m, k], B [k, n] and the output [m, n] (rows or columns 1 apart),
/// so that bands of one product can run on several threads.
#[derive(Clone, Copy)]
struct Block {
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    dst: *mut f32,
    dst_rs: isize,
    dst_cs: isize,
}

// SAFETY: a Block is only used inside `matmul_rows` and `split`, while the slices it points
// into are borrowed there, and threads write disjoint bands of `dst`.
unsafe impl Send for Block {}
unsafe impl Sync for Block {}

impl Block {
    /// The band starting at output row `r` (rows of A).
    fn rows(self, r: usize) -> Self {
        Self {
            a: self.a.wrapping_offset(r as isize * self.a_rs),
            dst: self.dst.wrapping_offset(r as isize * self.dst_rs),
            ..self
        }
    }

    /// The band starting at output column `c` (columns of B).
    fn cols(self, c: usize) -> Self {
        Self {
            b: self.b.wrapping_offset(c as isize * self.b_cs),
            dst: self.dst.wrapping_offset(c as isize * self.dst_cs),
            ..self
        }
    }

    /// dst = A·B (or += when `accumulate`) at the dispatch level in use.
    ///
    /// # Safety
    /// Every element the shapes and strides reach must be inside live allocations, and no
    /// other thread may touch this block's part of `dst` meanwhile.
    unsafe fn run(self, m: usize, n: usize, k: usize, accumulate: bool, par: Parallelism) {
        let level = super::dispatch::simd_level();
        if level < super::dispatch::detected() {
            // SAFETY: as the caller promises; the level is one the CPU has.
            unsafe { capped::gemm(level, m, n, k, self, accumulate, par) };
            return;
        }
        // SAFETY: as the caller promises.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                self.dst,
                self.dst_cs,
                self.dst_rs,
                accumulate,
                self.a,
                self.a_cs,
                self.a_rs,
                self.b,
                self.b_cs,
                self.b_rs,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
    }
}

/// The matrix kernel below the CPU's best, for `GLASSBOX_SIMD`: the `gemm` crate picks its
/// kernel from the CPU alone, so a capped run calls the same crate's generic driver with the
/// AVX2 (or scalar) micro-kernels itself, after the one rearrangement `gemm::gemm` makes first.
mod capped {
    use super::Block;
    use crate::model::kernels::dispatch::SimdLevel;
    use gemm::Parallelism;
    use gemm_common::simd::MixedSimd;

    /// # Safety
    /// As `Block::run`, and `level` must be one the CPU supports.
    pub(super) unsafe fn gemm(
        level: SimdLevel,
        m: usize,
        n: usize,
        k: usize,
        block: Block,
        accumulate: bool,
        par: Parallelism,
    ) {
        let dst_ptr = block.dst;
        let (dst_cs, dst_rs) = (block.dst_cs, block.dst_rs);
        // The micro-kernels want a column-oriented destination: compute Cᵀ = Bᵀ·Aᵀ instead.
        let (m, n, dst_cs, dst_rs, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs) = if dst_cs < dst_rs {
            (
                n, m, dst_rs, dst_cs, block.b, block.b_rs, block.b_cs, block.a, block.a_rs,
                block.a_cs,
            )
        } else {
            (
                m, n, dst_cs, dst_rs, block.a, block.a_cs, block.a_rs, block.b, block.b_cs,
                block.b_rs,
            )
        };
        macro_rules! run {
            ($simd:expr, $uk:path, $n:expr) => {{
                use $uk as uk;
                gemm_common::gemm::gemm_basic_generic::<
                    _,
                    f32,
                    { $n },
                    { uk::MR_DIV_N * $n },
                    { uk::NR },
                    { uk::MR_DIV_N },
                    { uk::H_M },
                    { uk::H_N },
                >(
                    $simd,
                    m,
                    n,
                    k,
                    dst_ptr,
                    dst_cs,
                    dst_rs,
                    accumulate,
                    lhs,
                    lhs_cs,
                    lhs_rs,
                    rhs,
                    rhs_cs,
                    rhs_rs,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    |a, b, c| a * b + c,
                    &uk::UKR,
                    &uk::H_UKR,
                    false,
                    par,
                )
            }};
        }
        #[cfg(target_arch = "x86_64")]
        if level == SimdLevel::Avx2 {
            if let Some(v3) = <gemm_common::simd::V3 as MixedSimd<f32, f32, f32, f32>>::try_new() {
                // 8 lanes × the f32 multiplier of 2, as gemm-f32 instantiates it.
                run!(v3, gemm_f32::microkernel::fma::f32, 8);
                return;
            }
        }
        let scalar = <gemm_common::simd::Scalar as MixedSimd<f32, f32, f32, f32>>::try_new()
            .expect("the scalar kernel needs nothing");
        run!(scalar, gemm_f32::microkernel::scalar::f32, 1);
    }
}

/// dst[m, n] (row-major) = A[m, k] · B[k, n], or += when `accumulate`.
#[allow(clippy::too_many_arguments)] // the shape of a gemm call
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: View,
    b: View,
    dst: &mut [f32],
    accumulate: bool,
    par: Parallelism,
) {
    assert!(dst.len() >= m * n, "destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].iter_mut().for_each(|v| *v = 0.0);
        }
        return;
    }
    matmul_rows(m, n, k, a, b, dst, n, accumulate, par);
}

/// The f32 values of a contiguous CPU storage region.
pub fn f32_slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = storage else {
        candle_core::bail!("this kernel works on f32 tensors");
    };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("this kernel needs a contiguous tensor"),
    }
}

/// Calls `f` with a tensor's f32 values (made contiguous first if needed).
pub fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = if t.is_contiguous() {
        t.clone()
    } else {
        t.contiguous()?
    };
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => Ok(f(f32_slice(cpu, layout)?)),
        _ => candle_core::bail!("this kernel runs on the CPU"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// The banded split (rows when the output is tall, columns when wide, transposed and
    /// strided operands, accumulation) gives the single-threaded product.
    #[test]
    fn split_bands_match_one_thread() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for &(m, n, k) in &[
            (97, 13, 7),
            (13, 97, 7),
            (64, 64, 33),
            (33, 200, 1),
            (200, 33, 65),
        ] {
            let a = filled(m * k, 1);
            let bt = filled(n * k, 2); // B stored transposed: [n, k]
            let init = filled(m * n, 3);
            for accumulate in [false, true] {
                let mut want = init.clone();
                matmul(
                    m,
                    n,
                    k,
                    View::rows(&a, k),
                    View::transposed(&bt, k),
                    &mut want,
                    accumulate,
                    Parallelism::None,
                );
                let mut got = init.clone();
                pool.install(|| {
                    matmul(
                        m,
                        n,
                        k,
                        View::rows(&a, k),
                        View::transposed(&bt, k),
                        &mut got,
                        accumulate,
                        Parallelism::Rayon(3),
                    )
                });
                let worst = want
                    .iter()
                    .zip(&got)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst < 1e-5,
                    "{m}x{n}x{k} accumulate={accumulate}: off by {worst}"
                );
                assert!(
                    want.iter().any(|v| v.abs() > 0.1),
                    "a product that says nothing"
                );
            }
        }
    }

    /// A column-major destination holds the row-major product transposed, at one thread and
    /// split across three, one row (a batch of 1) included.
    #[test]
    fn column_major_destination_is_the_transpose() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for &(m, n, k) in &[(1, 40, 9), (32, 100, 17), (17, 3, 5), (70, 70, 1)] {
            let a = filled(m * k, 4);
            let bt = filled(n * k, 5);
            let mut rows = vec![0f32; m * n];
            let (av, bv) = (View::rows(&a, k), View::transposed(&bt, k));
            matmul(m, n, k, av, bv, &mut rows, false, Parallelism::None);
            for par in [Parallelism::None, Parallelism::Rayon(3)] {
                let init = filled(m * n, 6);
                let mut cols = init.clone();
                pool.install(|| matmul_colmajor(m, n, k, av, bv, &mut cols, m, true, par));
                for i in 0..m {
                    for j in 0..n {
                        let want = rows[i * n + j] + init[i + j * m];
                        let got = cols[i + j * m];
                        assert!(
                            (want - got).abs() < 1e-5,
                            "{m}x{n}x{k} at {i},{j}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
