//! Headless training through the worker on the shipped data.

use glassbox::data::Dataset;
use glassbox::model::{Model, Weights};
use glassbox::project::Project;
use glassbox::train::{evaluate, Control, Optimizer, TrainEvent, TrainHandle, TrainRequest};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A run that has not ended by then is hung: fail with its last event instead of hanging CI.
const TRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

fn preset(name: &str) -> Project {
    glassbox::presets::load(name).unwrap()
}

/// Runs to the end; returns every event.
fn run(project: Project) -> Vec<TrainEvent> {
    let mut events = Vec::new();
    let handle = TrainHandle::spawn(TrainRequest::new(project)).unwrap();
    handle
        .wait_timeout(TRAIN_LIMIT, |e| events.push(e.clone()))
        .expect("the run ends in time");
    events
}

fn step_losses(events: &[TrainEvent]) -> Vec<f32> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { loss, .. } => Some(*loss),
            _ => None,
        })
        .collect()
}

fn test_accuracy(events: &[TrainEvent]) -> f32 {
    match events.last() {
        Some(TrainEvent::Finished { test: Some(t), .. }) => t.accuracy.unwrap(),
        other => panic!("run did not finish: {other:?}"),
    }
}

#[test]
fn mlp_iris_reaches_93_percent_test_accuracy() {
    let events = run(preset("mlp-iris"));
    assert!(matches!(events[0], TrainEvent::Started(_)));
    assert_eq!(events.iter().filter(|e| e.is_terminal()).count(), 1);
    let epochs = events
        .iter()
        .filter(|e| matches!(e, TrainEvent::Epoch(_)))
        .count();
    assert_eq!(epochs, preset("mlp-iris").training.epochs);
    let acc = test_accuracy(&events);
    assert!(acc >= 0.93, "iris test accuracy {acc}");
}

#[test]
fn mlp_mnist_one_epoch_reaches_95_percent() {
    let mut p = preset("mlp-mnist");
    p.training.epochs = 1;
    let acc = test_accuracy(&run(p));
    assert!(acc >= 0.95, "MLP MNIST test accuracy {acc}");
}

#[test]
fn cnn_mnist_one_epoch_on_a_10k_subset_reaches_95_percent_on_the_full_test_set() {
    let mut p = preset("cnn-mnist");
    p.training.epochs = 1;
    p.data.max_train_samples = Some(10_000);
    let events = run(p);
    match events.last() {
        Some(TrainEvent::Finished { test: Some(t), .. }) => {
            assert_eq!(t.samples, 10_000);
            assert!(
                t.accuracy.unwrap() >= 0.95,
                "CNN test accuracy {:?}",
                t.accuracy
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stop_during_an_epoch_ends_as_stopped_within_a_second() {
    let handle = TrainHandle::spawn(TrainRequest::new(preset("cnn-mnist"))).unwrap();
    // Wait for training to be under way.
    loop {
        match handle.recv_timeout(Duration::from_secs(60)) {
            Some(TrainEvent::Step { step: 2, .. }) => break,
            Some(e) if e.is_terminal() => panic!("ended early: {e:?}"),
            Some(_) => {}
            None => panic!("no steps within a minute"),
        }
    }
    let t0 = Instant::now();
    handle.stop();
    let terminal = loop {
        match handle.recv_timeout(Duration::from_secs(5)) {
            Some(e) if e.is_terminal() => break e,
            Some(_) => {}
            None => panic!("no terminal event after stop"),
        }
    };
    let waited = t0.elapsed();
    assert!(
        matches!(terminal, TrainEvent::Stopped { .. }),
        "{terminal:?}"
    );
    assert!(waited < Duration::from_secs(1), "stop took {waited:?}");
    handle.stop_and_join();
}

#[test]
fn pause_holds_the_run_and_resume_continues_it() {
    let mut p = preset("mlp-mnist");
    p.data.max_train_samples = Some(5_000);
    let handle = TrainHandle::spawn(TrainRequest::new(p)).unwrap();
    wait_for_a_step(&handle, 30);
    handle.set_paused(true);
    std::thread::sleep(Duration::from_millis(100));
    while handle.try_recv().is_some() {}
    std::thread::sleep(Duration::from_millis(300));
    assert!(handle.try_recv().is_none(), "events arrived while paused");
    handle.set_paused(false);
    assert!(matches!(
        handle.recv_timeout(Duration::from_secs(5)),
        Some(TrainEvent::Step { .. })
    ));
    handle.stop_and_join();
}

/// Waits for the first training step; fails (never spins) when the worker goes quiet or ends.
fn wait_for_a_step(handle: &TrainHandle, secs: u64) {
    loop {
        match handle.recv_timeout(Duration::from_secs(secs)) {
            Some(TrainEvent::Step { .. }) => return,
            Some(e) if e.is_terminal() => panic!("the run ended before its first step: {e:?}"),
            Some(_) => {}
            None => panic!("no step within {secs} s"),
        }
    }
}

fn diverged(events: &[TrainEvent]) -> (usize, String) {
    match events.last() {
        Some(TrainEvent::Diverged { step, what, .. }) => {
            // It ends on the failing step: the one after the last reported, or that one itself
            // when the loss was finite but the update poisoned a weight.
            let reported = step_losses(events).len();
            assert!(
                *step == reported + 1 || *step == reported.max(1),
                "{step} vs {reported}"
            );
            (*step, what.clone())
        }
        other => panic!("expected Diverged, got {other:?}"),
    }
}

#[test]
fn an_absurd_learning_rate_diverges_and_names_the_step() {
    // The preset's Adam: the loss explodes (1e13) without overflowing.
    let mut p = preset("mlp-iris");
    p.training.lr = 1e4;
    let (step, what) = diverged(&run(p.clone()));
    assert!(step <= 10, "took {step} steps: {what}");
    assert!(
        what.contains("exploded") && what.contains("learning rate"),
        "{what}"
    );
    // SGD with momentum too.
    p.training.optimizer = Optimizer::sgd(0.9, false);
    let (step, _) = diverged(&run(p));
    assert!(step <= 10);
}

#[test]
fn non_finite_values_are_traced_to_the_first_layer_or_parameter() {
    let p = preset("mlp-iris");
    let fresh = Model::build(&p.graph, 1).unwrap().weights().unwrap();
    let with = |edit: &dyn Fn(&mut Weights)| {
        let mut w = fresh.clone();
        edit(&mut w);
        let mut req = TrainRequest::new(p.clone());
        req.initial_weights = Some(w);
        let mut events = Vec::new();
        TrainHandle::spawn(req)
            .unwrap()
            .wait_timeout(TRAIN_LIMIT, |e| events.push(e.clone()))
            .expect("the run ends in time");
        diverged(&events)
    };
    let (step, what) = with(&|w| w.tensors.get_mut("fc2.weight").unwrap().data[3] = f32::NAN);
    assert_eq!(step, 1);
    assert!(
        what.contains("NaN") && what.contains("parameter fc"),
        "{what}"
    );
    // Finite but huge weights overflow inside the network: the first layer with inf/NaN is named.
    let (step, what) = with(&|w| {
        for name in ["fc1.weight", "fc2.weight"] {
            w.tensors
                .get_mut(name)
                .unwrap()
                .data
                .iter_mut()
                .for_each(|v| *v = 1e38);
        }
    });
    assert_eq!(step, 1);
    assert!(
        what.contains("first non-finite values appear in the output of Dense 'fc"),
        "{what}"
    );
}

#[test]
fn the_same_seed_gives_the_same_curve_and_another_seed_does_not() {
    let p = preset("mlp-iris");
    let a = step_losses(&run(p.clone()));
    let b = step_losses(&run(p.clone()));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let mut q = p;
    q.training.seed += 1;
    assert_ne!(a, step_losses(&run(q)));
}

#[test]
fn trained_weights_round_trip_through_safetensors() {
    let p = preset("mlp-iris");
    let events = run(p.clone());
    let (test, weights) = match events.last() {
        Some(TrainEvent::Finished {
            test: Some(t),
            weights,
            ..
        }) => (*t, weights.clone()),
        other => panic!("{other:?}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    weights.save(&path).unwrap();
    let loaded = Weights::load(&path).unwrap();
    assert_eq!(loaded, weights);

    let data = Dataset::load(&p.data, None).unwrap();
    let model = Model::build(&p.graph, 999).unwrap();
    let enc = model.bind_data(&data).unwrap();
    model.load_weights(&loaded).unwrap();
    let again = evaluate(&model, &data, &data.test, enc, &Control::default())
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(again.accuracy, test.accuracy);
    assert!((again.loss - test.loss).abs() < 1e-5);

    // Weights from another network are refused, and leave the model untouched.
    let other = Model::build(&preset("mlp-mnist").graph, 1)
        .unwrap()
        .weights()
        .unwrap();
    let err = model.load_weights(&other).unwrap_err().to_string();
    assert!(err.contains("shape") || err.contains("no tensor"), "{err}");
    assert_eq!(model.weights().unwrap(), loaded);
    // A file that is not safetensors is an error, not a panic.
    std::fs::write(&path, b"not weights").unwrap();
    assert!(Weights::load(&path).is_err());
}

#[test]
fn data_that_does_not_fit_the_graph_fails_with_the_node_named() {
    let mut p = preset("mlp-iris");
    if let glassbox::graph::Layer::Input { shape, .. } = &mut p.graph.nodes[0].layer {
        *shape = vec![5];
    }
    match run(p).last() {
        Some(TrainEvent::Failed { reason }) => {
            assert!(
                reason.contains("Input 'input'") && reason.contains("[4]"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    let mut p = preset("mlp-iris");
    if let glassbox::graph::Layer::Dense { units, .. } = &mut p.graph.nodes[5].layer {
        *units = 4;
    }
    match run(p).last() {
        Some(TrainEvent::Failed { reason }) => assert!(reason.contains("3 classes"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn shared_preloaded_data_and_max_steps_are_honoured() {
    let p = preset("mlp-iris");
    let data = Arc::new(Dataset::load(&p.data, None).unwrap());
    let mut req = TrainRequest::new(p);
    req.dataset = Some(data);
    req.max_steps = Some(10);
    let mut events = Vec::new();
    TrainHandle::spawn(req)
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |e| events.push(e.clone()))
        .expect("the run ends in time");
    assert_eq!(step_losses(&events).len(), 10);
    assert!(matches!(events.last(), Some(TrainEvent::Finished { .. })));
}

#[test]
fn dropping_the_handle_stops_the_worker() {
    let handle = TrainHandle::spawn(TrainRequest::new(preset("cnn-mnist"))).unwrap();
    wait_for_a_step(&handle, 60);
    let t0 = Instant::now();
    drop(handle);
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "drop took {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_panic_mid_step_ends_the_run_as_failed_and_the_next_run_works() {
    let mut p = preset("mlp-mnist");
    p.data.max_train_samples = Some(2_000);
    p.training.epochs = 1;
    let mut req = TrainRequest::new(p.clone());
    req.fault_at_step = Some(5);
    let mut steps = 0;
    let end = TrainHandle::spawn(req)
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |e| {
            if matches!(e, TrainEvent::Step { .. }) {
                steps += 1;
            }
        })
        .expect("the run ends in time");
    match end {
        Some(TrainEvent::Failed { reason }) => {
            assert!(reason.contains("deliberate fault at step 5"), "{reason}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(steps, 5, "the steps before the fault arrived");
    // The process is fine: the next run in it trains to the end.
    let end = TrainHandle::spawn(TrainRequest::new(p))
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |_| {})
        .expect("the run ends in time");
    assert!(matches!(end, Some(TrainEvent::Finished { .. })), "{end:?}");
}

#[test]
fn a_long_run_keeps_bounded_curves_of_the_same_shape() {
    use glassbox::train::{RunHistory, MAX_SERIES_POINTS};
    let mut h = RunHistory::new("long");
    for step in 1..=100_000usize {
        h.apply(&TrainEvent::Step {
            step,
            epoch: step / 1000,
            loss: 1.0 / step as f32,
            accuracy: Some(0.5),
            lr: 0.001,
            samples: step * 32,
            elapsed_ms: step as f64,
        });
    }
    assert!(
        h.losses.len() <= MAX_SERIES_POINTS,
        "{} points",
        h.losses.len()
    );
    assert!(h.losses.len() >= MAX_SERIES_POINTS / 2);
    assert!(h.accuracies.len() <= MAX_SERIES_POINTS);
    // Steps still increase, the curve still falls, and the last step is there as it was.
    assert!(h
        .losses
        .windows(2)
        .all(|w| w[0][0] < w[1][0] && w[0][1] >= w[1][1]));
    assert_eq!(
        *h.losses.last().unwrap(),
        [100_000.0, (1.0f32 / 100_000.0) as f64]
    );
    assert_eq!(h.step, 100_000);
}

#[test]
fn batch_size_one_trains_on_every_sample() {
    // It used to drop every batch as a "lone leftover sample" and finish untrained.
    let mut p = preset("mlp-iris");
    p.training.batch_size = 1;
    p.training.epochs = 3;
    p.training.lr = 0.003;
    let mut steps = 0;
    let end = TrainHandle::spawn(TrainRequest::new(p))
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |e| {
            if matches!(e, TrainEvent::Step { .. }) {
                steps += 1;
            }
        })
        .expect("the run ends in time");
    let Some(TrainEvent::Finished {
        test: Some(test), ..
    }) = end
    else {
        panic!("{end:?}")
    };
    assert_eq!(steps, 3 * 105, "one step per training sample per epoch");
    assert!(test.accuracy.unwrap() > 0.8, "{test:?}");
}

#[test]
fn waiting_on_a_run_that_never_ends_fails_with_its_last_event() {
    let mut p = preset("mlp-iris");
    p.training.epochs = 100_000;
    let handle = TrainHandle::spawn(TrainRequest::new(p)).unwrap();
    // A paused run sends nothing more: to its waiter it is a hung worker.
    handle.set_paused(true);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let result = handle.wait_timeout(Duration::from_secs(2), |_| {});
        let _ = tx.send((result, started.elapsed()));
    });
    // The waiter itself must come back; if it does not, the limit was ignored.
    let (result, took) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("wait_timeout returned within its limit");
    let err = result.expect_err("a paused run does not end");
    assert!(took >= Duration::from_secs(2), "gave up early: {took:?}");
    assert!(
        err.last != "none" && err.to_string().contains(&err.last),
        "names the last event: {err}"
    );
}
