//! Every data source with small files the tests write, each bad-input case with its message,
//! and end-to-end training on sources no preset uses.

use glassbox::data::{
    augment_batch, Augmentation, ColorMode, ColumnKind, CsvOptions, DataSettings, DataSource,
    DataSummary, Dataset, MissingPolicy, Normalization, Preview, SplitSettings, Targets, Task,
    TokenKind, ToyKind,
};
use glassbox::graph::{fit_to_data, DType, Graph, Layer, Loss, Node, Target};
use glassbox::project::Project;
use glassbox::train::{Optimizer, TrainEvent, TrainHandle, TrainRequest};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// A run that has not ended by then is hung: fail with its last event instead of hanging CI.
const TRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

fn settings(source: DataSource) -> DataSettings {
    DataSettings {
        source,
        ..Default::default()
    }
}

fn csv_source(path: &Path, target: &str, options: CsvOptions) -> DataSource {
    DataSource::Csv {
        path: path.display().to_string(),
        target: target.into(),
        task: Task::Auto,
        options,
    }
}

fn load_err(source: DataSource) -> String {
    Dataset::load(&settings(source), None)
        .unwrap_err()
        .to_string()
}

#[test]
fn tsv_with_categories_and_missing_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tsv");
    std::fs::write(&path, "size\tcolor\tweight\tlabel\n1\tred\t\tA\n2\tblue\t3.5\tB\n3\tred\t4.5\tA\n4\tgreen\t5.5\tB\n").unwrap();
    let mut opts = CsvOptions {
        missing: MissingPolicy::FillMean,
        ..Default::default()
    };
    let mut s = settings(csv_source(&path, "label", opts.clone()));
    s.normalization = Normalization::None;
    s.split = SplitSettings {
        validation: 0.0,
        test: 0.0,
        ..Default::default()
    };
    let ds = Dataset::load(&s, None).unwrap();
    assert_eq!(
        ds.feature_names,
        ["size", "color=blue", "color=green", "color=red", "weight"]
    );
    assert_eq!(ds.len(), 4);
    let first = ds.raw_sample(0);
    assert_eq!(
        first,
        vec![1.0, 0.0, 0.0, 1.0, 4.5],
        "missing weight filled with the mean"
    );
    assert_eq!(ds.n_classes(), Some(2));

    opts.missing = MissingPolicy::DropRow;
    s.source = csv_source(&path, "label", opts.clone());
    let ds = Dataset::load(&s, None).unwrap();
    assert_eq!(ds.len(), 3);
    assert!(
        ds.notes
            .iter()
            .any(|n| n.contains("1 row(s) with missing values")),
        "{:?}",
        ds.notes
    );

    opts.columns.insert("color".into(), ColumnKind::Ignore);
    s.source = csv_source(&path, "label", opts);
    assert_eq!(
        Dataset::load(&s, None).unwrap().feature_names,
        ["size", "weight"]
    );
}

#[test]
fn a_table_without_header_and_a_regression_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.csv");
    std::fs::write(&path, "1,2,0.5\n3,4,1.5\n5,6,2.5\n7,8,3.25\n").unwrap();
    let ds = Dataset::load(
        &settings(csv_source(&path, "column_2", CsvOptions::default())),
        None,
    )
    .unwrap();
    assert_eq!(ds.sample_shape, vec![2]);
    assert!(matches!(ds.targets, Targets::Values { .. }));
    assert_eq!(ds.n_classes(), None);
}

#[test]
fn bad_tables_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let p = write("text.csv", b"a,b,y\n1,2,x\n3,4,y\n5,hello,x\n6,7,y\n");
    let e = load_err(csv_source(&p, "y", CsvOptions::default()));
    assert!(
        e.contains("line 4") && e.contains("column 'b'") && e.contains("\"hello\" is not a number"),
        "{e}"
    );
    let p = write("ragged.csv", b"a,b,y\n1,2,x\n3,4\n");
    let e = load_err(csv_source(&p, "y", CsvOptions::default()));
    assert!(
        e.contains("line 3") && e.contains("2 fields") && e.contains("header has 3"),
        "{e}"
    );
    let p = write("empty.csv", b"\n\n");
    assert!(load_err(csv_source(&p, "y", CsvOptions::default())).contains("empty"));
    let p = write("latin1.csv", b"a,y\n1,caf\xe9\n2,x\n");
    let e = load_err(csv_source(&p, "y", CsvOptions::default()));
    assert!(e.contains("not UTF-8") && e.contains("offset"), "{e}");
    let p = write("one.csv", b"a,y\n1,x\n2,x\n");
    let e = load_err(csv_source(&p, "y", CsvOptions::default()));
    assert!(e.contains("single value"), "{e}");
    let e = load_err(csv_source(
        &dir.path().join("nope.csv"),
        "y",
        CsvOptions::default(),
    ));
    assert!(e.contains("nope.csv"), "{e}");
}

/// Writes `n` 8×8 PNGs per class: class 0 bright on the left, class 1 bright on the right.
fn image_folder(root: &Path, n: usize) {
    for (class, name) in ["left", "right"].iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            let img = image::GrayImage::from_fn(8, 8, |x, _| {
                let bright = if class == 0 { x < 4 } else { x >= 4 };
                image::Luma([if bright { 200 + (i % 50) as u8 } else { 10 }])
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

#[test]
fn an_image_folder_loads_grey_or_rgb_and_skips_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    image_folder(dir.path(), 12);
    std::fs::write(dir.path().join("left").join("broken.png"), b"not a png").unwrap();
    let src = |color| DataSource::ImageFolder {
        path: dir.path().display().to_string(),
        width: 6,
        height: 5,
        color,
    };
    let ds = Dataset::load(&settings(src(ColorMode::Grey)), None).unwrap();
    assert_eq!(ds.sample_shape, vec![1, 5, 6]);
    assert_eq!(ds.len(), 24);
    assert_eq!(ds.class_names(), ["left", "right"]);
    assert!(
        ds.notes
            .iter()
            .any(|n| n.contains("skipped 1 file") && n.contains("broken.png")),
        "{:?}",
        ds.notes
    );
    // Left images are brighter on the left half.
    let first_left = (0..ds.len()).find(|&i| ds.label(i) == Some(0)).unwrap();
    let px = ds.raw_sample(first_left);
    assert!(px[0] > 150.0 && px[5] < 50.0, "{px:?}");
    let rgb = Dataset::load(&settings(src(ColorMode::Rgb)), None).unwrap();
    assert_eq!(rgb.sample_shape, vec![3, 5, 6]);
    match DataSummary::of(&rgb).preview {
        Preview::Images(v) => {
            assert!(!v.is_empty() && v.iter().all(|i| i.channels == 3 && i.pixels.len() == 90))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_image_folders_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cats")).unwrap();
    std::fs::write(dir.path().join("cats").join("a.png"), b"junk").unwrap();
    let src = DataSource::ImageFolder {
        path: dir.path().display().to_string(),
        width: 8,
        height: 8,
        color: ColorMode::Grey,
    };
    let e = load_err(src.clone());
    assert!(e.contains("one class ('cats')"), "{e}");
    std::fs::create_dir_all(dir.path().join("dogs")).unwrap();
    std::fs::write(dir.path().join("dogs").join("b.jpg"), b"junk too").unwrap();
    let e = load_err(src);
    assert!(
        e.contains("2 of 2 images could not be read") && e.contains("a.png"),
        "{e}"
    );
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

#[test]
fn the_users_idx_files_load_with_their_test_pair() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, bytes: Vec<u8>| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let train_images = w(
        "tr-img",
        idx_bytes(&[6, 2, 3], &(0..36).collect::<Vec<u8>>()),
    );
    let train_labels = w("tr-lab", idx_bytes(&[6], &[0, 1, 2, 0, 1, 2]));
    let test_images = w("te-img", idx_bytes(&[2, 2, 3], &[9; 12]));
    let test_labels = w("te-lab", idx_bytes(&[2], &[1, 2]));
    let src = DataSource::Idx {
        train_images: train_images.clone(),
        train_labels: train_labels.clone(),
        test_images: Some(test_images),
        test_labels: Some(test_labels),
    };
    let mut s = settings(src);
    s.split.validation = 0.0;
    let ds = Dataset::load(&s, None).unwrap();
    assert_eq!(ds.sample_shape, vec![1, 2, 3]);
    assert_eq!((ds.train.len(), ds.test.len()), (6, 2));
    assert_eq!(ds.n_classes(), Some(3));
    let bad = w("bad-lab", idx_bytes(&[5], &[0, 1, 0, 1, 0]));
    let e = load_err(DataSource::Idx {
        train_images,
        train_labels: bad,
        test_images: None,
        test_labels: None,
    });
    assert!(e.contains("do not match"), "{e}");
}

#[test]
fn toys_are_two_features_two_classes_and_seeded() {
    for kind in ToyKind::ALL {
        let ds = Dataset::load(
            &settings(DataSource::Toy {
                kind,
                samples: 200,
                noise: 0.1,
            }),
            None,
        )
        .unwrap();
        assert_eq!(ds.sample_shape, vec![2]);
        assert_eq!(ds.len(), 200);
        assert_eq!(ds.n_classes(), Some(2));
        let again = Dataset::load(
            &settings(DataSource::Toy {
                kind,
                samples: 200,
                noise: 0.1,
            }),
            None,
        )
        .unwrap();
        assert_eq!(ds.raw_sample(7), again.raw_sample(7));
        let sum = DataSummary::of(&ds);
        assert_eq!(sum.points.len(), 200);
    }
}

#[test]
fn a_text_file_becomes_next_character_examples() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.txt");
    std::fs::write(&p, "hello world\n".repeat(50)).unwrap();
    let mut s = settings(DataSource::TextLm {
        path: p.display().to_string(),
        context: 4,
        stride: 1,
        carry_state: false,
        vocab_from: None,
    });
    s.split = SplitSettings {
        validation: 0.1,
        test: 0.1,
        ..Default::default()
    };
    let ds = Dataset::load(&s, None).unwrap();
    assert!(ds.is_tokens());
    assert_eq!(ds.sample_shape, vec![4]);
    assert_eq!(ds.len(), 600 - 4);
    // 9 distinct characters ("helo wrd" and the newline) plus pad and unknown.
    assert_eq!(ds.vocab_size(), Some(11));
    // Contiguous splits: validation follows training, test follows validation.
    assert!(
        ds.train.iter().max() < ds.val.iter().min() && ds.val.iter().max() < ds.test.iter().min()
    );
    let mut ids = Vec::new();
    ds.gather_tokens(&[0], &mut ids);
    let vocab = ds.vocab.as_ref().unwrap();
    let text: String = ids.iter().map(|&i| vocab[i as usize].clone()).collect();
    assert_eq!(text, "hell");
    assert_eq!(ds.class_names()[ds.label(0).unwrap() as usize], "o");
    // A stride of the context length gives non-overlapping windows in every split.
    let train_all = ds.train.len();
    s.source = DataSource::TextLm {
        path: p.display().to_string(),
        context: 4,
        stride: 4,
        carry_state: false,
        vocab_from: None,
    };
    let strided = Dataset::load(&s, None).unwrap();
    for part in [&strided.train, &strided.val, &strided.test] {
        assert!(!part.is_empty() && part.iter().all(|i| i % 4 == 0));
    }
    assert!(strided.train.len() * 4 <= train_all + 4 && strided.train.len() * 4 >= train_all - 4);
    std::fs::write(&p, b"bad \xff byte").unwrap();
    let e = load_err(DataSource::TextLm {
        path: p.display().to_string(),
        context: 4,
        stride: 1,
        carry_state: false,
        vocab_from: None,
    });
    assert!(e.contains("not UTF-8"), "{e}");
}

#[test]
fn a_text_table_becomes_padded_token_ids() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("reviews.csv");
    std::fs::write(
        &p,
        "text,label\nGreat film,pos\nawful film really bad,neg\n\"great, great\",pos\n",
    )
    .unwrap();
    let src = |tokens, max_len| DataSource::TextClass {
        path: p.display().to_string(),
        text_column: "text".into(),
        label_column: "label".into(),
        tokens,
        max_len,
    };
    let ds = Dataset::load(&settings(src(TokenKind::Word, 3)), None).unwrap();
    assert_eq!(ds.sample_shape, vec![3]);
    let vocab = ds.vocab.clone().unwrap();
    let mut ids = Vec::new();
    ds.gather_tokens(&[0], &mut ids);
    let words: Vec<&str> = ids.iter().map(|&i| vocab[i as usize].as_str()).collect();
    assert_eq!(words, ["great", "film", "<pad>"]);
    assert!(ds.notes.iter().any(|n| n.contains("longer than 3")));
    let chars = Dataset::load(&settings(src(TokenKind::Char, 12)), None).unwrap();
    assert_eq!(chars.sample_shape, vec![12]);
    let e = load_err(DataSource::TextClass {
        path: p.display().to_string(),
        text_column: "body".into(),
        label_column: "label".into(),
        tokens: TokenKind::Char,
        max_len: 4,
    });
    assert!(
        e.contains("no column 'body'") && e.contains("text, label"),
        "{e}"
    );
}

#[test]
fn augmentation_changes_only_what_it_is_asked_to() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let shape = [1usize, 6, 6];
    let original: Vec<f32> = (0..72).map(|i| i as f32).collect();
    let mut xs = original.clone();
    augment_batch(&mut xs, &shape, &Augmentation::default(), &mut rng);
    assert_eq!(xs, original, "everything off changes nothing");

    let flip = Augmentation {
        flip: true,
        ..Default::default()
    };
    let mut flipped_any = false;
    for _ in 0..8 {
        let mut xs = original[..36].to_vec();
        augment_batch(&mut xs, &shape, &flip, &mut rng);
        let mirrored: Vec<f32> = (0..36).map(|p| original[(p / 6) * 6 + 5 - p % 6]).collect();
        assert!(xs == original[..36] || xs == mirrored);
        flipped_any |= xs == mirrored;
    }
    assert!(flipped_any);

    let cut = Augmentation {
        cutout_px: 2,
        ..Default::default()
    };
    let mut xs = original[..36].to_vec();
    augment_batch(&mut xs, &shape, &cut, &mut rng);
    let changed: Vec<usize> = (0..36).filter(|&p| xs[p] != original[p]).collect();
    assert!(!changed.is_empty() && changed.len() <= 4);
    assert!(
        changed.iter().all(|&p| xs[p] == 0.0),
        "blanked to the image's minimum"
    );
    let (rows, cols): (Vec<usize>, Vec<usize>) = changed.iter().map(|p| (p / 6, p % 6)).unzip();
    assert!(rows.iter().max().unwrap() - rows.iter().min().unwrap() <= 1);
    assert!(cols.iter().max().unwrap() - cols.iter().min().unwrap() <= 1);

    let noise = Augmentation {
        noise_std: 0.5,
        ..Default::default()
    };
    let mut xs = vec![0f32; 36 * 100];
    augment_batch(&mut xs, &shape, &noise, &mut rng);
    let std = (xs.iter().map(|v| v * v).sum::<f32>() / xs.len() as f32).sqrt();
    assert!((std - 0.5).abs() < 0.05, "{std}");

    // Tables are never augmented.
    let mut row = vec![1.0f32, 2.0];
    augment_batch(&mut row, &[2], &flip, &mut rng);
    assert_eq!(row, vec![1.0, 2.0]);
}

#[test]
fn the_graph_follows_the_data() {
    let mut g = glassbox::presets::load("mlp-iris").unwrap().graph;
    let digits = Dataset::load(
        &settings(DataSource::Csv {
            path: "assets/data/tabular/digits.csv.gz".into(),
            target: "digit".into(),
            task: Task::Auto,
            options: Default::default(),
        }),
        None,
    )
    .unwrap();
    let supervised = glassbox::graph::TrainingMode::Supervised;
    let changes = fit_to_data(&mut g, &DataSummary::of(&digits).shape(&supervised));
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        g.node("input").unwrap().layer,
        Layer::Input {
            shape: vec![64],
            dtype: DType::F32
        }
    );
    assert!(matches!(
        g.node("fc3").unwrap().layer,
        Layer::Dense { units: 10, .. }
    ));
    assert!(glassbox::graph::analyze(&g).is_ok());
    assert!(
        fit_to_data(&mut g, &DataSummary::of(&digits).shape(&supervised)).is_empty(),
        "a second fit changes nothing"
    );
    // An autoencoder's last layer gives one value per input value, not one per class.
    let autoencoder = glassbox::graph::TrainingMode::Autoencoder { noise_std: 0.0 };
    fit_to_data(&mut g, &DataSummary::of(&digits).shape(&autoencoder));
    assert!(matches!(
        g.node("fc3").unwrap().layer,
        Layer::Dense { units: 64, .. }
    ));
}

fn mlp(input: Vec<usize>, hidden: &[usize], outputs: usize, act: Layer) -> Graph {
    let mut nodes = vec![Node::new(
        "input",
        Layer::Input {
            shape: input,
            dtype: DType::F32,
        },
    )];
    for (i, &h) in hidden.iter().enumerate() {
        nodes.push(Node::new(
            format!("fc{}", i + 1),
            Layer::Dense {
                units: h,
                bias: true,
            },
        ));
        nodes.push(Node::new(format!("act{}", i + 1), act.clone()));
    }
    nodes.push(Node::new(
        "out_fc",
        Layer::Dense {
            units: outputs,
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

fn train(project: Project) -> (f32, Vec<f32>) {
    let mut losses = Vec::new();
    let mut last = None;
    TrainHandle::spawn(TrainRequest::new(project))
        .unwrap()
        .wait_timeout(TRAIN_LIMIT, |e| {
            if let TrainEvent::Step { loss, .. } = e {
                losses.push(*loss);
            }
            last = Some(e.clone());
        })
        .expect("the run ends in time");
    match last {
        Some(TrainEvent::Finished { test: Some(t), .. }) => (t.accuracy.unwrap(), losses),
        other => panic!("{other:?}"),
    }
}

fn project(graph: Graph, data: DataSettings, epochs: usize, lr: f64, batch: usize) -> Project {
    let mut p = Project {
        name: "test".into(),
        graph,
        data,
        ..Default::default()
    };
    p.training.epochs = epochs;
    p.training.lr = lr;
    p.training.batch_size = batch;
    p.training.optimizer = Optimizer::adam();
    p
}

#[test]
fn digits_csv_through_the_csv_path_reaches_95_percent() {
    let data = settings(DataSource::Csv {
        path: "assets/data/tabular/digits.csv.gz".into(),
        target: "digit".into(),
        task: Task::Auto,
        options: Default::default(),
    });
    let (acc, _) = train(project(
        mlp(vec![64], &[64], 10, Layer::ReLU),
        data,
        40,
        3e-3,
        32,
    ));
    assert!(acc >= 0.95, "digits test accuracy {acc}");
}

#[test]
fn an_mlp_separates_the_spiral() {
    let mut data = settings(DataSource::Toy {
        kind: ToyKind::Spiral,
        samples: 1000,
        noise: 0.02,
    });
    data.split = SplitSettings {
        validation: 0.1,
        test: 0.2,
        ..Default::default()
    };
    let (acc, _) = train(project(
        mlp(vec![2], &[32, 32], 2, Layer::Tanh),
        data,
        300,
        1e-2,
        32,
    ));
    assert!(acc >= 0.95, "spiral test accuracy {acc}");
}

#[test]
fn an_image_folder_of_mnist_digits_trains_end_to_end() {
    // A few hundred real MNIST digits written out as PNG files, one folder per digit.
    let mnist = Dataset::load(&DataSettings::default(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut per_class = [0usize; 10];
    for &i in &mnist.train {
        let label = mnist.label(i).unwrap() as usize;
        if per_class[label] >= 40 {
            continue;
        }
        let px: Vec<u8> = mnist.raw_sample(i).iter().map(|&v| v as u8).collect();
        let folder = dir.path().join(format!("digit-{label}"));
        std::fs::create_dir_all(&folder).unwrap();
        image::GrayImage::from_raw(28, 28, px)
            .unwrap()
            .save(folder.join(format!("{i}.png")))
            .unwrap();
        per_class[label] += 1;
        if per_class.iter().all(|&c| c >= 40) {
            break;
        }
    }
    let mut data = settings(DataSource::ImageFolder {
        path: dir.path().display().to_string(),
        width: 28,
        height: 28,
        color: ColorMode::Grey,
    });
    data.split = SplitSettings {
        validation: 0.1,
        test: 0.25,
        ..Default::default()
    };
    let mut graph = mlp(vec![1, 28, 28], &[64], 10, Layer::ReLU);
    graph.nodes.insert(1, Node::new("flatten", Layer::Flatten));
    graph = Graph::chain(graph.nodes);
    let (acc, losses) = train(project(graph, data, 30, 1e-3, 32));
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.5),
        "loss did not fall: {} → {}",
        losses[0],
        losses.last().unwrap()
    );
    assert!(acc >= 0.6, "400 PNG digits: test accuracy {acc}");
}

#[test]
fn names_to_gender_trains_with_an_embedding() {
    let data = settings(DataSource::TextClass {
        path: "assets/data/text/first_names.csv".into(),
        text_column: "name".into(),
        label_column: "gender".into(),
        tokens: TokenKind::Char,
        max_len: 10,
    });
    let ds = Dataset::load(&data, None).unwrap();
    let vocab = ds.vocab_size().unwrap();
    let majority = {
        let counts = DataSummary::of(&ds).class_counts[2].clone();
        *counts.iter().max().unwrap() as f32 / counts.iter().sum::<usize>() as f32
    };
    let graph = Graph::chain(vec![
        Node::new(
            "input",
            Layer::Input {
                shape: vec![10],
                dtype: DType::TokenId,
            },
        ),
        Node::new("embed", Layer::Embedding { vocab, dim: 12 }),
        Node::new("flatten", Layer::Flatten),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 64,
                bias: true,
            },
        ),
        Node::new("relu", Layer::ReLU),
        Node::new(
            "fc2",
            Layer::Dense {
                units: 2,
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
    ]);
    let (acc, _) = train(project(graph, data, 6, 3e-3, 64));
    assert!(
        acc > majority + 0.08,
        "names → gender: test accuracy {acc} vs majority {majority}"
    );
}

#[test]
fn a_class_whose_only_image_is_corrupt_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (class, bytes) in [
        ("good", None),
        ("bad", Some(b"\x89PNG\r\n\x1a\nbroken".as_slice())),
    ] {
        let d = dir.path().join(class);
        std::fs::create_dir_all(&d).unwrap();
        match bytes {
            Some(b) => std::fs::write(d.join("only.png"), b).unwrap(),
            None => image::GrayImage::from_pixel(8, 8, image::Luma([9]))
                .save(d.join("fine.png"))
                .unwrap(),
        }
    }
    let src = DataSource::ImageFolder {
        path: dir.path().display().to_string(),
        width: 8,
        height: 8,
        color: ColorMode::Grey,
    };
    let e = Dataset::load(&settings(src), None).unwrap_err().to_string();
    assert!(
        e.contains("class 'bad' has no readable image") && e.contains("only.png"),
        "{e}"
    );
}

#[test]
fn splits_too_small_to_measure_are_warned_about_before_training() {
    use glassbox::train::RunInfo;
    let info = |train, val, test| RunInfo {
        epochs: 1,
        steps_per_epoch: 1,
        total_steps: 1,
        batch_size: 32,
        train_samples: train,
        val_samples: val,
        test_samples: test,
        params: 1,
        class_names: Vec::new(),
        data_name: "d".into(),
        setup_ms: 0.0,
        resumed_from_epoch: None,
        transfer: None,
        frozen_params: 0,
    };
    assert!(info(1000, 200, 200).warnings().is_empty());
    let w = info(1000, 4, 200).warnings();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("only 4 validation sample(s)") && w[0].contains("25 points"),
        "{w:?}"
    );
    let w = info(1, 0, 0).warnings();
    assert!(
        w.iter()
            .any(|m| m.contains("no validation or test samples")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|m| m.contains("fewer than one batch of 32")),
        "{w:?}"
    );
}
