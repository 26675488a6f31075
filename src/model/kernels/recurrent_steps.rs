//! The time loops of the recurrent layers (`recurrent.rs`): per step, h·W_hhᵀ for all rows
//! of the batch (or one thread's share) and the fused gate math of each cell; backward the
//! same in reverse, leaving the gate gradients for the weight matmuls.

use super::gemm::{matmul, matmul_rows, View};
use super::recurrent::{Cell, Parts, Recurrent, RowBuffers};
use super::recurrent_cells::{
    gru_cell_backward, gru_cell_forward, lstm_cell_backward, lstm_cell_forward, rnn_cell_backward,
    rnn_cell_forward,
};
use gemm::Parallelism;

/// The hidden states step `s` reads: the previous step's outputs (rows `t·h` apart), the
/// carried state at step 0, or nothing (zeros) at step 0 of a fresh sequence.
fn hidden_before<'a>(
    out: &'a [f32],
    init: Option<(&'a [f32], &'a [f32])>,
    s: usize,
    t: usize,
    h: usize,
) -> Option<View<'a>> {
    match (s, init) {
        (0, Some((h0, _))) => Some(View::rows(h0, h)),
        (0, None) => None,
        _ => Some(View::strided(&out[(s - 1) * h..], t * h)),
    }
}

impl Recurrent {
    /// The forward time loop over `b` batch rows (all of them, or one thread's share: rows are
    /// independent through time, so threads split them and never meet until the end).
    #[allow(clippy::too_many_arguments)] // buffers and dimensions of one call
    pub(super) fn recur_forward(
        &self,
        (acts, out, extra): (&mut [f32], &mut [f32], &mut [f32]),
        init: Option<(&[f32], &[f32])>,
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
                    if let Some(hprev) = hidden_before(out, init, s, t, h) {
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
                    if let Some(hprev) = hidden_before(out, init, s, t, h) {
                        let dst = &mut acts[s * g..];
                        matmul_rows(b, g, h, hprev, View::rows(wht, g), dst, t * g, true, par);
                    }
                    for r in 0..b {
                        let row = (r * t + s) * h;
                        let (done, rest) = extra.split_at_mut(row);
                        let cprev = match (s, init) {
                            (0, Some((_, c0))) => &c0[r * h..(r + 1) * h],
                            (0, None) => &zeros[..],
                            _ => &done[prev(r)..prev(r) + h],
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
                    if let Some(hprev) = hidden_before(out, init, s, t, h) {
                        matmul(b, g, h, hprev, View::rows(wht, g), &mut hp, true, par);
                    }
                    for r in 0..b {
                        let row = (r * t + s) * h;
                        let (done, rest) = out.split_at_mut(row);
                        let hprev = match (s, init) {
                            (0, Some((h0, _))) => &h0[r * h..(r + 1) * h],
                            (0, None) => &zeros[..],
                            _ => &done[prev(r)..prev(r) + h],
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

    /// The backward time loop over `b` batch rows: `acts` turns into the input-side gate
    /// gradients, `dhp` (GRU) gets the hidden-side ones.
    pub(super) fn recur_backward(
        &self,
        (acts, dhp, extra, hs, dy): RowBuffers,
        init: Option<(&[f32], &[f32])>,
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
                        let cprev = match (s, init) {
                            (0, Some((_, c0))) => &c0[r * h..(r + 1) * h],
                            (0, None) => &zeros[..],
                            _ => &extra[prev(r)..prev(r) + h],
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
                        let hprev = match (s, init) {
                            (0, Some((h0, _))) => &h0[r * h..(r + 1) * h],
                            (0, None) => &zeros[..],
                            _ => &hs[prev(r)..prev(r) + h],
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
