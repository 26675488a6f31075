//! The `glassbox` binary run as a user runs it, for the command-line test binaries.

use std::process::Command;

/// (exit status was success, stdout then stderr).
pub fn glassbox(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The figure of `train`'s "final test accuracy: 97.50% on …" line, in percent.
pub fn final_test_accuracy(text: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix("final test accuracy: "))
        .and_then(|l| l.split('%').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no final test accuracy in {text}"))
}

/// The path of a shipped preset.
pub fn preset(name: &str) -> String {
    format!("{}/presets/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

/// `glassbox train` of a shipped preset saving its weights to `save`, with `extra` flags;
/// fails the test when it fails, and returns what it printed.
pub fn train_preset(name: &str, save: &std::path::Path, extra: &[&str]) -> String {
    let project = preset(name);
    let mut args = vec![
        "train",
        &project,
        "--quiet",
        "--save",
        save.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, text) = glassbox(&args);
    assert!(ok, "training {name} failed: {text}");
    text
}
