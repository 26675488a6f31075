//! The reference training workloads (same shapes as `benches/torch_bench.py`), trained through
//! Glassbox's own worker on pools of random batches, timed like the reference: warm-up steps,
//! then repetitions of about a second each.

use crate::data::{
    DataSettings, Dataset, Features, Normalization, RawData, SplitSettings, Targets,
};
use crate::graph::{DType, Graph, Layer, Loss, Node, Target};
use crate::project::Project;
use crate::train::{Optimizer, TrainEvent, TrainHandle, TrainRequest};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;
use std::time::Duration;

/// The training workloads, in the order `all` runs them.
pub const NAMES: [&str; 7] = [
    "mlp",
    "cnn",
    "lstm",
    "transformer",
    "autoencoder",
    "gan",
    "cnn1d",
];

/// Random batches cycled through, as the reference does.
const POOL: usize = 32;

pub struct Workload {
    pub name: &'static str,
    pub unit: &'static str,
    pub items_per_step: usize,
    pub project: Project,
    pub data: Arc<Dataset>,
}

#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

fn node(id: &str, layer: Layer) -> Node {
    Node::new(id, layer)
}

fn project(name: &str, graph: Graph, batch: usize) -> Project {
    let mut p = Project {
        name: name.into(),
        graph,
        ..Default::default()
    };
    p.training.optimizer = Optimizer::adam();
    p.training.lr = 1e-3;
    p.training.batch_size = batch;
    p.training.epochs = 1_000_000;
    p.data = DataSettings {
        normalization: Normalization::None,
        split: SplitSettings {
            validation: 0.0,
            test: 0.0,
            stratify: false,
            ..Default::default()
        },
        ..Default::default()
    };
    p
}

fn random_images(sample: &[usize], n: usize, classes: u32, seed: u64) -> RawData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len: usize = sample.iter().product();
    let features = (0..n * len)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    RawData {
        origins: Default::default(),
        sample_shape: sample.to_vec(),
        features: Features::F32(features),
        targets: Targets::Classes {
            labels: (0..n).map(|_| rng.random_range(0..classes)).collect(),
            names: (0..classes).map(|c| c.to_string()).collect(),
        },
        feature_names: Vec::new(),
        source_test_start: None,
        vocab: None,
        notes: Vec::new(),
    }
}

/// A random token corpus read as windows of `t`, predicting the next token at every position.
fn random_tokens(vocab: usize, t: usize, n: usize, seed: u64) -> RawData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let corpus: Vec<u32> = (0..n + t)
        .map(|_| rng.random_range(0..vocab as u32))
        .collect();
    RawData {
        origins: Default::default(),
        sample_shape: vec![t],
        targets: Targets::Classes {
            labels: corpus[t..t + n].to_vec(),
            names: (0..vocab).map(|c| c.to_string()).collect(),
        },
        features: Features::Windows { corpus, len: t },
        feature_names: Vec::new(),
        source_test_start: None,
        vocab: Some((0..vocab).map(|c| c.to_string()).collect()),
        notes: Vec::new(),
    }
}

/// A convolutional autoencoder: two stride-2 convolutions down to [32, 7, 7], two transposed
/// convolutions back up to [1, 28, 28], trained to reproduce its input (MSE).
fn conv_autoencoder() -> Result<Graph> {
    let conv = |filters: usize| Layer::Conv2d {
        filters,
        kernel: 3,
        stride: 2,
        padding: 1,
        bias: true,
    };
    let up = |filters: usize| Layer::ConvTranspose2d {
        filters,
        kernel: 3,
        stride: 2,
        padding: 1,
        output_padding: 1,
        bias: true,
    };
    Ok(Graph::chain(vec![
        node(
            "input",
            Layer::Input {
                shape: vec![1, 28, 28],
                dtype: DType::F32,
            },
        ),
        node("enc1", conv(16)),
        node("relu1", Layer::ReLU),
        node("enc2", conv(32)),
        node("relu2", Layer::ReLU),
        node("dec1", up(16)),
        node("relu3", Layer::ReLU),
        node("dec2", up(1)),
        node("pixels", Layer::Sigmoid),
        node(
            "output",
            Layer::Output {
                loss: Loss::Mse,
                target: Target::Label,
            },
        ),
    ]))
}

/// Random token windows of `t` with a class label each (a text classifier's data).
fn random_texts(vocab: usize, t: usize, n: usize, classes: u32, seed: u64) -> RawData {
    let mut raw = random_images(&[t], n, classes, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    raw.features = Features::Tokens(
        (0..n * t)
            .map(|_| rng.random_range(0..vocab as u32))
            .collect(),
    );
    raw.vocab = Some((0..vocab).map(|c| c.to_string()).collect());
    raw
}

pub fn workload(name: &str) -> Result<Workload> {
    let mut mode = crate::graph::TrainingMode::Supervised;
    let (name, unit, batch, graph, raw, seq): (
        &'static str,
        &'static str,
        usize,
        Graph,
        RawData,
        usize,
    ) = match name {
        "mlp" => (
            "mlp",
            "samples/s",
            128,
            Graph::chain(vec![
                node(
                    "input",
                    Layer::Input {
                        shape: vec![784],
                        dtype: DType::F32,
                    },
                ),
                node(
                    "fc1",
                    Layer::Dense {
                        units: 256,
                        bias: true,
                    },
                ),
                node("relu1", Layer::ReLU),
                node(
                    "fc2",
                    Layer::Dense {
                        units: 128,
                        bias: true,
                    },
                ),
                node("relu2", Layer::ReLU),
                node(
                    "fc3",
                    Layer::Dense {
                        units: 10,
                        bias: true,
                    },
                ),
                node(
                    "output",
                    Layer::Output {
                        loss: Loss::CrossEntropy,
                        target: Target::Label,
                    },
                ),
            ]),
            random_images(&[784], POOL * 128, 10, 1),
            1,
        ),
        "cnn" => (
            "cnn",
            "samples/s",
            64,
            crate::presets::load("cnn-mnist")?.graph,
            random_images(&[1, 28, 28], POOL * 64, 10, 2),
            1,
        ),
        "lstm" => {
            let (vocab, t) = (96, 64);
            (
                "lstm",
                "tokens/s",
                32,
                Graph::chain(vec![
                    node(
                        "input",
                        Layer::Input {
                            shape: vec![t],
                            dtype: DType::TokenId,
                        },
                    ),
                    node("embed", Layer::Embedding { vocab, dim: 64 }),
                    node(
                        "lstm",
                        Layer::Lstm {
                            hidden: 256,
                            sequences: true,
                        },
                    ),
                    node(
                        "head",
                        Layer::Dense {
                            units: vocab,
                            bias: true,
                        },
                    ),
                    node(
                        "output",
                        Layer::Output {
                            loss: Loss::CrossEntropy,
                            target: Target::Label,
                        },
                    ),
                ]),
                random_tokens(vocab, t, POOL * 32, 3),
                t,
            )
        }
        "transformer" => {
            let (vocab, t, d) = (96, 64, 128);
            let mut nodes = vec![
                node(
                    "input",
                    Layer::Input {
                        shape: vec![t],
                        dtype: DType::TokenId,
                    },
                ),
                node("embed", Layer::Embedding { vocab, dim: d }),
                node("pos", Layer::PositionalEmbedding { max_len: t }),
            ];
            let mut edges = vec![("input", "embed"), ("embed", "pos")];
            let mut last = "pos".to_string();
            let names: Vec<[String; 8]> = (1..=2)
                .map(|b| {
                    [
                        format!("ln{b}a"),
                        format!("attn{b}"),
                        format!("res{b}a"),
                        format!("ln{b}b"),
                        format!("mlp{b}a"),
                        format!("gelu{b}"),
                        format!("mlp{b}b"),
                        format!("res{b}b"),
                    ]
                })
                .collect();
            for n in &names {
                nodes.push(node(&n[0], Layer::LayerNorm { eps: 1e-5 }));
                nodes.push(node(
                    &n[1],
                    Layer::SelfAttention {
                        heads: 4,
                        causal: true,
                    },
                ));
                nodes.push(node(&n[2], Layer::Add { inputs: 2 }));
                nodes.push(node(&n[3], Layer::LayerNorm { eps: 1e-5 }));
                nodes.push(node(
                    &n[4],
                    Layer::Dense {
                        units: 4 * d,
                        bias: true,
                    },
                ));
                nodes.push(node(&n[5], Layer::GELU));
                nodes.push(node(
                    &n[6],
                    Layer::Dense {
                        units: d,
                        bias: true,
                    },
                ));
                nodes.push(node(&n[7], Layer::Add { inputs: 2 }));
            }
            nodes.push(node("lnf", Layer::LayerNorm { eps: 1e-5 }));
            nodes.push(node(
                "head",
                Layer::Dense {
                    units: vocab,
                    bias: true,
                },
            ));
            nodes.push(node(
                "output",
                Layer::Output {
                    loss: Loss::CrossEntropy,
                    target: Target::Label,
                },
            ));
            let mut graph = Graph {
                nodes,
                edges: Vec::new(),
            };
            let mut connect = |a: &str, b: &str, port: usize| {
                graph
                    .edges
                    .push(crate::graph::Edge::new(a, b).to_port(port))
            };
            for (a, b) in edges.drain(..) {
                connect(a, b, 0);
            }
            for n in &names {
                connect(&last, &n[0], 0);
                connect(&n[0], &n[1], 0);
                connect(&last, &n[2], 0);
                connect(&n[1], &n[2], 1);
                connect(&n[2], &n[3], 0);
                connect(&n[3], &n[4], 0);
                connect(&n[4], &n[5], 0);
                connect(&n[5], &n[6], 0);
                connect(&n[2], &n[7], 0);
                connect(&n[6], &n[7], 1);
                last = n[7].clone();
            }
            connect(&last, "lnf", 0);
            connect("lnf", "head", 0);
            connect("head", "output", 0);
            graph.layout_left_to_right();
            (
                "transformer",
                "tokens/s",
                32,
                graph,
                random_tokens(vocab, t, POOL * 32, 4),
                t,
            )
        }
        "autoencoder" => {
            mode = crate::graph::TrainingMode::Autoencoder { noise_std: 0.0 };
            (
                "autoencoder",
                "samples/s",
                64,
                conv_autoencoder()?,
                random_images(&[1, 28, 28], POOL * 64, 10, 5),
                1,
            )
        }
        "gan" => {
            let preset = crate::presets::load("gan-mnist")?;
            mode = preset.mode;
            (
                "gan",
                "samples/s",
                64,
                preset.graph,
                random_images(&[1, 28, 28], POOL * 64, 10, 6),
                1,
            )
        }
        "cnn1d" => (
            "cnn1d",
            "samples/s",
            64,
            crate::presets::load("cnn1d-text")?.graph,
            random_texts(56, 12, POOL * 64, 2, 7),
            1,
        ),
        other => bail!("unknown training workload '{other}' ({})", NAMES.join(", ")),
    };
    let mut p = project(name, graph, batch);
    p.mode = mode;
    let data = Arc::new(Dataset::from_raw(name.to_string(), raw, &p.data)?);
    Ok(Workload {
        name,
        unit,
        items_per_step: batch * seq,
        project: p,
        data,
    })
}

/// Trains the workload through the worker and times it like the reference: `warmup` steps,
/// then `reps` repetitions of about `target_s` seconds each.
pub fn measure(w: &Workload, warmup: usize, reps: usize, target_s: f64) -> Result<Rate> {
    let mut req = TrainRequest::new(w.project.clone());
    req.dataset = Some(w.data.clone());
    let handle = TrainHandle::spawn(req)?;
    let warmup = warmup.max(3);
    let mut times: Vec<f64> = Vec::new();
    let mut per_rep: Option<usize> = None;
    loop {
        match handle.recv_timeout(Duration::from_secs(120)) {
            Some(TrainEvent::Step { elapsed_ms, .. }) => times.push(elapsed_ms),
            Some(e) if e.is_terminal() => bail!("the {} run ended early: {e:?}", w.name),
            Some(_) => continue,
            None => bail!("the {} run stalled", w.name),
        }
        if times.len() == warmup {
            let mut last: Vec<f64> = times
                .windows(2)
                .map(|p| p[1] - p[0])
                .rev()
                .take(3)
                .collect();
            last.sort_by(|a, b| a.total_cmp(b));
            let step_ms = last.get(last.len() / 2).copied().unwrap_or(1.0).max(1e-3);
            per_rep = Some(((target_s * 1e3 / step_ms).ceil() as usize).max(3));
        }
        if let Some(n) = per_rep {
            if times.len() >= warmup + reps * n {
                break;
            }
        }
    }
    handle.stop_and_join();
    let n = per_rep.expect("set after warm-up");
    let mut rates: Vec<f64> = (0..reps)
        .map(|r| {
            let (a, b) = (times[warmup + r * n - 1], times[warmup + (r + 1) * n - 1]);
            (n * w.items_per_step) as f64 / ((b - a) / 1e3)
        })
        .collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    let median = rates[rates.len() / 2];
    Ok(Rate {
        median,
        min: rates[0],
        max: *rates.last().expect("reps > 0"),
    })
}
