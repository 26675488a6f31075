//! `glassbox export` and `glassbox predict` as a user runs them, and saved weights giving the
//! same test figures when evaluated again.

use std::path::Path;
mod common;

use common::cli::{glassbox, preset};

fn train(name: &str, save: &Path, extra: &[&str]) -> String {
    let project = preset(name);
    let mut args = vec!["train", &project, "--quiet", "--save"];
    let save = save.to_str().unwrap();
    args.push(save);
    args.extend_from_slice(extra);
    let (ok, text) = glassbox(&args);
    assert!(ok, "{text}");
    text
}

/// "loss 0.1234 acc  91.37%" from the line starting with `prefix`.
fn test_figures(text: &str, prefix: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in\n{text}"));
    let from = line.find("loss").expect("a loss");
    let to = line.find('%').expect("an accuracy") + 1;
    line[from..to]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn saved_weights_evaluate_to_the_same_test_figures_to_the_last_digit() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("mnist.safetensors");
    // The whole training split: --max-train would also change the standardisation statistics,
    // which `eval` takes from the project as saved.
    let trained = train("mlp-mnist", &w, &["--epochs", "1"]);
    let (ok, evaluated) = glassbox(&[
        "eval",
        &preset("mlp-mnist"),
        "--weights",
        w.to_str().unwrap(),
    ]);
    assert!(ok, "{evaluated}");
    let (a, b) = (
        test_figures(&trained, "test "),
        test_figures(&evaluated, "test "),
    );
    assert_eq!(
        a, b,
        "after training:\n{trained}\nafter loading:\n{evaluated}"
    );
    assert!(!a.contains("100.00%") && !a.contains(" 0.00%"), "{a}");
}

#[test]
fn export_writes_onnx_pytorch_and_safetensors_files() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("iris.safetensors");
    train("mlp-iris", &w, &[]);
    let w = w.to_str().unwrap();
    for (format, file, magic) in [
        ("onnx", "iris.onnx", &b"\x08"[..]),
        ("pytorch", "iris_torch.py", b"\"\"\""),
        ("safetensors", "copy.safetensors", b""),
    ] {
        let out = dir.path().join(file);
        let (ok, text) = glassbox(&[
            "export",
            &preset("mlp-iris"),
            "--weights",
            w,
            "--format",
            format,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{format}: {text}");
        let bytes = std::fs::read(&out).unwrap();
        assert!(
            bytes.len() > 100 && bytes.starts_with(magic),
            "{format}: {} bytes",
            bytes.len()
        );
    }
    // The ONNX file opens as a project again: same data, same test figures.
    let back = dir.path().join("back.json");
    let onnx = dir.path().join("iris.onnx");
    let (ok, text) = glassbox(&[
        "import-onnx",
        onnx.to_str().unwrap(),
        "-o",
        back.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let back_w = dir.path().join("back.safetensors");
    let (ok, a) = glassbox(&[
        "eval",
        back.to_str().unwrap(),
        "--weights",
        back_w.to_str().unwrap(),
    ]);
    assert!(ok, "{a}");
    let (ok, b) = glassbox(&["eval", &preset("mlp-iris"), "--weights", w]);
    assert!(ok, "{b}");
    assert_eq!(test_figures(&a, "test "), test_figures(&b, "test "));
    let py = std::fs::read_to_string(dir.path().join("iris_torch.py")).unwrap();
    assert!(
        py.contains("nn.Linear(4, 16") && py.contains("DistributedDataParallel"),
        "{py}"
    );
    assert!(dir.path().join("iris_torch.safetensors").exists());
    let candle = std::fs::read_to_string(dir.path().join("iris_torch_candle.rs")).unwrap();
    assert!(
        candle.contains("vb.get((16, 4,), \"fc1.weight\")"),
        "{candle}"
    );
    // Weights of another network are refused before anything is written.
    let out = dir.path().join("mnist.onnx");
    let (ok, text) = glassbox(&[
        "export",
        &preset("mlp-mnist"),
        "--weights",
        w,
        "--format",
        "onnx",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("fc1"), "{text}");
    assert!(!out.exists());
}

#[test]
fn predict_reads_csv_rows_by_column_name_and_averages_an_ensemble() {
    let dir = tempfile::tempdir().unwrap();
    let (w1, w2) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    train("mlp-iris", &w1, &["--seed", "1"]);
    train("mlp-iris", &w2, &["--seed", "2"]);
    // Columns in another order than the training file, the label column included.
    let rows = dir.path().join("rows.csv");
    std::fs::write(
        &rows,
        "species,petal_width_cm,petal_length_cm,sepal_width_cm,sepal_length_cm\n\
         ?,0.2,1.4,3.5,5.1\n?,1.3,4.0,2.8,5.7\n?,2.3,6.0,3.3,6.3\n",
    )
    .unwrap();
    let (w1, w2, rows_s) = (
        w1.to_str().unwrap(),
        w2.to_str().unwrap(),
        rows.to_str().unwrap(),
    );
    let (ok, text) = glassbox(&["predict", &preset("mlp-iris"), "--weights", w1, rows_s]);
    assert!(ok, "{text}");
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(labels, ["setosa", "versicolor", "virginica"], "{text}");
    let (ok, text) = glassbox(&[
        "predict",
        &preset("mlp-iris"),
        "--weights",
        w1,
        "--weights",
        w2,
        rows_s,
        "--json",
    ]);
    assert!(ok, "{text}");
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let p: Vec<f64> = serde_json::from_value(first["probabilities"].clone()).unwrap();
    assert!(
        (p.iter().sum::<f64>() - 1.0).abs() < 1e-4 && p[0] > 0.5,
        "{p:?}"
    );

    std::fs::write(&rows, "5.1,3.5,1.4\n").unwrap();
    let (ok, text) = glassbox(&["predict", &preset("mlp-iris"), "--weights", w1, rows_s]);
    assert!(
        !ok && text.contains("input 1 has 3 values; the model takes 4"),
        "{text}"
    );
    std::fs::write(&rows, "5.1,3.5,x,0.2\n").unwrap();
    let (ok, text) = glassbox(&["predict", &preset("mlp-iris"), "--weights", w1, rows_s]);
    assert!(
        !ok && text.contains("line 1: 'x' is not a number"),
        "{text}"
    );
}

#[test]
fn an_ensemble_is_measured_beside_its_members_and_a_model_card_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (w1, w2) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    train("mlp-iris", &w1, &["--seed", "3", "--epochs", "5"]);
    train("mlp-iris", &w2, &["--seed", "4", "--epochs", "5"]);
    let (w1, w2) = (w1.to_str().unwrap(), w2.to_str().unwrap());
    let (ok, text) = glassbox(&[
        "eval",
        &preset("mlp-iris"),
        "--weights",
        w1,
        "--weights",
        w2,
    ]);
    assert!(ok, "{text}");
    let test_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("test")).collect();
    assert_eq!(test_lines.len(), 3, "{text}");
    assert!(
        test_lines[2].contains("ensemble of 2 on 30 samples"),
        "{text}"
    );

    let card = dir.path().join("card.md");
    let (ok, text) = glassbox(&[
        "export",
        &preset("mlp-iris"),
        "--weights",
        w1,
        "--format",
        "card",
        "-o",
        card.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let md = std::fs::read_to_string(&card).unwrap();
    let html = std::fs::read_to_string(card.with_extension("html")).unwrap();
    // The card's test accuracy is the one `eval` measures for the same weights.
    let member = test_lines[0]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches('%');
    assert!(
        md.contains("| test | 30 |") && md.contains(&format!("{member} %")),
        "{member}\n{md}"
    );
    for needle in [
        "## Architecture",
        "| fc1 | Dense | 16 units",
        "## Confusion matrix (test)",
        "| setosa |",
    ] {
        assert!(md.contains(needle), "{needle} missing:\n{md}");
    }
    assert!(
        html.contains("<table>") && html.contains("setosa"),
        "{html}"
    );
}

#[test]
fn the_pytorch_export_trains_under_torchrun_and_its_weights_come_back() {
    let Some(python) = common::python::torch_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let start = dir.path().join("start.safetensors");
    // One epoch here: a start the PyTorch run must still improve on.
    let first = train("mlp-iris", &start, &["--epochs", "1", "--seed", "3"]);
    let module = dir.path().join("iris.py");
    let (ok, text) = glassbox(&[
        "export",
        &preset("mlp-iris"),
        "--weights",
        start.to_str().unwrap(),
        "--format",
        "pytorch",
        "-o",
        module.to_str().unwrap(),
        "--with-data",
    ]);
    assert!(ok, "{text}");
    let data = dir.path().join("iris.data.safetensors");
    assert!(data.exists(), "no training split written: {text}");
    let back = dir.path().join("back.safetensors");
    // Two processes (gloo on the CPU), DistributedDataParallel, 40 epochs.
    let out = std::process::Command::new(&python)
        .current_dir(dir.path())
        .args(["-m", "torch.distributed.run", "--nproc_per_node", "2"])
        .arg(&module)
        .args(["--weights", start.to_str().unwrap(), "--data"])
        .arg(&data)
        .args(["--epochs", "40", "--save", back.to_str().unwrap()])
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "torchrun failed:\n{log}");
    assert!(back.exists(), "rank 0 wrote no weights:\n{log}");
    let (ok, ev) = glassbox(&[
        "eval",
        &preset("mlp-iris"),
        "--weights",
        back.to_str().unwrap(),
    ]);
    assert!(ok, "Glassbox cannot read what PyTorch wrote: {ev}");
    let acc = |text: &str, prefix: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{text}"));
        line.split("acc")
            .nth(1)
            .and_then(|r| r.trim().split('%').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no accuracy in {line:?}"))
    };
    let before = acc(&first, "test ");
    let after = acc(&ev, "test ");
    assert!(
        after >= 90.0 && after > before,
        "test accuracy {before} % → {after} % after torchrun:\n{log}"
    );
}

/// Installed as the package installs it — the binary in one folder, assets and presets under an
/// XDG data folder — and run from elsewhere, Glassbox finds its presets and data there (not in
/// the source tree it was built from, which it would fall back to).
#[test]
fn an_installed_binary_finds_its_presets_and_data_in_the_xdg_data_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    let share = tmp.path().join("share");
    let root = share.join("glassbox");
    let work = tmp.path().join("work");
    for d in [
        &bin,
        &root.join("assets/data/tabular"),
        &root.join("presets"),
        &work,
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    let exe = bin.join("glassbox");
    std::fs::copy(env!("CARGO_BIN_EXE_glassbox"), &exe).unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        repo.join("assets/data/tabular/iris.csv"),
        root.join("assets/data/tabular/iris.csv"),
    )
    .unwrap();
    let preset = root.join("presets/mlp-iris.json");
    std::fs::copy(repo.join("presets/mlp-iris.json"), &preset).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&exe)
            .args(args)
            .current_dir(&work)
            .env_remove("GLASSBOX_ASSETS")
            .env("HOME", tmp.path())
            .env("XDG_DATA_HOME", &share)
            .env("XDG_DATA_DIRS", tmp.path().join("nothing-here"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    let listed = run(&["presets"]);
    assert!(
        listed.contains(&format!(
            "ready-made projects in {}",
            root.join("presets").display()
        )),
        "{listed}"
    );
    assert!(
        listed.contains(&format!(
            "shipped data in {}",
            root.join("assets").display()
        )),
        "{listed}"
    );
    assert!(listed.contains("mlp-iris"), "{listed}");
    // The preset's "assets/…" data path resolves to the XDG copy.
    let trained = run(&["train", preset.to_str().unwrap(), "--epochs", "2"]);
    assert!(trained.contains("final test accuracy"), "{trained}");
}

/// `serve` of a project whose data file has gone: a clear error naming the file and why the
/// server needs it, before anything listens, and the project and weights left as they were.
#[test]
fn serving_a_project_whose_data_is_gone_says_which_file_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("flowers.csv");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/data/tabular/iris.csv"),
        &csv,
    )
    .unwrap();
    let mut project = glassbox::project::Project::load(Path::new(&preset("mlp-iris"))).unwrap();
    if let glassbox::data::DataSource::Csv { path, .. } = &mut project.data.source {
        *path = "flowers.csv".into();
    } else {
        panic!("mlp-iris is not a CSV project");
    }
    let file = dir.path().join("flowers.json");
    project.save(&file).unwrap();
    let weights = dir.path().join("flowers.safetensors");
    let (ok, text) = glassbox(&[
        "train",
        file.to_str().unwrap(),
        "--quiet",
        "--epochs",
        "2",
        "--save",
        weights.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    std::fs::remove_file(&csv).unwrap();
    let before = (
        std::fs::read(&file).unwrap(),
        std::fs::read(&weights).unwrap(),
    );
    let (ok, text) = glassbox(&[
        "serve",
        file.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--port",
        "0",
    ]);
    assert!(!ok, "served without its data: {text}");
    assert!(
        text.contains("flowers.csv"),
        "the missing file is not named: {text}"
    );
    assert!(text.contains("drift reference"), "no reason given: {text}");
    assert_eq!(
        (
            std::fs::read(&file).unwrap(),
            std::fs::read(&weights).unwrap()
        ),
        before,
        "the project or its weights changed"
    );
}
