//! Hand-written candle ops (CustomOp) with their own backward, where candle's are missing,
//! wrong or slow. `tests/kernel_properties*.rs` checks each on 200 random shapes per run
//! (values and every gradient against references built from candle's index_select, matmul and
//! reductions, valid for any stride) and by central finite differences on the f32 path.

mod activation;
mod adam;
mod attention;
mod awake;
mod conv;
mod conv_relu;
mod conv_seq;
mod conv_transpose;
mod conv_unfold;
pub mod dispatch;
mod dropout;
pub mod fastmath;
pub mod gemm;
mod linear;
mod linear_gelu;
mod norm;
mod pool;
mod recurrent;
mod recurrent_cells;
mod recurrent_products;
mod recurrent_steps;
mod recurrent_tokens;
pub mod reference;
mod simd;
mod softmax_ce;
pub mod step_gemm;

pub use activation::{leaky_relu, relu, sigmoid, tanh};
pub use adam::{adam_update, AdamStep};
pub use attention::{attention, projected_attention};
pub use awake::keep_awake;
pub use conv::{conv1d, conv2d};
pub use conv_relu::conv2d_relu;
pub use conv_seq::conv1d_seq;
pub use conv_transpose::conv_transpose2d;
pub use dropout::{dropout, DropMask};
pub use linear::linear;
pub use linear_gelu::linear_gelu;
pub use norm::{gelu, layer_norm};
pub use pool::{pool2d, PoolKind};
pub use recurrent::{
    gru, gru_from, lstm, lstm_from, recurrent_from, rnn, rnn_from, Cell, InitialState,
    RecurrentOut, SeqInput,
};
pub use softmax_ce::softmax_cross_entropy;

/// Deterministic test values in about −1.25..1.25, spread so no two neighbours repeat.
#[cfg(test)]
pub(crate) fn filled(shape: &[usize], seed: u32) -> candle_core::Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 400.0 - 1.25)
        .collect();
    candle_core::Tensor::from_vec(v, shape, &candle_core::Device::Cpu).unwrap()
}

/// A pool of every thread the kernels count, as training has. On one core the kernels are
/// told to count two (see `gemm::TEST_MIN_THREADS`), so the pool's parallel paths still run
/// and are compared, two threads sharing the core.
#[cfg(test)]
pub(crate) fn pool_of_all_threads(what: &str) -> rayon::ThreadPool {
    if gemm::threads() < 2 {
        eprintln!("one core: {what} runs on two threads sharing it");
        gemm::TEST_MIN_THREADS.store(2, std::sync::atomic::Ordering::Relaxed);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(gemm::threads())
        .build()
        .unwrap()
}

/// `got` matches `want` within `rel` of want's largest magnitude, which must exceed `min_scale`
/// (an all-zero result passes no comparison).
#[cfg(test)]
pub(crate) fn assert_close(name: &str, got: &[f32], want: &[f32], rel: f32, min_scale: f32) {
    assert_eq!(got.len(), want.len(), "{name}: lengths differ");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > min_scale, "{name} is all but zero");
    let worst = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(
        worst <= rel * scale,
        "{name}: off by {worst} (scale {scale})"
    );
}
