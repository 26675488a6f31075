//! The LSTM recurrence as one op: the input projection for all steps is done beforehand in one
//! matmul (the caller's Dense op); per step only h·W_hhᵀ remains, then the gate math fused in
//! one pass. The backward runs through time in one pass too, and W_hh's gradient is a single
//! large matmul at the end. candle's autograd would build some twenty ops per step.

use super::fastmath::{sigmoid, tanh};
use super::gemm::{f32_slice, matmul, parallelism, with_f32, View};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use std::sync::Mutex;

/// What the backward needs from the forward: gate activations [T, B, 4H], cells and hidden
/// states [T+1, B, H] (index 0 is the zero initial state).
struct Saved {
    acts: Vec<f32>,
    cs: Vec<f32>,
    hs: Vec<f32>,
}

pub struct LstmRecurrence {
    saved: Mutex<Option<Saved>>,
}

impl CustomOp2 for LstmRecurrence {
    fn name(&self) -> &'static str {
        "glassbox-lstm"
    }

    /// xp [B, T, 4H] (x·W_ihᵀ + b), wh [4H, H] → h [B, T, H].
    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (&[b, t, g4], &[g4w, h]) = (xl.dims(), wl.dims()) else {
            candle_core::bail!("lstm expects xp [B, T, 4H] and w_hh [4H, H]");
        };
        if g4 != 4 * h || g4w != g4 {
            candle_core::bail!("lstm: xp has {g4} gate values, w_hh is {g4w}×{h}");
        }
        let (xp, wh) = (f32_slice(xs, xl)?, f32_slice(ws, wl)?);
        let mut acts = vec![0f32; t * b * g4];
        let mut cs = vec![0f32; (t + 1) * b * h];
        let mut hs = vec![0f32; (t + 1) * b * h];
        let mut out = vec![0f32; b * t * h];
        let par = parallelism(2 * b * g4 * h);
        for step in 0..t {
            let a = &mut acts[step * b * g4..(step + 1) * b * g4];
            for r in 0..b {
                a[r * g4..(r + 1) * g4]
                    .copy_from_slice(&xp[(r * t + step) * g4..(r * t + step + 1) * g4]);
            }
            let (hprev, hnext) = hs.split_at_mut((step + 1) * b * h);
            let hprev = &hprev[step * b * h..];
            matmul(
                b,
                g4,
                h,
                View::rows(hprev, h),
                View::transposed(wh, h),
                a,
                true,
                par,
            );
            let (cprev, cnext) = cs.split_at_mut((step + 1) * b * h);
            let cprev = &cprev[step * b * h..];
            for r in 0..b {
                let gates = &mut a[r * g4..(r + 1) * g4];
                let (gi, rest) = gates.split_at_mut(h);
                let (gf, rest) = rest.split_at_mut(h);
                let (gg, go) = rest.split_at_mut(h);
                for j in 0..h {
                    let i = sigmoid(gi[j]);
                    let f = sigmoid(gf[j]);
                    let g = tanh(gg[j]);
                    let o = sigmoid(go[j]);
                    let c = f * cprev[r * h + j] + i * g;
                    let hv = o * tanh(c);
                    gi[j] = i;
                    gf[j] = f;
                    gg[j] = g;
                    go[j] = o;
                    cnext[r * h + j] = c;
                    hnext[r * h + j] = hv;
                    out[(r * t + step) * h + j] = hv;
                }
            }
        }
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(Saved { acts, cs, hs });
        Ok((CpuStorage::F32(out), Shape::from((b, t, h))))
    }

    fn bwd(
        &self,
        xp: &Tensor,
        wh: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, t, g4) = xp.dims3()?;
        let h = g4 / 4;
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(Saved { acts, cs, hs }) = saved else {
            candle_core::bail!("lstm backward without its forward");
        };
        let par = parallelism(2 * b * g4 * h);
        let (dxp, dwh) = with_f32(wh, |w| {
            with_f32(grad, |dy| {
                // dgates for every step, laid out [T, B, 4H] for the final W_hh gradient.
                let mut dgates = vec![0f32; t * b * g4];
                let mut dh_next = vec![0f32; b * h];
                let mut dc_next = vec![0f32; b * h];
                for step in (0..t).rev() {
                    let a = &acts[step * b * g4..(step + 1) * b * g4];
                    let d = &mut dgates[step * b * g4..(step + 1) * b * g4];
                    let cprev = &cs[step * b * h..(step + 1) * b * h];
                    let c = &cs[(step + 1) * b * h..(step + 2) * b * h];
                    for r in 0..b {
                        for j in 0..h {
                            let (i, f, g, o) = (
                                a[r * g4 + j],
                                a[r * g4 + h + j],
                                a[r * g4 + 2 * h + j],
                                a[r * g4 + 3 * h + j],
                            );
                            let dh = dy[(r * t + step) * h + j] + dh_next[r * h + j];
                            let tc = tanh(c[r * h + j]);
                            let dc = dh * o * (1.0 - tc * tc) + dc_next[r * h + j];
                            d[r * g4 + j] = dc * g * i * (1.0 - i);
                            d[r * g4 + h + j] = dc * cprev[r * h + j] * f * (1.0 - f);
                            d[r * g4 + 2 * h + j] = dc * i * (1.0 - g * g);
                            d[r * g4 + 3 * h + j] = dh * tc * o * (1.0 - o);
                            dc_next[r * h + j] = dc * f;
                        }
                    }
                    // dh_{t-1} = dgates_t · W_hh
                    matmul(
                        b,
                        h,
                        g4,
                        View::rows(d, g4),
                        View::rows(w, h),
                        &mut dh_next,
                        false,
                        par,
                    );
                }
                // dW_hh = Σ_t dgates_tᵀ · h_{t-1}: one matmul over all steps at once.
                let mut dwh = vec![0f32; g4 * h];
                matmul(
                    g4,
                    h,
                    t * b,
                    View::transposed(&dgates, g4),
                    View::rows(&hs[..t * b * h], h),
                    &mut dwh,
                    false,
                    parallelism(2 * g4 * h * t * b),
                );
                // Back to the input's [B, T, 4H] layout.
                let mut dxp = vec![0f32; b * t * g4];
                for step in 0..t {
                    for r in 0..b {
                        dxp[(r * t + step) * g4..(r * t + step + 1) * g4]
                            .copy_from_slice(&dgates[(step * b + r) * g4..(step * b + r + 1) * g4]);
                    }
                }
                (dxp, dwh)
            })
        })??;
        Ok((
            Some(Tensor::from_vec(dxp, (b, t, g4), xp.device())?),
            Some(Tensor::from_vec(dwh, (g4, h), wh.device())?),
        ))
    }
}

/// The LSTM over projected inputs `xp` [B, T, 4H] with recurrent weights `wh` [4H, H]; gate
/// order i, f, g, o (PyTorch's). Returns every step's hidden state [B, T, H].
pub fn lstm_recurrence(xp: &Tensor, wh: &Tensor) -> Result<Tensor> {
    xp.contiguous()?.apply_op2(
        &wh.contiguous()?,
        LstmRecurrence {
            saved: Mutex::new(None),
        },
    )
}
