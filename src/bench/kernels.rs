//! `glassbox bench kernels`: each hand-written kernel (forward + backward) against the same
//! computation in candle's own ops, at the sizes the reference workloads use.

use super::{median, BenchArgs};
use crate::model::kernels::{self as k, reference as r, AdamStep};
use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer;
use std::time::Instant;

type Run<'a> = Box<dyn Fn() -> candle_core::Result<()> + 'a>;

fn randn(dims: &[usize], std: f32) -> candle_core::Result<Tensor> {
    Tensor::randn(0f32, std, dims, &Device::Cpu)
}

fn var(dims: &[usize], std: f32) -> candle_core::Result<Var> {
    Var::from_tensor(&randn(dims, std)?)
}

/// Forward, then backward from the sum of the output (the same small overhead on both sides).
fn fwd_bwd(y: candle_core::Result<Tensor>) -> candle_core::Result<()> {
    y?.sum_all()?.backward()?;
    Ok(())
}

fn time(run: &Run, reps: usize) -> Result<f64> {
    run()?;
    run()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        run()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(&mut times))
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let cases = cases()?;
    if !args.json {
        println!(
            "forward + backward, median of {} runs, {} thread(s)",
            args.reps,
            k::gemm::threads()
        );
        println!(
            "{:<16} {:<30} {:>10} {:>10} {:>8}",
            "kernel", "shape", "ours ms", "candle ms", "speedup"
        );
    }
    for (name, shape, ours, theirs) in &cases {
        let a = time(ours, args.reps)?;
        let b = time(theirs, args.reps)?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"workload": "kernel", "kernel": name, "shape": shape,
                    "ours_ms": a, "candle_ms": b, "speedup": b / a})
            );
        } else {
            println!("{name:<16} {shape:<30} {a:>10.3} {b:>10.3} {:>7.1}×", b / a);
        }
    }
    Ok(())
}

#[allow(clippy::type_complexity)]
fn cases() -> Result<Vec<(&'static str, &'static str, Run<'static>, Run<'static>)>> {
    let mut out: Vec<(&'static str, &'static str, Run, Run)> = Vec::new();

    // The CNN's first conv reads data (no input gradient); the second one needs it.
    let x1 = randn(&[64, 1, 28, 28], 1.0)?;
    let (w1, b1) = (var(&[32, 1, 3, 3], 0.3)?, var(&[32], 0.1)?);
    let x2 = var(&[64, 32, 14, 14], 1.0)?;
    let (w2, b2) = (var(&[64, 32, 3, 3], 0.1)?, var(&[64], 0.1)?);
    {
        let (x, w, b) = (x1.clone(), w1.clone(), b1.clone());
        let (xr, wr, br) = (x1, w1, b1);
        out.push((
            "conv2d (data)",
            "[64,1,28,28] * [32,1,3,3]",
            Box::new(move || fwd_bwd(k::conv2d(&x, &w, Some(&b), 1, 1))),
            Box::new(move || fwd_bwd(r::conv2d(&xr, &wr, Some(&br), 1, 1))),
        ));
    }
    {
        let (x, w, b) = (x2.clone(), w2.clone(), b2.clone());
        out.push((
            "conv2d",
            "[64,32,14,14] * [64,32,3,3]",
            Box::new(move || fwd_bwd(k::conv2d(&x, &w, Some(&b), 1, 1))),
            Box::new(move || fwd_bwd(r::conv2d(&x2, &w2, Some(&b2), 1, 1))),
        ));
    }
    let p = var(&[64, 32, 28, 28], 1.0)?;
    let pr = p.clone();
    out.push((
        "max pool 2×2",
        "[64,32,28,28]",
        Box::new(move || fwd_bwd(k::pool2d(&p, k::PoolKind::Max, 2, 2))),
        Box::new(move || fwd_bwd(r::max_pool2d(&pr, 2))),
    ));
    let a = var(&[64, 32, 28, 28], 1.0)?;
    let ar = a.clone();
    out.push((
        "relu",
        "[64,32,28,28]",
        Box::new(move || fwd_bwd(k::relu(&a))),
        Box::new(move || fwd_bwd(ar.relu())),
    ));
    let (x, w, b) = (
        var(&[2048, 256], 1.0)?,
        var(&[96, 256], 0.1)?,
        var(&[96], 0.1)?,
    );
    let (xr, wr, br) = (x.clone(), w.clone(), b.clone());
    out.push((
        "dense",
        "[2048,256] · [96,256]ᵀ + b",
        Box::new(move || fwd_bwd(k::linear(&x, &w, Some(&b)))),
        Box::new(move || fwd_bwd(r::linear(&xr, &wr, Some(&br)))),
    ));
    let logits = var(&[2048, 96], 2.0)?;
    let labels = Tensor::from_vec(
        (0..2048u32).map(|i| (i * 7) % 96).collect::<Vec<_>>(),
        2048,
        &Device::Cpu,
    )?;
    let (lr_, yr) = (logits.clone(), labels.clone());
    out.push((
        "softmax + CE",
        "[2048,96]",
        Box::new(move || fwd_bwd(k::softmax_cross_entropy(&logits, &labels))),
        Box::new(move || fwd_bwd(r::cross_entropy(&lr_, &yr))),
    ));
    let (x, g, b) = (
        var(&[32, 64, 128], 1.0)?,
        var(&[128], 1.0)?,
        var(&[128], 0.1)?,
    );
    let (xr, gr, br) = (x.clone(), g.clone(), b.clone());
    out.push((
        "layer norm",
        "[32,64,128]",
        Box::new(move || fwd_bwd(k::layer_norm(&x, &g, &b, 1e-5))),
        Box::new(move || fwd_bwd(r::layer_norm(&xr, &gr, &br, 1e-5))),
    ));
    let x = var(&[32, 64, 512], 1.0)?;
    let xr = x.clone();
    out.push((
        "gelu",
        "[32,64,512]",
        Box::new(move || fwd_bwd(k::gelu(&x))),
        Box::new(move || fwd_bwd(r::gelu(&xr))),
    ));
    let qkv = var(&[32, 64, 384], 1.0)?;
    let qr = qkv.clone();
    out.push((
        "attention",
        "qkv [32,64,384], 4 heads, causal",
        Box::new(move || fwd_bwd(k::attention(&qkv, 4, true))),
        Box::new(move || fwd_bwd(r::attention(&qr, 4, true))),
    ));
    let x = var(&[32, 64, 64], 1.0)?;
    let (wx, wh, b) = (
        var(&[1024, 64], 0.06)?,
        var(&[1024, 256], 0.06)?,
        var(&[1024], 0.06)?,
    );
    let (xr, wxr, whr, br) = (x.clone(), wx.clone(), wh.clone(), b.clone());
    out.push((
        "lstm",
        "[32,64,64] → H 256",
        Box::new(move || fwd_bwd(k::lstm(&x, &wx, &wh, &b))),
        Box::new(move || fwd_bwd(r::lstm(&xr, &wxr, &whr, &br))),
    ));
    let x = var(&[32, 64, 64], 1.0)?;
    let (wx, wh, bx, bh) = (
        var(&[768, 64], 0.06)?,
        var(&[768, 256], 0.06)?,
        var(&[768], 0.06)?,
        var(&[768], 0.06)?,
    );
    let (xr, wxr, whr, bxr, bhr) = (x.clone(), wx.clone(), wh.clone(), bx.clone(), bh.clone());
    out.push((
        "gru",
        "[32,64,64] → H 256",
        Box::new(move || fwd_bwd(k::gru(&x, &wx, &wh, &bx, &bh))),
        Box::new(move || fwd_bwd(r::gru(&xr, &wxr, &whr, &bxr, &bhr))),
    ));
    // One optimiser step over 1M parameters.
    let n = 1 << 20;
    let w = var(&[n], 0.1)?;
    let grad = randn(&[n], 0.01)?;
    let moments = std::cell::RefCell::new((Vec::new(), Vec::new()));
    let step = AdamStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        decoupled: true,
        bias1: 0.1,
        bias2: 0.001,
    };
    let wr = var(&[n], 0.1)?;
    let grads = (wr.as_tensor() * &grad)?.sum_all()?.backward()?;
    let opt = std::cell::RefCell::new(candle_nn::AdamW::new(
        vec![wr],
        candle_nn::ParamsAdamW::default(),
    )?);
    out.push((
        "adamw",
        "1,048,576 parameters",
        Box::new(move || {
            let (m, v) = &mut *moments.borrow_mut();
            k::adam_update(w.as_tensor(), &grad, m, v, step).map(|_| ())
        }),
        Box::new(move || opt.borrow_mut().step(&grads)),
    ));
    Ok(out)
}

/// GFLOP/s of `product`, one [m, k]·[k, n] product a call: the median of at least 5 timings,
/// small products repeated within one so that each holds ~2 GFLOP (~20 ms).
fn gflops((m, n, k): (usize, usize, usize), reps: usize, mut product: impl FnMut()) -> f64 {
    let gflop = 2.0 * (m * n * k) as f64 / 1e9;
    let calls = (2.0 / gflop).ceil().max(1.0) as usize;
    let mut times = Vec::new();
    for _ in 0..reps.max(5) {
        let t = Instant::now();
        for _ in 0..calls {
            product();
        }
        times.push(t.elapsed().as_secs_f64());
    }
    gflop * calls as f64 / median(&mut times)
}

/// `glassbox bench gemm`: the matrix kernel on the transformer's dense shapes, one thread
/// against all of them inside a training-style pool, as GFLOP/s (how well the split scales).
pub fn gemm_scaling(args: &BenchArgs) -> Result<()> {
    use k::gemm::{matmul, matmul_colmajor, View};
    // How A, B and C lie in memory, as the layers call the kernel.
    #[derive(Clone, Copy, PartialEq)]
    enum Lay {
        /// A and B row-major, C row-major.
        Rows,
        /// B the transpose of a row-major W [n, k] (a dense layer's forward).
        WeightT,
        /// A the transpose of a row-major G [k, m] (a dense layer's weight gradient).
        GradT,
        /// B = Wᵀ and C column-major (the recurrent steps).
        ColDst,
    }
    use Lay::*;
    let cases = [
        // The transformer's dense layers (d 128, batch 32 × 64 tokens): forward x·Wᵀ for the
        // qkv, out, MLP-up and MLP-down projections, the input gradient G·W and the weight
        // gradient Gᵀ·X, each in the layout the layer uses.
        ((2048, 384, 128), WeightT),
        ((2048, 128, 128), WeightT),
        ((2048, 512, 128), WeightT),
        ((2048, 128, 512), WeightT),
        ((2048, 128, 384), Rows),
        ((2048, 512, 128), Rows),
        ((2048, 128, 512), Rows),
        ((384, 128, 2048), GradT),
        ((512, 128, 2048), GradT),
        ((128, 512, 2048), GradT),
        // One LSTM step of the lstm workload: h·W_hhᵀ (batch 32, and one thread's half), and
        // the backward's dgates·W_hh.
        ((32, 1024, 256), Rows),
        ((16, 1024, 256), Rows),
        ((32, 256, 1024), Rows),
        // The LSTM's whole-sequence products (B·T 2048, E 64, 4H 1024): the input projection
        // x·W_ihᵀ, the input gradient dG·W_ih, and the weight gradients dGᵀ·H and dGᵀ·X.
        ((2048, 1024, 64), WeightT),
        ((2048, 64, 1024), Rows),
        ((1024, 256, 2048), GradT),
        ((1024, 64, 2048), GradT),
        // One attention head of the transformer (T 64, head 32): scores Q·Kᵀ, and P·V.
        ((64, 64, 32), WeightT),
        ((64, 32, 64), Rows),
        // A large square product, where the kernel itself sets the pace.
        ((1024, 1024, 1024), Rows),
        // The LSTM step's shapes again into a column-major C, as the recurrent layers use them.
        ((32, 1024, 256), ColDst),
        ((16, 1024, 256), ColDst),
        ((32, 256, 1024), ColDst),
    ];
    let pool = crate::train::math_pool();
    println!(
        "gemm C[m,n] = A[m,k]·B[k,n], median of {} runs, {}",
        args.reps,
        k::dispatch::describe()
    );
    for ((m, n, kk), lay) in cases {
        let a: Vec<f32> = (0..m * kk).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..kk * n).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut c = vec![0f32; m * n];
        let mut one = |par: gemm::Parallelism| -> f64 {
            gflops((m, n, kk), args.reps, || {
                let av = match lay {
                    GradT => View::transposed(&a, m),
                    _ => View::rows(&a, kk),
                };
                let bv = match lay {
                    WeightT | ColDst => View::transposed(&b, kk),
                    _ => View::rows(&b, n),
                };
                if lay == ColDst {
                    matmul_colmajor(m, n, kk, av, bv, &mut c, m, false, par);
                } else {
                    matmul(m, n, kk, av, bv, &mut c, false, par);
                }
            })
        };
        let single = one(gemm::Parallelism::None);
        let threads = k::gemm::threads();
        let split = match &pool {
            Some(p) => p.install(|| one(gemm::Parallelism::Rayon(threads))),
            None => single,
        };
        let layout = match lay {
            Rows => "A ·B  ",
            WeightT => "A ·Wᵀ ",
            GradT => "Gᵀ·B  ",
            ColDst => "→ Cᵀ  ",
        };
        println!(
            "  [{m:>4},{kk:>4}]·[{kk:>4},{n:>4}] {layout} 1 thread {single:6.1} GFLOP/s   {threads} threads {split:6.1} GFLOP/s  ({:.2}×)",
            split / single
        );
    }
    // The recurrent step's own AVX2 kernel (`step_gemm`): W packed once, as for a sequence.
    if k::step_gemm::Panels::supported() {
        for (m, n, kk) in [(32, 1024, 256), (16, 1024, 256), (32, 256, 1024)] {
            let x: Vec<f32> = (0..m * kk).map(|i| (i % 7) as f32 * 0.1).collect();
            let w: Vec<f32> = (0..n * kk).map(|i| (i % 5) as f32 * 0.1).collect();
            let panels = k::step_gemm::Panels::pack(&w, n, kk, kk, 1);
            let mut c = vec![0f32; m * n];
            let rate = gflops((m, n, kk), args.reps, || {
                panels.add_product(&x, kk, m, &mut c, n)
            });
            println!("  [{m:>4},{kk:>4}]·[{kk:>4},{n:>4}] A ·Wᵀ packed once (step_gemm, AVX2) 1 thread {rate:6.1} GFLOP/s");
        }
    }
    Ok(())
}
