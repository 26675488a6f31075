//! Transfer learning: frozen nodes keep their tensors bit for bit, weights load into a changed
//! network by node id and shape with a report, and the shipped transfer preset beats the same
//! network trained from scratch on the same 500 images.

mod common;

use glassbox::graph::{Layer, Loss};
use glassbox::model::{Model, Weights};
use glassbox::presets;
use glassbox::train::{EvalMetrics, TrainEvent, TrainHandle, TrainRequest};

/// A run that has not ended by then is hung: fail with its last event instead of hanging CI.
const TRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

/// Trains `req` to the end and returns the final weights and test figures.
fn train(req: TrainRequest) -> (Weights, Option<EvalMetrics>, Option<String>) {
    let mut transfer = None;
    let end = TrainHandle::spawn(req)
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |ev| {
            if let TrainEvent::Started(info) = ev {
                transfer = info.transfer.clone();
            }
        })
        .expect("the run ends in time");
    match end {
        Some(TrainEvent::Finished { weights, test, .. }) => (weights, test, transfer),
        other => panic!("training did not finish: {other:?}"),
    }
}

#[test]
fn frozen_nodes_keep_their_weights_and_statistics_bit_for_bit() {
    let mut project = presets::load("mlp-iris").unwrap();
    let mut graph = common::chain(
        &[4],
        vec![
            Layer::Dense {
                units: 16,
                bias: true,
            },
            Layer::BatchNorm {
                momentum: 0.1,
                eps: 1e-5,
            },
            Layer::ReLU,
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ],
        Loss::CrossEntropy,
    );
    for n in &mut graph.nodes {
        n.frozen = n.id == "n0" || n.id == "n1";
    }
    project.graph = graph;
    project.training.epochs = 3;
    let before = Model::build(&project.graph, project.training.seed)
        .unwrap()
        .weights()
        .unwrap();
    let mut req = TrainRequest::new(project);
    req.initial_weights = Some(before.clone());
    let (after, test, _) = train(req);
    for (name, t) in &before.tensors {
        let (same, frozen) = (
            after.tensors[name] == *t,
            name.starts_with("n0.") || name.starts_with("n1."),
        );
        assert_eq!(same, frozen, "{name}: frozen {frozen} but unchanged {same}");
    }
    assert!(
        test.unwrap().accuracy.unwrap() > 0.6,
        "the unfrozen head still learns"
    );
}

#[test]
fn weights_load_into_a_changed_network_by_node_id_and_shape() {
    let pre = presets::load("cnn-digits-0-4").unwrap();
    let path = glassbox::fsutil::assets_dir().join("pretrained/cnn-digits-0-4.safetensors");
    let weights = Weights::load(&path).unwrap();
    // The pre-trained network itself takes every tensor.
    let report = Model::build(&pre.graph, 1)
        .unwrap()
        .load_matching(&weights)
        .unwrap();
    assert_eq!(
        (report.loaded.len(), report.fresh.len()),
        (8, 0),
        "{report}"
    );
    // The transfer preset renames the head: it starts fresh, the rest is loaded.
    let ft = presets::load("cnn-transfer-5-9").unwrap();
    let model = Model::build(&ft.graph, 1).unwrap();
    let report = model.load_matching(&weights).unwrap();
    assert_eq!(report.fresh, ["head.weight", "head.bias"], "{report}");
    assert_eq!(report.unused, ["fc2.bias", "fc2.weight"], "{report}");
    assert_eq!(report.loaded.len(), 6);
    let conv = &model.weights().unwrap().tensors["conv1.weight"];
    assert_eq!(conv, &weights.tensors["conv1.weight"]);
    // The ten-class CNN has an fc2 of another shape: skipped, and said so with both shapes.
    let ten = presets::load("cnn-mnist").unwrap();
    let report = Model::build(&ten.graph, 1)
        .unwrap()
        .load_matching(&weights)
        .unwrap();
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(skipped, ["fc2.weight", "fc2.bias"], "{report}");
    assert!(
        report
            .to_string()
            .contains("[5, 128] in the file, [10, 128] here"),
        "{report}"
    );
}

#[test]
fn fine_tuning_the_pretrained_cnn_beats_training_from_scratch_on_500_images() {
    let ft = presets::load("cnn-transfer-5-9").unwrap();
    let mut scratch = ft.clone();
    scratch.training.init_from = None;
    scratch
        .graph
        .nodes
        .iter_mut()
        .for_each(|n| n.frozen = false);
    let (_, ft_test, transfer) = train(TrainRequest::new(ft));
    let (_, scratch_test, none) = train(TrainRequest::new(scratch));
    assert!(transfer.unwrap().contains("6 tensor(s) loaded") && none.is_none());
    let (a, b) = (ft_test.unwrap(), scratch_test.unwrap());
    println!(
        "digits 5-9, 500 training images: fine-tuned {:.2}% vs from scratch {:.2}% on {} test images",
        a.accuracy.unwrap() * 100.0,
        b.accuracy.unwrap() * 100.0,
        a.samples
    );
    assert!(a.samples > 4000);
    assert!(a.accuracy.unwrap() > b.accuracy.unwrap(), "{a:?} vs {b:?}");
}

#[test]
fn fine_tuning_the_pretrained_transformer_beats_scratch_on_held_out_text() {
    let ft = presets::load("transformer-finetune-text").unwrap();
    let mut scratch = ft.clone();
    scratch.training.init_from = None;
    let (_, ft_test, transfer) = train(TrainRequest::new(ft));
    let (_, scratch_test, _) = train(TrainRequest::new(scratch));
    let transfer = transfer.unwrap();
    assert!(
        transfer.contains("0 skipped, 0 freshly initialised"),
        "{transfer}"
    );
    let (a, b) = (ft_test.unwrap(), scratch_test.unwrap());
    println!(
        "names (held-out {} windows): fine-tuned test loss {:.3} vs from scratch {:.3}",
        a.samples, a.loss, b.loss
    );
    assert!(a.samples >= 20);
    assert!(a.loss < b.loss, "{a:?} vs {b:?}");
}
