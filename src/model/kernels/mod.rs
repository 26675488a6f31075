//! Hand-written candle ops (CustomOp) with their own backward, where candle's are missing,
//! wrong or slow. Each is checked against finite differences in tests/gradients.rs.

mod pool;

pub use pool::{pool2d, PoolKind};
