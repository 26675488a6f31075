//! Glassbox: build neural networks by wiring layers, train them with candle on a background
//! thread, and look inside while they learn.
//!
//! The engine (`graph`, `model`, `train`, `data`, `project`) has no egui in it and runs headless;
//! `app` and `ui` draw it.

// candle allocates for every op; an allocator that keeps freed memory trains up to 2.8× faster
// than glibc's defaults here. Declared in the library so tests and benches get it too.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tells mimalloc to keep freed memory instead of giving it back to the OS after 10 ms:
/// training frees and re-allocates the same large buffers every step, and fresh pages cost a
/// page fault and a kernel clear each (5–7 % of LSTM training). Peak RSS is unchanged.
pub fn keep_freed_memory() {
    #[cfg(not(feature = "system-alloc"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // mi_option_purge_delay (index 15 in mimalloc 2 and 3); -1 = never purge.
        const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
        // SAFETY: setting an option is thread-safe in mimalloc and takes plain integers.
        ONCE.call_once(|| unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) });
    }
}

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
pub mod ui;
