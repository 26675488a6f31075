//! The time loops of the recurrent layers (`recurrent.rs`): per step, h·W_hhᵀ for all rows
//! of the batch (or one thread's share) and the fused gate math of each cell; backward the
//! same in reverse, leaving the gate gradients for the weight matmuls.

use super::gemm::{matmul, matmul_colmajor, View};
use super::recurrent::{Cell, Parts, Recurrent, RowBuffers};
use super::recurrent_cells::{
    gru_cell_backward, gru_cell_forward, lstm_cell_backward, lstm_cell_forward, rnn_cell_backward,
    rnn_cell_forward,
};
use super::step_gemm::Panels;
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

/// `dst[r·dst_rs + k] += src[r + k·b]` for rows r < b and columns k < g: a column-major
/// product added into rows, through 8×8 tiles so both sides are read along cache lines.
pub(super) fn add_transposed(src: &[f32], b: usize, g: usize, dst: &mut [f32], dst_rs: usize) {
    const T: usize = 8;
    let (full_r, full_k) = (b / T * T, g / T * T);
    for r0 in (0..full_r).step_by(T) {
        for k0 in (0..full_k).step_by(T) {
            let mut tile = [[0f32; T]; T];
            for (dk, trow) in tile.iter_mut().enumerate() {
                let at = (k0 + dk) * b + r0;
                trow.copy_from_slice(&src[at..at + T]);
            }
            for dr in 0..T {
                let at = (r0 + dr) * dst_rs + k0;
                for (d, trow) in dst[at..at + T].iter_mut().zip(&tile) {
                    *d += trow[dr];
                }
            }
        }
    }
    for r in 0..b {
        let from = if r < full_r { full_k } else { 0 };
        for k in from..g {
            dst[r * dst_rs + k] += src[r + k * b];
        }
    }
}

/// `dst` (rows `dst_rs` apart) += hprev [b, h] · W_hhᵀ through the gemm crate, into a
/// column-major scratch [b, g]: its tiles fit a step's few rows better that way (`glassbox bench
/// gemm`: [32,256]·[256,1024] ~100 GFLOP/s on a Zen 4's AVX-512 path), and W_hh is read in its
/// own layout. The AVX2 path packs W_hh once instead (`step_gemm`), unless a lone batch splits
/// each step's product across threads.
#[allow(clippy::too_many_arguments)] // the shape of one step's product
fn add_step_product(
    hprev: View,
    wh: &[f32],
    (b, g, h): (usize, usize, usize),
    scratch: &mut [f32],
    dst: &mut [f32],
    dst_rs: usize,
    par: Parallelism,
) {
    let scratch = &mut scratch[..b * g];
    matmul_colmajor(
        b,
        g,
        h,
        hprev,
        View::transposed(wh, h),
        scratch,
        b,
        false,
        par,
    );
    add_transposed(scratch, b, g, dst, dst_rs);
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
        (parts, panels): (&Parts, Option<&Panels>),
        par: Parallelism,
    ) {
        let h = self.hidden;
        let g = self.cell.gates() * h;
        let zeros = vec![0f32; h];
        let mut hp = vec![0f32; b * g];
        // hprev · W_hhᵀ added into rows `dst_rs` apart.
        let step = |hprev: View, scratch: &mut [f32], dst: &mut [f32], dst_rs: usize| match panels {
            Some(w) => w.add_product(hprev.data, hprev.rs as usize, b, dst, dst_rs),
            None => add_step_product(hprev, parts.wh, (b, g, h), scratch, dst, dst_rs, par),
        };
        let mut scratch = vec![0f32; if panels.is_some() { 0 } else { b * g }];
        for s in 0..t {
            let prev = |r: usize| (r * t + s - 1) * h;
            match self.cell {
                Cell::Rnn => {
                    if let Some(hprev) = hidden_before(out, init, s, t, h) {
                        let dst = &mut acts[s * g..];
                        step(hprev, &mut scratch, dst, t * g);
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
                        step(hprev, &mut scratch, dst, t * g);
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
                        step(hprev, &mut scratch, &mut hp, g);
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
    /// gradients, `dhp` (GRU) gets the hidden-side ones. With `wht` (W_hhᵀ packed, the AVX2
    /// path) each step's dgates·W_hh runs through `step_gemm` on this thread; without, it goes
    /// straight into rows through the gemm crate (see `Recurrent::backward`).
    pub(super) fn recur_backward(
        &self,
        (acts, dhp, extra, hs, dy): RowBuffers,
        init: Option<(&[f32], &[f32])>,
        b: usize,
        t: usize,
        (wh, wht): (&[f32], Option<&Panels>),
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
            match wht {
                Some(wht) => {
                    if !accumulate {
                        dh_next.fill(0.0);
                    }
                    wht.add_product(dgates.data, dgates.rs as usize, b, &mut dh_next, h);
                }
                None => {
                    let w = View::rows(wh, h);
                    matmul(b, h, g, dgates, w, &mut dh_next, accumulate, par);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn add_transposed_covers_ragged_tiles() {
        for (b, g, rs) in [(19, 13, 13), (8, 8, 10), (3, 17, 20), (16, 5, 5), (1, 1, 1)] {
            let src: Vec<f32> = (0..b * g).map(|i| i as f32).collect();
            let mut dst: Vec<f32> = (0..b * rs).map(|i| -(i as f32)).collect();
            super::add_transposed(&src, b, g, &mut dst, rs);
            for r in 0..b {
                for k in 0..rs {
                    let at = r * rs + k;
                    let added = if k < g { src[r + k * b] } else { 0.0 };
                    assert_eq!(dst[at], added - at as f32, "{b}×{g} at {r},{k}");
                }
            }
        }
    }
}
