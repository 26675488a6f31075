//! The recurrent layers' three whole-sequence products once the backward recurrence has
//! filled the gate gradients dG [B·T, G]: dW_ih = dGᵀ·X, dW_hh = dGᵀ·H₋₁ and dx = dG·W_ih.
//! With two or more threads they run as two equal halves at once (dW_hh's first half of gates
//! with dW_ih, its second half with dx) instead of each split across the threads in turn.
//!
//! Tried and not kept: these products through the step product's 16 × 6 AVX2 tile
//! (`step_gemm`), blocked like a gemm with dW_hh and dW_ih sharing one gather of dGᵀ. Alone it
//! ran a dW_hh half at 70–80 GFLOP/s, but inside the lstm bench no faster than the gemm crate
//! (prods/recurrence time ratio 1.39–1.62 against 1.42–1.57, three alternations at 1 and 2
//! threads on the Zen 4's AVX2 path).

use super::gemm::{matmul, matmul_colmajor, parallelism, split_between, View};
use super::recurrent_steps::add_transposed;
use gemm::Parallelism;

/// What the three products read; every matrix row-major.
pub(super) struct SequenceGrads<'a> {
    /// dG [rows, g] for dW_ih and dx, or its sums [distinct rows, g] over the rows that read
    /// the same input row (an Embedding's token).
    pub input_side: &'a [f32],
    /// dG [rows, g] for dW_hh (the GRU's hidden-side gradients differ in n).
    pub hidden_side: &'a [f32],
    /// X [rows, e], or its distinct rows, as many as `input_side` has.
    pub x: &'a [f32],
    /// H₋₁ [rows, h]: each step's previous hidden state.
    pub hshift: &'a [f32],
    /// W_ih [g, e].
    pub wx: &'a [f32],
    /// (rows of the sequence, g, e, h).
    pub dims: (usize, usize, usize, usize),
}

/// Writes dW_ih [g, e] into `dwx` and dW_hh [g, h] into `dwh` (both zero on entry) and, when
/// given, dx [input rows, e] into `dx` (zero too).
pub(super) fn sequence_products(
    s: &SequenceGrads,
    dwx: &mut [f32],
    dwh: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let (rows, g, e, h) = s.dims;
    // The input side may have fewer rows than the sequence (one per distinct token).
    let in_rows = s.input_side.len() / g;
    let in_products = if dx.is_some() { 2 } else { 1 };
    let par = parallelism(2 * g * (rows * h + in_rows * e * in_products));
    let input_grad = |dx: &mut [f32], par| {
        matmul(
            in_rows,
            e,
            g,
            View::rows(s.input_side, g),
            View::rows(s.wx, e),
            dx,
            false,
            par,
        )
    };
    let (each, concurrent) = split_between(par, true);
    if concurrent {
        let half = g / 2;
        let (dwh_a, dwh_b) = dwh[..g * h].split_at_mut(half * h);
        rayon::join(
            || {
                weight_grad(s.hidden_side, s.hshift, g, 0..half, h, dwh_a, each);
                weight_grad(s.input_side, s.x, g, 0..g, e, dwx, each);
            },
            || {
                weight_grad(s.hidden_side, s.hshift, g, half..g, h, dwh_b, each);
                if let Some(dx) = dx.as_deref_mut() {
                    input_grad(dx, each);
                }
            },
        );
    } else {
        weight_grad(s.input_side, s.x, g, 0..g, e, dwx, each);
        weight_grad(s.hidden_side, s.hshift, g, 0..g, h, dwh, each);
        if let Some(dx) = dx {
            input_grad(dx, each);
        }
    }
}

/// dW [gates, n] = dG[:, gates]ᵀ · X over all rows: dGᵀ is a column-major view of the gate
/// gradients, the layout gemm reads best. (The transposed product Xᵀ · dG and a transpose
/// afterwards took 3.3–5.2 against 2.7 ms for the lstm bench's dW_ih at one thread on a Zen 4
/// with AVX-512, and the same on its AVX2 path.) A wide dW (n ≥ 128) is written column-major
/// and transposed into place: the gemm crate's tile then runs along dW's 1024 rows rather than
/// its n columns, for the lstm bench's dW_hh (n 256) alone at one thread 53–61 → 64–69 GFLOP/s
/// on the AVX2 path and 65–84 → 87–93 with AVX-512, but inside the bench (with dW_ih and dx
/// beside it) only 0.1–4.7 % off the three products' time; for dW_ih (n 64) it was no faster.
#[allow(clippy::too_many_arguments)] // the shape of a gemm call, and which rows of it
fn weight_grad(
    dgates: &[f32],
    x: &[f32],
    g: usize,
    gates: std::ops::Range<usize>,
    n: usize,
    dst: &mut [f32],
    par: Parallelism,
) {
    let (rows, m) = (x.len() / n, gates.len());
    let a = View::transposed(&dgates[gates.start..], g);
    if n >= 128 {
        let mut colmajor = vec![0f32; m * n];
        matmul_colmajor(
            m,
            n,
            rows,
            a,
            View::rows(x, n),
            &mut colmajor,
            m,
            false,
            par,
        );
        add_transposed(&colmajor, m, n, &mut dst[..m * n], n);
    } else {
        matmul(
            m,
            n,
            rows,
            a,
            View::rows(x, n),
            &mut dst[..m * n],
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        crate::model::kernels::filled(&[n], seed).to_vec1().unwrap()
    }

    /// In the training pool the three products run as two halves at once: each must still be
    /// the plain product (distinct input- and hidden-side gradients, as the GRU's, so a swap
    /// of the two shows).
    #[test]
    fn halves_on_the_pool_are_the_plain_products() {
        let pool = crate::model::kernels::pool_of_all_threads("the concurrent path");
        // h ≥ 128: dW_hh through the column-major product and its transpose, dW_ih (e 24) not.
        let (rows, g, e, h) = (128, 256, 24, 160);
        let (dg_in, dg_h) = (values(rows * g, 1), values(rows * g, 2));
        let (x, hs, wx) = (values(rows * e, 3), values(rows * h, 4), values(g * e, 5));
        let s = SequenceGrads {
            input_side: &dg_in,
            hidden_side: &dg_h,
            x: &x,
            hshift: &hs,
            wx: &wx,
            dims: (rows, g, e, h),
        };
        let (mut dwx, mut dwh, mut dx) =
            (vec![0f32; g * e], vec![0f32; g * h], vec![0f32; rows * e]);
        let concurrent = pool.install(|| {
            sequence_products(&s, &mut dwx, &mut dwh, Some(&mut dx));
            split_between(parallelism(2 * rows * g * (2 * e + h)), true).1
        });
        assert!(concurrent, "the pool ran the products one after another");
        // dW[i, j] = Σ_r dG[r, i]·X[r, j]; dx[r, j] = Σ_i dG[r, i]·W_ih[i, j].
        let dw = |dg: &[f32], m: &[f32], n: usize, i: usize, j: usize| -> f32 {
            (0..rows).map(|r| dg[r * g + i] * m[r * n + j]).sum()
        };
        type Check<'a> = (&'a str, &'a [f32], Box<dyn Fn(usize) -> f32 + 'a>);
        let checks: [Check; 3] = [
            ("dW_ih", &dwx, Box::new(|k| dw(&dg_in, &x, e, k / e, k % e))),
            ("dW_hh", &dwh, Box::new(|k| dw(&dg_h, &hs, h, k / h, k % h))),
            (
                "dx",
                &dx,
                Box::new(|k| {
                    (0..g)
                        .map(|i| dg_in[(k / e) * g + i] * wx[i * e + k % e])
                        .sum()
                }),
            ),
        ];
        for (name, got, want) in checks {
            let want: Vec<f32> = (0..got.len()).map(&want).collect();
            crate::model::kernels::assert_close(name, got, &want, 1e-4, 1.0);
        }
    }
}
