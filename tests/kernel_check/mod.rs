//! The checks behind `tests/kernel_properties*.rs`: values and every gradient of an f32 kernel
//! against a reference built from candle's own ops (index_select / matmul / reductions, whose
//! backward passes are right for any shape), central finite differences on the f32 path itself,
//! and the child runs of a test binary at every lower instruction set.
#![allow(dead_code)] // each test binary uses its own part

use candle_core::{DType, Device, Tensor, Var};
use glassbox::model::kernels::dispatch::{self, SimdLevel, SIMD_ENV};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const CASES: u32 = 200;

/// Per kernel (the first word of a check's `what`: "conv2d b2 c3 …" counts as "conv2d"), in this
/// process: finite-difference probes compared and probes skipped at a kink.
/// A check that skipped every probe would pass while checking nothing, so once a kernel has
/// had `PROBES_JUDGED_FROM` probes, at least `MIN_COMPARED_SHARE` of them must have compared.
static PROBES: std::sync::Mutex<std::collections::BTreeMap<String, (usize, usize)>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());
const PROBES_JUDGED_FROM: usize = 60;
const MIN_COMPARED_SHARE: f64 = 0.5;

fn count_probes(what: &str, compared: usize, skipped: usize) -> Result<(), TestCaseError> {
    let mut map = PROBES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let kernel = what.split_whitespace().next().unwrap_or(what);
    let total = map.entry(kernel.to_string()).or_default();
    total.0 += compared;
    total.1 += skipped;
    let (compared, skipped) = *total;
    let tried = compared + skipped;
    prop_assert!(
        tried < PROBES_JUDGED_FROM || compared as f64 >= MIN_COMPARED_SHARE * tried as f64,
        "{}: only {} of {} finite-difference probes compared (the rest sat at a kink)",
        kernel,
        compared,
        tried
    );
    Ok(())
}

pub fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    }
}

pub fn var(dims: &[usize], scale: f32, rng: &mut ChaCha8Rng) -> Var {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-scale..scale)).collect();
    Var::from_tensor(&Tensor::from_vec(v, dims, &Device::Cpu).unwrap()).unwrap()
}

pub fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Largest difference relative to the reference's largest magnitude (floored at 1e-2: a
/// gradient that is zero in exact arithmetic, as layer norm's over two features nearly is,
/// is f32 rounding noise on both sides).
pub fn max_rel(a: &Tensor, b: &Tensor) -> f32 {
    let (a, b) = (values(a), values(b));
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-2);
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0.0, f32::max)
}

/// `ours` and `reference` (functions of `vars`) agree in value and in every gradient of a
/// random projection of the output.
pub fn agree(
    vars: &[&Var],
    ours: &dyn Fn() -> Tensor,
    reference: &dyn Fn() -> Tensor,
    rng: &mut ChaCha8Rng,
    what: &str,
) -> Result<(), TestCaseError> {
    let (a, r) = (ours(), reference());
    prop_assert_eq!(a.dims(), r.dims(), "{}: shapes", what);
    let d = max_rel(&a, &r);
    prop_assert!(d < 1e-4, "{}: values differ by {}", what, d);
    let probe = var(a.dims(), 1.0, rng);
    let ga = (a * probe.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gr = (r * probe.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (i, v) in vars.iter().enumerate() {
        let (x, y) = (ga.get(v.as_tensor()), gr.get(v.as_tensor()));
        prop_assert!(
            x.is_some() && y.is_some(),
            "{}: no gradient for input {}",
            what,
            i
        );
        // A gradient is a sum over the whole output (a bias's over every position), which can
        // cancel down to a small value while the terms stay large: two f32 summation orders then
        // differ by more than 1e-4 of it (2.3e-4 seen for a conv-transpose bias of 432 terms).
        // A wrong gradient is off by far more than 1e-3.
        let d = max_rel(x.unwrap(), y.unwrap());
        prop_assert!(
            d < 1e-3,
            "{}: gradient of input {} differs by {}",
            what,
            i,
            d
        );
    }
    Ok(())
}

/// Central finite differences of Σ out·probe on the f32 kernel itself, at a few entries of
/// each variable. Entries where the function has a kink (ReLU at 0, a max switching) are
/// recognised by unequal one-sided slopes and skipped.
pub fn finite_differences(
    vars: &[&Var],
    f: &dyn Fn() -> Tensor,
    rng: &mut ChaCha8Rng,
    what: &str,
) -> Result<(), TestCaseError> {
    let out = f();
    let probe = var(out.dims(), 1.0, rng);
    let loss = |t: Tensor| -> f64 {
        values(&(t * probe.as_tensor()).unwrap())
            .iter()
            .map(|&v| v as f64)
            .sum()
    };
    let grads = (out * probe.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let eps = 1e-2f32;
    let (mut compared, mut skipped) = (0, 0);
    for (i, v) in vars.iter().enumerate() {
        let analytic = values(grads.get(v.as_tensor()).expect("a gradient"));
        let scale = analytic.iter().fold(0f32, |m, g| m.max(g.abs())).max(1e-2);
        let base = values(v.as_tensor());
        for _ in 0..6 {
            let j = rng.random_range(0..base.len());
            let at = |delta: f32| -> f64 {
                let mut x = base.clone();
                x[j] += delta;
                v.set(&Tensor::from_vec(x, v.dims(), &Device::Cpu).unwrap())
                    .unwrap();
                loss(f())
            };
            let (up, mid, down) = (at(eps), at(0.0), at(-eps));
            v.set(&Tensor::from_vec(base.clone(), v.dims(), &Device::Cpu).unwrap())
                .unwrap();
            let (right, left) = ((up - mid) / eps as f64, (mid - down) / eps as f64);
            // A kink between the points: its error on the central difference is at most half
            // the slopes' gap, so any gap under the threshold stays within the tolerance.
            if (right - left).abs() > 0.02 * scale as f64 {
                skipped += 1;
                continue;
            }
            compared += 1;
            let numeric = (up - down) / (2.0 * eps as f64);
            let err = (numeric - analytic[j] as f64).abs() / scale as f64;
            prop_assert!(
                err < 2e-2,
                "{}: input {} entry {}: finite difference {} vs gradient {}",
                what,
                i,
                j,
                numeric,
                analytic[j]
            );
        }
    }
    count_probes(what, compared, skipped)
}

/// Both checks; finite differences on the first 40 cases (they cost a forward pass each).
pub fn check(
    vars: &[&Var],
    ours: &dyn Fn() -> Tensor,
    reference: &dyn Fn() -> Tensor,
    seed: u64,
    what: &str,
) -> Result<(), TestCaseError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    agree(vars, ours, reference, &mut rng, what)?;
    if seed % 5 == 0 {
        finite_differences(vars, ours, &mut rng, what)?;
    }
    Ok(())
}

/// In a child run with `GLASSBOX_SIMD` set, the kernels really run at that level.
pub fn assert_the_simd_cap_is_obeyed() {
    if let Ok(Some(cap)) = dispatch::requested_cap() {
        assert_eq!(dispatch::simd_level(), cap.min(dispatch::detected()));
    }
}

/// Runs this whole binary again at each level below the CPU's best (AVX2 and the baseline on an
/// AVX-512 machine; the baseline on an AVX2 one): the same 200 cases per kernel must pass there.
pub fn assert_every_lower_level_passes(min_passed: usize) {
    if std::env::var_os(SIMD_ENV).is_some() {
        return; // the child itself
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let lower: Vec<SimdLevel> = [SimdLevel::Baseline, SimdLevel::Avx2]
        .into_iter()
        .filter(|l| *l < dispatch::detected())
        .collect();
    for level in lower {
        let out = std::process::Command::new(&exe)
            .env(SIMD_ENV, level.name())
            .args(["--test-threads", "2"])
            .output()
            .expect("running the property tests again");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the kernels fail at {SIMD_ENV}={}:\n{text}\n{}",
            level.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        // Every property ran in the child, not just this test's early return.
        let passed: usize = text
            .split("test result: ok. ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            passed >= min_passed,
            "only {passed} tests passed in the child:\n{text}"
        );
    }
}
