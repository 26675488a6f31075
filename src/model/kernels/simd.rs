//! Element-wise loops compiled for AVX-512 and AVX2 as well as the baseline, chosen at run time
//! (the default x86-64 target only has SSE2, which leaves 2–4× on the table for loops full of
//! exp and erf).

use super::fastmath::exp;
use multiversion::multiversion;

/// erf by Abramowitz & Stegun 7.1.26 with a branch-free exp: |error| < 1.5e-7.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let r = 1.0 - poly * exp(-a * a);
    if x < 0.0 {
        -r
    } else {
        r
    }
}

const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// y = x·Φ(x) (GELU, the exact erf form).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx2+fma+avx", "x86_64+avx2+fma+avx"))]
pub fn gelu_forward(x: &[f32], y: &mut [f32]) {
    let y = &mut y[..x.len()];
    for (y, &x) in y.iter_mut().zip(x) {
        *y = 0.5 * x * (1.0 + erf(x * SQRT_HALF));
    }
}

/// dx = g · (Φ(x) + x·φ(x)).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx2+fma+avx", "x86_64+avx2+fma+avx"))]
pub fn gelu_backward(x: &[f32], g: &[f32], dx: &mut [f32]) {
    let (g, dx) = (&g[..x.len()], &mut dx[..x.len()]);
    for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
        *d = g * (0.5 * (1.0 + erf(x * SQRT_HALF)) + x * INV_SQRT_2PI * exp(-0.5 * x * x));
    }
}

/// y = max(x, 0), with NaN passed through so a diverging network is not hidden behind zeros.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx2+fma+avx", "x86_64+avx2+fma+avx"))]
pub fn relu_forward(x: &[f32], y: &mut [f32]) {
    let y = &mut y[..x.len()];
    for (y, &v) in y.iter_mut().zip(x) {
        *y = if v > 0.0 || v.is_nan() { v } else { 0.0 };
    }
}

/// dx = g where the output was positive.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx2+fma+avx", "x86_64+avx2+fma+avx"))]
pub fn relu_backward(y: &[f32], g: &[f32], dx: &mut [f32]) {
    let (g, dx) = (&g[..y.len()], &mut dx[..y.len()]);
    for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
        *d = if y > 0.0 { g } else { 0.0 };
    }
}
