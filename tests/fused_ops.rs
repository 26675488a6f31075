//! Ops that run fused on the f32 path (dense + GELU, convolution + ReLU, Embedding + recurrent
//! layer) against the same graph in f64, where they run apart: the values at every node and
//! the gradients.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{chain, values};
use glassbox::graph::{DType as GDType, Edge, Layer, Loss, Node};
use glassbox::model::profile::{self, Phase};
use glassbox::model::{ForwardCtx, Model};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

/// The profiler is one per process: tests that switch it on and off take turns.
static PROFILER: Mutex<()> = Mutex::new(());

/// `f`'s result and the phases in which ops whose names start with `prefix` ran during it
/// (other tests may record too, but only one runs each fused op).
fn profiled<R>(prefix: &str, f: impl FnOnce() -> R) -> (R, Vec<Phase>) {
    let _turn = PROFILER.lock().unwrap_or_else(|e| e.into_inner());
    profile::enable(true);
    let r = f();
    let ran = profile::entries()
        .into_iter()
        .filter(|e| e.name.starts_with(prefix))
        .map(|e| e.phase)
        .collect();
    profile::enable(false);
    (r, ran)
}

/// Forward (as a kernel) and backward both.
fn ran_both_ways(ran: &[Phase]) -> bool {
    ran.contains(&Phase::Kernel) && ran.contains(&Phase::Backward)
}

/// A dense layer whose only reader is a GELU runs fused on the f32 path: the same values at
/// every node (the dense layer's own output included, for the activations view) as the f64
/// model built from the same seed, which runs the two ops apart, and the same gradients.
/// A dense layer read by a second node as well runs apart, and agrees too.
#[test]
fn dense_then_gelu_fused_matches_the_ops_apart() {
    let fused = chain(
        &[6],
        vec![
            Layer::Dense {
                units: 8,
                bias: true,
            },
            Layer::GELU,
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ],
        Loss::Mse,
    );
    let mut shared = fused.clone();
    // n0 (the first dense layer) also feeds the output side through an Add with n2's input.
    shared
        .nodes
        .insert(3, Node::new("sum", Layer::Add { inputs: 2 }));
    shared.edges.retain(|e| !(e.from == "n1" && e.to == "n2"));
    shared.edges.push(Edge::new("n0", "sum"));
    shared.edges.push(Edge::new("n1", "sum").to_port(1));
    shared.edges.push(Edge::new("sum", "n2"));
    for graph in [fused, shared] {
        let m32 = Model::build_with_dtype(&graph, 5, DType::F32).expect("builds");
        let m64 = Model::build_with_dtype(&graph, 5, DType::F64).expect("builds");
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let xs: Vec<f32> = (0..4 * 6).map(|_| rng.random_range(-2.0..2.0)).collect();
        let x32 = Tensor::from_vec(xs, (4, 6), &Device::Cpu).unwrap();
        let x64 = x32.to_dtype(DType::F64).unwrap();
        assert_same_values((&m32, &x32), (&m64, &x64), 0.1, "dense + GELU");
        assert_same_grads(&grads(&m32, &x32), &grads(&m64, &x64));
    }
}

/// The f32 model's value at every node matches the f64 model's, each somewhere above `floor`.
fn assert_same_values(
    (m32, x32): (&Model, &Tensor),
    (m64, x64): (&Model, &Tensor),
    floor: f64,
    what: &str,
) {
    let a = m32.forward_all(x32, &mut ForwardCtx::train(None)).unwrap();
    let b = m64.forward_all(x64, &mut ForwardCtx::train(None)).unwrap();
    assert_eq!(a.len(), b.len());
    for ((id, v32), (_, v64)) in a.iter().zip(&b) {
        let (v32, v64) = (as_f64(v32), as_f64(v64));
        assert!(
            v64.iter().any(|v| v.abs() > floor),
            "{what} {id} is all near zero"
        );
        for (p, q) in v32.iter().zip(&v64) {
            assert!((p - q).abs() < 1e-4, "{what} {id}: {p} vs {q}");
        }
    }
}

fn as_f64(t: &Tensor) -> Vec<f64> {
    values(&t.to_dtype(DType::F64).unwrap())
}

/// Every trained parameter's gradient of Σ prediction².
fn grads(m: &Model, x: &Tensor) -> Vec<(String, Vec<f64>)> {
    let pred = m.forward(x, &mut ForwardCtx::train(None)).unwrap();
    let g = pred.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    m.trainable()
        .into_iter()
        .map(|(name, v)| {
            (
                name.to_string(),
                as_f64(g.get(v.as_tensor()).expect("a gradient")),
            )
        })
        .collect()
}

/// The same gradients, none of them all but zero.
fn assert_same_grads(g32: &[(String, Vec<f64>)], g64: &[(String, Vec<f64>)]) {
    assert_eq!(g32.len(), g64.len());
    for ((name, g32), (_, g64)) in g32.iter().zip(g64) {
        let scale = g64.iter().fold(0f64, |a, v| a.max(v.abs()));
        assert!(scale > 1e-3, "{name}: no gradient");
        for (p, q) in g32.iter().zip(g64) {
            assert!((p - q).abs() < 1e-4 * scale.max(1.0), "{name}: {p} vs {q}");
        }
    }
}

/// A recurrent layer that reads an Embedding runs as one op from the token ids on the f32
/// path (`kernels::recurrent_tokens`): the same values at every node (the Embedding's output
/// included, for the activations view) as the f64 model from the same seed, which runs the
/// two layers apart, and the same gradients, for each recurrent layer, with repeated tokens.
#[test]
fn embedding_then_recurrent_fused_matches_the_layers_apart() {
    for recurrent in [
        Layer::Lstm {
            hidden: 5,
            sequences: true,
        },
        Layer::Gru {
            hidden: 5,
            sequences: false,
        },
        Layer::Rnn {
            hidden: 5,
            sequences: true,
        },
    ] {
        let mut layers = vec![Layer::Embedding { vocab: 9, dim: 4 }, recurrent.clone()];
        if matches!(recurrent, Layer::Lstm { .. } | Layer::Rnn { .. }) {
            layers.push(Layer::Flatten);
        }
        layers.push(Layer::Dense {
            units: 3,
            bias: true,
        });
        let mut graph = chain(&[6], layers, Loss::Mse);
        if let Layer::Input { dtype, .. } = &mut graph.nodes[0].layer {
            *dtype = GDType::TokenId;
        }
        let m32 = Model::build_with_dtype(&graph, 5, DType::F32).expect("builds");
        let m64 = Model::build_with_dtype(&graph, 5, DType::F64).expect("builds");
        let ids: Vec<u32> = (0..4 * 6).map(|i| (i * 5 % 7) as u32).collect();
        let ids = Tensor::from_vec(ids, (4, 6), &Device::Cpu).unwrap();
        let what = format!("{recurrent:?}");
        assert_same_values((&m32, &ids), (&m64, &ids), 0.05, &what);
        // The f32 model took the one op, forward and backward.
        let ((g32, g64), ran) = profiled("glassbox-embedded-", || {
            (grads(&m32, &ids), grads(&m64, &ids))
        });
        assert!(
            ran_both_ways(&ran),
            "{recurrent:?} did not run as one op with its Embedding: {ran:?}"
        );
        assert_same_grads(&g32, &g64);
    }
}

/// A convolution whose only reader is a ReLU runs fused on the f32 path
/// (`kernels::conv2d_relu`): the same values at every node (the convolution's own output
/// included) and gradients as the f64 model, which runs the two apart; and the convolution's
/// own output, asked for unfused, is differentiable (activation maximisation needs it).
#[test]
fn conv_then_relu_fused_matches_the_ops_apart() {
    let graph = chain(
        &[2, 6, 6],
        vec![
            Layer::Conv2d {
                filters: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
                bias: true,
            },
            Layer::ReLU,
            Layer::Flatten,
            Layer::Dense {
                units: 2,
                bias: true,
            },
        ],
        Loss::Mse,
    );
    let m32 = Model::build_with_dtype(&graph, 5, DType::F32).expect("builds");
    let m64 = Model::build_with_dtype(&graph, 5, DType::F64).expect("builds");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let xs: Vec<f32> = (0..3 * 72).map(|_| rng.random_range(-2.0..2.0)).collect();
    let x32 = Tensor::from_vec(xs, (3, 2, 6, 6), &Device::Cpu).unwrap();
    let x64 = x32.to_dtype(DType::F64).unwrap();
    assert_same_values((&m32, &x32), (&m64, &x64), 0.1, "conv + ReLU");
    let ((g32, g64), ran) = profiled("glassbox-conv2d-relu", || {
        (grads(&m32, &x32), grads(&m64, &x64))
    });
    assert!(
        ran_both_ways(&ran),
        "the convolution did not run as one op with its ReLU: {ran:?}"
    );
    assert_same_grads(&g32, &g64);
    // Unfused, the convolution's output carries a gradient back to the input.
    let x = candle_core::Var::from_tensor(&x32).unwrap();
    let values = m32
        .forward_all(x.as_tensor(), &mut ForwardCtx::eval_unfused())
        .unwrap();
    let conv = &values.iter().find(|(id, _)| id == "n0").expect("n0").1;
    let g = conv.sum_all().unwrap().backward().unwrap();
    assert!(g.get(x.as_tensor()).is_some(), "no gradient through n0");
}
