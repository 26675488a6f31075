//! Hand-written kernels agree with candle's reference ops where those are correct.

use candle_core::{Device, Tensor};
use glassbox::model::kernels::{pool2d, PoolKind};

#[test]
fn pooling_forward_matches_candle() {
    let x = Tensor::randn(0f32, 1.0, (3, 4, 8, 6), &Device::Cpu).unwrap();
    let ours = pool2d(&x, PoolKind::Max, 2, 2).unwrap();
    let theirs = x.max_pool2d(2).unwrap();
    let diff = (ours - theirs)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(diff, 0.0);
    let ours = pool2d(&x, PoolKind::Avg, 2, 2).unwrap();
    let theirs = x.avg_pool2d(2).unwrap();
    let diff = (ours - theirs)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-6, "{diff}");
    // Non-contiguous input (a transposed view) gives the same result as its contiguous copy.
    let t = x.transpose(2, 3).unwrap();
    let a = pool2d(&t, PoolKind::Max, 3, 1).unwrap();
    let b = pool2d(&t.contiguous().unwrap(), PoolKind::Max, 3, 1).unwrap();
    assert_eq!(
        a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    assert_eq!(a.dims(), &[3, 4, 4, 6]);
}

fn max_rel(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0.0, f32::max)
}

#[test]
fn conv2d_matches_candle_in_values_and_gradients() {
    use candle_core::Var;
    use glassbox::model::kernels::conv2d;
    for (c, f, k, stride, pad, hw) in [
        (1, 4, 3, 1, 1, 9),
        (3, 5, 3, 2, 0, 11),
        (2, 3, 5, 1, 2, 7),
        (4, 6, 1, 1, 0, 5),
    ] {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, c, hw, hw), &Device::Cpu).unwrap())
            .unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.5, (f, c, k, k), &Device::Cpu).unwrap())
            .unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.5, f, &Device::Cpu).unwrap()).unwrap();
        let ours = conv2d(
            x.as_tensor(),
            w.as_tensor(),
            Some(b.as_tensor()),
            stride,
            pad,
        )
        .unwrap();
        let theirs = x
            .as_tensor()
            .conv2d(w.as_tensor(), pad, stride, 1, 1)
            .unwrap()
            .broadcast_add(&b.as_tensor().reshape((1, f, 1, 1)).unwrap())
            .unwrap();
        assert_eq!(ours.dims(), theirs.dims());
        assert!(max_rel(&ours, &theirs) < 1e-4, "forward");
        // Same upstream gradient through both: a fixed random weighting of the outputs.
        let probe = Tensor::randn(0f32, 1.0, ours.dims(), &Device::Cpu).unwrap();
        let g1 = (ours * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (theirs * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, v) in [("x", &x), ("w", &w), ("b", &b)] {
            let (a, r) = (
                g1.get(v.as_tensor()).unwrap(),
                g2.get(v.as_tensor()).unwrap(),
            );
            assert!(
                max_rel(a, r) < 1e-4,
                "{name} gradient differs: {}",
                max_rel(a, r)
            );
        }
    }
    // Data inputs (not variables) get no gradient: the work is skipped, not just discarded.
    let x = Tensor::randn(0f32, 1.0, (2, 1, 6, 6), &Device::Cpu).unwrap();
    let w =
        Var::from_tensor(&Tensor::randn(0f32, 0.5, (2, 1, 3, 3), &Device::Cpu).unwrap()).unwrap();
    let g = conv2d(&x, w.as_tensor(), None, 1, 1)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(g.get(&x).is_none() && g.get(w.as_tensor()).is_some());
}

fn randn(dims: &[usize], seed_scale: f32) -> Tensor {
    Tensor::randn(0f32, seed_scale, dims, &Device::Cpu).unwrap()
}

/// Values and gradients (for every variable) of `ours` and `reference` on the same inputs.
fn compare(vars: &[&candle_core::Var], ours: Tensor, reference: Tensor, what: &str) {
    assert_eq!(ours.dims(), reference.dims(), "{what}: shapes");
    assert!(
        max_rel(&ours, &reference) < 1e-4,
        "{what}: values differ by {}",
        max_rel(&ours, &reference)
    );
    let probe = Tensor::randn(0f32, 1.0, ours.dims(), &Device::Cpu).unwrap();
    let g1 = (ours * &probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g2 = (reference * &probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (i, v) in vars.iter().enumerate() {
        let (a, r) = (
            g1.get(v.as_tensor()).unwrap(),
            g2.get(v.as_tensor()).unwrap(),
        );
        assert!(
            max_rel(a, r) < 1e-4,
            "{what}: gradient of input {i} differs by {}",
            max_rel(a, r)
        );
    }
}

#[test]
fn linear_relu_and_cross_entropy_match_candle() {
    use candle_core::Var;
    use glassbox::model::kernels::{linear, relu, softmax_cross_entropy};
    let x = Var::from_tensor(&randn(&[5, 7], 1.0)).unwrap();
    let w = Var::from_tensor(&randn(&[3, 7], 0.5)).unwrap();
    let b = Var::from_tensor(&randn(&[3], 0.5)).unwrap();
    let reference = x
        .as_tensor()
        .matmul(&w.as_tensor().t().unwrap())
        .unwrap()
        .broadcast_add(b.as_tensor())
        .unwrap();
    compare(
        &[&x, &w, &b],
        linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap(),
        reference,
        "linear",
    );
    // Sequences [B, T, K] go through the same op.
    let xs = Var::from_tensor(&randn(&[2, 4, 7], 1.0)).unwrap();
    let reference = xs
        .as_tensor()
        .reshape((8, 7))
        .unwrap()
        .matmul(&w.as_tensor().t().unwrap())
        .unwrap()
        .reshape((2, 4, 3))
        .unwrap();
    compare(
        &[&xs, &w],
        linear(xs.as_tensor(), w.as_tensor(), None).unwrap(),
        reference,
        "linear on sequences",
    );

    let a = Var::from_tensor(&randn(&[4, 9], 1.0)).unwrap();
    compare(
        &[&a],
        relu(a.as_tensor()).unwrap(),
        a.as_tensor().relu().unwrap(),
        "relu",
    );

    let logits = Var::from_tensor(&randn(&[6, 4], 2.0)).unwrap();
    let labels = Tensor::new(&[0u32, 3, 1, 1, 2, 0], &Device::Cpu).unwrap();
    let reference = candle_nn::loss::cross_entropy(logits.as_tensor(), &labels).unwrap();
    compare(
        &[&logits],
        softmax_cross_entropy(logits.as_tensor(), &labels).unwrap(),
        reference,
        "softmax cross-entropy",
    );
}

#[test]
fn fused_adam_matches_the_textbook_update() {
    use glassbox::model::kernels::{adam_update, AdamStep};
    let w0 = vec![0.5f32, -1.0, 2.0, 0.0];
    let grads = [vec![0.1f32, -0.2, 0.3, 0.0], vec![-0.4f32, 0.1, 0.2, 1.0]];
    for decoupled in [false, true] {
        let w = Tensor::new(w0.as_slice(), &Device::Cpu).unwrap();
        let (mut m, mut v) = (Vec::new(), Vec::new());
        let (mut mr, mut vr, mut wr) = (
            vec![0f64; 4],
            vec![0f64; 4],
            w0.iter().map(|&x| x as f64).collect::<Vec<_>>(),
        );
        let (lr, b1, b2, eps, wd) = (0.01f64, 0.9f64, 0.999f64, 1e-8f64, 0.1f64);
        for (t, g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            let step = AdamStep {
                lr: lr as f32,
                beta1: b1 as f32,
                beta2: b2 as f32,
                eps: eps as f32,
                weight_decay: wd as f32,
                decoupled,
                bias1: (1.0 - b1.powi(t)) as f32,
                bias2: (1.0 - b2.powi(t)) as f32,
            };
            adam_update(
                &w,
                &Tensor::new(g.as_slice(), &Device::Cpu).unwrap(),
                &mut m,
                &mut v,
                step,
            )
            .unwrap();
            for i in 0..4 {
                let gi = g[i] as f64 + if decoupled { 0.0 } else { wd * wr[i] };
                mr[i] = b1 * mr[i] + (1.0 - b1) * gi;
                vr[i] = b2 * vr[i] + (1.0 - b2) * gi * gi;
                let decay = if decoupled { 1.0 - lr * wd } else { 1.0 };
                wr[i] = wr[i] * decay
                    - lr * (mr[i] / (1.0 - b1.powi(t)))
                        / ((vr[i] / (1.0 - b2.powi(t))).sqrt() + eps);
            }
        }
        let got = w.to_vec1::<f32>().unwrap();
        for i in 0..4 {
            assert!(
                (got[i] as f64 - wr[i]).abs() < 1e-6,
                "decoupled={decoupled} w[{i}]: {} vs {}",
                got[i],
                wr[i]
            );
        }
    }
}

#[test]
fn layer_norm_gelu_attention_lstm_and_gru_match_candle() {
    use candle_core::{Var, D};
    use glassbox::model::kernels::{attention, gelu, gru, layer_norm, lstm};
    // Layer norm: reference from primitive candle ops.
    let x = Var::from_tensor(&randn(&[3, 4, 6], 2.0)).unwrap();
    let g = Var::from_tensor(&randn(&[6], 1.0)).unwrap();
    let b = Var::from_tensor(&randn(&[6], 1.0)).unwrap();
    let mean = x.as_tensor().mean_keepdim(D::Minus1).unwrap();
    let c = x.as_tensor().broadcast_sub(&mean).unwrap();
    let var = c.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    let reference = c
        .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
        .unwrap()
        .broadcast_mul(g.as_tensor())
        .unwrap()
        .broadcast_add(b.as_tensor())
        .unwrap();
    compare(
        &[&x, &g, &b],
        layer_norm(x.as_tensor(), g.as_tensor(), b.as_tensor(), 1e-5).unwrap(),
        reference,
        "layer norm",
    );

    let a = Var::from_tensor(&randn(&[5, 11], 2.0)).unwrap();
    compare(
        &[&a],
        gelu(a.as_tensor()).unwrap(),
        a.as_tensor().gelu_erf().unwrap(),
        "gelu",
    );

    // Attention: reference through reshapes, matmuls and a masked softmax.
    let (bsz, t, heads, d) = (2, 5, 2, 4);
    let qkv = Var::from_tensor(&randn(&[bsz, t, 3 * d], 1.0)).unwrap();
    for causal in [false, true] {
        let hd = d / heads;
        let parts = qkv
            .as_tensor()
            .reshape((bsz, t, 3, heads, hd))
            .unwrap()
            .permute((2, 0, 3, 1, 4))
            .unwrap();
        let (q, k, v) = (
            parts.get(0).unwrap().contiguous().unwrap(),
            parts.get(1).unwrap().contiguous().unwrap(),
            parts.get(2).unwrap().contiguous().unwrap(),
        );
        let mut s = (q.matmul(&k.t().unwrap()).unwrap() * (1.0 / (hd as f64).sqrt())).unwrap();
        if causal {
            let mask: Vec<f32> = (0..t * t)
                .map(|p| {
                    if p % t > p / t {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
                .collect();
            s = s
                .broadcast_add(&Tensor::from_vec(mask, (t, t), &Device::Cpu).unwrap())
                .unwrap();
        }
        let p = candle_nn::ops::softmax(&s, D::Minus1).unwrap();
        let reference = p
            .matmul(&v)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((bsz, t, d))
            .unwrap();
        compare(
            &[&qkv],
            attention(qkv.as_tensor(), heads, causal).unwrap(),
            reference,
            "attention",
        );
    }

    // LSTM and GRU: reference step by step with candle ops (PyTorch's gate orders).
    let (bsz, t, e, h) = (3, 4, 3, 5);
    let x = Var::from_tensor(&randn(&[bsz, t, e], 1.0)).unwrap();
    let wx = Var::from_tensor(&randn(&[4 * h, e], 0.5)).unwrap();
    let wh = Var::from_tensor(&randn(&[4 * h, h], 0.4)).unwrap();
    let bias = Var::from_tensor(&randn(&[4 * h], 0.3)).unwrap();
    let step_in = |step: usize, w: &Var, b: &Var| {
        x.as_tensor()
            .narrow(1, step, 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
            .matmul(&w.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap()
    };
    let mut hs = Tensor::zeros((bsz, h), candle_core::DType::F32, &Device::Cpu).unwrap();
    let mut cs = hs.clone();
    let mut outs = Vec::new();
    for step in 0..t {
        let gates =
            (step_in(step, &wx, &bias) + hs.matmul(&wh.as_tensor().t().unwrap()).unwrap()).unwrap();
        let sig = |o: usize| candle_nn::ops::sigmoid(&gates.narrow(1, o * h, h).unwrap()).unwrap();
        let (i, f, o) = (sig(0), sig(1), sig(3));
        let gg = gates.narrow(1, 2 * h, h).unwrap().tanh().unwrap();
        cs = ((f * &cs).unwrap() + (i * gg).unwrap()).unwrap();
        hs = (o * cs.tanh().unwrap()).unwrap();
        outs.push(hs.clone());
    }
    let reference = Tensor::stack(&outs, 1).unwrap();
    compare(
        &[&x, &wx, &wh, &bias],
        lstm(
            x.as_tensor(),
            wx.as_tensor(),
            wh.as_tensor(),
            bias.as_tensor(),
        )
        .unwrap(),
        reference,
        "lstm",
    );

    let wx = Var::from_tensor(&randn(&[3 * h, e], 0.5)).unwrap();
    let wh = Var::from_tensor(&randn(&[3 * h, h], 0.4)).unwrap();
    let bx = Var::from_tensor(&randn(&[3 * h], 0.3)).unwrap();
    let bh = Var::from_tensor(&randn(&[3 * h], 0.3)).unwrap();
    let mut hs = Tensor::zeros((bsz, h), candle_core::DType::F32, &Device::Cpu).unwrap();
    let mut outs = Vec::new();
    for step in 0..t {
        let xi = step_in(step, &wx, &bx);
        let hp = hs
            .matmul(&wh.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(bh.as_tensor())
            .unwrap();
        let part = |m: &Tensor, k: usize| m.narrow(1, k * h, h).unwrap();
        let r = candle_nn::ops::sigmoid(&(part(&xi, 0) + part(&hp, 0)).unwrap()).unwrap();
        let z = candle_nn::ops::sigmoid(&(part(&xi, 1) + part(&hp, 1)).unwrap()).unwrap();
        let n = (part(&xi, 2) + (r * part(&hp, 2)).unwrap())
            .unwrap()
            .tanh()
            .unwrap();
        hs = ((&n - (&z * &n).unwrap()).unwrap() + (z * &hs).unwrap()).unwrap();
        outs.push(hs.clone());
    }
    let reference = Tensor::stack(&outs, 1).unwrap();
    compare(
        &[&x, &wx, &wh, &bx, &bh],
        gru(
            x.as_tensor(),
            wx.as_tensor(),
            wh.as_tensor(),
            bx.as_tensor(),
            bh.as_tensor(),
        )
        .unwrap(),
        reference,
        "gru",
    );
}
