//! Which instruction set the kernels run on: the best the CPU has, or lower when
//! `GLASSBOX_SIMD` caps it (`avx512`, `avx2`, `baseline`), so the AVX2 path can be measured and
//! tested on an AVX-512 machine. The cap covers the element-wise loops (`simd_fn!`) and the
//! matrix kernel behind every dense, convolution, attention and recurrent op (`gemm.rs`).

use std::sync::OnceLock;

/// The environment variable that caps the level.
pub const SIMD_ENV: &str = "GLASSBOX_SIMD";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// What every x86-64 has (SSE2), or any other architecture.
    Baseline,
    /// AVX2 + FMA (x86-64-v3).
    Avx2,
    /// AVX-512 F/VL/DQ (x86-64-v4).
    Avx512,
}

impl SimdLevel {
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Baseline => "baseline",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// Parses a cap as written in `GLASSBOX_SIMD`.
    pub fn parse(text: &str) -> Result<Self, SimdCapError> {
        match text.trim().to_ascii_lowercase().replace('-', "").as_str() {
            "avx512" | "v4" => Ok(SimdLevel::Avx512),
            "avx2" | "v3" => Ok(SimdLevel::Avx2),
            "baseline" | "sse2" | "none" | "scalar" => Ok(SimdLevel::Baseline),
            _ => Err(SimdCapError {
                value: text.to_string(),
            }),
        }
    }
}

/// A `GLASSBOX_SIMD` value that names no instruction-set level.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{SIMD_ENV}={value:?} is not a level: use avx512, avx2 or baseline")]
pub struct SimdCapError {
    pub value: String,
}

/// The best level this CPU supports.
pub fn detected() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdLevel::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Baseline
}

/// The cap asked for in the environment: `Ok(None)` when unset, an error naming the bad value.
pub fn requested_cap() -> Result<Option<SimdLevel>, SimdCapError> {
    match std::env::var(SIMD_ENV) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => SimdLevel::parse(&v).map(Some),
        Err(_) => Ok(None),
    }
}

/// The level the kernels use, fixed for the life of the process on first use. A cap above what
/// the CPU has is ignored (it could only crash); an unreadable one is ignored here and reported
/// at start by `main` (`cap_warning`).
pub fn simd_level() -> SimdLevel {
    static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let best = detected();
        match requested_cap() {
            Ok(Some(cap)) => cap.min(best),
            _ => best,
        }
    })
}

/// What is wrong with the `GLASSBOX_SIMD` setting, if anything, and what runs instead.
pub fn cap_warning() -> Option<String> {
    let best = detected();
    match requested_cap() {
        Err(e) => Some(format!("{e}; the kernels run at {}", best.name())),
        Ok(Some(cap)) if cap > best => Some(format!(
            "{SIMD_ENV}={} is above what this CPU has; the kernels run at {}",
            cap.name(),
            best.name()
        )),
        _ => None,
    }
}

/// One line for benchmark reports: the level in use and why.
pub fn describe() -> String {
    let (best, used) = (detected(), simd_level());
    if used == best {
        format!("kernels: {} (the best this CPU has)", used.name())
    } else {
        format!(
            "kernels: {} (capped by {SIMD_ENV}; this CPU has {})",
            used.name(),
            best.name()
        )
    }
}

/// Defines an element-wise kernel three times: for AVX-512, for AVX2 + FMA and for the
/// baseline, and a dispatcher that picks one by `simd_level()` on each call (a load of a
/// cached value and a branch, next to loops over whole rows).
macro_rules! simd_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                use $crate::model::kernels::dispatch::{simd_level, SimdLevel};
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma,avx")]
                fn v4($($arg: $ty),*) $body
                #[target_feature(enable = "avx2,fma,avx")]
                fn v3($($arg: $ty),*) $body
                match simd_level() {
                    // SAFETY: simd_level() is never above what the CPU reports.
                    SimdLevel::Avx512 => return unsafe { v4($($arg),*) },
                    // SAFETY: as above.
                    SimdLevel::Avx2 => return unsafe { v3($($arg),*) },
                    SimdLevel::Baseline => {}
                }
            }
            $body
        }
    };
}
pub(crate) use simd_fn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_and_names_a_bad_one() {
        assert_eq!(SimdLevel::parse("AVX2"), Ok(SimdLevel::Avx2));
        assert_eq!(SimdLevel::parse("avx-512"), Ok(SimdLevel::Avx512));
        assert_eq!(SimdLevel::parse("baseline"), Ok(SimdLevel::Baseline));
        let err = SimdLevel::parse("avx9").unwrap_err().to_string();
        assert!(err.contains("avx9") && err.contains(SIMD_ENV), "{err}");
        assert!(SimdLevel::Avx2 < SimdLevel::Avx512 && SimdLevel::Baseline < SimdLevel::Avx2);
    }

    #[test]
    fn the_level_in_use_is_never_above_the_cpu() {
        assert!(simd_level() <= detected());
    }
}
