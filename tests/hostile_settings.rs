//! Absurd numbers in a project or sweep file (the editor clamps its sliders, JSON does not)
//! give an error naming the setting, never a panic, a hang or an allocation abort.

use glassbox::data::{augment_batch, Augmentation, DataSettings, Dataset};
use glassbox::runs::sweep::SweepSpec;
use glassbox::train::TrainSettings;
use rand::SeedableRng;

fn data(json: &str) -> DataSettings {
    serde_json::from_str(json).expect("test settings parse")
}

fn load_err(settings: &DataSettings, dir: &std::path::Path) -> String {
    match Dataset::load(settings, Some(dir)) {
        Ok(_) => panic!("{settings:?} loaded"),
        Err(e) => e.to_string(),
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gb-hostile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn absurd_data_sizes_are_refused_by_name() {
    let dir = temp_dir("data");
    std::fs::write(dir.join("t.csv"), "text,label\nhello there,a\ngood bye,b\n").unwrap();
    std::fs::write(dir.join("t.txt"), "a short text of some characters").unwrap();
    let cases = [
        (
            r#"{"source":{"type":"Toy","kind":"Spiral","samples":1000000000000000}}"#,
            "toy set",
        ),
        (
            r#"{"source":{"type":"TextClass","path":"t.csv","text_column":"text","label_column":"label","max_len":1000000000000}}"#,
            "maximum length",
        ),
        (
            r#"{"source":{"type":"TextLm","path":"t.txt","context":18446744073709551615}}"#,
            "context",
        ),
        (
            r#"{"source":{"type":"TextLm","path":"t.txt","context":4},"split":{"validation":1.5,"test":-1.0}}"#,
            "validation fraction",
        ),
        (
            r#"{"source":{"type":"ImageFolder","path":"imgs","width":100000,"height":100000}}"#,
            "image size",
        ),
    ];
    for (json, names) in cases {
        let err = load_err(&data(json), &dir);
        assert!(err.contains(names), "{json}: {err}");
    }
    // The same sources with sane numbers load, so the refusals above are about the numbers.
    let ok = data(r#"{"source":{"type":"TextLm","path":"t.txt","context":4}}"#);
    Dataset::load(&ok, Some(&dir)).expect("a sane text source loads");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_rotation_past_any_float_range_augments_without_panicking() {
    let aug = Augmentation {
        rotation_deg: 2e38,
        shift_px: usize::MAX,
        ..Default::default()
    };
    let mut xs: Vec<f32> = (0..2 * 8 * 8).map(|i| (i % 7) as f32).collect();
    let before = xs.clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    augment_batch(&mut xs, &[1, 8, 8], &aug, &mut rng);
    assert!(xs.iter().all(|v| v.is_finite()));
    assert_ne!(xs, before, "a huge shift still moves the image");
}

#[test]
fn sweeps_with_endless_grids_or_infinite_spans_are_refused() {
    let specs = [
        (
            r#"{"method":"Grid","params":[{"path":"training.lr","kind":"LogUniform","min":0.001,"max":0.1,"steps":1000000000000}]}"#,
            "steps",
        ),
        (
            r#"{"method":"Random","params":[{"path":"training.lr","kind":"Uniform","min":-1e308,"max":1e308}]}"#,
            "training.lr",
        ),
    ];
    for (json, names) in specs {
        let spec: SweepSpec = serde_json::from_str(json).unwrap();
        let err = spec
            .configurations()
            .expect_err("an absurd sweep is refused")
            .to_string();
        assert!(err.contains(names), "{json}: {err}");
    }
}

#[test]
fn an_absurd_epoch_count_is_refused() {
    let mut settings = TrainSettings {
        epochs: usize::MAX,
        ..Default::default()
    };
    let err = settings
        .validate()
        .expect_err("usize::MAX epochs")
        .to_string();
    assert!(err.contains("epochs"), "{err}");
    settings.epochs = 3;
    settings.validate().expect("3 epochs are fine");
}

/// A column of unique ids set to categorical would one-hot into rows × rows values: refused by
/// name past `MAX_CATEGORIES` values, and accepted just under it.
#[test]
fn a_categorical_column_of_unique_ids_is_refused_by_name() {
    use glassbox::data::{parse_csv_with, ColumnKind, CsvOptions, Task};
    let table = |rows: usize| {
        let mut csv = String::from("id,x,label\n");
        for i in 0..rows {
            csv.push_str(&format!("user{i},{},{}\n", i % 7, i % 2));
        }
        csv.into_bytes()
    };
    let mut options = CsvOptions::default();
    options.columns.insert("id".into(), ColumnKind::Categorical);
    let path = std::path::Path::new("ids.csv");
    let limit = glassbox::data::MAX_CATEGORIES;
    let err = parse_csv_with(&table(limit + 1), path, "label", Task::Auto, &options)
        .expect_err("10,001 one-hot features are refused");
    let msg = err.to_string();
    assert!(msg.contains("'id'") && msg.contains("10001"), "{msg}");
    // Few enough values one-hot as asked: one feature per value, plus x.
    let ok = parse_csv_with(&table(50), path, "label", Task::Auto, &options).expect("50 ids");
    assert_eq!(ok.feature_names.len(), 51, "{:?}", ok.feature_names);
}

/// A project whose layers want more weights than the machine has memory (each layer under
/// the per-layer cap, 400 GiB together) is refused with the count before any weight is
/// allocated (not an allocation abort).
#[test]
fn a_network_larger_than_memory_is_refused_before_allocating() {
    use glassbox::graph::{DType, Graph, Layer, Loss, Node, Target};
    use glassbox::model::{Model, ModelError};
    let mut nodes = vec![Node::new(
        "in",
        Layer::Input {
            shape: vec![16_384],
            dtype: DType::F32,
        },
    )];
    for i in 0..400 {
        nodes.push(Node::new(
            format!("d{i}"),
            Layer::Dense {
                units: 16_384,
                bias: true,
            },
        ));
    }
    nodes.push(Node::new(
        "out",
        Layer::Output {
            loss: Loss::Mse,
            target: Target::Label,
        },
    ));
    match Model::build(&Graph::chain(nodes), 1) {
        Err(e @ ModelError::TooLarge { .. }) => {
            let msg = e.to_string();
            // 400 × (16,384² + 16,384) weights.
            assert!(msg.contains("107380736000 parameters"), "{msg}");
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a 400 GiB network was built"),
    }
}
