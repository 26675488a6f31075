//! Glassbox: build neural networks by wiring layers, train them with candle on a background
//! thread, and look inside while they learn.
//!
//! The engine (`graph`, `model`, `train`, `data`, `project`) has no egui in it and runs headless;
//! `app` and `ui` draw it, and compile only with the `gui` feature (on by default).

// candle allocates for every op; an allocator that keeps freed memory trains up to 2.8× faster
// than glibc's defaults here. Declared in the library so tests and benches get it too.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tells mimalloc to keep freed memory for 10 s before giving it back to the OS (mimalloc 2
/// waits 10 ms): training frees and re-allocates the same large buffers every step, and fresh
/// pages cost a page fault and a kernel clear each (5–7 % of LSTM training at 10 ms; at 1 s, the
/// default of mimalloc 3, 2–3.5 % of the transformer workload's samples, 206 MiB purged in a
/// 4 s run; none at 10 s). Never giving it back holds the RSS at its high-water mark: 42 →
/// 56 MiB over a 100,000-step studio run, where a delay keeps it within a few percent
/// (`tests/long_run.rs`).
pub fn keep_freed_memory() {
    #[cfg(not(feature = "system-alloc"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // mi_option_purge_delay (index 15 in mimalloc 2 and 3), in milliseconds.
        const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
        // SAFETY: setting an option is thread-safe in mimalloc and takes plain integers.
        // MIMALLOC_PURGE_DELAY, when set, is the user's choice and mimalloc reads it itself.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            ONCE.call_once(|| unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 10_000) });
        }
    }
}

#[cfg(feature = "gui")]
pub mod app;
pub mod bench;
pub mod cli;
pub mod data;
pub mod deploy;
pub mod fsutil;
pub mod graph;
pub mod insight;
pub mod lessons;
pub mod model;
pub mod presets;
pub mod project;
pub mod recovery;
pub mod runs;
pub mod train;
#[cfg(feature = "gui")]
pub mod ui;

#[cfg(test)]
mod tests {
    /// `.ci/run` runs the engine's tests a second time with integer overflow checked and sets
    /// GLASSBOX_EXPECT_OVERFLOW_CHECKS=1: this fails if that run did not get the checks.
    #[test]
    fn overflow_checks_are_on_when_the_ci_run_asks_for_them() {
        let expected = std::env::var("GLASSBOX_EXPECT_OVERFLOW_CHECKS").is_ok_and(|v| v == "1");
        let wrapped =
            std::panic::catch_unwind(|| std::hint::black_box(u8::MAX) + std::hint::black_box(1u8))
                .is_ok();
        if expected {
            assert!(!wrapped, "255 + 1 wrapped: overflow checks are off");
        }
    }
}
