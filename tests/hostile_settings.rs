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
    let err = settings.validate().expect_err("usize::MAX epochs");
    assert!(err.contains("epochs"), "{err}");
    settings.epochs = 3;
    settings.validate().expect("3 epochs are fine");
}
