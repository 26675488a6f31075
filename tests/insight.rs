//! The insight engine: saliency methods, explanations, maximisation, evaluation, snapshots and
//! diagnosis, checked against cases with known answers.

use candle_core::{Device, Tensor};
use glassbox::data::Dataset;
use glassbox::graph::{DType, Graph, Layer, Loss, Node, Target};
use glassbox::insight::*;
use glassbox::model::{Model, WeightTensor, Weights};
use glassbox::project::Project;
use glassbox::train::{InsightOptions, RunHistory, TrainEvent, TrainHandle, TrainRequest};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::Duration;

/// A run that has not ended by then is hung: fail with its last event instead of hanging CI.
const TRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

fn out(loss: Loss) -> Node {
    Node::new(
        "out",
        Layer::Output {
            loss,
            target: Target::Label,
        },
    )
}

fn input(shape: &[usize]) -> Node {
    Node::new(
        "in",
        Layer::Input {
            shape: shape.to_vec(),
            dtype: DType::F32,
        },
    )
}

/// A linear model with the given weight matrix [outputs × inputs] and zero bias.
fn linear(inputs: &[usize], w: Vec<f32>, outputs: usize, loss: Loss) -> Model {
    let mut nodes = vec![input(inputs)];
    if inputs.len() > 1 {
        nodes.push(Node::new("flat", Layer::Flatten));
    }
    nodes.push(Node::new(
        "lin",
        Layer::Dense {
            units: outputs,
            bias: true,
        },
    ));
    nodes.push(out(loss));
    let model = Model::build(&Graph::chain(nodes), 0).unwrap();
    let n_in: usize = inputs.iter().product();
    let mut weights = Weights::default();
    weights.tensors.insert(
        "lin.weight".into(),
        WeightTensor {
            shape: vec![outputs, n_in],
            data: w,
        },
    );
    weights.tensors.insert(
        "lin.bias".into(),
        WeightTensor {
            shape: vec![outputs],
            data: vec![0.0; outputs],
        },
    );
    model.load_weights(&weights).unwrap();
    model
}

fn tensor(x: &[f32], dims: &[usize]) -> Tensor {
    let mut shape = vec![1];
    shape.extend_from_slice(dims);
    Tensor::from_vec(x.to_vec(), shape, &Device::Cpu).unwrap()
}

fn close(a: f32, b: f32, rel: f32) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-6)
}

#[test]
fn saliency_of_a_linear_model_is_its_weights_and_weight_times_input() {
    let w = vec![
        0.5, -1.0, 2.0, 0.25, 1.5, 0.0, -0.5, 3.0, 1.0, 1.0, -2.0, 0.1,
    ];
    let model = linear(&[4], w.clone(), 3, Loss::CrossEntropy);
    let x = [1.0, 2.0, -1.0, 0.5];
    for class in 0..3 {
        let row = &w[class * 4..class * 4 + 4];
        let a = saliency(
            &model,
            &tensor(&x, &[4]),
            class,
            &SaliencyMethod::Vanilla,
            0,
        )
        .unwrap();
        assert_eq!(a.dims, vec![4]);
        for (got, want) in a.values.iter().zip(row) {
            assert!(close(*got, *want, 1e-5), "vanilla {got} vs {want}");
        }
        let a = saliency(
            &model,
            &tensor(&x, &[4]),
            class,
            &SaliencyMethod::GradTimesInput,
            0,
        )
        .unwrap();
        for ((got, w), xi) in a.values.iter().zip(row).zip(&x) {
            assert!(close(*got, w * xi, 1e-5), "grad×input {got} vs {}", w * xi);
        }
    }
}

fn random_image(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

#[test]
fn integrated_gradients_are_complete() {
    // A smooth network (tanh) and the CNN preset (ReLU) with fresh weights.
    let tanh = Graph::chain(vec![
        input(&[6]),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 16,
                bias: true,
            },
        ),
        Node::new("t1", Layer::Tanh),
        Node::new(
            "fc2",
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ),
        out(Loss::CrossEntropy),
    ]);
    let cnn = glassbox::presets::load("cnn-mnist").unwrap().graph;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (graph, dims) in [(tanh, vec![6]), (cnn, vec![1, 28, 28])] {
        let model = Model::build(&graph, 1).unwrap();
        let x = random_image(&mut rng, dims.iter().product());
        let xt = tensor(&x, &dims);
        for class in [0, 2] {
            let a = saliency(
                &model,
                &xt,
                class,
                &SaliencyMethod::IntegratedGradients {
                    steps: 256,
                    baseline: Baseline::Zero,
                },
                0,
            )
            .unwrap();
            let f_x = saliency::scores(&model, &xt, class).unwrap()[0];
            let f_0 =
                saliency::scores(&model, &tensor(&vec![0.0; x.len()], &dims), class).unwrap()[0];
            let sum: f32 = a.values.iter().sum();
            let gap = f_x - f_0;
            assert!(
                (sum - gap).abs() <= 0.01 * gap.abs().max(1e-3),
                "IG sum {sum} vs f(x) − f(0) = {gap}"
            );
        }
    }
}

#[test]
fn occlusion_of_a_one_pixel_model_lights_only_that_pixel() {
    let mut w = vec![0.0f32; 25];
    w[2 * 5 + 3] = 1.0;
    let model = linear(&[1, 5, 5], w, 1, Loss::Mse);
    let x: Vec<f32> = (0..25).map(|i| 0.1 + i as f32 * 0.01).collect();
    let a = saliency(
        &model,
        &tensor(&x, &[1, 5, 5]),
        0,
        &SaliencyMethod::Occlusion {
            patch: 1,
            stride: 1,
        },
        0,
    )
    .unwrap();
    for (i, v) in a.values.iter().enumerate() {
        if i == 13 {
            assert!(close(*v, x[13], 1e-5), "{v}");
        } else {
            assert_eq!(*v, 0.0, "pixel {i} lit: {v}");
        }
    }
    // Larger patches spread the drop only over patches that cover the pixel.
    let a = saliency(
        &model,
        &tensor(&x, &[1, 5, 5]),
        0,
        &SaliencyMethod::Occlusion {
            patch: 2,
            stride: 1,
        },
        0,
    )
    .unwrap();
    let lit: Vec<usize> = (0..25).filter(|&i| a.values[i] != 0.0).collect();
    assert!(
        lit.contains(&13)
            && lit
                .iter()
                .all(|&i| (i / 5).abs_diff(2) <= 1 && (i % 5).abs_diff(3) <= 1),
        "{lit:?}"
    );
}

#[test]
fn grad_cam_matches_the_input_and_maximisation_raises_the_logit() {
    let model = Model::build(&glassbox::presets::load("cnn-mnist").unwrap().graph, 1).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = tensor(&random_image(&mut rng, 784), &[1, 28, 28]);
    for node in ["conv1", "relu2", "pool2"] {
        let maps: Vec<Vec<f32>> = (0..10)
            .map(|class| {
                let a = saliency(
                    &model,
                    &x,
                    class,
                    &SaliencyMethod::GradCam { node: node.into() },
                    0,
                )
                .unwrap();
                assert_eq!(a.dims, vec![1, 28, 28], "{node}");
                assert_eq!(a.values.len(), 784);
                assert!(a.values.iter().all(|v| *v >= 0.0 && v.is_finite()));
                a.values
            })
            .collect();
        // Not a blank answer: some class lights some pixels, and classes differ.
        assert!(
            maps.iter().flatten().any(|&v| v > 0.0),
            "{node}: every Grad-CAM map is zero"
        );
        assert!(
            maps.windows(2).any(|w| w[0] != w[1]),
            "{node}: every class has the same map"
        );
    }
    assert!(saliency(
        &model,
        &x,
        3,
        &SaliencyMethod::GradCam { node: "fc1".into() },
        0
    )
    .is_err());

    let settings = MaximizeSettings {
        steps: 60,
        ..Default::default()
    };
    let mut frames = 0;
    let (img, history) = maximize(
        &model,
        &[1, 28, 28],
        &MaxTarget::Class(3),
        &settings,
        &mut |_, _, _| frames += 1,
    )
    .unwrap();
    assert_eq!(img.len(), 784);
    assert!(frames >= 6);
    assert!(
        history.last().unwrap() > &(history[0] + 0.1),
        "logit {} → {}",
        history[0],
        history.last().unwrap()
    );
    let (_, h) = maximize(
        &model,
        &[1, 28, 28],
        &MaxTarget::Unit {
            node: "conv2".into(),
            index: 5,
        },
        &settings,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert!(h.last().unwrap() > &h[0]);
}

#[test]
fn kernel_shap_recovers_a_linear_models_contributions() {
    let w = vec![2.0, -1.0, 0.5, 3.0, -2.5, 1.25];
    let model = linear(&[6], w.clone(), 1, Loss::Mse);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let background: Vec<Vec<f32>> = (0..20).map(|_| random_image(&mut rng, 6)).collect();
    let x = vec![1.0, 0.5, -1.0, 0.25, 0.8, -0.6];
    let e = kernel_shap(
        &model,
        &x,
        &[6],
        0,
        &Segmentation::Features,
        &background,
        &ShapSettings::default(),
    )
    .unwrap();
    let mean: Vec<f32> = (0..6)
        .map(|i| background.iter().map(|b| b[i]).sum::<f32>() / 20.0)
        .collect();
    for i in 0..6 {
        let want = w[i] * (x[i] - mean[i]);
        assert!(
            (e.weights[i] - want).abs() <= 0.05 * want.abs().max(0.05),
            "φ{i} = {} vs {want}",
            e.weights[i]
        );
    }
    let fx: f32 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
    let efx: f32 = background
        .iter()
        .map(|b| w.iter().zip(b).map(|(a, v)| a * v).sum::<f32>())
        .sum::<f32>()
        / 20.0;
    let sum: f32 = e.weights.iter().sum();
    assert!(
        (sum - (fx - efx)).abs() < 1e-3,
        "Σφ {sum} vs f(x) − E f {}",
        fx - efx
    );
    // With more features than can be enumerated, sampled coalitions still sum exactly.
    let w16: Vec<f32> = (0..16).map(|i| i as f32 * 0.1 - 0.7).collect();
    let model = linear(&[16], w16.clone(), 1, Loss::Mse);
    let bg: Vec<Vec<f32>> = (0..8).map(|_| random_image(&mut rng, 16)).collect();
    let x = random_image(&mut rng, 16);
    let e = kernel_shap(
        &model,
        &x,
        &[16],
        0,
        &Segmentation::Features,
        &bg,
        &ShapSettings {
            max_coalitions: 600,
            seed: 1,
        },
    )
    .unwrap();
    assert!((e.weights.iter().sum::<f32>() - (e.fx - e.base)).abs() < 1e-3);
}

#[test]
fn lime_ranks_the_segment_a_model_reads_first() {
    // 8×8 image, 4×4 grid cells: the model reads only the bottom-left cell (segment 2).
    let mut w = vec![0.0f32; 64];
    for y in 4..8 {
        for x in 0..4 {
            w[y * 8 + x] = 0.5;
        }
    }
    let model = linear(&[1, 8, 8], w, 1, Loss::Mse);
    let x = vec![1.0f32; 64];
    let e = lime(
        &model,
        &x,
        &[1, 8, 8],
        0,
        &Segmentation::Grid { cell: 4 },
        &vec![0.0; 64],
        &LimeSettings::default(),
    )
    .unwrap();
    assert_eq!(e.n_segments, 4);
    assert_eq!(e.ranking()[0], 2, "weights {:?}", e.weights);
    assert!(e.r2.unwrap() > 0.99);
    // SLIC makes contiguous superpixels covering the image.
    let img: Vec<f32> = (0..64).map(|i| if i % 8 < 4 { 0.0 } else { 1.0 }).collect();
    let (seg, n) = segment(
        &img,
        &[1, 8, 8],
        &Segmentation::Slic {
            segments: 4,
            compactness: 1.0,
        },
    );
    assert!(n >= 2 && seg.iter().all(|&s| s < n));
    assert!(
        seg[0] != seg[7],
        "the two halves fall in different superpixels"
    );
}

fn iris() -> Project {
    glassbox::presets::load("mlp-iris").unwrap()
}

#[test]
fn snapshots_carry_every_node_and_gradient_health() {
    let mut req = TrainRequest::new(iris());
    req.insight = Some(InsightOptions {
        probe: vec![],
        every_steps: 1,
        min_interval_ms: 0,
        weights: true,
    });
    req.max_steps = Some(30);
    let mut snaps = Vec::new();
    TrainHandle::spawn(req)
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |e| {
            if let TrainEvent::Snapshot(s) = e {
                snaps.push(s.clone());
            }
        })
        .expect("the run ends in time");
    assert!(snaps.len() >= 30);
    let s = &snaps[5];
    assert_eq!(s.probe.len(), 8);
    let ids: Vec<&str> = s.activations.iter().map(|a| a.node.as_str()).collect();
    assert_eq!(ids, ["input", "fc1", "relu1", "fc2", "relu2", "fc3"]);
    let fc1 = &s.activations[1];
    assert_eq!((fc1.dims.clone(), fc1.samples()), (vec![16], 8));
    assert_eq!(s.health.len(), 6);
    assert!(
        s.health
            .iter()
            .all(|h| h.grad_norm > 0.0 && h.update_ratio > 0.0 && h.update_ratio < 1.0),
        "{:?}",
        s.health
    );
    assert!(s.weights.is_some());
    let stats = activation_stats(&s.activations[2]);
    assert!(stats.min >= 0.0 && (0.0..=1.0).contains(&stats.dead_fraction));
}

#[test]
fn the_insight_thread_answers_with_plain_data() {
    let p = iris();
    let data = Arc::new(Dataset::load(&p.data, None).unwrap());
    let weights = trained_weights(&p, &data);
    let h = InsightHandle::spawn(p, data.clone(), weights, None).unwrap();
    h.request(InsightRequest::Evaluate {
        split: Split::Validation,
    });
    match h.recv_timeout(Duration::from_secs(10)) {
        Some(InsightReply::Evaluation { evaluation, .. }) => {
            assert_eq!(
                evaluation.total(),
                data.val.len(),
                "the confusion matrix sums to the validation set"
            );
            assert!(evaluation.accuracy > 0.8);
            let pc = evaluation.per_class();
            assert_eq!(pc.iter().map(|c| c.support).sum::<usize>(), data.val.len());
        }
        other => panic!("{other:?}"),
    }
    h.request(InsightRequest::Saliency {
        sample: data.val[0],
        class: None,
        method: SaliencyMethod::GradTimesInput,
    });
    match h.recv_timeout(Duration::from_secs(10)) {
        Some(InsightReply::Saliency {
            sample,
            attribution,
            ..
        }) => {
            assert_eq!(attribution.values.len(), 4);
            assert_eq!(sample.top.len(), 3);
            assert_eq!(sample.class, sample.top[0].0);
        }
        other => panic!("{other:?}"),
    }
    h.request(InsightRequest::Explain {
        sample: data.val[1],
        class: Some(0),
        method: ExplainMethod::KernelShap {
            segmentation: Segmentation::Features,
            background: 10,
            settings: ShapSettings::default(),
        },
    });
    match h.recv_timeout(Duration::from_secs(10)) {
        Some(InsightReply::Explain { explanation, .. }) => {
            assert_eq!(explanation.weights.len(), 4);
            let sum: f32 = explanation.weights.iter().sum();
            assert!((sum - (explanation.fx - explanation.base)).abs() < 1e-3);
        }
        other => panic!("{other:?}"),
    }
    h.request(InsightRequest::Baselines);
    match h.recv_timeout(Duration::from_secs(30)) {
        Some(InsightReply::Baselines { majority, linear }) => {
            assert!((majority.unwrap() - 1.0 / 3.0).abs() < 0.05);
            assert!(linear.unwrap() > 0.7);
        }
        other => panic!("{other:?}"),
    }
}

/// The weights a finished run of `p` on `data` leaves.
fn trained_weights(p: &Project, data: &Arc<Dataset>) -> Weights {
    let mut req = TrainRequest::new(p.clone());
    req.dataset = Some(data.clone());
    let mut weights = None;
    TrainHandle::spawn(req)
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |e| {
            if let TrainEvent::Finished { weights: w, .. } = e {
                weights = Some(w.clone());
            }
        })
        .expect("the run ends in time");
    weights.expect("the run finished")
}

fn history_of(req: TrainRequest) -> (RunHistory, Option<Snapshot>) {
    let mut h = RunHistory::new("test");
    let mut snap = None;
    TrainHandle::spawn(req)
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |e| {
            h.apply(e);
            if let TrainEvent::Snapshot(s) = e {
                snap = Some((**s).clone());
            }
        })
        .expect("the run ends in time");
    (h, snap)
}

#[test]
fn an_absurd_learning_rate_is_diagnosed_as_divergence_naming_the_first_layer() {
    let mut p = iris();
    p.training.lr = 1e4;
    let graph = p.graph.clone();
    let (h, snap) = history_of(TrainRequest::new(p.clone()));
    let d = diagnose(&h, snap.as_ref(), &graph);
    assert_eq!(d[0].finding, Finding::Divergence);
    assert!(
        d[0].message
            .contains("The first layer with non-finite or exploding values is Dense 'fc"),
        "{}",
        d[0].message
    );
    assert!(
        matches!(&h.state, glassbox::train::RunState::Diverged { layer: Some(l), .. } if l.starts_with("Dense"))
    );
    assert_eq!(d[0].fix, Some(Fix::LowerLearningRate { factor: 0.1 }));
    let mut fixed = p;
    apply_fix(&mut fixed, d[0].fix.as_ref().unwrap());
    assert!((fixed.training.lr - 1e3).abs() < 1e-6);
}

#[test]
fn a_tiny_training_split_is_diagnosed_as_overfitting() {
    // 300 MNIST digits, 40 epochs: training loss goes to zero, validation loss turns back up.
    let mut p = glassbox::presets::load("mlp-mnist").unwrap();
    p.data.max_train_samples = Some(300);
    p.data.split.validation = 0.03;
    p.training.epochs = 40;
    let (h, snap) = history_of(TrainRequest::new(p.clone()));
    let d = diagnose(&h, snap.as_ref(), &p.graph);
    let o = d
        .iter()
        .find(|d| d.finding == Finding::Overfitting)
        .unwrap_or_else(|| panic!("no overfitting diagnosis in {d:?}"));
    assert!(
        o.message
            .contains("Validation loss rising while train loss falls since epoch"),
        "{}",
        o.message
    );
    assert_eq!(o.fix, Some(Fix::AddDropout { p: 0.3 }));
    let mut fixed = p;
    let said = apply_fix(&mut fixed, o.fix.as_ref().unwrap());
    assert!(said.contains("before 'fc3'"), "{said}");
    assert!(glassbox::graph::analyze(&fixed.graph).is_ok());
    assert!(fixed
        .graph
        .edges
        .iter()
        .any(|e| e.from == "dropout1" && e.to == "fc3"));
}

#[test]
fn cnn_saliency_concentrates_on_the_stroke_after_one_epoch() {
    let mut p = glassbox::presets::load("cnn-mnist").unwrap();
    p.training.epochs = 1;
    p.data.max_train_samples = Some(10_000);
    let data = Arc::new(Dataset::load(&p.data, None).unwrap());
    let weights = trained_weights(&p, &data);
    let model = Model::build(&p.graph, 0).unwrap();
    let enc = model.bind_data(&data).unwrap();
    model.load_weights(&weights).unwrap();
    let methods = [
        SaliencyMethod::Vanilla,
        SaliencyMethod::SmoothGrad {
            samples: 16,
            sigma: 0.1,
        },
        SaliencyMethod::IntegratedGradients {
            steps: 32,
            baseline: Baseline::Zero,
        },
    ];
    for method in methods {
        let mut on_stroke = Vec::new();
        for &i in data.test.iter().take(10) {
            let (x, _, labels) = glassbox::train::make_batch(&data, &[i], enc, &model).unwrap();
            let a = saliency(&model, &x, labels[0] as usize, &method, 0).unwrap();
            let raw = data.raw_sample(i);
            let total: f32 = a.values.iter().map(|v| v.abs()).sum();
            let stroke: f32 = a
                .values
                .iter()
                .zip(&raw)
                .filter(|(_, r)| **r > 0.0)
                .map(|(v, _)| v.abs())
                .sum();
            on_stroke.push(stroke / total);
        }
        let mean = on_stroke.iter().sum::<f32>() / on_stroke.len() as f32;
        assert!(
            mean > 0.5,
            "{}: {:.0} % of attribution on the stroke",
            method.name(),
            mean * 100.0
        );
    }
}

#[test]
fn a_run_too_short_to_learn_is_told_apart_from_too_little_capacity() {
    // Six steps (3 epochs at batch 64 on 105 rows), as a new project's defaults once gave: the
    // loss is still falling when the run stops.
    let mut p = iris();
    p.training.batch_size = 64;
    p.training.epochs = 3;
    let (h, snap) = history_of(TrainRequest::new(p.clone()));
    let d = diagnose(&h, snap.as_ref(), &p.graph);
    let short = d
        .iter()
        .find(|d| d.finding == Finding::TooFewSteps)
        .unwrap_or_else(|| panic!("no too-few-steps diagnosis in {d:?}"));
    assert!(
        !d.iter().any(|d| d.finding == Finding::Underfitting),
        "capacity blamed for a short run: {d:?}"
    );
    let Some(Fix::MoreEpochs { epochs }) = short.fix else {
        panic!("{short:?}");
    };
    // Its one click trains long enough to learn.
    let mut fixed = p;
    apply_fix(&mut fixed, short.fix.as_ref().unwrap());
    assert_eq!(fixed.training.epochs, epochs);
    let (h, _) = history_of(TrainRequest::new(fixed));
    let acc = h.test.and_then(|t| t.accuracy).expect("a test accuracy");
    assert!(acc >= 0.9, "after the fix: {acc}");
    assert!(h.step >= 300, "{} steps", h.step);
    // A run long enough is not called short.
    assert!(diagnose(&h, None, &iris().graph)
        .iter()
        .all(|d| d.finding != Finding::TooFewSteps));
}

#[test]
fn a_rate_too_high_is_told_apart_from_too_little_capacity_by_the_curve() {
    // Adam at 1.0: no divergence, no exploding gradient, stuck at two classes of three.
    let mut p = iris();
    p.training.lr = 1.0;
    let (h, snap) = history_of(TrainRequest::new(p.clone()));
    let d = diagnose(&h, snap.as_ref(), &p.graph);
    let fast = d
        .iter()
        .find(|d| d.finding == Finding::RateTooHigh)
        .unwrap_or_else(|| panic!("no too-high-rate diagnosis in {d:?}"));
    assert!(
        !d.iter().any(|d| d.finding == Finding::Underfitting),
        "capacity blamed for a rate: {d:?}"
    );
    let mut fixed = p;
    apply_fix(&mut fixed, fast.fix.as_ref().unwrap());
    assert!((fixed.training.lr - 0.1).abs() < 1e-12);
    let (h, _) = history_of(TrainRequest::new(fixed.clone()));
    let acc = h.test.and_then(|t| t.accuracy).expect("a test accuracy");
    assert!(acc >= 0.9, "after the fix: {acc}");
    assert!(diagnose(&h, None, &fixed.graph)
        .iter()
        .all(|d| d.finding != Finding::RateTooHigh));
    // One hidden unit at a gentle rate: too little capacity, not too high a rate.
    let mut narrow = iris();
    narrow.training.lr = 1e-3;
    for n in &mut narrow.graph.nodes {
        if let Layer::Dense { units, .. } = &mut n.layer {
            if n.id != "fc3" {
                *units = 1;
            }
        }
    }
    let (h, _) = history_of(TrainRequest::new(narrow.clone()));
    let d = diagnose(&h, None, &narrow.graph);
    assert!(
        d.iter().any(|d| d.finding == Finding::Underfitting),
        "{d:?}"
    );
    assert!(d.iter().all(|d| d.finding != Finding::RateTooHigh), "{d:?}");
}

#[test]
fn a_trained_models_loss_landscape_has_its_lowest_cell_at_the_centre() {
    let p = glassbox::presets::load("mlp-iris").unwrap();
    let data = Arc::new(Dataset::load(&p.data, None).unwrap());
    let model = Model::build(&p.graph, 1).unwrap();
    model.load_weights(&trained_weights(&p, &data)).unwrap();
    let before = model.weights().unwrap();
    let spec = LandscapeSpec {
        grid: 11,
        span: 1.0,
        samples: 1024,
        seed: 3,
        plane: Plane::Random,
    };
    let mut last = 0.0;
    let land = loss_landscape(
        &model,
        &data,
        spec,
        &glassbox::train::Control::default(),
        &mut |f| last = f,
    )
    .unwrap();
    assert_eq!(last, 1.0, "progress ends at 1");
    assert_eq!(
        model.weights().unwrap(),
        before,
        "the trained weights are put back"
    );
    let (r, c) = land.lowest();
    let mid = spec.grid / 2;
    assert!(
        r.abs_diff(mid) <= 1 && c.abs_diff(mid) <= 1,
        "lowest cell ({r}, {c}), centre ({mid}, {mid}): {:?}",
        land.loss
    );
    let centre = land.loss[mid][mid];
    let last_i = spec.grid - 1;
    for (rr, cc) in [(0, 0), (0, last_i), (last_i, 0), (last_i, last_i)] {
        assert!(
            land.loss[rr][cc] > centre * 1.5,
            "corner ({rr}, {cc}) not above the centre"
        );
    }
    assert_eq!(land.cells().count(), spec.grid * spec.grid);
    assert!(matches!(
        loss_landscape(
            &model,
            &data,
            LandscapeSpec { grid: 2, ..spec },
            &Default::default(),
            &mut |_| {}
        ),
        Err(InsightError::Grid(2))
    ));
}

/// The path a run's weights took (recorded each epoch) on the plane of its own principal
/// directions: it starts far out where the loss is high and ends at the trained weights in the
/// centre; on a random plane the same path all but vanishes (Li et al.'s reason for the
/// path's plane).
#[test]
fn the_weights_path_lies_in_its_own_plane_and_ends_at_the_centre() {
    let p = iris();
    let data = Arc::new(Dataset::load(&p.data, None).unwrap());
    let mut req = TrainRequest::new(p.clone());
    req.dataset = Some(data.clone());
    req.path = true;
    let (h, _) = history_of(req);
    assert_eq!(
        h.path.len(),
        p.training.epochs + 1,
        "before the first epoch and after each"
    );
    assert_eq!(h.path.points[0].0, 0);
    let model = Model::build(&p.graph, 1).unwrap();
    model
        .load_weights(&h.path.points.last().unwrap().1)
        .unwrap();
    let path: Vec<&Weights> = h.path.points.iter().map(|(_, w)| &**w).collect();
    let spec = LandscapeSpec {
        grid: 9,
        plane: Plane::Path,
        ..Default::default()
    };
    let land =
        loss_landscape_along(&model, &data, spec, &path, &Default::default(), &mut |_| {}).unwrap();
    let end = *land.path.last().unwrap();
    assert!(end[0].abs() < 1e-6 && end[1].abs() < 1e-6, "{end:?}");
    let start = land.path[0];
    let edge = *land.coords.last().unwrap();
    assert!(
        start[0].hypot(start[1]) > 0.5 * edge,
        "{start:?} in ±{edge}"
    );
    assert!(land
        .path
        .iter()
        .all(|q| q[0].abs() <= edge && q[1].abs() <= edge));
    let share = land.path_share.unwrap();
    assert!(share > 0.6, "the plane holds {share} of the path");
    // The loss where training started is far above the trained weights'.
    let cell = |v: f32| {
        land.coords
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - v).abs().total_cmp(&(b.1 - v).abs()))
            .unwrap()
            .0
    };
    let mid = spec.grid / 2;
    assert!(
        land.loss[cell(start[1])][cell(start[0])] > 2.0 * land.loss[mid][mid],
        "{:?}",
        land.loss
    );
    let random = LandscapeSpec {
        grid: 3,
        plane: Plane::Random,
        ..spec
    };
    let flat = loss_landscape_along(
        &model,
        &data,
        random,
        &path,
        &Default::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(flat.path.len(), path.len());
    assert!(
        flat.path_share.unwrap() < 0.1 * share,
        "{:?}",
        flat.path_share
    );
    // Too short a path has no plane.
    assert!(matches!(
        loss_landscape_along(
            &model,
            &data,
            spec,
            &path[59..],
            &Default::default(),
            &mut |_| {}
        ),
        Err(InsightError::PathTooShort)
    ));
}

#[test]
fn updates_far_below_their_weights_are_diagnosed_per_layer_and_the_fix_trains() {
    // Adam at 1e-6: every step moves the weights by about a millionth of themselves.
    let mut p = iris();
    p.training.lr = 1e-6;
    let mut req = TrainRequest::new(p.clone());
    req.insight = Some(every_fifth_step());
    let (h, snap) = history_of(req);
    let snap = snap.expect("snapshots were asked for");
    assert!(
        !snap.health.is_empty(),
        "the last snapshot carries the epoch's health"
    );
    let d = diagnose(&h, Some(&snap), &p.graph);
    let small = d
        .iter()
        .find(|d| d.finding == Finding::UpdatesTooSmall)
        .unwrap_or_else(|| panic!("no small-update diagnosis in {d:?}"));
    assert!(
        small.message.contains(".weight's updates are") && small.message.contains("too small"),
        "{}",
        small.message
    );
    assert!(
        d.iter().all(|d| d.finding != Finding::Underfitting),
        "capacity blamed for a rate: {d:?}"
    );
    let mut fixed = p;
    apply_fix(&mut fixed, small.fix.as_ref().unwrap());
    assert!(
        (1e-4..=1e-2).contains(&fixed.training.lr),
        "the fix set the rate to {}",
        fixed.training.lr
    );
    let mut req = TrainRequest::new(fixed.clone());
    req.insight = Some(every_fifth_step());
    let (h, snap) = history_of(req);
    let acc = h.test.and_then(|t| t.accuracy).expect("a test accuracy");
    assert!(acc >= 0.9, "after the fix: {acc}");
    assert!(diagnose(&h, snap.as_ref(), &fixed.graph)
        .iter()
        .all(|d| d.finding != Finding::UpdatesTooSmall));
    // The run's histograms: weights, gradients and outputs, and the ReLUs' dead shares.
    let kinds: std::collections::BTreeSet<_> = snap
        .unwrap()
        .column
        .histograms
        .iter()
        .map(|h| h.kind)
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
}

/// Snapshots every fifth step, at once, without weights.
fn every_fifth_step() -> InsightOptions {
    InsightOptions {
        probe: vec![],
        every_steps: 5,
        min_interval_ms: 0,
        weights: false,
    }
}
