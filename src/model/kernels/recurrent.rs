//! LSTM, GRU and plain RNN layers as one op each. The input projection for all time steps is one matmul;
//! per step only h·W_hhᵀ remains, followed by the gate math fused in one pass. The backward runs
//! through time in one pass too, and every weight gradient is one large matmul at the end.
//! Gate buffers stay in the input's [B, T, ·] layout (a step is a strided block of rows), so
//! nothing is copied between layouts, and the big gate gradient never becomes a candle tensor.
//!
//! The weights travel as one packed tensor (W_ih, W_hh and the biases, flattened): candle's
//! custom ops take at most three inputs, and a concatenation of the small weights is far
//! cheaper than handing candle a [B, T, 4H] gate gradient to accumulate.

use super::gemm::{f32_slice, matmul, parallelism, with_f32, View};
use super::recurrent_products::{sequence_products, SequenceGrads};
use super::step_gemm::Panels;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;
use std::sync::Mutex;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cell {
    /// Gates i, f, g, o (PyTorch's order); one bias.
    Lstm,
    /// Gates r, z, n (PyTorch's order); input and hidden biases.
    Gru,
    /// One tanh "gate" (an Elman RNN); one bias.
    Rnn,
}

impl Cell {
    pub(super) fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Rnn => 1,
        }
    }

    /// Length of the packed weights for input width `e` and hidden width `h`.
    fn packed_len(self, e: usize, h: usize) -> usize {
        let g = self.gates() * h;
        let biases = match self {
            Cell::Lstm | Cell::Rnn => g,
            Cell::Gru => 2 * g,
        };
        g * e + g * h + biases
    }
}

/// The weights inside the packed vector.
pub(super) struct Parts<'a> {
    pub(super) wx: &'a [f32],
    pub(super) wh: &'a [f32],
    pub(super) bx: &'a [f32],
    /// GRU only: the hidden bias, inside r ⊙ (W_hn h + b_hn).
    pub(super) bh: &'a [f32],
}

pub(super) fn split(cell: Cell, p: &[f32], e: usize, h: usize) -> Parts<'_> {
    let g = cell.gates() * h;
    let (wx, rest) = p.split_at(g * e);
    let (wh, rest) = rest.split_at(g * h);
    let (bx, bh) = rest.split_at(g);
    Parts { wx, wh, bx, bh }
}

/// What the backward needs: gate activations [B, T, G] and, per cell, cell states (LSTM) or
/// W_hn·h + b_hn (GRU) [B, T, H].
pub(super) struct Saved {
    acts: Vec<f32>,
    extra: Vec<f32>,
}

/// One thread's rows for the backward: gate activations (→ gradients), GRU hidden-side
/// gradients, saved cell states or W_hn·h, hidden states, output gradients.
pub(super) type RowBuffers<'a> = (
    &'a mut [f32],
    &'a mut [f32],
    &'a [f32],
    &'a [f32],
    &'a [f32],
);

/// Rows per thread when the batch is split across threads, or None for one thread.
fn row_chunks(b: usize) -> Option<usize> {
    let threads = super::gemm::threads().min(b);
    (threads > 1).then(|| b.div_ceil(threads))
}

/// The state a sequence starts from (a window continuing the previous one): h [B, H] and,
/// for an LSTM, c [B, H]. Carried state is data, not a parameter: no gradient flows into it.
#[derive(Clone, Debug, Default)]
pub struct InitialState {
    pub h: Vec<f32>,
    /// Empty for GRU and RNN.
    pub c: Vec<f32>,
}

impl InitialState {
    /// One thread's rows `r0..r0 + n` of the state.
    fn rows(&self, r0: usize, n: usize, h: usize) -> (&[f32], &[f32]) {
        let c = if self.c.is_empty() {
            &[][..]
        } else {
            &self.c[r0 * h..(r0 + n) * h]
        };
        (&self.h[r0 * h..(r0 + n) * h], c)
    }
}

pub(super) struct Recurrent {
    pub(super) cell: Cell,
    pub(super) hidden: usize,
    pub(super) init: Option<InitialState>,
    pub(super) saved: Mutex<Option<Saved>>,
    /// The LSTM's last cell state [B, H], for the caller to carry into the next window.
    final_c: std::sync::Arc<Mutex<Option<Vec<f32>>>>,
}

/// The packed weights (`step_gemm`) when the kernels run at AVX2, the CPU has FMA and each
/// step's product runs on this thread; else None, and the gemm crate runs the steps.
fn avx2_panels(par: Parallelism, pack: impl FnOnce() -> Panels) -> Option<Panels> {
    let level = super::dispatch::simd_level() == super::dispatch::SimdLevel::Avx2;
    (level && Panels::supported() && matches!(par, Parallelism::None)).then(pack)
}

/// `dst[j] += Σ_r m[r, j]` over the rows of `m` [rows, g]: the bias gradients, one pass over
/// the [B·T, G] gate gradients, split by rows across threads when there are several.
fn column_sums(m: &[f32], g: usize, dst: &mut [f32]) {
    let add_rows = |rows: &[f32], acc: &mut [f32]| {
        for row in rows.chunks_exact(g) {
            acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
        }
    };
    match row_chunks(m.len() / g) {
        None => add_rows(m, &mut dst[..g]),
        Some(per) => {
            let partial: Vec<Vec<f32>> = m
                .par_chunks(per * g)
                .map(|rows| {
                    let mut acc = vec![0f32; g];
                    add_rows(rows, &mut acc);
                    acc
                })
                .collect();
            for p in &partial {
                add_rows(p, &mut dst[..g]);
            }
        }
    }
}

impl Recurrent {
    fn dims(&self, xl: &Layout, pl: &Layout) -> Result<(usize, usize, usize, usize)> {
        let &[b, t, e] = xl.dims() else {
            candle_core::bail!(
                "{:?} expects an input [B, T, F], got {:?}",
                self.cell,
                xl.dims()
            );
        };
        self.check_dims(b, t, e, pl)?;
        Ok((b, t, e, self.hidden))
    }

    /// Refuses packed weights that do not fit input width `e`, an empty sequence and a carried
    /// state that does not fit the `b` rows.
    pub(super) fn check_dims(&self, b: usize, t: usize, e: usize, pl: &Layout) -> Result<()> {
        let h = self.hidden;
        if pl.dims() != [self.cell.packed_len(e, h)] || t == 0 {
            candle_core::bail!(
                "{:?}: packed weights of {:?} do not fit input width {e} and hidden {h}",
                self.cell,
                pl.dims()
            );
        }
        if let Some(init) = &self.init {
            let c_len = if self.cell == Cell::Lstm { b * h } else { 0 };
            if init.h.len() != b * h || init.c.len() != c_len {
                candle_core::bail!(
                    "{:?}: a carried state of {} values does not fit {b} rows of {h}",
                    self.cell,
                    init.h.len()
                );
            }
        }
        Ok(())
    }

    /// The input projection for every step: acts [B·T, G] = x·W_ihᵀ + b_ih.
    pub(super) fn project(x: &[f32], p: &Parts, rows: usize, e: usize, g: usize) -> Vec<f32> {
        let mut acts = Vec::with_capacity(rows * g);
        for _ in 0..rows {
            acts.extend_from_slice(p.bx);
        }
        matmul(
            rows,
            g,
            e,
            View::rows(x, e),
            View::transposed(p.wx, e),
            &mut acts,
            true,
            parallelism(2 * rows * g * e),
        );
        acts
    }

    fn forward(&self, x: &[f32], p: &[f32], b: usize, t: usize, e: usize) -> (Vec<f32>, Saved) {
        let g = self.cell.gates() * self.hidden;
        let parts = split(self.cell, p, e, self.hidden);
        let acts = Self::project(x, &parts, b * t, e, g);
        self.forward_projected(acts, &parts, b, t)
    }

    /// The recurrence through time once `acts` [B·T, G] holds every step's input projection.
    pub(super) fn forward_projected(
        &self,
        mut acts: Vec<f32>,
        parts: &Parts,
        b: usize,
        t: usize,
    ) -> (Vec<f32>, Saved) {
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let mut out = vec![0f32; b * t * h];
        let mut extra = vec![0f32; b * t * h];
        // On the AVX2 path W_hh is packed once for all T steps (`step_gemm`).
        let pack = || Panels::pack(parts.wh, g, h, h, 1);
        match row_chunks(b) {
            None => {
                let par = parallelism(2 * b * g * h);
                let init = self.init.as_ref().map(|i| i.rows(0, b, h));
                let bufs = (&mut acts[..], &mut out[..], &mut extra[..]);
                let panels = avx2_panels(par, pack);
                self.recur_forward(bufs, init, b, t, (parts, panels.as_ref()), par);
            }
            Some(per) => {
                let panels = avx2_panels(Parallelism::None, pack);
                let jobs: Vec<_> = acts
                    .chunks_mut(per * t * g)
                    .zip(out.chunks_mut(per * t * h))
                    .zip(extra.chunks_mut(per * t * h))
                    .enumerate()
                    .collect();
                jobs.into_par_iter().for_each(|(k, ((a, o), x))| {
                    let nb = o.len() / (t * h);
                    let init = self.init.as_ref().map(|i| i.rows(k * per, nb, h));
                    let with = (parts, panels.as_ref());
                    self.recur_forward((a, o, x), init, nb, t, with, Parallelism::None);
                });
            }
        }
        if self.cell == Cell::Lstm {
            let last: Vec<f32> = (0..b)
                .flat_map(|r| &extra[(r * t + t - 1) * h..(r * t + t) * h])
                .copied()
                .collect();
            *self.final_c.lock().unwrap_or_else(|e| e.into_inner()) = Some(last);
        }
        (out, Saved { acts, extra })
    }

    /// Gradients of the packed weights and (when wanted) of the input.
    #[allow(clippy::too_many_arguments)] // the dimensions of one call
    fn backward(
        &self,
        saved: Saved,
        x: &[f32],
        p: &[f32],
        hs: &[f32],
        dy: &[f32],
        (b, t, e): (usize, usize, usize),
        want_dx: bool,
    ) -> (Vec<f32>, Option<Vec<f32>>) {
        let parts = split(self.cell, p, e, self.hidden);
        let grads = self.gate_grads(saved, &parts, hs, dy, b, t);
        self.weight_grads(&grads, &grads.dg, x, &parts, p.len(), want_dx)
    }

    /// The backward recurrence through time: every step's gate gradients, and beside them the
    /// hidden state each step started from.
    pub(super) fn gate_grads(
        &self,
        saved: Saved,
        parts: &Parts,
        hs: &[f32],
        dy: &[f32],
        b: usize,
        t: usize,
    ) -> GateGrads {
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let Saved { mut acts, extra } = saved;
        // GRU: the hidden-side gate gradients differ from the input-side ones in n.
        let mut dhp = match self.cell {
            Cell::Lstm | Cell::Rnn => Vec::new(),
            Cell::Gru => vec![0f32; b * t * g],
        };
        // Each step's dgates [b, g]·W_hh: on the AVX2 path through W_hhᵀ packed once for all
        // T steps (`step_gemm`); the AVX-512 kernel runs this shape well into rows (108 GFLOP/s
        // against 72 for the AVX2 gemm into rows on a Zen 4).
        let pack = || Panels::pack(parts.wh, h, g, 1, h);
        match row_chunks(b) {
            None => {
                let par = parallelism(2 * b * g * h);
                let bufs = (&mut acts[..], &mut dhp[..], &extra[..], hs, dy);
                let init = self.init.as_ref().map(|i| i.rows(0, b, h));
                let wht = avx2_panels(par, pack);
                self.recur_backward(bufs, init, b, t, (parts.wh, wht.as_ref()), par);
            }
            Some(per) => {
                let wht = avx2_panels(Parallelism::None, pack);
                let wh = (parts.wh, wht.as_ref());
                let dhp_chunks: Box<dyn Iterator<Item = &mut [f32]>> = if dhp.is_empty() {
                    Box::new(std::iter::repeat_with(|| -> &mut [f32] { &mut [] }))
                } else {
                    Box::new(dhp.chunks_mut(per * t * g))
                };
                let jobs: Vec<_> = acts
                    .chunks_mut(per * t * g)
                    .zip(dhp_chunks)
                    .zip(extra.chunks(per * t * h))
                    .zip(hs.chunks(per * t * h).zip(dy.chunks(per * t * h)))
                    .map(|(((a, d), x), (hs, dy))| (a, d, x, hs, dy))
                    .enumerate()
                    .collect();
                jobs.into_par_iter().for_each(|(k, bufs)| {
                    let nb = bufs.2.len() / (t * h);
                    let init = self.init.as_ref().map(|i| i.rows(k * per, nb, h));
                    self.recur_backward(bufs, init, nb, t, wh, Parallelism::None);
                });
            }
        }
        let rows = b * t;
        // h_{s-1} beside each step's gate gradient (the carried state, or zero, for s = 0),
        // so dW_hh is one matmul.
        let mut hshift = vec![0f32; rows * h];
        let shift_row = |(r, dst): (usize, &mut [f32])| {
            let base = r * t * h;
            dst[h..].copy_from_slice(&hs[base..base + (t - 1) * h]);
            if let Some(init) = &self.init {
                dst[..h].copy_from_slice(&init.h[r * h..(r + 1) * h]);
            }
        };
        match row_chunks(b) {
            None => hshift.chunks_mut(t * h).enumerate().for_each(shift_row),
            Some(_) => hshift.par_chunks_mut(t * h).enumerate().for_each(shift_row),
        }
        GateGrads {
            dg: acts,
            dhp,
            hshift,
        }
    }

    /// The packed weights' gradient [`Cell::packed_len`] from the gate gradients, with the
    /// input side read against `x` [rows, e]: each row's gradient `input_side` [rows, G] (the
    /// gate gradients themselves, or their sums over the rows that share an input row). With
    /// `want_dx` also dx [rows, e].
    pub(super) fn weight_grads(
        &self,
        grads: &GateGrads,
        input_side: &[f32],
        x: &[f32],
        parts: &Parts,
        packed_len: usize,
        want_dx: bool,
    ) -> (Vec<f32>, Option<Vec<f32>>) {
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let e = parts.wx.len() / g;
        let hidden_side = match self.cell {
            Cell::Lstm | Cell::Rnn => &grads.dg,
            Cell::Gru => &grads.dhp,
        };
        let mut packed = vec![0f32; packed_len];
        let (dwx, rest) = packed.split_at_mut(g * e);
        let (dwh, rest) = rest.split_at_mut(g * h);
        let (dbx, dbh) = rest.split_at_mut(g);
        let mut dx = want_dx.then(|| vec![0f32; x.len()]);
        let inputs = SequenceGrads {
            input_side,
            hidden_side,
            x,
            hshift: &grads.hshift,
            wx: parts.wx,
            dims: (grads.dg.len() / g, g, e, h),
        };
        sequence_products(&inputs, dwx, dwh, dx.as_deref_mut());
        column_sums(input_side, g, dbx);
        if self.cell == Cell::Gru {
            column_sums(&grads.dhp, g, dbh);
        }
        (packed, dx)
    }
}

/// After the backward recurrence: the gate gradients dG [B·T, G] (the input side), the GRU's
/// hidden-side ones (empty otherwise) and H₋₁ [B·T, H].
pub(super) struct GateGrads {
    dg: Vec<f32>,
    dhp: Vec<f32>,
    hshift: Vec<f32>,
}

impl GateGrads {
    /// The input-side gate gradients [B·T, G].
    pub(super) fn input_side(&self) -> &[f32] {
        &self.dg
    }
}

impl CustomOp2 for Recurrent {
    fn name(&self) -> &'static str {
        match self.cell {
            Cell::Lstm => "glassbox-lstm",
            Cell::Gru => "glassbox-gru",
            Cell::Rnn => "glassbox-rnn",
        }
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ps: &CpuStorage,
        pl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(<Self as CustomOp2>::name(self));
        let (b, t, e, h) = self.dims(xl, pl)?;
        let (out, saved) = self.forward(f32_slice(xs, xl)?, f32_slice(ps, pl)?, b, t, e);
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        Ok((CpuStorage::F32(out), Shape::from((b, t, h))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        p: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let _timed = crate::model::profile::backward(self.name());
        let (b, t, e) = x.dims3()?;
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(saved) = saved else {
            candle_core::bail!("{:?} backward without its forward", self.cell);
        };
        let want_dx = x.track_op();
        let (dp, dx) = with_f32(x, |xv| {
            with_f32(p, |pv| {
                with_f32(res, |hs| {
                    with_f32(grad, |dy| {
                        self.backward(saved, xv, pv, hs, dy, (b, t, e), want_dx)
                    })
                })
            })
        })????;
        let dx = dx
            .map(|d| Tensor::from_vec(d, (b, t, e), x.device()))
            .transpose()?;
        Ok((dx, Some(Tensor::from_vec(dp, p.shape(), p.device())?)))
    }
}

/// A recurrent layer's output [B, T, H] and the state it ends in, to carry into the window
/// that continues this one.
pub struct RecurrentOut {
    pub hs: Tensor,
    pub last: InitialState,
}

/// What a recurrent layer reads: rows [B, T, E], or token ids [B, T] (u32) and the
/// Embedding's table [V, E] they index (one op for both layers, `recurrent_tokens`).
#[derive(Clone, Copy)]
pub enum SeqInput<'a> {
    Rows(&'a Tensor),
    Tokens { ids: &'a Tensor, table: &'a Tensor },
}

impl<'a> From<&'a Tensor> for SeqInput<'a> {
    fn from(x: &'a Tensor) -> Self {
        SeqInput::Rows(x)
    }
}

fn run(
    cell: Cell,
    input: SeqInput,
    weights: &[&Tensor],
    hidden: usize,
    init: Option<InitialState>,
) -> Result<RecurrentOut> {
    let flat = weights
        .iter()
        .map(|w| w.flatten_all())
        .collect::<Result<Vec<_>>>()?;
    let packed = Tensor::cat(&flat, 0)?;
    let final_c = std::sync::Arc::new(Mutex::new(None));
    let op = Recurrent {
        cell,
        hidden,
        init,
        saved: Mutex::new(None),
        final_c: final_c.clone(),
    };
    let hs = match input {
        SeqInput::Rows(x) => x.contiguous()?.apply_op2(&packed, op)?,
        SeqInput::Tokens { ids, table } => ids.contiguous()?.apply_op3(
            &table.contiguous()?,
            &packed,
            super::recurrent_tokens::TokenRecurrent::new(op),
        )?,
    };
    let t = hs.dim(1)?;
    let h = hs.narrow(1, t - 1, 1)?.flatten_all()?.to_vec1::<f32>()?;
    let c = final_c
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    Ok(RecurrentOut {
        hs,
        last: InitialState { h, c },
    })
}

/// `cell` over `input` with its weights in the order of [`lstm_from`], [`gru_from`] or
/// [`rnn_from`], from `init`.
pub fn recurrent_from<'a>(
    cell: Cell,
    input: impl Into<SeqInput<'a>>,
    weights: &[&Tensor],
    init: Option<InitialState>,
) -> Result<RecurrentOut> {
    let Some(wh) = weights.get(1) else {
        candle_core::bail!("{cell:?} needs W_ih, W_hh and biases");
    };
    run(cell, input.into(), weights, wh.dim(1)?, init)
}

/// LSTM over `x` [B, T, E] with W_ih [4H, E], W_hh [4H, H] and bias [4H]; gate order
/// i, f, g, o (PyTorch's), starting from `init` (zeros when None). Returns every step's
/// hidden state [B, T, H] and the final (h, c).
pub fn lstm_from<'a>(
    x: impl Into<SeqInput<'a>>,
    (wx, wh, b): (&Tensor, &Tensor, &Tensor),
    init: Option<InitialState>,
) -> Result<RecurrentOut> {
    recurrent_from(Cell::Lstm, x, &[wx, wh, b], init)
}

/// [`lstm_from`] from a zero state: every step's hidden state [B, T, H].
pub fn lstm(x: &Tensor, wx: &Tensor, wh: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(lstm_from(x, (wx, wh, b), None)?.hs)
}

/// Plain RNN over `x` [B, T, E] with W_ih [H, E], W_hh [H, H] and bias [H]:
/// h = tanh(x·W_ihᵀ + h·W_hhᵀ + b).
pub fn rnn_from<'a>(
    x: impl Into<SeqInput<'a>>,
    (wx, wh, b): (&Tensor, &Tensor, &Tensor),
    init: Option<InitialState>,
) -> Result<RecurrentOut> {
    recurrent_from(Cell::Rnn, x, &[wx, wh, b], init)
}

/// [`rnn_from`] from a zero state: every step's hidden state [B, T, H].
pub fn rnn(x: &Tensor, wx: &Tensor, wh: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(rnn_from(x, (wx, wh, b), None)?.hs)
}

/// GRU over `x` [B, T, E] with W_ih [3H, E], W_hh [3H, H], b_ih and b_hh [3H]; gate order
/// r, z, n and n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) as in PyTorch.
pub fn gru_from<'a>(
    x: impl Into<SeqInput<'a>>,
    (wx, wh, bx, bh): (&Tensor, &Tensor, &Tensor, &Tensor),
    init: Option<InitialState>,
) -> Result<RecurrentOut> {
    recurrent_from(Cell::Gru, x, &[wx, wh, bx, bh], init)
}

/// [`gru_from`] from a zero state: every step's hidden state [B, T, H].
pub fn gru(x: &Tensor, wx: &Tensor, wh: &Tensor, bx: &Tensor, bh: &Tensor) -> Result<Tensor> {
    Ok(gru_from(x, (wx, wh, bx, bh), None)?.hs)
}
