//! Every hand-written f32 convolution, pooling and optimiser kernel, on random shapes, strides,
//! paddings and batch sizes (1 included), through `kernel_check`: values and every gradient
//! against candle-built references and central finite differences on the f32 path. 200 random
//! cases per kernel, on the CPU's best instruction set and again (in a child run of this
//! binary) on every lower one that `GLASSBOX_SIMD` can select, so the AVX2 path is tested on
//! AVX-512 machines too. The dense, normalisation, attention and recurrent kernels are in
//! `kernel_properties_seq.rs`.

mod kernel_check;

use candle_core::{Device, Tensor, Var};
use glassbox::model::kernels::{
    adam_update, conv1d, conv1d_seq, conv2d, conv2d_relu, conv_transpose2d, dropout, pool2d,
    reference, AdamStep, DropMask, PoolKind,
};
use kernel_check::{agree, check, config, var};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn indices(idx: impl Iterator<Item = usize>) -> Tensor {
    let v: Vec<u32> = idx.map(|i| i as u32).collect();
    let n = v.len();
    Tensor::from_vec(v, n, &Device::Cpu).unwrap()
}

/// A convolution's input [B, C, H, W], weights [F, C, K, K] and bias [F], drawn from `seed`.
fn conv2d_vars(x_dims: [usize; 4], f: usize, k: usize, seed: u64) -> (Var, Var, Var) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = var(&x_dims, 1.0, &mut rng);
    let wt = var(&[f, x_dims[1], k, k], 0.5, &mut rng);
    let bs = var(&[f], 0.5, &mut rng);
    (x, wt, bs)
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
        b in 1usize..10, c in 1usize..4, f in 1usize..5, k in 1usize..5,
        stride in 1usize..4, pad in 0usize..3, extra_h in 0usize..7, extra_w in 0usize..7,
        bias in any::<bool>(), seed in any::<u64>(),
    ) {
        let pad = pad.min(k - 1);
        let (h, w) = (k + extra_h, k + extra_w);
        let (x, wt, bs) = conv2d_vars([b, c, h, w], f, k, seed);
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
        b in 1usize..8, ci in 1usize..4, co in 1usize..4, k in 1usize..5,
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

    /// The fused convolution + ReLU (the f32 path training takes when a ReLU is a convolution's
    /// only reader) against the taps reference followed by candle's ReLU: values and every
    /// gradient through the reference's autograd. No finite differences here: one weight moves
    /// every output of its filter, so a ReLU kink sits inside most steps (the unfused
    /// convolution's finite differences are in `conv2d_any_stride_and_padding`).
    #[test]
    fn conv2d_relu_any_stride_and_padding(
        b in 1usize..10, c in 1usize..4, f in 1usize..5, k in 1usize..5,
        stride in 1usize..4, pad in 0usize..3, extra_h in 0usize..7, extra_w in 0usize..7,
        seed in any::<u64>(),
    ) {
        let pad = pad.min(k - 1);
        let (h, w) = (k + extra_h, k + extra_w);
        let (x, wt, bs) = conv2d_vars([b, c, h, w], f, k, seed);
        let mut probe_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        agree(
            &[&x, &wt, &bs],
            &|| {
                conv2d_relu(x.as_tensor(), wt.as_tensor(), bs.as_tensor(), stride, pad)
                    .unwrap()
                    .expect("the f32 path fuses")
                    .0
            },
            &|| conv2d_taps(x.as_tensor(), wt.as_tensor(), Some(bs.as_tensor()), stride, pad)
                .relu()
                .unwrap(),
            &mut probe_rng,
            &format!("conv2d_relu b{b} c{c} f{f} k{k} s{stride} p{pad} {h}x{w}"),
        )?;
    }

    /// Dropout on any shape and rate (large ones split across threads) against the same mask
    /// applied as a product, values and gradient.
    #[test]
    fn dropout_any_shape_and_rate(
        dims in proptest::collection::vec(1usize..12, 1..5), wide in any::<bool>(),
        p in 0.0f32..0.9, seed in any::<u64>(),
    ) {
        let mut dims = dims;
        if wide {
            // Past the element count from which the kernel splits the work across threads.
            dims.push(200_000 / dims.iter().product::<usize>() + 1);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = var(&dims, 1.0, &mut rng);
        let mask = DropMask::new(p, [seed as u32, (seed >> 32) as u32]);
        let n = x.elem_count();
        let factors = Tensor::from_vec(mask.factors(n), dims.as_slice(), &Device::Cpu).unwrap();
        check(
            &[&x],
            &|| dropout(x.as_tensor(), mask).unwrap(),
            &|| (x.as_tensor() * &factors).unwrap(),
            seed,
            &format!("dropout {dims:?} p{p:.2}"),
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
        // Two equal values in a window make the max's gradient a choice (all to one, or split):
        // both are right, and they differ. Random f32s tie now and then (seed
        // 8422173205525498320 drew 0.99860096 twice in one 2 × 2 window).
        let mut sorted = x.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        sorted.sort_by(f32::total_cmp);
        prop_assume!(!max || sorted.windows(2).all(|w| w[0] != w[1]));
        check(
            &[&x],
            &|| pool2d(x.as_tensor(), kind, k, stride).unwrap(),
            &|| pool_taps(x.as_tensor(), kind, k, stride),
            seed,
            &format!("{kind:?} pool b{b} c{c} k{k} s{stride}"),
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
    kernel_check::assert_the_simd_cap_is_obeyed();
}

/// Runs this whole binary again at each level below the CPU's best (AVX2 and the baseline on an
/// AVX-512 machine; the baseline on an AVX2 one): the same 200 cases per kernel must pass there.
#[test]
fn every_lower_simd_level_passes_the_same_properties() {
    kernel_check::assert_every_lower_level_passes(7);
}
