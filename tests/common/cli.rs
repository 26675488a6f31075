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

/// The path of a shipped preset.
pub fn preset(name: &str) -> String {
    format!("{}/presets/{name}.json", env!("CARGO_MANIFEST_DIR"))
}
