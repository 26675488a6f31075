//! Analytic gradients against finite differences (in f64), and gradient flow through the presets.
//! candle's fused LayerNorm and softmax_last_dim have no backward pass; these tests catch any layer
//! whose gradient silently stops or is wrong.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{chain, grad_check, input, output, targets, values};
use glassbox::graph::{DType as GDType, Edge, Graph, Layer, Loss, Node};
use glassbox::model::{ForwardCtx, Model, TargetBatch};
use glassbox::train::{Optim, Optimizer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn dense_gradient_matches_finite_differences() {
    grad_check(
        chain(
            &[5],
            vec![Layer::Dense {
                units: 4,
                bias: true,
            }],
            Loss::Mse,
        ),
        &[5],
        3,
        Loss::Mse,
    );
    grad_check(
        chain(
            &[3, 5],
            vec![Layer::Dense {
                units: 2,
                bias: false,
            }],
            Loss::Mse,
        ),
        &[3, 5],
        2,
        Loss::Mse,
    );
}

#[test]
fn conv2d_gradient_matches_finite_differences() {
    let conv = Layer::Conv2d {
        filters: 3,
        kernel: 3,
        stride: 1,
        padding: 1,
        bias: true,
    };
    grad_check(
        chain(&[2, 5, 5], vec![conv, Layer::Flatten], Loss::Mse),
        &[2, 5, 5],
        2,
        Loss::Mse,
    );
    let strided = Layer::Conv2d {
        filters: 2,
        kernel: 3,
        stride: 2,
        padding: 0,
        bias: true,
    };
    grad_check(
        chain(&[1, 7, 7], vec![strided, Layer::Flatten], Loss::Mse),
        &[1, 7, 7],
        2,
        Loss::Mse,
    );
}

#[test]
fn batchnorm_gradient_matches_finite_differences() {
    let bn = Layer::BatchNorm {
        momentum: 0.1,
        eps: 1e-5,
    };
    grad_check(
        chain(
            &[4],
            vec![
                Layer::Dense {
                    units: 3,
                    bias: true,
                },
                bn.clone(),
            ],
            Loss::Mse,
        ),
        &[4],
        5,
        Loss::Mse,
    );
    grad_check(
        chain(&[2, 3, 3], vec![bn, Layer::Flatten], Loss::Mse),
        &[2, 3, 3],
        4,
        Loss::Mse,
    );
}

#[test]
fn layernorm_gradient_matches_finite_differences() {
    let ln = Layer::LayerNorm { eps: 1e-5 };
    grad_check(
        chain(
            &[6],
            vec![
                Layer::Dense {
                    units: 5,
                    bias: true,
                },
                ln.clone(),
            ],
            Loss::Mse,
        ),
        &[6],
        3,
        Loss::Mse,
    );
    grad_check(chain(&[3, 4], vec![ln], Loss::Mse), &[3, 4], 2, Loss::Mse);
}

#[test]
fn activation_and_pooling_gradients_match_finite_differences() {
    for act in [
        Layer::ReLU,
        Layer::LeakyReLU { slope: 0.1 },
        Layer::Sigmoid,
        Layer::Tanh,
        Layer::GELU,
        Layer::Softmax,
    ] {
        grad_check(
            chain(
                &[4],
                vec![
                    Layer::Dense {
                        units: 5,
                        bias: true,
                    },
                    act,
                ],
                Loss::Mse,
            ),
            &[4],
            3,
            Loss::Mse,
        );
    }
    for pool in [
        Layer::MaxPool2d {
            kernel: 2,
            stride: 2,
        },
        Layer::AvgPool2d {
            kernel: 2,
            stride: 2,
        },
    ] {
        // 5×5 pools to 2×2: the cropped border must get zero gradient, not a wrong one.
        grad_check(
            chain(&[2, 4, 4], vec![pool.clone(), Layer::Flatten], Loss::Mse),
            &[2, 4, 4],
            2,
            Loss::Mse,
        );
        grad_check(
            chain(&[2, 5, 5], vec![pool, Layer::Flatten], Loss::Mse),
            &[2, 5, 5],
            2,
            Loss::Mse,
        );
    }
    // Overlapping windows (3×3 every 2), which candle's own pooling cannot differentiate.
    for pool in [
        Layer::MaxPool2d {
            kernel: 3,
            stride: 2,
        },
        Layer::AvgPool2d {
            kernel: 3,
            stride: 2,
        },
    ] {
        grad_check(
            chain(&[1, 7, 7], vec![pool, Layer::Flatten], Loss::Mse),
            &[1, 7, 7],
            2,
            Loss::Mse,
        );
    }
    grad_check(
        chain(
            &[12],
            vec![
                Layer::Reshape { shape: vec![3, 4] },
                Layer::LayerNorm { eps: 1e-5 },
            ],
            Loss::Mse,
        ),
        &[12],
        2,
        Loss::Mse,
    );
}

#[test]
fn losses_gradients_match_finite_differences() {
    grad_check(
        chain(
            &[4],
            vec![Layer::Dense {
                units: 3,
                bias: true,
            }],
            Loss::CrossEntropy,
        ),
        &[4],
        5,
        Loss::CrossEntropy,
    );
    grad_check(
        chain(
            &[4],
            vec![Layer::Dense {
                units: 2,
                bias: true,
            }],
            Loss::BinaryCrossEntropy,
        ),
        &[4],
        5,
        Loss::BinaryCrossEntropy,
    );
}

#[test]
fn merge_gradients_match_finite_differences() {
    for merge in [
        Layer::Add { inputs: 2 },
        Layer::Concat { inputs: 2, axis: 0 },
    ] {
        let g = Graph {
            nodes: vec![
                input(&[4]),
                Node::new(
                    "a",
                    Layer::Dense {
                        units: 3,
                        bias: true,
                    },
                ),
                Node::new(
                    "b",
                    Layer::Dense {
                        units: 3,
                        bias: true,
                    },
                ),
                Node::new("m", merge),
                output(Loss::Mse),
            ],
            edges: vec![
                Edge::new("in", "a"),
                Edge::new("in", "b"),
                Edge::new("a", "m"),
                Edge::new("b", "m").to_port(1),
                Edge::new("m", "out"),
            ],
        };
        grad_check(g, &[4], 3, Loss::Mse);
    }
}

fn preset(name: &str) -> glassbox::project::Project {
    glassbox::presets::load(name).expect("preset loads")
}

fn random_batch(model: &Model, batch: usize, rng: &mut ChaCha8Rng) -> (Tensor, TargetBatch) {
    let shape = model.input_shape().with_batch(batch);
    let n = shape.iter().product::<usize>();
    let x = if model.input_shape().dtype == GDType::TokenId {
        // Small ids, within every Embedding's vocabulary.
        let ids: Vec<u32> = (0..n).map(|_| rng.random_range(0..2u32)).collect();
        Tensor::from_vec(ids, shape, &Device::Cpu).unwrap()
    } else {
        let x: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        Tensor::from_vec(x, shape, &Device::Cpu).unwrap()
    };
    if model.loss_kind() != Loss::CrossEntropy {
        // Values shaped like the prediction (autoencoders compare with their input).
        let shape = model.prediction_shape().with_batch(batch);
        let v: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        return (
            x,
            TargetBatch::Values(Tensor::from_vec(v, shape, &Device::Cpu).unwrap()),
        );
    }
    // One label per sample, or per position for a sequence model's [T, C] scores.
    let dims = &model.prediction_shape().dims;
    let classes = *dims.last().unwrap() as u32;
    let n = batch * dims[..dims.len() - 1].iter().product::<usize>();
    let labels: Vec<u32> = (0..n).map(|i| i as u32 % classes).collect();
    (
        x,
        TargetBatch::Labels(Tensor::from_vec(labels, n, &Device::Cpu).unwrap()),
    )
}

#[test]
fn every_preset_parameter_receives_a_nonzero_gradient() {
    let presets = glassbox::presets::list();
    assert!(presets.len() >= 7);
    for path in presets {
        let name = path.display().to_string();
        let p = glassbox::project::Project::load(&path).unwrap();
        let model = Model::build(&p.graph, 1).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (x, t) = random_batch(&model, 8, &mut rng);
        let mut ctx = ForwardCtx::train(Some(&mut rng));
        let pred = model.forward(&x, &mut ctx).unwrap();
        let grads = model.loss(&pred, &t).unwrap().backward().unwrap();
        let params = model.trainable();
        assert!(!params.is_empty());
        for (pname, var) in params {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name}: {pname} has no gradient"));
            let norm = g
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                norm > 0.0 && norm.is_finite(),
                "{name}: {pname} gradient norm {norm}"
            );
        }
    }
}

#[test]
fn one_step_lowers_the_loss_on_a_fixed_batch_for_every_optimizer() {
    let p = preset("mlp-iris");
    for opt in [
        Optimizer::sgd(0.0, false),
        Optimizer::sgd(0.9, true),
        Optimizer::adam(),
        Optimizer::adamw(),
        Optimizer::rmsprop(),
    ] {
        let model = Model::build(&p.graph, 1).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (x, t) = random_batch(&model, 16, &mut rng);
        let loss = || {
            model
                .loss(&model.forward(&x, &mut ForwardCtx::eval()).unwrap(), &t)
                .unwrap()
        };
        let mut optim = Optim::new(opt, 1e-4, model.trainable());
        let before = loss();
        let lr = if matches!(opt, Optimizer::Sgd { .. }) {
            0.05
        } else {
            1e-3
        };
        optim.step(&before.backward().unwrap(), lr).unwrap();
        let (b, a) = (
            before.to_scalar::<f32>().unwrap(),
            loss().to_scalar::<f32>().unwrap(),
        );
        assert!(a < b, "{}: loss {b} → {a}", opt.name());
    }
}

#[test]
fn cnn_preset_step_lowers_the_loss() {
    let p = preset("cnn-mnist");
    let model = Model::build(&p.graph, 1).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (x, t) = random_batch(&model, 8, &mut rng);
    let loss = || {
        model
            .loss(&model.forward(&x, &mut ForwardCtx::eval()).unwrap(), &t)
            .unwrap()
    };
    let mut optim = Optim::new(Optimizer::adam(), 0.0, model.trainable());
    let before = loss();
    optim.step(&before.backward().unwrap(), 1e-3).unwrap();
    assert!(loss().to_scalar::<f32>().unwrap() < before.to_scalar::<f32>().unwrap());
}

#[test]
fn embedding_gradient_matches_finite_differences() {
    let g = chain(
        &[3],
        vec![Layer::Embedding { vocab: 5, dim: 2 }, Layer::Flatten],
        Loss::Mse,
    );
    let mut g = g;
    if let Layer::Input { dtype, .. } = &mut g.nodes[0].layer {
        *dtype = GDType::TokenId;
    }
    let model = Model::build_with_dtype(&g, 3, DType::F64).unwrap();
    let ids = Tensor::from_vec(vec![0u32, 4, 4, 2, 1, 0], (2, 3), &Device::Cpu).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let target = targets(&model, Loss::Mse, 2, &mut rng);
    let eval = || {
        model
            .loss(
                &model.forward(&ids, &mut ForwardCtx::eval()).unwrap(),
                &target,
            )
            .unwrap()
    };
    let grads = eval().backward().unwrap();
    let (_, w) = &model.trainable()[0];
    let analytic = values(grads.get(w.as_tensor()).unwrap());
    let base = values(w.as_tensor());
    for i in 0..base.len() {
        let mut v = base.clone();
        v[i] += 1e-5;
        w.set(&Tensor::from_vec(v.clone(), w.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let lp = eval().to_scalar::<f64>().unwrap();
        v[i] -= 2e-5;
        w.set(&Tensor::from_vec(v, w.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let lm = eval().to_scalar::<f64>().unwrap();
        w.set(&Tensor::from_vec(base.clone(), w.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let numeric = (lp - lm) / 2e-5;
        assert!(
            (numeric - analytic[i]).abs() < 1e-6 + 1e-4 * numeric.abs(),
            "row {}: {} vs {numeric}",
            i / 2,
            analytic[i]
        );
    }
    // Token 3 is never used: its row gets exactly zero gradient.
    assert_eq!(&analytic[6..8], &[0.0, 0.0]);
}

#[test]
fn sequence_layers_gradients_match_finite_differences() {
    for sequences in [true, false] {
        for rnn in [
            Layer::Lstm {
                hidden: 3,
                sequences,
            },
            Layer::Gru {
                hidden: 3,
                sequences,
            },
        ] {
            let mut layers = vec![rnn];
            if sequences {
                layers.push(Layer::Flatten);
            }
            grad_check(chain(&[4, 2], layers, Loss::Mse), &[4, 2], 2, Loss::Mse);
        }
    }
    for causal in [false, true] {
        grad_check(
            chain(
                &[4, 6],
                vec![
                    Layer::PositionalEmbedding { max_len: 5 },
                    Layer::SelfAttention { heads: 2, causal },
                    Layer::Flatten,
                ],
                Loss::Mse,
            ),
            &[4, 6],
            2,
            Loss::Mse,
        );
    }
}
