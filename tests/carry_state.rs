//! Recurrent state carried from one window of a text into the next (`carry_state`): the model
//! reads two windows in a row exactly as it reads their concatenation, batches come in streams
//! that each continue the text, and a model trained that way predicts what depends on the
//! window before, which one reading windows from zeros cannot.

use candle_core::{DType, Device, Tensor};
use glassbox::data::{stream_batches, DataSettings, DataSource, SplitSettings};
use glassbox::graph::{DType as GDType, Graph, Layer, Loss, Node, Target};
use glassbox::model::{CarriedState, ForwardCtx, Model};
use glassbox::project::Project;
use glassbox::train::{Optimizer, TrainEvent, TrainHandle, TrainRequest};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A run that has not ended by then is hung: fail with its last event instead of hanging CI.
const TRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

fn char_model(context: usize, vocab: usize, recurrent: Layer) -> Graph {
    Graph::chain(vec![
        Node::new(
            "input",
            Layer::Input {
                shape: vec![context],
                dtype: GDType::TokenId,
            },
        ),
        Node::new("embed", Layer::Embedding { vocab, dim: 16 }),
        Node::new("rec", recurrent),
        Node::new(
            "head",
            Layer::Dense {
                units: vocab,
                bias: true,
            },
        ),
        Node::new(
            "output",
            Layer::Output {
                loss: Loss::CrossEntropy,
                target: Target::Label,
            },
        ),
    ])
}

#[test]
fn two_windows_with_carried_state_read_like_one_long_window() {
    let (b, t, vocab) = (3, 7, 12);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let ids: Vec<u32> = (0..b * 2 * t)
        .map(|_| rng.random_range(0..vocab as u32))
        .collect();
    let whole = Tensor::from_vec(ids.clone(), (b, 2 * t), &Device::Cpu).unwrap();
    let half = |k: usize| whole.narrow(1, k * t, t).unwrap().contiguous().unwrap();
    for layer in [
        Layer::Lstm {
            hidden: 9,
            sequences: true,
        },
        Layer::Gru {
            hidden: 9,
            sequences: true,
        },
        Layer::Rnn {
            hidden: 9,
            sequences: true,
        },
    ] {
        let name = layer.kind().name();
        let model = Model::build(&char_model(t, vocab, layer), 3).unwrap();
        let full = model.forward(&whole, &mut ForwardCtx::eval()).unwrap();
        let want = full.narrow(1, t, t).unwrap();
        let mut state = CarriedState::default();
        let mut ctx = ForwardCtx::eval();
        ctx.carry = Some(&mut state);
        let first = model.forward(&half(0), &mut ctx).unwrap();
        let second = model.forward(&half(1), &mut ctx).unwrap();
        let diff = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!(
            diff(&first, &full.narrow(1, 0, t).unwrap()) < 1e-5,
            "{name}"
        );
        assert!(
            diff(&second, &want) < 1e-4,
            "{name}: {}",
            diff(&second, &want)
        );
        // Without the state the second window reads differently: the test can fail.
        let cold = model.forward(&half(1), &mut ForwardCtx::eval()).unwrap();
        assert!(
            diff(&cold, &want) > 1e-3,
            "{name}: the state changed nothing"
        );
        // A batch of another size (an epoch's leftover windows) starts from zeros.
        let two = half(0).narrow(0, 0, 2).unwrap();
        let fresh = model.forward(&two, &mut ctx).unwrap();
        let two_cold = model.forward(&two, &mut ForwardCtx::eval()).unwrap();
        assert!(
            diff(&fresh, &two_cold) < 1e-6,
            "{name}: a 2-row batch after 3 rows"
        );
        // The f64 path (reference ops) carries the same state.
        let model64 = Model::build_with_dtype(
            &char_model(
                t,
                vocab,
                Layer::Lstm {
                    hidden: 4,
                    sequences: true,
                },
            ),
            3,
            DType::F64,
        )
        .unwrap();
        let full64 = model64.forward(&whole, &mut ForwardCtx::eval()).unwrap();
        let mut state64 = CarriedState::default();
        let mut ctx64 = ForwardCtx::eval();
        ctx64.carry = Some(&mut state64);
        model64.forward(&half(0), &mut ctx64).unwrap();
        let second64 = model64.forward(&half(1), &mut ctx64).unwrap();
        let d64 = (second64 - full64.narrow(1, t, t).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        // The state is kept in f32 between windows.
        assert!(d64 < 1e-6, "f64 path: {d64}");
    }
}

#[test]
fn stream_batches_continue_each_row() {
    let idx: Vec<usize> = (0..23).map(|i| i * 4).collect();
    let batches = stream_batches(&idx, 5);
    assert_eq!(batches.len(), glassbox::data::batches_per_epoch(23, 5));
    for pair in batches[..4].windows(2) {
        for (a, b) in pair[0].iter().zip(&pair[1]) {
            assert_eq!(b - a, 4, "{batches:?}");
        }
    }
    let mut seen: Vec<usize> = batches.concat();
    seen.sort_unstable();
    assert_eq!(seen, idx, "every window once");
}

/// Records "L--L\n" with L one of eight letters: the second L repeats the first three
/// characters back. Windows of 4 (stride 4) and records of 5 misalign, so in 3 of 4 records
/// the two L fall in different windows.
fn letters_project(dir: &tempfile::TempDir, carry_state: bool) -> Project {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut text = String::new();
    for _ in 0..4_000 {
        let l = (b'a' + rng.random_range(0..8u8)) as char;
        text.push_str(&format!("{l}--{l}\n"));
    }
    let path = dir.path().join("letters.txt");
    std::fs::write(&path, text).unwrap();
    let context = 4;
    let mut p = Project {
        graph: char_model(
            context,
            2 + 8 + 2,
            Layer::Lstm {
                hidden: 32,
                sequences: true,
            },
        ),
        data: DataSettings {
            source: DataSource::TextLm {
                path: path.display().to_string(),
                context,
                stride: context,
                carry_state,
                vocab_from: None,
            },
            split: SplitSettings {
                validation: 0.0,
                test: 0.2,
                ..SplitSettings::default()
            },
            ..DataSettings::default()
        },
        ..Project::default()
    };
    p.training.optimizer = Optimizer::adam();
    p.training.lr = 0.01;
    p.training.batch_size = 16;
    p.training.epochs = 12;
    p
}

fn test_loss(project: Project) -> f32 {
    let handle = TrainHandle::spawn(TrainRequest::new(project)).expect("the thread starts");
    match handle
        .wait_timeout(TRAIN_LIMIT, |_| {})
        .expect("the run ends in time")
    {
        Some(TrainEvent::Finished {
            test: Some(test), ..
        }) => test.loss,
        other => panic!("the run did not finish with a test set: {other:?}"),
    }
}

#[test]
fn a_carried_state_remembers_across_windows() {
    let dir = tempfile::tempdir().unwrap();
    let cold = test_loss(letters_project(&dir, false));
    let carried = test_loss(letters_project(&dir, true));
    println!("test loss: {cold:.3} from zeros, {carried:.3} carrying the state");
    // Per record of 5 characters the first L is a guess (ln 8 = 2.08 nats) either way; the
    // second costs another 2.08 whenever it cannot see the first: 3 records in 4 from zeros.
    // Carried: ≈ 2.08 / 5 = 0.42 nats/char. Cold: ≈ (2.08 + 0.75 · 2.08) / 5 = 0.73.
    assert!(carried < 0.5, "carried state: test loss {carried}");
    assert!(cold > carried + 0.2, "cold {cold} vs carried {carried}");
}

#[test]
fn carrying_state_over_overlapping_windows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = letters_project(&dir, true);
    if let DataSource::TextLm { stride, .. } = &mut p.data.source {
        *stride = 2;
    }
    let err = glassbox::data::Dataset::load(&p.data, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("set the stride to the context (4)"), "{err}");
}
