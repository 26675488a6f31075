//! Thin, safe wrapper over the `gemm` crate (the same matrix kernel candle uses), and helpers to
//! read tensor data without copies.

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};
use gemm::Parallelism;

/// Threads for tensor maths (RAYON_NUM_THREADS, else all cores), as candle counts them.
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

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
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst_rs >= n && dst.len() >= (m - 1) * dst_rs + n,
        "destination too small"
    );
    let last = |v: &View, r: usize, c: usize| (r as isize - 1) * v.rs + (c as isize - 1) * v.cs;
    assert!(
        k > 0 && last(&a, m, k) < a.data.len() as isize && last(&b, k, n) < b.data.len() as isize,
        "operand too small"
    );
    // SAFETY: the asserts keep every index inside the slices; `dst` is exclusively borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs,
            a.rs,
            b.data.as_ptr(),
            b.cs,
            b.rs,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
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
