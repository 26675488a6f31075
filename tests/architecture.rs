//! The structure the code keeps, checked from its source text so it keeps holding:
//! - the top-level modules form layers, and a module names only modules of lower layers
//!   (`crate::x` anywhere in its files: no folder-level cycle, the arrows point one way);
//! - the engine names no GUI crate (the `gui` feature gates those; this catches a stray `use`
//!   before a headless build would).
//!
//! ARCHITECTURE.md draws the same layers; change both together.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first. A module may name the modules of the layers before its own.
const LAYERS: &[&[&str]] = &[
    &["fsutil"],
    &["graph"],
    &["data"],
    &["model"],
    &["project"],
    &["presets", "recovery"],
    &["train"],
    &["insight", "runs"],
    &["deploy", "lessons"],
    &["bench"],
    &["cli"],
    &["ui"],
    &["app"],
];

/// Modules that draw; everything else is engine (or CLI) and never names a GUI crate.
const GUI_MODULES: &[&str] = &["ui", "app"];
const GUI_CRATES: &[&str] = &[
    "egui",
    "eframe",
    "egui_plot",
    "egui_snarl",
    "rfd",
    "egui_kittest",
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of src/ belongs to (`src/train/run.rs` → `train`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?;
    let name = first.as_os_str().to_str()?;
    Some(name.trim_end_matches(".rs").to_string())
}

/// Source text without comments, so prose that mentions `crate::x` or egui does not count.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module named as `crate::name`, including inside `use crate::{a, b::c}` groups.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = code[i + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group only: split at commas outside nested braces, up to
            // the brace that closes the group.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.insert(ident(group[start..j].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(ident(group[start..j].trim()));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// Whether the code names a crate as a path root (`egui::Ui`, `use egui_plot::Plot`).
fn names_crate(code: &str, krate: &str) -> bool {
    code.match_indices(krate).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let starts = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
        starts && code[i + krate.len()..].starts_with("::")
    })
}

struct Violation {
    file: PathBuf,
    what: String,
}

fn violations() -> Vec<Violation> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(own) = layer_of(&module) else {
            continue; // main.rs, lib.rs, build.rs: the crate's roots
        };
        let code = code_only(&std::fs::read_to_string(file).expect("a readable source file"));
        for name in crate_paths(&code) {
            match layer_of(&name) {
                Some(l) if l >= own && name != module => found.push(Violation {
                    file: file.clone(),
                    what: format!("`{module}` names `crate::{name}`, which is not below it"),
                }),
                _ => {}
            }
        }
        if !GUI_MODULES.contains(&module.as_str()) {
            for krate in GUI_CRATES {
                if names_crate(&code, krate) {
                    found.push(Violation {
                        file: file.clone(),
                        what: format!("engine module `{module}` names the GUI crate `{krate}`"),
                    });
                }
            }
        }
    }
    found
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let roots = ["main", "lib", "build"];
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        let name = module_of(&src, &path).expect("a file under src/");
        if (path.is_dir() || name.len() + 3 == path.file_name().map_or(0, |f| f.len()))
            && !roots.contains(&name.as_str())
            && layer_of(&name).is_none()
        {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "modules with no layer in tests/architecture.rs (and ARCHITECTURE.md): {missing:?}"
    );
}

#[test]
fn modules_name_only_lower_layers_and_the_engine_no_gui_crate() {
    let found = violations();
    let report: Vec<String> = found
        .iter()
        .map(|v| format!("{}: {}", v.file.display(), v.what))
        .collect();
    assert!(
        report.is_empty(),
        "structure broken:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_readers_find_what_they_look_for() {
    let code = "use crate::{graph::Graph, train::{A, B}, data};\nlet x = crate::model::build();";
    let names: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(names, ["data", "graph", "model", "train"]);
    assert!(names_crate("use egui::Ui;", "egui"));
    assert!(names_crate("fn f(ui: &mut egui::Ui) {}", "egui"));
    assert!(names_crate(
        "let p = egui_plot::Plot::new(\"x\");",
        "egui_plot"
    ));
    assert!(!names_crate(
        &code_only("let egui_like = 1; // egui::Ui"),
        "egui"
    ));
    assert!(!names_crate(&code_only("// uses egui::Ui"), "egui"));
    assert!(!names_crate("use egui_plot::Plot;", "egui"));
}
