//! Data loading: shipped sets, splits, and clear errors on bad files.

use glassbox::data::{
    parse_csv, parse_idx, DataError, DataSettings, DataSource, Dataset, SplitSettings, Targets,
    Task,
};
use std::collections::HashSet;
use std::path::Path;

fn csv(text: &str, target: &str) -> Result<glassbox::data::RawData, DataError> {
    parse_csv(text.as_bytes(), Path::new("t.csv"), target, Task::Auto)
}

#[test]
fn text_in_a_number_column_names_the_line_and_column() {
    let err = csv("a,b,y\n1,2,x\n3,oops,y\n", "y")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.csv")
            && err.contains("line 3")
            && err.contains("'b'")
            && err.contains("\"oops\" is not a number"),
        "{err}"
    );
    let err = csv("a,b,y\n1,,x\n2,,y\n3,4,\n", "y")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing value") && err.contains("line 2") && err.contains("'b'"),
        "{err}"
    );
}

#[test]
fn ragged_rows_empty_files_and_bad_targets_are_explained() {
    let err = csv("a,b,y\n1,2,x\n3,4\n", "y").unwrap_err().to_string();
    assert!(
        err.contains("line 3") && err.contains("2 fields") && err.contains("3"),
        "{err}"
    );
    let err = csv("", "y").unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
    let err = csv("a,b,y\n", "y").unwrap_err().to_string();
    assert!(err.contains("no data rows"), "{err}");
    let err = csv("a,b,y\n1,2,3\n", "label").unwrap_err().to_string();
    assert!(
        err.contains("no column 'label'") && err.contains("a, b, y"),
        "{err}"
    );
    let err = csv("a,y\n1,x\n2,x\n", "y").unwrap_err().to_string();
    assert!(err.contains("single value"), "{err}");
}

#[test]
fn targets_become_classes_or_values() {
    let raw = csv("a,y\n1,cat\n2,dog\n3,cat\n", "y").unwrap();
    assert_eq!(
        raw.targets,
        Targets::Classes {
            labels: vec![0, 1, 0],
            names: vec!["cat".into(), "dog".into()]
        }
    );
    let raw = csv("a,y\n1,10\n2,2\n3,2\n", "y").unwrap();
    assert_eq!(
        raw.targets,
        Targets::Classes {
            labels: vec![1, 0, 0],
            names: vec!["2".into(), "10".into()]
        }
    );
    // Whole numbers past what i64 holds stay distinct classes with distinct names.
    let raw = csv("a,y\n1,1e19\n2,2e19\n3,1e19\n", "y").unwrap();
    match &raw.targets {
        Targets::Classes { labels, names } => {
            assert_eq!(labels, &vec![0, 1, 0]);
            assert_eq!(names.len(), 2);
            assert_ne!(names[0], names[1], "{names:?}");
        }
        other => panic!("{other:?}"),
    }
    let raw = csv("a,y\n1,0.5\n2,1.5\n", "y").unwrap();
    assert!(matches!(raw.targets, Targets::Values { .. }));
    assert_eq!(raw.sample_shape, vec![1]);
}

#[test]
fn idx_errors_are_explained() {
    assert!(parse_idx(&[0, 0])
        .unwrap_err()
        .to_string()
        .contains("shorter"));
    // A header declaring 65535³ bytes is refused before anything is allocated, fast.
    let t0 = std::time::Instant::now();
    let huge = [
        0, 0, 8, 3, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 1, 2, 3,
    ];
    let e = parse_idx(&huge).unwrap_err().to_string();
    assert!(e.contains("[65535, 65535, 65535]"), "{e}");
    // And a merely large one on a short file is "cut short", not a 4 GiB reservation.
    let big = [0, 0, 8, 2, 0, 0, 255, 255, 0, 0, 255, 255, 1, 2, 3];
    let e = parse_idx(&big).unwrap_err().to_string();
    assert!(
        e.contains("promises 4294836225 values") && e.contains("holds 3"),
        "{e}"
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(1));
    assert!(parse_idx(&[1, 0, 8, 1, 0, 0, 0, 1, 5])
        .unwrap_err()
        .to_string()
        .contains("magic"));
    assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 5])
        .unwrap_err()
        .to_string()
        .contains("not supported"));
    assert!(parse_idx(&[0, 0, 8, 1, 0, 0, 0, 3, 5])
        .unwrap_err()
        .to_string()
        .contains("promises 3"));
    let ok = parse_idx(&[0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 2, 7, 9]).unwrap();
    assert_eq!((ok.dims, ok.data), (vec![1, 2], vec![7, 9]));
}

#[test]
fn mnist_loads_with_its_own_test_set_compactly() {
    let ds = Dataset::load(&DataSettings::default(), None).unwrap();
    assert_eq!(ds.len(), 70_000);
    assert_eq!(ds.sample_shape, vec![1, 28, 28]);
    assert_eq!(ds.test.len(), 10_000);
    assert_eq!(ds.val.len(), 6_000);
    assert_eq!(ds.train.len(), 54_000);
    assert!(ds.test.iter().all(|&i| i >= 60_000));
    // Bytes, not floats: within 2× of the raw 70,000 × 784 bytes.
    let raw = 70_000 * 784;
    assert!(ds.memory_bytes() <= 2 * raw, "{} bytes", ds.memory_bytes());
    // Standardised: the training pixels have mean ≈ 0.
    let mut xs = Vec::new();
    ds.gather_features(&ds.train[..500], &mut xs);
    let mean = xs.iter().sum::<f32>() / xs.len() as f32;
    assert!(mean.abs() < 0.1, "{mean}");
}

#[test]
fn splits_are_disjoint_stratified_and_seeded() {
    let settings = DataSettings {
        source: DataSource::Csv {
            path: "assets/data/tabular/iris.csv".into(),
            target: "species".into(),
            task: Task::Auto,
            options: Default::default(),
        },
        split: SplitSettings {
            validation: 0.2,
            test: 0.2,
            ..Default::default()
        },
        ..Default::default()
    };
    let ds = Dataset::load(&settings, None).unwrap();
    let (tr, va, te): (HashSet<_>, HashSet<_>, HashSet<_>) = (
        ds.train.iter().collect(),
        ds.val.iter().collect(),
        ds.test.iter().collect(),
    );
    assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
    assert_eq!(tr.len() + va.len() + te.len(), 150);
    assert_eq!((va.len(), te.len()), (30, 30));
    for split in [&ds.val, &ds.test] {
        for class in 0..3 {
            assert_eq!(
                split
                    .iter()
                    .filter(|&&i| ds.label(i) == Some(class))
                    .count(),
                10
            );
        }
    }
    let again = Dataset::load(&settings, None).unwrap();
    assert_eq!(again.train, ds.train);

    let digits = Dataset::load(
        &DataSettings {
            source: DataSource::Csv {
                path: "assets/data/tabular/digits.csv.gz".into(),
                target: "digit".into(),
                task: Task::Auto,
                options: Default::default(),
            },
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(digits.len(), 1797);
    assert_eq!(digits.sample_shape, vec![64]);
    assert_eq!(digits.n_classes(), Some(10));

    let bad = DataSettings {
        split: SplitSettings {
            validation: 0.6,
            test: 0.5,
            ..Default::default()
        },
        ..settings
    };
    let err = Dataset::load(&bad, None).unwrap_err().to_string();
    assert!(err.contains("nothing is left to train on"), "{err}");
}

#[test]
fn the_target_guess_prefers_a_label_name_then_the_one_text_column() {
    use glassbox::data::{guess_target_in, read_table, CsvOptions};
    let guess = |text: &str| {
        let table = read_table(text.as_bytes(), Path::new("t.csv"), &CsvOptions::default())
            .expect("a table");
        guess_target_in(&table)
    };
    // The class in the first column, not named like a label: the one text column.
    let wine = "grape,alcohol,proline\nbarolo,14.2,1065\ngrignolino,12.4,520\nbarbera,13.1,?\n";
    assert_eq!(guess(wine).as_deref(), Some("grape"));
    // A name like a label wins over a text column.
    let named = "city,size,label\nrome,3,1\nparis,4,0\n";
    assert_eq!(guess(named).as_deref(), Some("label"));
    // Two text columns, or none: the last column, as before.
    let two = "a,b,c\nx,y,1\nz,w,2\n";
    assert_eq!(guess(two).as_deref(), Some("c"));
    let numbers = "a,b,c\n1,2,3\n4,5,6\n";
    assert_eq!(guess(numbers).as_deref(), Some("c"));
}

/// A table whose target is exactly 3·a − 2·b + 40 (units far from 0), 200 rows.
fn linear_table() -> Dataset {
    let mut text = String::from("a,b,y\n");
    for i in 0..200 {
        let (a, b) = ((i % 17) as f32 * 1.5, (i * 7 % 23) as f32 - 5.0);
        text += &format!("{a},{b},{}\n", 3.0 * a - 2.0 * b + 40.0);
    }
    let raw = csv(&text, "y").unwrap();
    Dataset::from_raw("linear".into(), raw, &DataSettings::default()).unwrap()
}

#[test]
fn numeric_targets_train_standardised_and_come_back_in_their_units() {
    let ds = linear_table();
    let mut learnt = Vec::new();
    ds.gather_values(&ds.train, &mut learnt);
    let n = learnt.len() as f32;
    let mean = learnt.iter().sum::<f32>() / n;
    let var = learnt.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    assert!(
        mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3,
        "mean {mean}, var {var}"
    );
    let mut raw = Vec::new();
    ds.gather_raw_values(&ds.train, &mut raw);
    assert!(
        raw.iter().sum::<f32>() / n > 30.0,
        "raw values are the file's"
    );
    ds.restore_values(&mut learnt);
    for (a, b) in learnt.iter().zip(&raw) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
    // Kept raw when asked.
    let raw_settings = DataSettings {
        target_scaling: glassbox::data::TargetScaling::Raw,
        ..Default::default()
    };
    let text = "a,y\n1,10\n2,20\n3,30\n4,40\n5,50\n6,60\n7,70\n8,80\n9,90\n10,100\n";
    let kept = Dataset::from_raw("k".into(), csv(text, "y").unwrap(), &raw_settings).unwrap();
    let mut v = Vec::new();
    kept.gather_values(&kept.train, &mut v);
    assert!(v.iter().all(|x| x % 10.0 == 0.0 && *x >= 10.0), "{v:?}");
}

#[test]
fn least_squares_finds_an_exact_linear_target() {
    let ds = linear_table();
    let m = glassbox::insight::least_squares_baseline(&ds, &ds.test).unwrap();
    assert!(m.r2 > 0.9999 && m.rmse < 1e-2 && m.mae < 1e-2, "{m:?}");
}
