//! Shuffled mini-batches of sample indices.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// The batches of one epoch: `indices` shuffled, cut into `batch_size` pieces. A last piece of a
/// single sample is dropped, because batch statistics (BatchNorm) are undefined for it.
pub fn epoch_batches(
    indices: &[usize],
    batch_size: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<usize>> {
    let mut order = indices.to_vec();
    order.shuffle(rng);
    order
        .chunks(batch_size.max(1))
        // A lone leftover sample makes a batch statistic of one (batch norm): it waits for
        // the next epoch. At batch size 1 every batch is a lone sample, and all are kept.
        .filter(|c| c.len() > 1 || batch_size <= 1 || indices.len() == 1)
        .map(<[usize]>::to_vec)
        .collect()
}

/// The samples in `batch_size` streams that each read a contiguous run of `indices` in order:
/// row r of batch k + 1 is the sample after row r of batch k, so a recurrent layer can carry
/// its state from one to the next. As many batches as `epoch_batches` (the leftover samples
/// come last, as a batch of their own).
pub fn stream_batches(indices: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let b = batch_size.max(1);
    let per_stream = indices.len() / b;
    let mut out: Vec<Vec<usize>> = (0..per_stream)
        .map(|k| (0..b).map(|r| indices[r * per_stream + k]).collect())
        .collect();
    let rest = &indices[b * per_stream..];
    if out.len() < batches_per_epoch(indices.len(), batch_size) {
        out.push(rest.to_vec());
    }
    out
}

/// Number of batches `epoch_batches` yields.
pub fn batches_per_epoch(n: usize, batch_size: usize) -> usize {
    let b = batch_size.max(1);
    let full = n / b;
    let rest = n % b;
    full + usize::from(rest > 1 || (n == 1 && rest == 1))
}
