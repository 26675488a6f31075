//! Element-wise loops compiled for AVX-512 and AVX2 as well as the baseline, chosen at run time
//! by `dispatch::simd_level()`
//! (the default x86-64 target only has SSE2, which leaves 2–4× on the table for loops full of
//! exp and erf).

use super::dispatch::simd_fn;
use super::fastmath::exp;

/// erf by Abramowitz & Stegun 7.1.26 with a branch-free exp: |error| < 1.5e-7.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    erf_with_exp(x, a, exp(-a * a))
}

/// erf(x) given a = |x| and e = e^{-a²}, for callers that need that exp themselves.
#[inline(always)]
fn erf_with_exp(x: f32, a: f32, e: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let r = 1.0 - poly * e;
    if x < 0.0 {
        -r
    } else {
        r
    }
}

const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f32 = 0.398_942_3;

simd_fn! {
    /// y = x·Φ(x) (GELU, the exact erf form).
    pub fn gelu_forward(x: &[f32], y: &mut [f32]) {
        let y = &mut y[..x.len()];
        for (y, &x) in y.iter_mut().zip(x) {
            *y = 0.5 * x * (1.0 + erf(x * SQRT_HALF));
        }
    }
}

simd_fn! {
    /// dx = g · (Φ(x) + x·φ(x)). Φ's erf at x/√2 needs e^{-x²/2}, which is φ's exp too: one
    /// exp per element instead of two.
    pub fn gelu_backward(x: &[f32], g: &[f32], dx: &mut [f32]) {
        let (g, dx) = (&g[..x.len()], &mut dx[..x.len()]);
        for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
            let u = x * SQRT_HALF;
            let a = u.abs();
            let e = exp(-a * a);
            *d = g * (0.5 * (1.0 + erf_with_exp(u, a, e)) + x * INV_SQRT_2PI * e);
        }
    }
}

simd_fn! {
    /// y = max(x, 0), with NaN passed through so a diverging network is not hidden behind zeros.
    pub fn relu_forward(x: &[f32], y: &mut [f32]) {
        let y = &mut y[..x.len()];
        for (y, &v) in y.iter_mut().zip(x) {
            *y = if v > 0.0 || v.is_nan() { v } else { 0.0 };
        }
    }
}

simd_fn! {
    /// dx = g where the output was positive.
    pub fn relu_backward(y: &[f32], g: &[f32], dx: &mut [f32]) {
        let (g, dx) = (&g[..y.len()], &mut dx[..y.len()]);
        for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            *d = if y > 0.0 { g } else { 0.0 };
        }
    }
}

simd_fn! {
    /// y = max(x, s·x) (leaky ReLU), NaN passed through.
    pub fn leaky_forward(x: &[f32], slope: f32, y: &mut [f32]) {
        let y = &mut y[..x.len()];
        for (y, &v) in y.iter_mut().zip(x) {
            let s = v * slope;
            *y = if v >= s || v.is_nan() { v } else { s };
        }
    }
}

simd_fn! {
    /// dx of max(x, s·x): g where x is the larger, g·s where s·x is, and the two halves where
    /// they tie (x = 0), as candle's maximum splits a tie.
    pub fn leaky_backward(x: &[f32], g: &[f32], slope: f32, dx: &mut [f32]) {
        let (g, dx) = (&g[..x.len()], &mut dx[..x.len()]);
        let tie = 0.5 * (1.0 + slope);
        for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
            let s = x * slope;
            let k = if x > s { 1.0 } else if x < s { slope } else { tie };
            *d = g * k;
        }
    }
}

simd_fn! {
    pub fn tanh_forward(x: &[f32], y: &mut [f32]) {
        let y = &mut y[..x.len()];
        for (y, &v) in y.iter_mut().zip(x) {
            *y = super::fastmath::tanh(v);
        }
    }
}

simd_fn! {
    /// dx = g·(1 − y²) from the output y = tanh x.
    pub fn tanh_backward(y: &[f32], g: &[f32], dx: &mut [f32]) {
        let (g, dx) = (&g[..y.len()], &mut dx[..y.len()]);
        for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            *d = g * (1.0 - y * y);
        }
    }
}

simd_fn! {
    pub fn sigmoid_forward(x: &[f32], y: &mut [f32]) {
        let y = &mut y[..x.len()];
        for (y, &v) in y.iter_mut().zip(x) {
            *y = super::fastmath::sigmoid(v);
        }
    }
}

simd_fn! {
    /// dx = g·y·(1 − y) from the output y = σ(x).
    pub fn sigmoid_backward(y: &[f32], g: &[f32], dx: &mut [f32]) {
        let (g, dx) = (&g[..y.len()], &mut dx[..y.len()]);
        for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            *d = g * y * (1.0 - y);
        }
    }
}

/// Σ x with eight running sums, so the loop vectorises (a single running sum cannot be
/// reordered by the compiler).
#[inline(always)]
pub fn sum_lanes(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// Σ a·b with eight running sums.
#[inline(always)]
pub fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let b = &b[..a.len()];
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

/// max x with eight running maxima (−∞ for an empty slice).
#[inline(always)]
fn max_lanes(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

simd_fn! {
    /// Row-wise softmax of `scale`·p over a [t, t] block of scores, in place; with `causal`,
    /// row i keeps keys 0..=i and the rest become 0.
    pub fn softmax_rows(p: &mut [f32], t: usize, scale: f32, causal: bool) {
        for (i, row) in p.chunks_exact_mut(t).enumerate() {
            let valid = if causal { i + 1 } else { t };
            let (live, masked) = row.split_at_mut(valid);
            let max = max_lanes(live) * scale;
            for v in live.iter_mut() {
                *v = exp(*v * scale - max);
            }
            let inv = 1.0 / sum_lanes(live);
            live.iter_mut().for_each(|v| *v *= inv);
            masked.fill(0.0);
        }
    }
}

simd_fn! {
    /// Softmax of each `c`-wide row of x into p, and each row's log-sum-exp into `lse` (the
    /// cross-entropy loss: libm's scalar exp took 1 ms a step for [2048, 96] logits).
    pub fn softmax_rows_lse(x: &[f32], c: usize, p: &mut [f32], lse: &mut [f32]) {
        for ((row, pr), l) in x.chunks_exact(c).zip(p.chunks_exact_mut(c)).zip(lse) {
            let max = max_lanes(row);
            for (pv, &v) in pr.iter_mut().zip(row) {
                *pv = exp(v - max);
            }
            let sum = sum_lanes(pr);
            let inv = 1.0 / sum;
            pr.iter_mut().for_each(|v| *v *= inv);
            *l = sum.ln() + max;
        }
    }
}

simd_fn! {
    /// The softmax backward over a [t, t] block: ds = p ⊙ (ds − rowsum(ds ⊙ p)) · scale.
    pub fn softmax_rows_backward(p: &[f32], ds: &mut [f32], t: usize, scale: f32) {
        for (pr, dr) in p.chunks_exact(t).zip(ds.chunks_exact_mut(t)) {
            let dot = dot_lanes(pr, dr);
            for (dv, &pv) in dr.iter_mut().zip(pr) {
                *dv = pv * (*dv - dot) * scale;
            }
        }
    }
}

simd_fn! {
    /// Layer norm of each `d`-wide row of x into y; `stats` gets (mean, 1/σ) per row.
    pub fn layer_norm_rows(
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
        y: &mut [f32],
        stats: &mut [(f32, f32)],
    ) {
        let d = gamma.len();
        for ((row, out), st) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)).zip(stats) {
            let mean = sum_lanes(row) / d as f32;
            for (o, &v) in out.iter_mut().zip(row) {
                *o = v - mean;
            }
            let var = dot_lanes(out, out) / d as f32;
            let rstd = 1.0 / (var + eps).sqrt();
            for ((o, &g), &b) in out.iter_mut().zip(gamma).zip(beta) {
                *o = *o * rstd * g + b;
            }
            *st = (mean, rstd);
        }
    }
}

simd_fn! {
    /// Layer norm backward over rows: dx, and dγ, dβ accumulated. `scratch` holds 2·d values.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_norm_rows_backward(
        x: &[f32],
        g: &[f32],
        gamma: &[f32],
        stats: &[(f32, f32)],
        dx: &mut [f32],
        dgamma: &mut [f32],
        dbeta: &mut [f32],
        scratch: &mut [f32],
    ) {
        let d = gamma.len();
        let (xh, dxh) = scratch.split_at_mut(d);
        let dxh = &mut dxh[..d];
        for (((row, gr), dxr), &(mean, rstd)) in x
            .chunks_exact(d)
            .zip(g.chunks_exact(d))
            .zip(dx.chunks_exact_mut(d))
            .zip(stats)
        {
            // x̂ = (x − μ)·rstd; dx̂ = dy·γ; dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)).
            for j in 0..d {
                xh[j] = (row[j] - mean) * rstd;
                dxh[j] = gr[j] * gamma[j];
                dgamma[j] += gr[j] * xh[j];
                dbeta[j] += gr[j];
            }
            let m1 = sum_lanes(dxh) / d as f32;
            let m2 = dot_lanes(dxh, xh) / d as f32;
            for j in 0..d {
                dxr[j] = rstd * (dxh[j] - m1 - xh[j] * m2);
            }
        }
    }
}

/// Elements per task below which a loop stays on one thread (waking another costs more).
const PAR_MIN: usize = 32 * 1024;

/// How many rows of `width` each thread takes, or None to stay on this thread (one thread,
/// outside the training pool, or too little work to pay for waking another).
pub fn par_chunk_rows(rows: usize, width: usize) -> Option<usize> {
    let threads = super::gemm::threads();
    let in_pool = rayon::current_thread_index().is_some();
    (threads > 1 && in_pool && rows >= 2 && rows * width >= 2 * PAR_MIN)
        .then(|| rows.div_ceil(threads))
}

/// out = f(x) chunk by chunk, on the pool's threads when large enough.
pub fn par_map(x: &[f32], out: &mut [f32], f: impl Fn(&[f32], &mut [f32]) + Sync) {
    use rayon::prelude::*;
    match par_chunk_rows(out.len(), 1) {
        Some(chunk) => out
            .par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(o, x)| f(x, o)),
        None => f(x, out),
    }
}

/// out = f(x, g) chunk by chunk, on the pool's threads when large enough.
pub fn par_map2(
    x: &[f32],
    g: &[f32],
    out: &mut [f32],
    f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) {
    use rayon::prelude::*;
    match par_chunk_rows(out.len(), 1) {
        Some(chunk) => out
            .par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .zip(g.par_chunks(chunk))
            .for_each(|((o, x), g)| f(x, g, o)),
        None => f(x, g, out),
    }
}
