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
    use glassbox::model::kernels::{conv2d, reference};
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
        let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
        compare(
            &[&x, &w, &b],
            conv2d(xt, wt, Some(bt), stride, pad).unwrap(),
            reference::conv2d(xt, wt, Some(bt), stride, pad).unwrap(),
            &format!("conv2d c{c} f{f} k{k} stride {stride} pad {pad}"),
        );
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
    use glassbox::model::kernels::{linear, reference, relu, softmax_cross_entropy};
    let x = Var::from_tensor(&randn(&[5, 7], 1.0)).unwrap();
    let w = Var::from_tensor(&randn(&[3, 7], 0.5)).unwrap();
    let b = Var::from_tensor(&randn(&[3], 0.5)).unwrap();
    compare(
        &[&x, &w, &b],
        linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap(),
        reference::linear(x.as_tensor(), w.as_tensor(), Some(b.as_tensor())).unwrap(),
        "linear",
    );
    // Sequences [B, T, K] go through the same op.
    let xs = Var::from_tensor(&randn(&[2, 4, 7], 1.0)).unwrap();
    compare(
        &[&xs, &w],
        linear(xs.as_tensor(), w.as_tensor(), None).unwrap(),
        reference::linear(xs.as_tensor(), w.as_tensor(), None).unwrap(),
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
    compare(
        &[&logits],
        softmax_cross_entropy(logits.as_tensor(), &labels).unwrap(),
        reference::cross_entropy(logits.as_tensor(), &labels).unwrap(),
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
    use candle_core::Var;
    use glassbox::model::kernels::{attention, gelu, gru, layer_norm, lstm, reference};
    let x = Var::from_tensor(&randn(&[3, 4, 6], 2.0)).unwrap();
    let g = Var::from_tensor(&randn(&[6], 1.0)).unwrap();
    let b = Var::from_tensor(&randn(&[6], 1.0)).unwrap();
    let (xt, gt, bt) = (x.as_tensor(), g.as_tensor(), b.as_tensor());
    compare(
        &[&x, &g, &b],
        layer_norm(xt, gt, bt, 1e-5).unwrap(),
        reference::layer_norm(xt, gt, bt, 1e-5).unwrap(),
        "layer norm",
    );

    let a = Var::from_tensor(&randn(&[5, 11], 2.0)).unwrap();
    compare(
        &[&a],
        gelu(a.as_tensor()).unwrap(),
        reference::gelu(a.as_tensor()).unwrap(),
        "gelu",
    );

    let qkv = Var::from_tensor(&randn(&[2, 5, 3 * 4], 1.0)).unwrap();
    for causal in [false, true] {
        compare(
            &[&qkv],
            attention(qkv.as_tensor(), 2, causal).unwrap(),
            reference::attention(qkv.as_tensor(), 2, causal).unwrap(),
            "attention",
        );
    }

    let (bsz, t, e, h) = (3, 4, 3, 5);
    let x = Var::from_tensor(&randn(&[bsz, t, e], 1.0)).unwrap();
    let wx = Var::from_tensor(&randn(&[4 * h, e], 0.5)).unwrap();
    let wh = Var::from_tensor(&randn(&[4 * h, h], 0.4)).unwrap();
    let bias = Var::from_tensor(&randn(&[4 * h], 0.3)).unwrap();
    let ts = [
        x.as_tensor(),
        wx.as_tensor(),
        wh.as_tensor(),
        bias.as_tensor(),
    ];
    compare(
        &[&x, &wx, &wh, &bias],
        lstm(ts[0], ts[1], ts[2], ts[3]).unwrap(),
        reference::lstm(ts[0], ts[1], ts[2], ts[3]).unwrap(),
        "lstm",
    );

    let wx = Var::from_tensor(&randn(&[3 * h, e], 0.5)).unwrap();
    let wh = Var::from_tensor(&randn(&[3 * h, h], 0.4)).unwrap();
    let bx = Var::from_tensor(&randn(&[3 * h], 0.3)).unwrap();
    let bh = Var::from_tensor(&randn(&[3 * h], 0.3)).unwrap();
    let ts = [
        x.as_tensor(),
        wx.as_tensor(),
        wh.as_tensor(),
        bx.as_tensor(),
        bh.as_tensor(),
    ];
    compare(
        &[&x, &wx, &wh, &bx, &bh],
        gru(ts[0], ts[1], ts[2], ts[3], ts[4]).unwrap(),
        reference::gru(ts[0], ts[1], ts[2], ts[3], ts[4]).unwrap(),
        "gru",
    );
}
