//! Shared by the test binaries: finite-difference gradient checks on small graphs.
#![allow(dead_code)]

pub mod cli;
pub mod http;
pub mod python;
#[cfg(feature = "gui")]
pub mod ui;

use candle_core::{DType, Device, Tensor, Var};
use glassbox::graph::{DType as GDType, Graph, Layer, Loss, Node, Target};
use glassbox::model::{ForwardCtx, Model, TargetBatch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn input(shape: &[usize]) -> Node {
    Node::new(
        "in",
        Layer::Input {
            shape: shape.to_vec(),
            dtype: GDType::F32,
        },
    )
}

pub fn output(loss: Loss) -> Node {
    Node::new(
        "out",
        Layer::Output {
            loss,
            target: Target::Label,
        },
    )
}

pub fn random(shape: &[usize], rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..shape.iter().product::<usize>())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect()
}

pub fn targets(model: &Model, loss: Loss, batch: usize, rng: &mut ChaCha8Rng) -> TargetBatch {
    let shape = model.prediction_shape().with_batch(batch);
    match loss {
        Loss::CrossEntropy => {
            let classes = shape[1] as u32;
            let labels: Vec<u32> = (0..batch).map(|_| rng.random_range(0..classes)).collect();
            TargetBatch::Labels(Tensor::from_vec(labels, batch, &Device::Cpu).unwrap())
        }
        Loss::BinaryCrossEntropy => {
            let v: Vec<f64> = (0..shape.iter().product::<usize>())
                .map(|_| rng.random_range(0..2) as f64)
                .collect();
            TargetBatch::Values(Tensor::from_vec(v, shape, &Device::Cpu).unwrap())
        }
        Loss::Mse => {
            TargetBatch::Values(Tensor::from_vec(random(&shape, rng), shape, &Device::Cpu).unwrap())
        }
    }
}

pub fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// Central differences for up to `max_checks` entries of every parameter and of the input.
pub fn grad_check(graph: Graph, in_shape: &[usize], batch: usize, loss: Loss) {
    let model = Model::build_with_dtype(&graph, 3, DType::F64).expect("graph builds");
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut x_shape = vec![batch];
    x_shape.extend_from_slice(in_shape);
    let x = Var::from_vec(random(&x_shape, &mut rng), x_shape.clone(), &Device::Cpu).unwrap();
    let target = targets(&model, loss, batch, &mut rng);
    let eval = |x: &Tensor| -> Tensor {
        let mut ctx = ForwardCtx::train(None);
        let pred = model.forward(x, &mut ctx).unwrap();
        let loss = model.loss(&pred, &target).unwrap();
        match ctx.penalty().unwrap() {
            Some(p) => (loss + p).unwrap(),
            None => loss,
        }
    };
    let grads = eval(x.as_tensor()).backward().unwrap();

    let mut checked: Vec<(String, Var)> = model.trainable();
    checked.push(("input".into(), x.clone()));
    let eps = 1e-5;
    for (name, var) in checked {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name} received no gradient"));
        let analytic = values(g);
        let base = values(var.as_tensor());
        let n = base.len();
        let picks: Vec<usize> = if n <= 24 {
            (0..n).collect()
        } else {
            (0..24).map(|_| rng.random_range(0..n)).collect()
        };
        for i in picks {
            let mut plus = base.clone();
            plus[i] += eps;
            var.set(&Tensor::from_vec(plus, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let lp = eval(x.as_tensor()).to_scalar::<f64>().unwrap();
            let mut minus = base.clone();
            minus[i] -= eps;
            var.set(&Tensor::from_vec(minus, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let lm = eval(x.as_tensor()).to_scalar::<f64>().unwrap();
            var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let numeric = (lp - lm) / (2.0 * eps);
            let err = (numeric - analytic[i]).abs();
            let scale = numeric.abs().max(analytic[i].abs()).max(1e-6);
            assert!(
                err / scale < 1e-4 || err < 1e-8,
                "{name}[{i}]: analytic {} vs numeric {numeric} (graph {:?})",
                analytic[i],
                graph
                    .nodes
                    .iter()
                    .map(|n| n.layer.kind().name())
                    .collect::<Vec<_>>()
            );
        }
    }
}

pub fn chain(in_shape: &[usize], layers: Vec<Layer>, loss: Loss) -> Graph {
    let mut nodes = vec![input(in_shape)];
    for (i, l) in layers.into_iter().enumerate() {
        nodes.push(Node::new(format!("n{i}"), l));
    }
    nodes.push(output(loss));
    Graph::chain(nodes)
}

/// Texts of a, b and c; those with an 'x' somewhere are class "x".
pub fn x_spotter(dir: &tempfile::TempDir) -> glassbox::project::Project {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut csv = String::from("text,label\n");
    for i in 0..600 {
        let len = rng.random_range(4..10);
        let mut t: Vec<char> = (0..len)
            .map(|_| ['a', 'b', 'c'][rng.random_range(0..3)])
            .collect();
        let label = if i % 2 == 0 {
            let at = rng.random_range(0..len);
            t[at] = 'x';
            "x"
        } else {
            "o"
        };
        csv.push_str(&format!("{},{label}\n", t.iter().collect::<String>()));
    }
    let path = dir.path().join("x.csv");
    std::fs::write(&path, csv).unwrap();
    let conv = Node::new(
        "conv",
        Layer::Conv1d {
            filters: 16,
            kernel: 1,
            stride: 1,
            padding: 0,
            bias: true,
        },
    );
    let middle = vec![
        conv,
        Node::new("relu", Layer::ReLU),
        Node::new("pool", Layer::GlobalMaxPool),
    ];
    let mut p = glassbox::project::Project {
        name: "x".into(),
        graph: token_classifier(10, 6, 8, middle, 2),
        data: glassbox::data::DataSettings {
            source: glassbox::data::DataSource::TextClass {
                path: path.display().to_string(),
                text_column: "text".into(),
                label_column: "label".into(),
                tokens: glassbox::data::TokenKind::Char,
                max_len: 10,
            },
            ..glassbox::data::DataSettings::default()
        },
        ..glassbox::project::Project::default()
    };
    p.training.epochs = 8;
    p.training.lr = 0.02;
    p
}

/// A token-sequence classifier: an Input of `len` token ids, an Embedding of `vocab` × `dim`,
/// the `middle` layers, then a Dense head of `classes` units and a cross-entropy Output.
pub fn token_classifier(
    len: usize,
    vocab: usize,
    dim: usize,
    middle: Vec<Node>,
    classes: usize,
) -> Graph {
    let mut nodes = vec![
        Node::new(
            "input",
            Layer::Input {
                shape: vec![len],
                dtype: GDType::TokenId,
            },
        ),
        Node::new("embed", Layer::Embedding { vocab, dim }),
    ];
    nodes.extend(middle);
    nodes.push(Node::new(
        "head",
        Layer::Dense {
            units: classes,
            bias: true,
        },
    ));
    nodes.push(Node::new(
        "output",
        Layer::Output {
            loss: Loss::CrossEntropy,
            target: Target::Label,
        },
    ));
    Graph::chain(nodes)
}
