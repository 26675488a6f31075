//! GAN mode: the graph's two parts, their errors, alternating training with its metrics and
//! fixed-noise samples, and the samples judged by a trained classifier.

use glassbox::data::Dataset;
use glassbox::graph::{gan_parts, Edge, Layer, Loss, Node, Target};
use glassbox::insight::{classify, draw_samples};
use glassbox::model::Model;
use glassbox::project::Project;
use glassbox::train::{TrainEvent, TrainHandle, TrainRequest};

/// A run that has not ended by then is hung: fail with its last event instead of hanging CI.
const TRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

fn gan() -> Project {
    glassbox::presets::load("gan-mnist").unwrap()
}

fn train(project: Project) -> (TrainEvent, Vec<TrainEvent>) {
    let mut events = Vec::new();
    let handle = TrainHandle::spawn(TrainRequest::new(project)).expect("the thread starts");
    let last = handle
        .wait_timeout(TRAIN_LIMIT, |e| events.push(e.clone()))
        .expect("the run ends in time");
    events.pop();
    (last.expect("a terminal event"), events)
}

#[test]
fn the_graph_splits_into_generator_and_discriminator() {
    let p = gan();
    let parts = gan_parts(&p.graph).unwrap();
    assert_eq!(parts.sample_node, "sample");
    assert_eq!(parts.noise_dim, 64);
    let ids = |g: &glassbox::graph::Graph| g.nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>();
    assert!(ids(&parts.generator).contains(&"g3".to_string()));
    assert!(!ids(&parts.generator).contains(&"d1".to_string()));
    assert!(ids(&parts.discriminator).contains(&"score".to_string()));
    assert!(!ids(&parts.discriminator).contains(&"noise".to_string()));
    // Both parts build as ordinary models.
    Model::build(&parts.generator, 1).unwrap();
    Model::build(&parts.discriminator, 1).unwrap();
    // The editor does not warn that the generator "does not lead to the Output".
    let a = glassbox::graph::analyze(&p.graph);
    assert!(a.is_ok(), "{:?}", a.errors);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn a_gan_without_one_of_its_players_is_refused_with_a_reason() {
    let mut no_d = gan();
    no_d.graph.remove_node("output");
    let err = gan_parts(&no_d.graph).unwrap_err().to_string();
    assert!(err.contains("needs its discriminator"), "{err}");
    match train(no_d).0 {
        TrainEvent::Failed { reason } => assert!(reason.contains("discriminator"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let mut no_g = gan();
    no_g.graph.remove_node("noise");
    assert!(gan_parts(&no_g.graph)
        .unwrap_err()
        .to_string()
        .contains("needs a generator"));
    let mut joined = gan();
    joined.graph.edges.push(Edge::new("sample", "flatten"));
    joined
        .graph
        .edges
        .retain(|e| !(e.from == "input" && e.to == "flatten"));
    joined.graph.remove_node("input");
    joined.graph.nodes.push(Node::new(
        "input",
        Layer::Input {
            shape: vec![1, 28, 28],
            dtype: glassbox::graph::DType::F32,
        },
    ));
    let err = gan_parts(&joined.graph).unwrap_err().to_string();
    assert!(err.contains("in both"), "{err}");
    let mut wrong_size = gan();
    if let Some(n) = wrong_size.graph.node_mut("g3") {
        n.layer = Layer::Dense {
            units: 700,
            bias: true,
        };
    }
    wrong_size.data.max_train_samples = Some(100);
    match train(wrong_size).0 {
        TrainEvent::Failed { reason } => assert!(
            reason.contains("end the generator with 784 values"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    let mut mse = gan();
    if let Some(n) = mse.graph.node_mut("output") {
        n.layer = Layer::Output {
            loss: Loss::Mse,
            target: Target::Label,
        };
    }
    mse.data.max_train_samples = Some(100);
    match train(mse).0 {
        TrainEvent::Failed { reason } => {
            assert!(reason.contains("binary cross-entropy"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_short_gan_run_reports_both_players_and_draws_digits_a_classifier_recognises() {
    let mut p = gan();
    p.data.max_train_samples = Some(20_000);
    p.training.epochs = 4;
    let (end, events) = train(p.clone());
    let TrainEvent::Finished { weights, .. } = end else {
        panic!("{end:?}")
    };
    let metrics: Vec<&Vec<(String, f32)>> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Metrics { values, .. } => Some(values),
            _ => None,
        })
        .collect();
    assert_eq!(metrics.len(), 4 * 313, "one set of metrics per step");
    let names: Vec<&str> = metrics[0].iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["discriminator loss", "generator loss", "D(x)", "D(G(z))"]
    );
    let grids: Vec<&Vec<Vec<f32>>> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Samples { images, .. } => Some(images),
            _ => None,
        })
        .collect();
    assert!(grids.len() >= 5, "{} grids", grids.len());
    assert_eq!(grids[0].len(), 100);
    assert_eq!(grids[0][0].len(), 784);
    assert_ne!(
        grids[0],
        grids[grids.len() - 1],
        "the samples never changed"
    );

    // The judge: the MLP preset, briefly trained on the real digits.
    let mut judge = glassbox::presets::load("mlp-mnist").unwrap();
    judge.training.epochs = 2;
    let TrainEvent::Finished {
        weights: judge_w, ..
    } = train(judge.clone()).0
    else {
        panic!("the judge did not train")
    };
    let judge_model = Model::build(&judge.graph, 1).unwrap();
    judge_model.load_weights(&judge_w).unwrap();
    let judge_data = Dataset::load(&judge.data, None).unwrap();
    let data = Dataset::load(&p.data, None).unwrap();
    let samples = draw_samples(&p, &data, &weights, 100, 3).unwrap();
    let raw: Vec<Vec<f32>> = samples.iter().map(|s| data.denormalize(s)).collect();
    assert!(raw.iter().flatten().all(|v| (-0.5..=255.5).contains(v)));
    let judged = classify(&judge_model, &judge_data, &raw).unwrap();
    let confident: Vec<usize> = judged
        .iter()
        .filter(|(_, p)| *p >= 0.8)
        .map(|(k, _)| *k)
        .collect();
    let distinct: std::collections::BTreeSet<usize> = confident.iter().copied().collect();
    eprintln!(
        "after 4 epochs on 20k digits: {} of 100 samples recognised with p ≥ 0.8, {} classes",
        confident.len(),
        distinct.len()
    );
    assert!(
        confident.len() >= 30 && distinct.len() >= 4,
        "{} confident samples of {} classes",
        confident.len(),
        distinct.len()
    );
}

#[test]
fn a_wire_to_a_missing_node_is_an_error_not_a_crash() {
    let mut p = gan();
    p.graph.edges.push(Edge::new("g1", "ghost"));
    let a = glassbox::graph::analyze(&p.graph);
    assert!(
        a.errors.iter().any(|e| e.to_string().contains("ghost")),
        "{:?}",
        a.errors
    );
    let mut bad = gan();
    bad.mode = glassbox::graph::TrainingMode::Gan {
        generator_lr: f64::NAN,
        discriminator_lr: 2e-4,
        beta1: 0.5,
    };
    match train(bad).0 {
        TrainEvent::Failed { reason } => assert!(reason.contains("learning rates"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
