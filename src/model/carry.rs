//! State carried from one window of a text to the next: a recurrent layer that reads window
//! k + 1 starts from the state it ended window k in, so every position sees the text before
//! it, not only its own window (truncated backpropagation through time, as char-rnn trains).
//! The state is data, not a parameter: gradients stop at the window's start.

use super::kernels::{self, InitialState, RecurrentOut};
use super::layers::Op;
use candle_core::{DType, Result, Tensor};
use std::collections::HashMap;

/// The last state of each recurrent node (by node index) after the previous window.
#[derive(Clone, Debug, Default)]
pub struct CarriedState {
    states: HashMap<usize, InitialState>,
    /// The batch rows the states are for.
    rows: usize,
}

impl CarriedState {
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Forget everything: the next window starts from zeros.
    pub fn clear(&mut self) {
        self.states.clear();
    }

    /// Zero the rows whose window does not continue the previous one (`keep[r]` false); all
    /// of them when the batch size changed.
    pub fn keep_rows(&mut self, keep: &[bool]) {
        if keep.len() != self.rows {
            self.clear();
            return;
        }
        for s in self.states.values_mut() {
            let h = s.h.len() / self.rows.max(1);
            for (r, _) in keep.iter().enumerate().filter(|(_, k)| !**k) {
                s.h[r * h..(r + 1) * h].fill(0.0);
                if !s.c.is_empty() {
                    s.c[r * h..(r + 1) * h].fill(0.0);
                }
            }
        }
    }

    pub(crate) fn take(&mut self, node: usize, batch: usize) -> Option<InitialState> {
        let s = self.states.remove(&node)?;
        // A state from a batch of another size belongs to other windows.
        (batch == self.rows).then_some(s)
    }

    pub(crate) fn put(&mut self, node: usize, batch: usize, state: InitialState) {
        if batch != self.rows {
            self.states.clear();
            self.rows = batch;
        }
        self.states.insert(node, state);
    }
}

/// A recurrent op's output from `init`, with the state it ends in; None for other ops.
pub(crate) fn forward_carried(
    op: &Op,
    x: &Tensor,
    init: Option<InitialState>,
) -> Option<Result<(Tensor, InitialState)>> {
    let (out, sequences) = match op {
        Op::Lstm {
            wx,
            wh,
            b,
            sequences,
        } => (
            by_dtype(
                x,
                init,
                |x, i| kernels::lstm_from(x, (wx, wh, b), i),
                |x, h0, c0| {
                    let (hs, c) = match (h0, c0) {
                        (Some(h0), Some(c0)) => {
                            kernels::reference::lstm_from(x, wx, wh, b, Some((h0, c0)))?
                        }
                        _ => kernels::reference::lstm_from(x, wx, wh, b, None)?,
                    };
                    Ok((hs, Some(c)))
                },
            ),
            *sequences,
        ),
        Op::Gru {
            wx,
            wh,
            bx,
            bh,
            sequences,
        } => (
            by_dtype(
                x,
                init,
                |x, i| kernels::gru_from(x, (wx, wh, bx, bh), i),
                |x, h0, _| Ok((kernels::reference::gru_from(x, (wx, wh, bx, bh), h0)?, None)),
            ),
            *sequences,
        ),
        Op::Rnn {
            wx,
            wh,
            b,
            sequences,
        } => (
            by_dtype(
                x,
                init,
                |x, i| kernels::rnn_from(x, (wx, wh, b), i),
                |x, h0, _| Ok((kernels::reference::rnn_from(x, wx, wh, b, h0)?, None)),
            ),
            *sequences,
        ),
        _ => return None,
    };
    Some(out.and_then(|out| last_or_all(out, sequences)))
}

fn last_or_all(
    RecurrentOut { hs, last }: RecurrentOut,
    sequences: bool,
) -> Result<(Tensor, InitialState)> {
    let y = if sequences {
        hs
    } else {
        let t = hs.dim(1)?;
        hs.narrow(1, t - 1, 1)?.squeeze(1)?
    };
    Ok((y, last))
}

/// A recurrent op reading an Embedding's f32 table [V, E] at u32 token `ids` [B, T] as one op
/// (`kernels::recurrent_tokens`), from `init`; None for other ops. The caller checks the
/// dtypes before it takes the carried state (`Model::embedded_forward`; the f64 checks run the
/// two ops apart), and the kernel refuses any other with an error.
pub(crate) fn forward_embedded(
    op: &Op,
    ids: &Tensor,
    table: &Tensor,
    init: Option<InitialState>,
) -> Option<Result<(Tensor, InitialState)>> {
    let (cell, weights, sequences) = match op {
        Op::Lstm {
            wx,
            wh,
            b,
            sequences,
        } => (kernels::Cell::Lstm, vec![wx, wh, b], *sequences),
        Op::Gru {
            wx,
            wh,
            bx,
            bh,
            sequences,
        } => (kernels::Cell::Gru, vec![wx, wh, bx, bh], *sequences),
        Op::Rnn {
            wx,
            wh,
            b,
            sequences,
        } => (kernels::Cell::Rnn, vec![wx, wh, b], *sequences),
        _ => return None,
    };
    let input = kernels::SeqInput::Tokens { ids, table };
    Some(
        kernels::recurrent_from(cell, input, &weights, init)
            .and_then(|o| last_or_all(o, sequences)),
    )
}

/// The f32 kernel, or for other dtypes (the f64 checks) candle's reference ops with the state
/// as tensors.
fn by_dtype(
    x: &Tensor,
    init: Option<InitialState>,
    kernel: impl FnOnce(&Tensor, Option<InitialState>) -> Result<RecurrentOut>,
    reference: impl FnOnce(
        &Tensor,
        Option<&Tensor>,
        Option<&Tensor>,
    ) -> Result<(Tensor, Option<Tensor>)>,
) -> Result<RecurrentOut> {
    if x.dtype() == DType::F32 {
        return kernel(x, init);
    }
    let b = x.dim(0)?;
    let as_tensor = |v: &[f32]| -> Result<Option<Tensor>> {
        if v.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            Tensor::from_slice(v, (b, v.len() / b), x.device())?.to_dtype(x.dtype())?,
        ))
    };
    let (h0, c0) = match &init {
        Some(i) => (as_tensor(&i.h)?, as_tensor(&i.c)?),
        None => (None, None),
    };
    let (hs, c) = reference(x, h0.as_ref(), c0.as_ref())?;
    let t = hs.dim(1)?;
    let to_vec = |t: &Tensor| t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>();
    let h = to_vec(&hs.narrow(1, t - 1, 1)?)?;
    let c = c.map(|c| to_vec(&c)).transpose()?.unwrap_or_default();
    Ok(RecurrentOut {
        hs,
        last: InitialState { h, c },
    })
}
