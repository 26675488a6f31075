//! Finding a Python that has the modules a check needs: `$GLASSBOX_PYTHON`, else `python3`.
//! With `GLASSBOX_REQUIRE_PYTHON=1` (set by `.ci/run`) a missing one fails the test instead of
//! skipping it, so CI cannot pass by skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("GLASSBOX_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("python3")])
        .collect();
    let probe = format!("import {}", modules.join(", "));
    let found = candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", &probe])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let reason = format!(
            "no Python with {} (set GLASSBOX_PYTHON to one, or run .ci/run)",
            modules.join(", ")
        );
        assert!(
            std::env::var("GLASSBOX_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "GLASSBOX_REQUIRE_PYTHON=1 but {reason}"
        );
        eprintln!("SKIPPED: {reason}");
    }
    found
}

/// Runs `tests/deploy_check.py KIND MANIFEST` and returns its JSON lines.
pub fn deploy_check(python: &Path, kind: &str, manifest: &Path) -> Vec<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deploy_check.py");
    let out = Command::new(python)
        .arg(script)
        .arg(kind)
        .arg(manifest)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "deploy_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// The Python with torch named by `GLASSBOX_TORCH_PYTHON` (torch is large, so it is never
/// guessed); None skips with a line on stderr, unless `GLASSBOX_REQUIRE_TORCH=1` makes it a
/// failure.
pub fn torch_python() -> Option<PathBuf> {
    let py = std::env::var_os("GLASSBOX_TORCH_PYTHON").map(PathBuf::from);
    let works = py.as_ref().is_some_and(|py| {
        Command::new(py)
            .args(["-c", "import torch"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !works {
        let reason = match &py {
            Some(p) => format!("{} cannot import torch", p.display()),
            None => "GLASSBOX_TORCH_PYTHON is not set".into(),
        };
        assert!(
            std::env::var("GLASSBOX_REQUIRE_TORCH").as_deref() != Ok("1"),
            "GLASSBOX_REQUIRE_TORCH=1 but {reason}"
        );
        eprintln!("SKIPPED the PyTorch run: {reason}");
        return None;
    }
    py
}
