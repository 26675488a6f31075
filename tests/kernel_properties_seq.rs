//! The dense, activation, loss, normalisation, attention and recurrent f32 kernels (and their
//! fused forms) on random shapes, through `kernel_check`: values and every gradient against
//! candle-built references and central finite differences on the f32 path, 200 cases per
//! kernel, at the CPU's best instruction set and in child runs at every lower one.

mod kernel_check;

use candle_core::{Device, Tensor, Var};
use glassbox::model::kernels::{
    attention, gelu, gru, gru_from, layer_norm, leaky_relu, linear, linear_gelu, lstm, lstm_from,
    projected_attention, reference, relu, rnn, rnn_from, sigmoid, softmax_cross_entropy, tanh,
    InitialState,
};
use kernel_check::{check, config, max_rel, var};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dense_and_activations(
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
        let slope = rng.random_range(0.01f32..0.5);
        check(
            &[&x],
            &|| leaky_relu(x.as_tensor(), slope).unwrap(),
            &|| x.as_tensor().maximum(&(x.as_tensor() * slope as f64).unwrap()).unwrap(),
            seed,
            &format!("leaky relu {slope}"),
        )?;
        let s = var(&dims, 4.0, &mut rng);
        check(&[&s], &|| tanh(s.as_tensor()).unwrap(), &|| s.as_tensor().tanh().unwrap(), seed, "tanh")?;
        check(
            &[&s],
            &|| sigmoid(s.as_tensor()).unwrap(),
            &|| candle_nn::ops::sigmoid(s.as_tensor()).unwrap(),
            seed,
            "sigmoid",
        )?;
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
        // Layer norm does not see its input's scale (but for its eps), so a wide spread loses
        // no case the kernel meets, and keeps every row's spread far above the finite
        // difference's step (0.01): at scale 0.14 a narrow row of three read its curvature as
        // a wrong gradient (4.81 against 4.93, seed 34339498193012265).
        let x = var(&dims, 8.0, &mut rng);
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
}

/// In a child run with `GLASSBOX_SIMD` set, the kernels really run at that level.
#[test]
fn the_simd_cap_is_obeyed() {
    kernel_check::assert_the_simd_cap_is_obeyed();
}

/// This binary again at each level below the CPU's best: the same cases must pass there.
#[test]
fn every_lower_simd_level_passes_the_same_properties() {
    kernel_check::assert_every_lower_level_passes(6);
}
