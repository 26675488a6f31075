//! LSTM, GRU and plain RNN layers as one op each. The input projection for all time steps is one matmul;
//! per step only h·W_hhᵀ remains, followed by the gate math fused in one pass. The backward runs
//! through time in one pass too, and every weight gradient is one large matmul at the end.
//! Gate buffers stay in the input's [B, T, ·] layout (a step is a strided block of rows), so
//! nothing is copied between layouts, and the big gate gradient never becomes a candle tensor.
//!
//! The weights travel as one packed tensor (W_ih, W_hh and the biases, flattened): candle's
//! custom ops take at most three inputs, and a concatenation of the small weights is far
//! cheaper than handing candle a [B, T, 4H] gate gradient to accumulate.

use super::gemm::{f32_slice, matmul, matmul_rows, parallelism, with_f32, View};
use super::recurrent_cells::{
    gru_cell_backward, gru_cell_forward, lstm_cell_backward, lstm_cell_forward, rnn_cell_backward,
    rnn_cell_forward,
};
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
    fn gates(self) -> usize {
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
struct Parts<'a> {
    wx: &'a [f32],
    wh: &'a [f32],
    bx: &'a [f32],
    /// GRU only: the hidden bias, inside r ⊙ (W_hn h + b_hn).
    bh: &'a [f32],
}

fn split(cell: Cell, p: &[f32], e: usize, h: usize) -> Parts<'_> {
    let g = cell.gates() * h;
    let (wx, rest) = p.split_at(g * e);
    let (wh, rest) = rest.split_at(g * h);
    let (bx, bh) = rest.split_at(g);
    Parts { wx, wh, bx, bh }
}

/// What the backward needs: gate activations [B, T, G] and, per cell, cell states (LSTM) or
/// W_hn·h + b_hn (GRU) [B, T, H].
struct Saved {
    acts: Vec<f32>,
    extra: Vec<f32>,
}

/// One thread's rows for the backward: gate activations (→ gradients), GRU hidden-side
/// gradients, saved cell states or W_hn·h, hidden states, output gradients.
type RowBuffers<'a> = (
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

struct Recurrent {
    cell: Cell,
    hidden: usize,
    saved: Mutex<Option<Saved>>,
}

/// `src` [rows, cols] → [cols, rows], through 8×8 tiles held in registers, so reads and
/// writes both run along cache lines.
fn transpose(src: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const T: usize = 8;
    let mut out = vec![0f32; rows * cols];
    let (full_r, full_c) = (rows / T * T, cols / T * T);
    for i0 in (0..full_r).step_by(T) {
        for j0 in (0..full_c).step_by(T) {
            let mut tile = [[0f32; T]; T];
            for (di, trow) in tile.iter_mut().enumerate() {
                let at = (i0 + di) * cols + j0;
                trow.copy_from_slice(&src[at..at + T]);
            }
            for dj in 0..T {
                let at = (j0 + dj) * rows + i0;
                for (o, trow) in out[at..at + T].iter_mut().zip(&tile) {
                    *o = trow[dj];
                }
            }
        }
    }
    // The ragged right and bottom edges.
    for i in 0..rows {
        let from = if i < full_r { full_c } else { 0 };
        for j in from..cols {
            out[j * rows + i] = src[i * cols + j];
        }
    }
    out
}

/// dW [g, n] = dGᵀ · X over all rows, computed as its transpose Xᵀ · dG so that gemm packs
/// the narrow X instead of the wide gate gradients, then transposed into place.
fn weight_grad(dgates: &[f32], x: &[f32], g: usize, n: usize, dst: &mut [f32]) {
    let rows = x.len() / n;
    let mut t = vec![0f32; n * g];
    matmul(
        n,
        g,
        rows,
        View::transposed(x, n),
        View::rows(dgates, g),
        &mut t,
        false,
        parallelism(2 * g * n * rows),
    );
    dst[..g * n].copy_from_slice(&transpose(&t, n, g));
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
        let h = self.hidden;
        if pl.dims() != [self.cell.packed_len(e, h)] || t == 0 {
            candle_core::bail!(
                "{:?}: packed weights of {:?} do not fit input width {e} and hidden {h}",
                self.cell,
                pl.dims()
            );
        }
        Ok((b, t, e, h))
    }

    /// The input projection for every step: acts [B·T, G] = x·W_ihᵀ + b_ih.
    fn project(x: &[f32], p: &Parts, rows: usize, e: usize, g: usize) -> Vec<f32> {
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
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let parts = split(self.cell, p, e, h);
        let mut acts = Self::project(x, &parts, b * t, e, g);
        let wht = transpose(parts.wh, g, h);
        let mut out = vec![0f32; b * t * h];
        let mut extra = vec![0f32; b * t * h];
        match row_chunks(b) {
            None => {
                let par = parallelism(2 * b * g * h);
                self.recur_forward(&mut acts, &mut out, &mut extra, b, t, &wht, &parts, par);
            }
            Some(per) => {
                let jobs: Vec<_> = acts
                    .chunks_mut(per * t * g)
                    .zip(out.chunks_mut(per * t * h))
                    .zip(extra.chunks_mut(per * t * h))
                    .collect();
                jobs.into_par_iter().for_each(|((a, o), x)| {
                    let nb = o.len() / (t * h);
                    self.recur_forward(a, o, x, nb, t, &wht, &parts, Parallelism::None);
                });
            }
        }
        (out, Saved { acts, extra })
    }

    /// The forward time loop over `b` batch rows (all of them, or one thread's share: rows are
    /// independent through time, so threads split them and never meet until the end).
    #[allow(clippy::too_many_arguments)] // buffers and dimensions of one call
    fn recur_forward(
        &self,
        acts: &mut [f32],
        out: &mut [f32],
        extra: &mut [f32],
        b: usize,
        t: usize,
        wht: &[f32],
        parts: &Parts,
        par: Parallelism,
    ) {
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let zeros = vec![0f32; h];
        let mut hp = vec![0f32; b * g];
        for s in 0..t {
            let prev = |r: usize| (r * t + s - 1) * h;
            match self.cell {
                Cell::Rnn => {
                    if s > 0 {
                        let hprev = View::strided(&out[(s - 1) * h..], t * h);
                        let dst = &mut acts[s * g..];
                        matmul_rows(b, g, h, hprev, View::rows(wht, g), dst, t * g, true, par);
                    }
                    for r in 0..b {
                        let row = (r * t + s) * h;
                        rnn_cell_forward(
                            &mut acts[(r * t + s) * g..(r * t + s + 1) * g],
                            &mut out[row..row + h],
                        );
                    }
                }
                Cell::Lstm => {
                    if s > 0 {
                        let hprev = View::strided(&out[(s - 1) * h..], t * h);
                        let dst = &mut acts[s * g..];
                        matmul_rows(b, g, h, hprev, View::rows(wht, g), dst, t * g, true, par);
                    }
                    for r in 0..b {
                        let row = (r * t + s) * h;
                        let (done, rest) = extra.split_at_mut(row);
                        let cprev = if s > 0 {
                            &done[prev(r)..prev(r) + h]
                        } else {
                            &zeros[..]
                        };
                        lstm_cell_forward(
                            &mut acts[(r * t + s) * g..(r * t + s + 1) * g],
                            cprev,
                            &mut rest[..h],
                            &mut out[row..row + h],
                        );
                    }
                }
                Cell::Gru => {
                    for r in 0..b {
                        hp[r * g..(r + 1) * g].copy_from_slice(parts.bh);
                    }
                    if s > 0 {
                        let hprev = View::strided(&out[(s - 1) * h..], t * h);
                        matmul(b, g, h, hprev, View::rows(wht, g), &mut hp, true, par);
                    }
                    for r in 0..b {
                        let row = (r * t + s) * h;
                        let (done, rest) = out.split_at_mut(row);
                        let hprev = if s > 0 {
                            &done[prev(r)..prev(r) + h]
                        } else {
                            &zeros[..]
                        };
                        gru_cell_forward(
                            &mut acts[(r * t + s) * g..(r * t + s + 1) * g],
                            &hp[r * g..(r + 1) * g],
                            hprev,
                            &mut extra[row..row + h],
                            &mut rest[..h],
                        );
                    }
                }
            }
        }
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
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let parts = split(self.cell, p, e, h);
        let Saved { mut acts, extra } = saved;
        // GRU: the hidden-side gate gradients differ from the input-side ones in n.
        let mut dhp = match self.cell {
            Cell::Lstm | Cell::Rnn => Vec::new(),
            Cell::Gru => vec![0f32; b * t * g],
        };
        match row_chunks(b) {
            None => {
                let par = parallelism(2 * b * g * h);
                let bufs = (&mut acts[..], &mut dhp[..], &extra[..], hs, dy);
                self.recur_backward(bufs, b, t, parts.wh, par);
            }
            Some(per) => {
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
                    .collect();
                jobs.into_par_iter().for_each(|bufs| {
                    let nb = bufs.2.len() / (t * h);
                    self.recur_backward(bufs, nb, t, parts.wh, Parallelism::None);
                });
            }
        }
        let hidden_side = match self.cell {
            Cell::Lstm | Cell::Rnn => &acts,
            Cell::Gru => &dhp,
        };
        let rows = b * t;
        // h_{s-1} beside each step's gate gradient (zero for s = 0), so dW_hh is one matmul.
        let mut hshift = vec![0f32; rows * h];
        for r in 0..b {
            let base = r * t * h;
            hshift[base + h..base + t * h].copy_from_slice(&hs[base..base + (t - 1) * h]);
        }
        let mut grads = vec![0f32; p.len()];
        let (dwx, rest) = grads.split_at_mut(g * e);
        let (dwh, rest) = rest.split_at_mut(g * h);
        let (dbx, dbh) = rest.split_at_mut(g);
        weight_grad(&acts, x, g, e, dwx);
        weight_grad(hidden_side, &hshift, g, h, dwh);
        for row in acts.chunks_exact(g) {
            dbx.iter_mut().zip(row).for_each(|(a, v)| *a += v);
        }
        if self.cell == Cell::Gru {
            for row in dhp.chunks_exact(g) {
                dbh.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
        }
        let dx = want_dx.then(|| {
            let mut dx = vec![0f32; rows * e];
            matmul(
                rows,
                e,
                g,
                View::rows(&acts, g),
                View::rows(parts.wx, e),
                &mut dx,
                false,
                parallelism(2 * rows * g * e),
            );
            dx
        });
        (grads, dx)
    }
}

impl Recurrent {
    /// The backward time loop over `b` batch rows: `acts` turns into the input-side gate
    /// gradients, `dhp` (GRU) gets the hidden-side ones.
    fn recur_backward(
        &self,
        (acts, dhp, extra, hs, dy): RowBuffers,
        b: usize,
        t: usize,
        wh: &[f32],
        par: Parallelism,
    ) {
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let zeros = vec![0f32; h];
        let mut dh_next = vec![0f32; b * h];
        let mut dcarry = vec![0f32; b * h];
        for s in (0..t).rev() {
            let prev = |r: usize| (r * t + s - 1) * h;
            for r in 0..b {
                let row = (r * t + s) * h;
                let gates = &mut acts[(r * t + s) * g..(r * t + s + 1) * g];
                let dy_row = &dy[row..row + h];
                let dh_row = &dh_next[r * h..(r + 1) * h];
                match self.cell {
                    Cell::Rnn => rnn_cell_backward(gates, dy_row, dh_row),
                    Cell::Lstm => {
                        let cprev = if s > 0 {
                            &extra[prev(r)..prev(r) + h]
                        } else {
                            &zeros[..]
                        };
                        lstm_cell_backward(
                            gates,
                            cprev,
                            &extra[row..row + h],
                            dy_row,
                            dh_row,
                            &mut dcarry[r * h..(r + 1) * h],
                        );
                    }
                    Cell::Gru => {
                        let hprev = if s > 0 {
                            &hs[prev(r)..prev(r) + h]
                        } else {
                            &zeros[..]
                        };
                        gru_cell_backward(
                            gates,
                            &mut dhp[(r * t + s) * g..(r * t + s + 1) * g],
                            &extra[row..row + h],
                            hprev,
                            dy_row,
                            dh_row,
                            &mut dcarry[r * h..(r + 1) * h],
                        );
                    }
                }
            }
            if s == 0 {
                break;
            }
            // dh_{s-1} = (hidden-side gate gradients of step s) · W_hh, plus the GRU's direct
            // path z ⊙ dh that the cell left in `dcarry`.
            let (src, accumulate) = match self.cell {
                Cell::Lstm | Cell::Rnn => (&*acts, false),
                Cell::Gru => {
                    dh_next.copy_from_slice(&dcarry);
                    (&*dhp, true)
                }
            };
            let dgates = View::strided(&src[s * g..], t * g);
            matmul(
                b,
                h,
                g,
                dgates,
                View::rows(wh, h),
                &mut dh_next,
                accumulate,
                par,
            );
        }
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

fn run(cell: Cell, x: &Tensor, weights: &[&Tensor], hidden: usize) -> Result<Tensor> {
    let flat = weights
        .iter()
        .map(|w| w.flatten_all())
        .collect::<Result<Vec<_>>>()?;
    let packed = Tensor::cat(&flat, 0)?;
    x.contiguous()?.apply_op2(
        &packed,
        Recurrent {
            cell,
            hidden,
            saved: Mutex::new(None),
        },
    )
}

/// LSTM over `x` [B, T, E] with W_ih [4H, E], W_hh [4H, H] and bias [4H]; gate order
/// i, f, g, o (PyTorch's). Returns every step's hidden state [B, T, H].
pub fn lstm(x: &Tensor, wx: &Tensor, wh: &Tensor, b: &Tensor) -> Result<Tensor> {
    run(Cell::Lstm, x, &[wx, wh, b], wh.dim(1)?)
}

/// Plain RNN over `x` [B, T, E] with W_ih [H, E], W_hh [H, H] and bias [H]:
/// h = tanh(x·W_ihᵀ + h·W_hhᵀ + b). Returns every step's hidden state [B, T, H].
pub fn rnn(x: &Tensor, wx: &Tensor, wh: &Tensor, b: &Tensor) -> Result<Tensor> {
    run(Cell::Rnn, x, &[wx, wh, b], wh.dim(1)?)
}

/// GRU over `x` [B, T, E] with W_ih [3H, E], W_hh [3H, H], b_ih and b_hh [3H]; gate order
/// r, z, n and n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) as in PyTorch.
pub fn gru(x: &Tensor, wx: &Tensor, wh: &Tensor, bx: &Tensor, bh: &Tensor) -> Result<Tensor> {
    run(Cell::Gru, x, &[wx, wh, bx, bh], wh.dim(1)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn transpose_handles_ragged_edges() {
        for (rows, cols) in [(19, 13), (8, 8), (3, 17), (16, 5), (1, 1)] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let out = super::transpose(&src, rows, cols);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(
                        out[j * rows + i],
                        src[i * cols + j],
                        "{rows}×{cols} at {i},{j}"
                    );
                }
            }
        }
    }
}
