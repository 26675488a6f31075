//! Every hand-written f32 kernel, on random shapes, strides, paddings and batch sizes (1
//! included): values and every gradient against a reference built from candle's own ops
//! (index_select / matmul / reductions, whose backward passes are right for any shape), and
//! central finite differences on the f32 path itself. 200 random cases per kernel, on the
//! CPU's best instruction set and again (in a child run of this binary) on every lower one that
//! `GLASSBOX_SIMD` can select, so the AVX2 path is tested on AVX-512 machines too.

use candle_core::{DType, Device, Tensor, Var};
use glassbox::model::kernels::dispatch::{self, SimdLevel, SIMD_ENV};
use glassbox::model::kernels::{
    adam_update, attention, conv1d, conv1d_seq, conv2d, conv_transpose2d, gelu, gru, gru_from,
    layer_norm, linear, linear_gelu, lstm, lstm_from, pool2d, projected_attention, reference, relu,
    rnn, rnn_from, softmax_cross_entropy, AdamStep, InitialState, PoolKind,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CASES: u32 = 200;

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    }
}

fn var(dims: &[usize], scale: f32, rng: &mut ChaCha8Rng) -> Var {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-scale..scale)).collect();
    Var::from_tensor(&Tensor::from_vec(v, dims, &Device::Cpu).unwrap()).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Largest difference relative to the reference's largest magnitude (floored at 1e-2: a
/// gradient that is zero in exact arithmetic, as layer norm's over two features nearly is,
/// is f32 rounding noise on both sides).
fn max_rel(a: &Tensor, b: &Tensor) -> f32 {
    let (a, b) = (values(a), values(b));
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-2);
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0.0, f32::max)
}

/// `ours` and `reference` (functions of `vars`) agree in value and in every gradient of a
/// random projection of the output.
fn agree(
    vars: &[&Var],
    ours: &dyn Fn() -> Tensor,
    reference: &dyn Fn() -> Tensor,
    rng: &mut ChaCha8Rng,
    what: &str,
) -> Result<(), TestCaseError> {
    let (a, r) = (ours(), reference());
    prop_assert_eq!(a.dims(), r.dims(), "{}: shapes", what);
    let d = max_rel(&a, &r);
    prop_assert!(d < 1e-4, "{}: values differ by {}", what, d);
    let probe = var(a.dims(), 1.0, rng);
    let ga = (a * probe.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gr = (r * probe.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (i, v) in vars.iter().enumerate() {
        let (x, y) = (ga.get(v.as_tensor()), gr.get(v.as_tensor()));
        prop_assert!(
            x.is_some() && y.is_some(),
            "{}: no gradient for input {}",
            what,
            i
        );
        // A gradient is a sum over the whole output (a bias's over every position), which can
        // cancel down to a small value while the terms stay large: two f32 summation orders then
        // differ by more than 1e-4 of it (2.3e-4 seen for a conv-transpose bias of 432 terms).
        // A wrong gradient is off by far more than 1e-3.
        let d = max_rel(x.unwrap(), y.unwrap());
        prop_assert!(
            d < 1e-3,
            "{}: gradient of input {} differs by {}",
            what,
            i,
            d
        );
    }
    Ok(())
}

/// Central finite differences of Σ out·probe on the f32 kernel itself, at a few entries of
/// each variable. Entries where the function has a kink (ReLU at 0, a max switching) are
/// recognised by unequal one-sided slopes and skipped.
fn finite_differences(
    vars: &[&Var],
    f: &dyn Fn() -> Tensor,
    rng: &mut ChaCha8Rng,
    what: &str,
) -> Result<(), TestCaseError> {
    let out = f();
    let probe = var(out.dims(), 1.0, rng);
    let loss = |t: Tensor| -> f64 {
        values(&(t * probe.as_tensor()).unwrap())
            .iter()
            .map(|&v| v as f64)
            .sum()
    };
    let grads = (out * probe.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let eps = 1e-2f32;
    for (i, v) in vars.iter().enumerate() {
        let analytic = values(grads.get(v.as_tensor()).expect("a gradient"));
        let scale = analytic.iter().fold(0f32, |m, g| m.max(g.abs())).max(1e-2);
        let base = values(v.as_tensor());
        for _ in 0..6 {
            let j = rng.random_range(0..base.len());
            let at = |delta: f32| -> f64 {
                let mut x = base.clone();
                x[j] += delta;
                v.set(&Tensor::from_vec(x, v.dims(), &Device::Cpu).unwrap())
                    .unwrap();
                loss(f())
            };
            let (up, mid, down) = (at(eps), at(0.0), at(-eps));
            v.set(&Tensor::from_vec(base.clone(), v.dims(), &Device::Cpu).unwrap())
                .unwrap();
            let (right, left) = ((up - mid) / eps as f64, (mid - down) / eps as f64);
            // A kink between the points: its error on the central difference is at most half
            // the slopes' gap, so any gap under the threshold stays within the tolerance.
            if (right - left).abs() > 0.02 * scale as f64 {
                continue;
            }
            let numeric = (up - down) / (2.0 * eps as f64);
            let err = (numeric - analytic[j] as f64).abs() / scale as f64;
            prop_assert!(
                err < 2e-2,
                "{}: input {} entry {}: finite difference {} vs gradient {}",
                what,
                i,
                j,
                numeric,
                analytic[j]
            );
        }
    }
    Ok(())
}

/// Both checks; finite differences on the first 40 cases (they cost a forward pass each).
fn check(
    vars: &[&Var],
    ours: &dyn Fn() -> Tensor,
    reference: &dyn Fn() -> Tensor,
    seed: u64,
    what: &str,
) -> Result<(), TestCaseError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    agree(vars, ours, reference, &mut rng, what)?;
    if seed % 5 == 0 {
        finite_differences(vars, ours, &mut rng, what)?;
    }
    Ok(())
}

fn indices(idx: impl Iterator<Item = usize>) -> Tensor {
    let v: Vec<u32> = idx.map(|i| i as u32).collect();
    let n = v.len();
    Tensor::from_vec(v, n, &Device::Cpu).unwrap()
}

/// Convolution one kernel tap at a time: gathered rows and columns times the tap's weights.
fn conv2d_taps(x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, pad: usize) -> Tensor {
    let (bsz, c, h, wd) = x.dims4().unwrap();
    let (f, _, k, _) = w.dims4().unwrap();
    let xp = x
        .pad_with_zeros(2, pad, pad)
        .unwrap()
        .pad_with_zeros(3, pad, pad)
        .unwrap();
    let (oh, ow) = (
        (h + 2 * pad - k) / stride + 1,
        (wd + 2 * pad - k) / stride + 1,
    );
    let mut y: Option<Tensor> = None;
    for ky in 0..k {
        for kx in 0..k {
            let rows = indices((0..oh).map(|o| o * stride + ky));
            let cols = indices((0..ow).map(|o| o * stride + kx));
            let patch = xp
                .index_select(&rows, 2)
                .unwrap()
                .index_select(&cols, 3)
                .unwrap();
            let patch = patch.reshape((bsz, c, oh * ow)).unwrap();
            let wt = w
                .narrow(2, ky, 1)
                .unwrap()
                .narrow(3, kx, 1)
                .unwrap()
                .reshape((f, c))
                .unwrap();
            let part = wt.broadcast_matmul(&patch).unwrap();
            y = Some(match y {
                Some(acc) => (acc + part).unwrap(),
                None => part,
            });
        }
    }
    let y = y.unwrap().reshape((bsz, f, oh, ow)).unwrap();
    match b {
        Some(b) => y.broadcast_add(&b.reshape((1, f, 1, 1)).unwrap()).unwrap(),
        None => y,
    }
}

/// A 0/1 matrix [n_out, n_in] with a 1 where output o takes input i (o = i·stride + tap − pad).
fn placement(n_out: usize, n_in: usize, stride: usize, tap: usize, pad: usize) -> Tensor {
    let mut m = vec![0f32; n_out * n_in];
    for i in 0..n_in {
        let o = (i * stride + tap) as i64 - pad as i64;
        if (0..n_out as i64).contains(&o) {
            m[o as usize * n_in + i] = 1.0;
        }
    }
    Tensor::from_vec(m, (n_out, n_in), &Device::Cpu).unwrap()
}

/// Transposed convolution one tap at a time: each input pixel's contribution placed by
/// constant 0/1 matrices.
fn conv_transpose_taps(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    stride: usize,
    pad: usize,
    out_pad: usize,
) -> Tensor {
    let (bsz, ci, h, wd) = x.dims4().unwrap();
    let (_, co, k, _) = w.dims4().unwrap();
    let oh = (h - 1) * stride + k + out_pad - 2 * pad;
    let ow = (wd - 1) * stride + k + out_pad - 2 * pad;
    let xf = x.reshape((bsz, ci, h * wd)).unwrap();
    let mut y: Option<Tensor> = None;
    for ky in 0..k {
        for kx in 0..k {
            let wt = w
                .narrow(2, ky, 1)
                .unwrap()
                .narrow(3, kx, 1)
                .unwrap()
                .reshape((ci, co))
                .unwrap();
            let z = wt.t().unwrap().broadcast_matmul(&xf).unwrap(); // [B, Co, H·W]
            let z = z.reshape((bsz * co, h, wd)).unwrap();
            let py = placement(oh, h, stride, ky, pad);
            let px = placement(ow, wd, stride, kx, pad);
            let part = py
                .broadcast_matmul(&z)
                .unwrap()
                .broadcast_matmul(&px.t().unwrap())
                .unwrap();
            y = Some(match y {
                Some(acc) => (acc + part).unwrap(),
                None => part,
            });
        }
    }
    let y = y.unwrap().reshape((bsz, co, oh, ow)).unwrap();
    y.broadcast_add(&b.reshape((1, co, 1, 1)).unwrap()).unwrap()
}

/// Pooling as a max or mean over the window's gathered offsets.
fn pool_taps(x: &Tensor, kind: PoolKind, k: usize, stride: usize) -> Tensor {
    let (_, _, h, wd) = x.dims4().unwrap();
    let (oh, ow) = ((h - k) / stride + 1, (wd - k) / stride + 1);
    let mut parts = Vec::new();
    for ky in 0..k {
        for kx in 0..k {
            let rows = indices((0..oh).map(|o| o * stride + ky));
            let cols = indices((0..ow).map(|o| o * stride + kx));
            parts.push(
                x.index_select(&rows, 2)
                    .unwrap()
                    .index_select(&cols, 3)
                    .unwrap(),
            );
        }
    }
    let stacked = Tensor::stack(&parts, 0).unwrap();
    match kind {
        PoolKind::Max => stacked.max(0).unwrap(),
        PoolKind::Avg => stacked.mean(0).unwrap(),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv2d_any_stride_and_padding(
        b in 1usize..4, c in 1usize..4, f in 1usize..5, k in 1usize..5,
        stride in 1usize..4, pad in 0usize..3, extra_h in 0usize..7, extra_w in 0usize..7,
        bias in any::<bool>(), seed in any::<u64>(),
    ) {
        let pad = pad.min(k - 1);
        let (h, w) = (k + extra_h, k + extra_w);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = var(&[b, c, h, w], 1.0, &mut rng);
        let wt = var(&[f, c, k, k], 0.5, &mut rng);
        let bs = var(&[f], 0.5, &mut rng);
        let vars: Vec<&Var> = if bias { vec![&x, &wt, &bs] } else { vec![&x, &wt] };
        let bias_t = bias.then(|| bs.as_tensor());
        check(
            &vars,
            &|| conv2d(x.as_tensor(), wt.as_tensor(), bias_t, stride, pad).unwrap(),
            &|| conv2d_taps(x.as_tensor(), wt.as_tensor(), bias_t, stride, pad),
            seed,
            &format!("conv2d b{b} c{c} f{f} k{k} s{stride} p{pad} {h}x{w}"),
        )?;
    }

    #[test]
    fn conv1d_any_stride_and_padding(
        b in 1usize..4, c in 1usize..5, f in 1usize..5, k in 1usize..5,
        stride in 1usize..4, pad in 0usize..3, extra in 0usize..9, seed in any::<u64>(),
    ) {
        let pad = pad.min(k - 1);
        let len = k + extra;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = var(&[b, c, len], 1.0, &mut rng);
        let wt = var(&[f, c, k], 0.5, &mut rng);
        let bs = var(&[f], 0.5, &mut rng);
        check(
            &[&x, &wt, &bs],
            &|| conv1d(x.as_tensor(), wt.as_tensor(), Some(bs.as_tensor()), stride, pad).unwrap(),
            &|| reference::conv1d(x.as_tensor(), wt.as_tensor(), Some(bs.as_tensor()), stride, pad).unwrap(),
            seed,
            &format!("conv1d b{b} c{c} f{f} k{k} s{stride} p{pad} len {len}"),
        )?;
    }

    #[test]
    fn conv1d_channels_last_any_stride_and_padding(
        b in 1usize..5, c in 1usize..6, f in 1usize..6, k in 1usize..5,
        stride in 1usize..4, pad in 0usize..3, extra in 0usize..9,
        bias in any::<bool>(), seed in any::<u64>(),
    ) {
        let pad = pad.min(k - 1);
        let len = k + extra;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = var(&[b, len, c], 1.0, &mut rng);
        let wt = var(&[f, c, k], 0.5, &mut rng);
        let bs = var(&[f], 0.5, &mut rng);
        let vars: Vec<&Var> = if bias { vec![&x, &wt, &bs] } else { vec![&x, &wt] };
        let bias_t = bias.then(|| bs.as_tensor());
        // The reference runs channels first between two transposes.
        let reference = || {
            let xc = x.as_tensor().transpose(1, 2).unwrap().contiguous().unwrap();
            reference::conv1d(&xc, wt.as_tensor(), bias_t, stride, pad)
                .unwrap()
                .transpose(1, 2)
                .unwrap()
        };
        check(
            &vars,
            &|| conv1d_seq(x.as_tensor(), wt.as_tensor(), bias_t, stride, pad).unwrap(),
            &reference,
            seed,
            &format!("conv1d channels last b{b} c{c} f{f} k{k} s{stride} p{pad} len {len}"),
        )?;
    }

    #[test]
    fn conv_transpose2d_any_stride_padding_and_output_padding(
        b in 1usize..3, ci in 1usize..4, co in 1usize..4, k in 1usize..5,
        stride in 1usize..4, pad in 0usize..3, out_pad in 0usize..3,
        h in 1usize..6, w in 1usize..6, seed in any::<u64>(),
    ) {
        let out_pad = out_pad.min(stride - 1);
        let pad = pad.min(k - 1);
        prop_assume!((h - 1) * stride + k + out_pad > 2 * pad);
        prop_assume!((w - 1) * stride + k + out_pad > 2 * pad);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = var(&[b, ci, h, w], 1.0, &mut rng);
        let wt = var(&[ci, co, k, k], 0.5, &mut rng);
        let bs = var(&[co], 0.5, &mut rng);
        check(
            &[&x, &wt, &bs],
            &|| conv_transpose2d(x.as_tensor(), wt.as_tensor(), Some(bs.as_tensor()), stride, pad, out_pad).unwrap(),
            &|| conv_transpose_taps(x.as_tensor(), wt.as_tensor(), bs.as_tensor(), stride, pad, out_pad),
            seed,
            &format!("conv_transpose2d b{b} ci{ci} co{co} k{k} s{stride} p{pad} op{out_pad} {h}x{w}"),
        )?;
    }

    #[test]
    fn max_and_average_pooling(
        b in 1usize..3, c in 1usize..4, k in 1usize..4, stride in 1usize..4,
        extra_h in 0usize..7, extra_w in 0usize..7, max in any::<bool>(), seed in any::<u64>(),
    ) {
        let kind = if max { PoolKind::Max } else { PoolKind::Avg };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = var(&[b, c, k + extra_h, k + extra_w], 1.0, &mut rng);
        check(
            &[&x],
            &|| pool2d(x.as_tensor(), kind, k, stride).unwrap(),
            &|| pool_taps(x.as_tensor(), kind, k, stride),
            seed,
            &format!("{kind:?} pool b{b} c{c} k{k} s{stride}"),
        )?;
    }

    #[test]
    fn dense_relu_and_gelu(
        b in 1usize..5, t in 0usize..4, k in 1usize..12, n in 1usize..10,
        bias in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Rank 2, or a sequence [B, T, K] when t > 0.
        let dims: Vec<usize> = if t == 0 { vec![b, k] } else { vec![b, t, k] };
        let x = var(&dims, 1.0, &mut rng);
        let w = var(&[n, k], 0.5, &mut rng);
        let bs = var(&[n], 0.5, &mut rng);
        let vars: Vec<&Var> = if bias { vec![&x, &w, &bs] } else { vec![&x, &w] };
        let bias_t = bias.then(|| bs.as_tensor());
        check(
            &vars,
            &|| linear(x.as_tensor(), w.as_tensor(), bias_t).unwrap(),
            &|| reference::linear(x.as_tensor(), w.as_tensor(), bias_t).unwrap(),
            seed,
            &format!("dense {dims:?} → {n}"),
        )?;
        check(&[&x], &|| relu(x.as_tensor()).unwrap(), &|| x.as_tensor().relu().unwrap(), seed, "relu")?;
        let a = var(&dims, 3.0, &mut rng);
        check(&[&a], &|| gelu(a.as_tensor()).unwrap(), &|| reference::gelu(a.as_tensor()).unwrap(), seed, "gelu")?;
        // Dense and GELU fused (the model runs a dense layer whose only reader is a GELU so).
        let w3 = var(&[n, k], 1.5, &mut rng);
        check(
            &[&x, &w3, &bs],
            &|| linear_gelu(x.as_tensor(), w3.as_tensor(), bs.as_tensor()).unwrap().unwrap().0,
            &|| {
                let z = reference::linear(x.as_tensor(), w3.as_tensor(), Some(bs.as_tensor())).unwrap();
                reference::gelu(&z).unwrap()
            },
            seed,
            &format!("dense + gelu {dims:?} → {n}"),
        )?;
    }

    #[test]
    fn softmax_cross_entropy_and_layer_norm(
        b in 1usize..9, classes in 2usize..12, t in 0usize..4, scale in 0.1f32..8.0,
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let logits = var(&[b, classes], scale, &mut rng);
        let labels: Vec<u32> = (0..b).map(|_| rng.random_range(0..classes as u32)).collect();
        let labels = Tensor::from_vec(labels, b, &Device::Cpu).unwrap();
        check(
            &[&logits],
            &|| softmax_cross_entropy(logits.as_tensor(), &labels).unwrap(),
            &|| reference::cross_entropy(logits.as_tensor(), &labels).unwrap(),
            seed,
            &format!("softmax cross-entropy {b}×{classes} scale {scale}"),
        )?;
        // Over two features a normalised row is ±1 whatever x is: its x-gradient is zero
        // up to eps, and both sides give only f32 rounding. From three features on it is real.
        let features = classes.max(3);
        let dims: Vec<usize> = if t == 0 { vec![b, features] } else { vec![b, t, features] };
        let x = var(&dims, scale, &mut rng);
        let g = var(&[features], 1.0, &mut rng);
        let be = var(&[features], 1.0, &mut rng);
        check(
            &[&x, &g, &be],
            &|| layer_norm(x.as_tensor(), g.as_tensor(), be.as_tensor(), 1e-5).unwrap(),
            &|| reference::layer_norm(x.as_tensor(), g.as_tensor(), be.as_tensor(), 1e-5).unwrap(),
            seed,
            &format!("layer norm {dims:?}"),
        )?;
    }

    #[test]
    fn attention_heads_lengths_and_masks(
        b in 1usize..4, t in 1usize..9, heads in 1usize..4, hd in 1usize..5,
        causal in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let qkv = var(&[b, t, 3 * heads * hd], 1.5, &mut rng);
        check(
            &[&qkv],
            &|| attention(qkv.as_tensor(), heads, causal).unwrap(),
            &|| reference::attention(qkv.as_tensor(), heads, causal).unwrap(),
            seed,
            &format!("attention b{b} t{t} heads {heads}×{hd} causal {causal}"),
        )?;
        // With its qkv projection in the same op, as the SelfAttention layer runs it.
        let d = heads * hd;
        let x = var(&[b, t, d], 1.0, &mut rng);
        let (w, bias) = (var(&[3 * d, d], 0.8, &mut rng), var(&[3 * d], 0.5, &mut rng));
        check(
            &[&x, &w, &bias],
            &|| projected_attention(x.as_tensor(), w.as_tensor(), bias.as_tensor(), heads, causal).unwrap(),
            &|| {
                let qkv = reference::linear(x.as_tensor(), w.as_tensor(), Some(bias.as_tensor())).unwrap();
                reference::attention(&qkv, heads, causal).unwrap()
            },
            seed,
            &format!("qkv + attention b{b} t{t} heads {heads}×{hd} causal {causal}"),
        )?;
    }

    #[test]
    fn lstm_gru_and_rnn(
        b in 1usize..4, t in 1usize..7, e in 1usize..6, h in 1usize..7, seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = var(&[b, t, e], 1.0, &mut rng);
        let (wx, wh, bias) = (var(&[4 * h, e], 0.6, &mut rng), var(&[4 * h, h], 0.6, &mut rng), var(&[4 * h], 0.4, &mut rng));
        let ts = || (x.as_tensor(), wx.as_tensor(), wh.as_tensor(), bias.as_tensor());
        check(
            &[&x, &wx, &wh, &bias],
            &|| { let (a, b, c, d) = ts(); lstm(a, b, c, d).unwrap() },
            &|| { let (a, b, c, d) = ts(); reference::lstm(a, b, c, d).unwrap() },
            seed,
            &format!("lstm b{b} t{t} e{e} h{h}"),
        )?;
        let (gx, gh) = (var(&[3 * h, e], 0.6, &mut rng), var(&[3 * h, h], 0.6, &mut rng));
        let (bx, bh) = (var(&[3 * h], 0.4, &mut rng), var(&[3 * h], 0.4, &mut rng));
        check(
            &[&x, &gx, &gh, &bx, &bh],
            &|| gru(x.as_tensor(), gx.as_tensor(), gh.as_tensor(), bx.as_tensor(), bh.as_tensor()).unwrap(),
            &|| reference::gru(x.as_tensor(), gx.as_tensor(), gh.as_tensor(), bx.as_tensor(), bh.as_tensor()).unwrap(),
            seed,
            &format!("gru b{b} t{t} e{e} h{h}"),
        )?;
        let (rx, rh, rb) = (var(&[h, e], 0.6, &mut rng), var(&[h, h], 0.6, &mut rng), var(&[h], 0.4, &mut rng));
        check(
            &[&x, &rx, &rh, &rb],
            &|| rnn(x.as_tensor(), rx.as_tensor(), rh.as_tensor(), rb.as_tensor()).unwrap(),
            &|| reference::rnn(x.as_tensor(), rx.as_tensor(), rh.as_tensor(), rb.as_tensor()).unwrap(),
            seed,
            &format!("rnn b{b} t{t} e{e} h{h}"),
        )?;
    }

    #[test]
    fn lstm_gru_and_rnn_from_a_carried_state(
        b in 1usize..4, t in 1usize..6, e in 1usize..5, h in 1usize..6, seed in any::<u64>(),
    ) {
        // A window that continues an earlier one starts from its state: values, the weight
        // gradients (W_hh meets h0 at step 0) and the final cell state against the reference.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = var(&[b, t, e], 1.0, &mut rng);
        let h0: Vec<f32> = (0..b * h).map(|_| rng.random_range(-0.9..0.9)).collect();
        let c0: Vec<f32> = (0..b * h).map(|_| rng.random_range(-2.0..2.0)).collect();
        let as_t = |v: &[f32]| Tensor::from_slice(v, (b, h), &Device::Cpu).unwrap();
        let (ht, ct) = (as_t(&h0), as_t(&c0));
        let lstm_init = InitialState { h: h0.clone(), c: c0.clone() };
        let plain_init = InitialState { h: h0.clone(), c: Vec::new() };
        let (wx, wh, bias) = (var(&[4 * h, e], 0.6, &mut rng), var(&[4 * h, h], 0.6, &mut rng), var(&[4 * h], 0.4, &mut rng));
        let w = (wx.as_tensor(), wh.as_tensor(), bias.as_tensor());
        let ours = lstm_from(x.as_tensor(), w, Some(lstm_init.clone())).unwrap();
        let (_, c_ref) = reference::lstm_from(x.as_tensor(), w.0, w.1, w.2, Some((&ht, &ct))).unwrap();
        let c_ours = Tensor::from_slice(&ours.last.c, (b, h), &Device::Cpu).unwrap();
        prop_assert!(max_rel(&c_ours, &c_ref) < 1e-4, "lstm final cell state");
        check(
            &[&x, &wx, &wh, &bias],
            &|| lstm_from(x.as_tensor(), w, Some(lstm_init.clone())).unwrap().hs,
            &|| reference::lstm_from(x.as_tensor(), w.0, w.1, w.2, Some((&ht, &ct))).unwrap().0,
            seed,
            &format!("lstm from a state b{b} t{t} e{e} h{h}"),
        )?;
        let (gx, gh) = (var(&[3 * h, e], 0.6, &mut rng), var(&[3 * h, h], 0.6, &mut rng));
        let (bx, bh) = (var(&[3 * h], 0.4, &mut rng), var(&[3 * h], 0.4, &mut rng));
        let gw = (gx.as_tensor(), gh.as_tensor(), bx.as_tensor(), bh.as_tensor());
        check(
            &[&x, &gx, &gh, &bx, &bh],
            &|| gru_from(x.as_tensor(), gw, Some(plain_init.clone())).unwrap().hs,
            &|| reference::gru_from(x.as_tensor(), gw, Some(&ht)).unwrap(),
            seed,
            &format!("gru from a state b{b} t{t} e{e} h{h}"),
        )?;
        let (rx, rh, rb) = (var(&[h, e], 0.6, &mut rng), var(&[h, h], 0.6, &mut rng), var(&[h], 0.4, &mut rng));
        let rw = (rx.as_tensor(), rh.as_tensor(), rb.as_tensor());
        check(
            &[&x, &rx, &rh, &rb],
            &|| rnn_from(x.as_tensor(), rw, Some(plain_init.clone())).unwrap().hs,
            &|| reference::rnn_from(x.as_tensor(), rw.0, rw.1, rw.2, Some(&ht)).unwrap(),
            seed,
            &format!("rnn from a state b{b} t{t} e{e} h{h}"),
        )?;
    }

    #[test]
    fn adam_matches_the_textbook_update(
        n in 1usize..40, steps in 1usize..6, lr in 1e-4f64..0.1, b1 in 0.5f64..0.99,
        b2 in 0.9f64..0.9999, wd in 0.0f64..0.2, decoupled in any::<bool>(), seed in any::<u64>(),
    ) {
        // The kernel takes its settings as f32; the textbook side uses the same values (a β2
        // of 0.99986 is 4e-4 away from its f32 self in 1 − β2).
        let (lr, b1, b2, wd) = (
            lr as f32 as f64,
            b1 as f32 as f64,
            b2 as f32 as f64,
            wd as f32 as f64,
        );
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let w0: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let w = Tensor::from_vec(w0.clone(), n, &Device::Cpu).unwrap();
        let (mut m, mut v) = (Vec::new(), Vec::new());
        let mut wr: Vec<f64> = w0.iter().map(|&x| x as f64).collect();
        let (mut mr, mut vr) = (vec![0f64; n], vec![0f64; n]);
        let eps = 1e-8f32 as f64;
        for t in 1..=steps as i32 {
            let g: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let step = AdamStep {
                lr: lr as f32, beta1: b1 as f32, beta2: b2 as f32, eps: eps as f32,
                weight_decay: wd as f32, decoupled,
                bias1: (1.0 - b1.powi(t)) as f32, bias2: (1.0 - b2.powi(t)) as f32,
            };
            adam_update(&w, &Tensor::from_vec(g.clone(), n, &Device::Cpu).unwrap(), &mut m, &mut v, step).unwrap();
            for i in 0..n {
                let gi = g[i] as f64 + if decoupled { 0.0 } else { wd * wr[i] };
                mr[i] = b1 * mr[i] + (1.0 - b1) * gi;
                vr[i] = b2 * vr[i] + (1.0 - b2) * gi * gi;
                let decay = if decoupled { 1.0 - lr * wd } else { 1.0 };
                wr[i] = wr[i] * decay - lr * (mr[i] / (1.0 - b1.powi(t))) / ((vr[i] / (1.0 - b2.powi(t))).sqrt() + eps);
            }
        }
        let got = w.to_vec1::<f32>().unwrap();
        for i in 0..n {
            prop_assert!((got[i] as f64 - wr[i]).abs() < 1e-5 * (1.0 + wr[i].abs()),
                "w[{}]: {} vs {}", i, got[i], wr[i]);
        }
    }
}

/// In a child run with `GLASSBOX_SIMD` set, the kernels really run at that level.
#[test]
fn the_simd_cap_is_obeyed() {
    if let Ok(Some(cap)) = dispatch::requested_cap() {
        assert_eq!(dispatch::simd_level(), cap.min(dispatch::detected()));
    }
}

/// Runs this whole binary again at each level below the CPU's best (AVX2 and the baseline on an
/// AVX-512 machine; the baseline on an AVX2 one): the same 200 cases per kernel must pass there.
#[test]
fn every_lower_simd_level_passes_the_same_properties() {
    if std::env::var_os(SIMD_ENV).is_some() {
        return; // the child itself
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let lower: Vec<SimdLevel> = [SimdLevel::Baseline, SimdLevel::Avx2]
        .into_iter()
        .filter(|l| *l < dispatch::detected())
        .collect();
    for level in lower {
        let out = std::process::Command::new(&exe)
            .env(SIMD_ENV, level.name())
            .args(["--test-threads", "2"])
            .output()
            .expect("running the property tests again");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the kernels fail at {SIMD_ENV}={}:\n{text}\n{}",
            level.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        // Every property ran in the child, not just this test's early return.
        let passed: usize = text
            .split("test result: ok. ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            passed >= 10,
            "only {passed} tests passed in the child:\n{text}"
        );
    }
}
