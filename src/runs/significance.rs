//! Whether a difference between runs is real: a figure's mean over seeds with its 95 %
//! interval (Student's t), Welch's t-test between two groups of runs (unequal variances), and
//! McNemar's exact test on two classifiers' paired test predictions.

use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, StudentsT};

/// A figure over several runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1).
    pub sd: f64,
    /// Half the width of the 95 % confidence interval of the mean (None with one run).
    pub ci95: Option<f64>,
}

/// The mean of `x`, its spread and 95 % interval; None for no values.
pub fn spread(x: &[f64]) -> Option<Spread> {
    let n = x.len();
    if n == 0 {
        return None;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let ci95 = (n > 1)
        .then(|| StudentsT::new(0.0, 1.0, (n - 1) as f64).ok())
        .flatten()
        .map(|t| t.inverse_cdf(0.975) * sd / (n as f64).sqrt());
    Some(Spread { n, mean, sd, ci95 })
}

/// Welch's t-test of two groups' means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Welch {
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Welch's test of `a` against `b`; None with fewer than two values in either, or no spread
/// in both.
pub fn welch(a: &[f64], b: &[f64]) -> Option<Welch> {
    let (sa, sb) = (spread(a)?, spread(b)?);
    if sa.n < 2 || sb.n < 2 {
        return None;
    }
    let (va, vb) = (sa.sd.powi(2) / sa.n as f64, sb.sd.powi(2) / sb.n as f64);
    if va + vb <= 0.0 {
        return None;
    }
    let t = (sa.mean - sb.mean) / (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va.powi(2) / (sa.n - 1) as f64 + vb.powi(2) / (sb.n - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let p = (2.0 * dist.cdf(-t.abs())).min(1.0);
    Some(Welch { t, df, p })
}

/// McNemar's exact test: of the test samples the two models disagree on, `only_a` were right
/// by the first only and `only_b` by the second only; the two-sided p-value that they are
/// equally good (binomial, n = only_a + only_b, p = ½).
pub fn mcnemar_exact(only_a: u64, only_b: u64) -> f64 {
    let n = only_a + only_b;
    if n == 0 {
        return 1.0;
    }
    let Ok(bin) = Binomial::new(0.5, n) else {
        return 1.0;
    };
    (2.0 * bin.cdf(only_a.min(only_b))).min(1.0)
}

/// (only the first right, only the second right) over paired predictions and labels.
pub fn disagreements(a: &[u32], b: &[u32], labels: &[u32]) -> (u64, u64) {
    a.iter()
        .zip(b)
        .zip(labels)
        .fold((0, 0), |(x, y), ((&pa, &pb), &l)| {
            match (pa == l, pb == l) {
                (true, false) => (x + 1, y),
                (false, true) => (x, y + 1),
                _ => (x, y),
            }
        })
}

/// A group of runs' curve: at each x of the first run's series that every run covers, the
/// runs' mean and its 95 % interval (each run read there by linear interpolation).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Band {
    pub x: Vec<f64>,
    pub mean: Vec<f64>,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    pub runs: usize,
}

/// `series` (x ascending in each) as one mean curve with a 95 % band; None with fewer than two
/// series or no x they share.
pub fn band(series: &[Vec<[f64; 2]>]) -> Option<Band> {
    if series.len() < 2 || series.iter().any(|s| s.is_empty()) {
        return None;
    }
    let from = series.iter().map(|s| s[0][0]).fold(f64::MIN, f64::max);
    let to = series
        .iter()
        .map(|s| s[s.len() - 1][0])
        .fold(f64::MAX, f64::min);
    let at = |s: &[[f64; 2]], x: f64| -> f64 {
        let k = s.partition_point(|p| p[0] < x);
        match (k.checked_sub(1).map(|j| s[j]), s.get(k)) {
            (_, Some(b)) if b[0] == x => b[1],
            (Some(a), Some(b)) => a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0]),
            (Some(a), None) => a[1],
            (None, Some(b)) => b[1],
            (None, None) => f64::NAN,
        }
    };
    let mut out = Band {
        runs: series.len(),
        ..Default::default()
    };
    for x in series[0]
        .iter()
        .map(|p| p[0])
        .filter(|x| (from..=to).contains(x))
    {
        let values: Vec<f64> = series.iter().map(|s| at(s, x)).collect();
        let Some(sp) = spread(&values) else { continue };
        let h = sp.ci95.unwrap_or(0.0);
        out.x.push(x);
        out.mean.push(sp.mean);
        out.lo.push(sp.mean - h);
        out.hi.push(sp.mean + h);
    }
    (!out.x.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from SciPy 1.x (`stats.ttest_ind(a, b, equal_var=False)`,
    // `stats.binomtest(k, n, 0.5)`, `stats.t.ppf`), computed once on 2026-12-07.
    #[test]
    fn welch_matches_scipy() {
        let a = [0.9412, 0.9387, 0.9455, 0.9401, 0.9433];
        let b = [0.9471, 0.9502, 0.9466, 0.9489, 0.9510];
        let w = welch(&a, &b).unwrap();
        assert!((w.t - -4.756075763764456).abs() < 1e-9, "{w:?}");
        assert!((w.df - 7.21801286459582).abs() < 1e-9, "{w:?}");
        assert!((w.p - 0.0019025172115584939).abs() < 1e-6, "{w:?}");
        let a2 = [12.1, 14.3, 13.8, 12.9, 15.2, 13.3];
        let b2 = [13.0, 12.2, 12.8, 11.9];
        let w2 = welch(&a2, &b2).unwrap();
        assert!((w2.t - 2.1938607242025516).abs() < 1e-9);
        assert!((w2.df - 7.496727628833697).abs() < 1e-9);
        assert!((w2.p - 0.06178848570450937).abs() < 1e-6, "{w2:?}");
        assert!(welch(&[1.0], &b).is_none());
    }

    #[test]
    fn mcnemar_matches_the_exact_binomial() {
        assert!((mcnemar_exact(3, 12) - 0.03515625).abs() < 1e-12);
        assert!((mcnemar_exact(12, 3) - 0.03515625).abs() < 1e-12);
        assert_eq!(mcnemar_exact(10, 10), 1.0);
        assert!((mcnemar_exact(0, 7) - 0.015625).abs() < 1e-12);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(
            disagreements(&[1, 2, 3, 0], &[1, 0, 3, 1], &[1, 2, 0, 1]),
            (1, 1)
        );
    }

    #[test]
    fn the_interval_uses_students_t() {
        let s = spread(&[0.9412, 0.9387, 0.9455, 0.9401, 0.9433]).unwrap();
        assert!((s.mean - 0.94176).abs() < 1e-12);
        assert!(
            (s.ci95.unwrap() - 0.0033312713532472446).abs() < 1e-9,
            "{s:?}"
        );
        assert_eq!(spread(&[2.0]).unwrap().ci95, None);
    }

    #[test]
    fn a_band_is_the_runs_mean_with_its_interval_where_they_all_reach() {
        // Three runs, the third read between its points; the first starts earlier.
        let a = vec![[0.0, 9.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]];
        let b = vec![[1.0, 3.0], [2.0, 4.0], [3.0, 5.0]];
        let c = vec![[1.0, 2.0], [3.0, 4.0]];
        let band = super::band(&[a, b, c]).unwrap();
        assert_eq!(band.x, vec![1.0, 2.0, 3.0]);
        assert_eq!(band.mean, vec![2.0, 3.0, 4.0]);
        // sd 1 over three runs: t(0.975, 2) = 4.3027 → ±2.4841.
        assert!(
            (band.hi[1] - band.mean[1] - 2.4841).abs() < 1e-3,
            "{band:?}"
        );
        assert!((band.mean[0] - band.lo[0] - 2.4841).abs() < 1e-3);
        assert!(
            super::band(&[vec![[0.0, 1.0]]]).is_none(),
            "one run has no band"
        );
    }
}
