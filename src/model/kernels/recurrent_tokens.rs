//! A recurrent layer reading an Embedding (token ids → table rows → LSTM, GRU or RNN) as one
//! op. A batch of text has far fewer distinct tokens than positions (the lstm bench: at most
//! 96 of 2,048), and every position holding the same token has the same input row, so the
//! input projection x·W_ihᵀ + b is computed once per distinct token and copied to its
//! positions. In the backward the input-side gate gradients are summed per token first, and
//! dW_ih and the table's gradient become products over the distinct tokens: ≈ 800 of the
//! lstm bench step's ≈ 4,300 MFLOP are done once per token instead of once per position.
//! The sums are those of the two ops apart, in another order.

use super::gemm::with_f32;
use super::recurrent::{split, Recurrent};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

/// The distinct tokens of a batch and which of them each position holds.
pub(super) struct Tokens {
    /// Token ids in order of first appearance.
    distinct: Vec<u32>,
    /// For each position [B·T], its index into `distinct`.
    class: Vec<u32>,
}

/// Positions per thread's share of a per-token sum: below this one thread does it all.
const POSITIONS_PER_THREAD: usize = 256;

impl Tokens {
    /// Groups `ids`, refusing one outside a vocabulary of `vocab` (as the Embedding would).
    pub(super) fn of(ids: &[u32], vocab: usize) -> Result<Tokens> {
        let mut slot = vec![u32::MAX; vocab];
        let mut distinct = Vec::new();
        let class = ids
            .iter()
            .map(|&id| {
                let Some(s) = slot.get_mut(id as usize) else {
                    candle_core::bail!(
                        "token id {id} is outside the Embedding's vocabulary of {vocab}"
                    );
                };
                if *s == u32::MAX {
                    *s = distinct.len() as u32;
                    distinct.push(id);
                }
                Ok(*s)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tokens { distinct, class })
    }

    /// The table's [V, e] row of each distinct token: [U, e].
    fn gather(&self, table: &[f32], e: usize) -> Vec<f32> {
        self.distinct
            .iter()
            .flat_map(|&id| &table[id as usize * e..(id as usize + 1) * e])
            .copied()
            .collect()
    }

    /// Each position's row of `per_token` [U, g]: [B·T, g].
    fn spread(&self, per_token: &[f32], g: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.class.len() * g];
        let fill = |(dst, &c): (&mut [f32], &u32)| {
            dst.copy_from_slice(&per_token[c as usize * g..(c as usize + 1) * g]);
        };
        if super::gemm::threads() > 1 && self.class.len() >= 2 * POSITIONS_PER_THREAD {
            out.par_chunks_mut(g).zip(&self.class).for_each(fill);
        } else {
            out.chunks_mut(g).zip(&self.class).for_each(fill);
        }
        out
    }

    /// Σ of `per_position` [B·T, g] over the positions of each token: [U, g].
    fn sums(&self, per_position: &[f32], g: usize) -> Vec<f32> {
        let u = self.distinct.len();
        let add = |acc: &mut Vec<f32>, (row, &c): (&[f32], &u32)| {
            let dst = &mut acc[c as usize * g..(c as usize + 1) * g];
            dst.iter_mut().zip(row).for_each(|(a, v)| *a += v);
        };
        let rows = per_position.chunks_exact(g).zip(&self.class);
        let threads = super::gemm::threads();
        if threads == 1 || self.class.len() < 2 * POSITIONS_PER_THREAD {
            let mut acc = vec![0f32; u * g];
            rows.for_each(|r| add(&mut acc, r));
            return acc;
        }
        let per = self.class.len().div_ceil(threads);
        per_position
            .par_chunks(per * g)
            .zip(self.class.par_chunks(per))
            .map(|(m, class)| {
                let mut acc = vec![0f32; u * g];
                m.chunks_exact(g).zip(class).for_each(|r| add(&mut acc, r));
                acc
            })
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            })
            .unwrap_or_else(|| vec![0f32; u * g])
    }
}

/// [`Recurrent`] over an Embedding's rows: inputs token ids [B, T] (u32), the table [V, E]
/// and the packed weights.
pub(super) struct TokenRecurrent {
    inner: Recurrent,
    /// The forward's tokens and their table rows [U, E], for the backward.
    saved: Mutex<Option<(Tokens, Vec<f32>)>>,
}

impl TokenRecurrent {
    pub(super) fn new(inner: Recurrent) -> Self {
        TokenRecurrent {
            inner,
            saved: Mutex::new(None),
        }
    }
}

fn ids_of<'a>(s: &'a CpuStorage, l: &Layout) -> Result<(&'a [u32], usize, usize)> {
    let (CpuStorage::U32(ids), Some((a, z)), &[b, t]) = (s, l.contiguous_offsets(), l.dims())
    else {
        candle_core::bail!("an Embedding reads token ids [B, T] as contiguous u32");
    };
    Ok((&ids[a..z], b, t))
}

impl CustomOp3 for TokenRecurrent {
    fn name(&self) -> &'static str {
        match self.inner.cell {
            super::Cell::Lstm => "glassbox-embedded-lstm",
            super::Cell::Gru => "glassbox-embedded-gru",
            super::Cell::Rnn => "glassbox-embedded-rnn",
        }
    }

    fn cpu_fwd(
        &self,
        ids: &CpuStorage,
        il: &Layout,
        table: &CpuStorage,
        tl: &Layout,
        packed: &CpuStorage,
        pl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let _timed = crate::model::profile::kernel(<Self as CustomOp3>::name(self));
        let (ids, b, t) = ids_of(ids, il)?;
        let &[vocab, e] = tl.dims() else {
            candle_core::bail!("an Embedding's table is [V, E], got {:?}", tl.dims());
        };
        self.inner.check_dims(b, t, e, pl)?;
        let (table, p) = (
            super::gemm::f32_slice(table, tl)?,
            super::gemm::f32_slice(packed, pl)?,
        );
        let (h, g) = (
            self.inner.hidden,
            self.inner.cell.gates() * self.inner.hidden,
        );
        let tokens = Tokens::of(ids, vocab)?;
        let rows = tokens.gather(table, e);
        let parts = split(self.inner.cell, p, e, h);
        let per_token = Recurrent::project(&rows, &parts, tokens.distinct.len(), e, g);
        let acts = tokens.spread(&per_token, g);
        let (out, saved) = self.inner.forward_projected(acts, &parts, b, t);
        *self.inner.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some((tokens, rows));
        Ok((CpuStorage::F32(out), Shape::from((b, t, h))))
    }

    fn bwd(
        &self,
        ids: &Tensor,
        table: &Tensor,
        p: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let _timed = crate::model::profile::backward(self.name());
        let (b, t) = ids.dims2()?;
        let (vocab, e) = table.dims2()?;
        let saved = self
            .inner
            .saved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let tokens = self.saved.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (Some(saved), Some((tokens, rows))) = (saved, tokens) else {
            candle_core::bail!("{:?} backward without its forward", self.inner.cell);
        };
        let want_table = table.track_op();
        let inner = &self.inner;
        let g = inner.cell.gates() * inner.hidden;
        let (dp, d_rows) = with_f32(p, |pv| {
            with_f32(res, |hs| {
                with_f32(grad, |dy| {
                    let parts = split(inner.cell, pv, e, inner.hidden);
                    let grads = inner.gate_grads(saved, &parts, hs, dy, b, t);
                    let per_token = tokens.sums(grads.input_side(), g);
                    inner.weight_grads(&grads, &per_token, &rows, &parts, pv.len(), want_table)
                })
            })
        })???;
        let d_table = d_rows
            .map(|d| {
                let mut dt = vec![0f32; vocab * e];
                for (row, &id) in d.chunks_exact(e).zip(&tokens.distinct) {
                    dt[id as usize * e..(id as usize + 1) * e].copy_from_slice(row);
                }
                Tensor::from_vec(dt, (vocab, e), table.device())
            })
            .transpose()?;
        Ok((
            None,
            d_table,
            Some(Tensor::from_vec(dp, p.shape(), p.device())?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::{assert_close, filled, recurrent_from, Cell, InitialState};
    use candle_core::{Device, Var};

    /// hs, then the gradients of the table and of each weight, of Σ hs ⊙ r.
    fn run_cell(cell: Cell, (b, t, vocab): (usize, usize, usize), fused: bool) -> Vec<Vec<f32>> {
        let (e, h) = (6, 5);
        let g = cell.gates() * h;
        let ids: Vec<u32> = (0..b * t)
            .map(|i| ((i * 7 + i / 5) % vocab) as u32)
            .collect();
        let ids = Tensor::from_vec(ids, (b, t), &Device::Cpu).unwrap();
        let var = |shape: &[usize], seed| Var::from_tensor(&filled(shape, seed)).unwrap();
        let table = var(&[vocab, e], 1);
        let mut weights = vec![var(&[g, e], 2), var(&[g, h], 3), var(&[g], 4)];
        if cell == Cell::Gru {
            weights.push(var(&[g], 5));
        }
        let w: Vec<&Tensor> = weights.iter().map(|v| v.as_tensor()).collect();
        let state = |seed| filled(&[b * h], seed).to_vec1::<f32>().unwrap();
        let init = InitialState {
            h: state(6),
            c: if cell == Cell::Lstm {
                state(7)
            } else {
                Vec::new()
            },
        };
        let embedded;
        let input = if fused {
            crate::model::kernels::SeqInput::Tokens {
                ids: &ids,
                table: table.as_tensor(),
            }
        } else {
            embedded = table
                .index_select(&ids.flatten_all().unwrap(), 0)
                .unwrap()
                .reshape((b, t, e))
                .unwrap();
            crate::model::kernels::SeqInput::Rows(&embedded)
        };
        let hs = recurrent_from(cell, input, &w, Some(init)).unwrap().hs;
        let loss = (&hs * filled(&[b, t, h], 8)).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut out = vec![flat(&hs), flat(grads.get(table.as_tensor()).unwrap())];
        out.extend(
            weights
                .iter()
                .map(|v| flat(grads.get(v.as_tensor()).unwrap())),
        );
        out
    }

    /// The one op gives the two ops' hidden states and gradients (table, W_ih, W_hh, biases)
    /// for every cell from a carried state: with repeated tokens, on this thread and (enough
    /// positions for the per-token sums to split) on a pool of every thread.
    #[test]
    fn embedded_recurrence_matches_the_embedding_then_the_layer() {
        let names = ["hs", "d_table", "dW_ih", "dW_hh", "db", "db_hh"];
        let check = |dims| {
            for cell in [Cell::Lstm, Cell::Gru, Cell::Rnn] {
                let (want, got) = (run_cell(cell, dims, false), run_cell(cell, dims, true));
                assert_eq!(want.len(), got.len());
                for ((name, w), g) in names.iter().zip(&want).zip(&got) {
                    assert_close(&format!("{cell:?} {name} {dims:?}"), g, w, 1e-4, 1e-3);
                }
            }
        };
        check((3, 5, 7));
        let pool = crate::model::kernels::pool_of_all_threads("the per-token split");
        pool.install(|| check((8, 80, 11)));
    }

    #[test]
    fn tokens_group_positions_and_refuse_ids_outside_the_vocabulary() {
        let tokens = Tokens::of(&[3, 1, 3, 0, 1], 4).unwrap();
        assert_eq!(tokens.distinct, [3, 1, 0]);
        assert_eq!(tokens.class, [0, 1, 0, 2, 1]);
        let per_token = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            tokens.spread(&per_token, 2),
            [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 5.0, 6.0, 3.0, 4.0]
        );
        let per_position: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        assert_eq!(
            tokens.sums(&per_position, 2),
            [1.0 + 5.0, 2.0 + 6.0, 3.0 + 9.0, 4.0 + 10.0, 7.0, 8.0]
        );
        let err = Tokens::of(&[0, 4], 4).err().unwrap().to_string();
        assert!(
            err.contains("token id 4") && err.contains("vocabulary of 4"),
            "{err}"
        );
    }
}
