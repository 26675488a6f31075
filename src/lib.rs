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

pub mod app;
pub mod bench;
pub mod cli;
pub mod data;
pub mod fsutil;
pub mod graph;
pub mod insight;
pub mod model;
pub mod presets;
pub mod project;
pub mod train;
pub mod ui;
