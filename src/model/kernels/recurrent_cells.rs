//! The per-row gate math of the recurrent kernels (forward and backward), compiled for AVX2
//! and AVX-512 and chosen at run time.

use super::dispatch::simd_fn;
use super::fastmath::{sigmoid, tanh};

simd_fn! {
    /// One LSTM row: `gates` [4H] pre-activations in, activations out; new cell and hidden state.
    pub(super) fn lstm_cell_forward(gates: &mut [f32], cprev: &[f32], c: &mut [f32], hout: &mut [f32]) {
        let h = cprev.len();
        let (gi, rest) = gates.split_at_mut(h);
        let (gf, rest) = rest.split_at_mut(h);
        let (gg, go) = rest.split_at_mut(h);
        let (go, c, hout) = (&mut go[..h], &mut c[..h], &mut hout[..h]);
        for j in 0..h {
            let i = sigmoid(gi[j]);
            let f = sigmoid(gf[j]);
            let g = tanh(gg[j]);
            let o = sigmoid(go[j]);
            let cv = f * cprev[j] + i * g;
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
            c[j] = cv;
            hout[j] = o * tanh(cv);
        }
    }
}

simd_fn! {
    /// One LSTM row backward: turns the saved activations `ad` [4H] into the pre-activation
    /// gradients in place; `dh_next` and `dc_next` carry the gradients from the following step
    /// and `dc_next` is updated to the one for the previous step.
    pub(super) fn lstm_cell_backward(
        ad: &mut [f32],
        cprev: &[f32],
        c: &[f32],
        dy: &[f32],
        dh_next: &[f32],
        dc_next: &mut [f32],
    ) {
        let h = cprev.len();
        let ad = &mut ad[..4 * h];
        let (c, dy, dh_next, dc_next) = (&c[..h], &dy[..h], &dh_next[..h], &mut dc_next[..h]);
        for j in 0..h {
            let (i, f, g, o) = (ad[j], ad[h + j], ad[2 * h + j], ad[3 * h + j]);
            let dh = dy[j] + dh_next[j];
            let tc = tanh(c[j]);
            let dc = dh * o * (1.0 - tc * tc) + dc_next[j];
            ad[j] = dc * g * i * (1.0 - i);
            ad[h + j] = dc * cprev[j] * f * (1.0 - f);
            ad[2 * h + j] = dc * i * (1.0 - g * g);
            ad[3 * h + j] = dh * tc * o * (1.0 - o);
            dc_next[j] = dc * f;
        }
    }
}

simd_fn! {
    /// One GRU row: `gates` [3H] holds x·W_ihᵀ + b_ih and becomes (r, z, n); `hp` [3H] is
    /// h·W_hhᵀ + b_hh; writes W_hn·h + b_hn to `hn` for the backward and the new state to `hout`.
    pub(super) fn gru_cell_forward(
        gates: &mut [f32],
        hp: &[f32],
        hprev: &[f32],
        hn: &mut [f32],
        hout: &mut [f32],
    ) {
        let h = hprev.len();
        let (gr, rest) = gates.split_at_mut(h);
        let (gz, gn) = rest.split_at_mut(h);
        let (gn, hp, hn, hout) = (&mut gn[..h], &hp[..3 * h], &mut hn[..h], &mut hout[..h]);
        for j in 0..h {
            let r = sigmoid(gr[j] + hp[j]);
            let z = sigmoid(gz[j] + hp[h + j]);
            let n = tanh(gn[j] + r * hp[2 * h + j]);
            gr[j] = r;
            gz[j] = z;
            gn[j] = n;
            hn[j] = hp[2 * h + j];
            hout[j] = (1.0 - z) * n + z * hprev[j];
        }
    }
}

simd_fn! {
    /// One GRU row backward. `ad` [3H]: activations in, input-side pre-activation gradients out;
    /// `dhp` [3H] gets the hidden-side ones; `dh_prev` [H] gets the direct path z ⊙ dh.
    pub(super) fn gru_cell_backward(
        ad: &mut [f32],
        dhp: &mut [f32],
        hn: &[f32],
        hprev: &[f32],
        dy: &[f32],
        dh_next: &[f32],
        dh_prev: &mut [f32],
    ) {
        let h = hprev.len();
        let (ad, dhp) = (&mut ad[..3 * h], &mut dhp[..3 * h]);
        let (hn, dy, dh_next, dh_prev) = (&hn[..h], &dy[..h], &dh_next[..h], &mut dh_prev[..h]);
        for j in 0..h {
            let (r, z, n) = (ad[j], ad[h + j], ad[2 * h + j]);
            let dh = dy[j] + dh_next[j];
            let dn = dh * (1.0 - z) * (1.0 - n * n);
            let dz = dh * (hprev[j] - n) * z * (1.0 - z);
            let dr = dn * hn[j] * r * (1.0 - r);
            ad[j] = dr;
            ad[h + j] = dz;
            ad[2 * h + j] = dn;
            dhp[j] = dr;
            dhp[h + j] = dz;
            dhp[2 * h + j] = dn * r;
            dh_prev[j] = dh * z;
        }
    }
}

simd_fn! {
    /// One plain RNN row: `gates` [H] pre-activations in, tanh out; the new hidden state.
    pub(super) fn rnn_cell_forward(gates: &mut [f32], hout: &mut [f32]) {
        let hout = &mut hout[..gates.len()];
        for (a, o) in gates.iter_mut().zip(hout) {
            *a = tanh(*a);
            *o = *a;
        }
    }
}

simd_fn! {
    /// One plain RNN row backward: `ad` [H] activations in, pre-activation gradients out.
    pub(super) fn rnn_cell_backward(ad: &mut [f32], dy: &[f32], dh_next: &[f32]) {
        let (dy, dh_next) = (&dy[..ad.len()], &dh_next[..ad.len()]);
        for ((a, d), n) in ad.iter_mut().zip(dy).zip(dh_next) {
            *a = (d + n) * (1.0 - *a * *a);
        }
    }
}
