//! Project files: round trip, atomic save, and clear errors (never panics) on bad files.

use glassbox::project::{Project, ProjectError, FORMAT_VERSION};
use std::path::Path;

fn preset_json(name: &str) -> String {
    std::fs::read_to_string(glassbox::fsutil::presets_dir().join(format!("{name}.json"))).unwrap()
}

#[test]
fn presets_load_and_survive_a_save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["mlp-iris", "mlp-mnist", "cnn-mnist"] {
        let p = glassbox::presets::load(name).unwrap();
        assert_eq!(p.format_version, FORMAT_VERSION);
        let path = dir.path().join(format!("{name}.json"));
        p.save(&path).unwrap();
        let back = Project::load(&path).unwrap();
        assert_eq!(back, p);
    }
    assert!(glassbox::presets::list().len() >= 3);
}

#[test]
fn truncated_file_is_an_error_that_says_so() {
    let json = preset_json("cnn-mnist");
    let cut = &json[..json.len() / 2];
    let err = Project::from_json_bytes(cut.as_bytes(), Path::new("cut.json")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ProjectError::Invalid { .. }));
    assert!(
        msg.contains("cut.json") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn non_json_and_binary_files_are_errors() {
    for bytes in [
        &b"hello, I am not a project"[..],
        &[0xff, 0xfe, 0x00, 0x12][..],
        &b""[..],
        &b"[1, 2, 3]"[..],
    ] {
        let err = Project::from_json_bytes(bytes, Path::new("x.json")).unwrap_err();
        assert!(
            err.to_string().contains("x.json is not a Glassbox project"),
            "{err}"
        );
    }
}

#[test]
fn a_newer_format_version_is_refused_with_a_clear_message() {
    let json =
        preset_json("mlp-iris").replacen("\"format_version\": 1", "\"format_version\": 99", 1);
    let err = Project::from_json_bytes(json.as_bytes(), Path::new("future.json")).unwrap_err();
    assert!(
        matches!(err, ProjectError::TooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer Glassbox"), "{err}");
    let json =
        preset_json("mlp-iris").replacen("\"format_version\": 1", "\"format_version\": \"one\"", 1);
    assert!(Project::from_json_bytes(json.as_bytes(), Path::new("v.json")).is_err());
}

#[test]
fn wrong_field_types_name_the_problem() {
    let json = preset_json("mlp-iris").replacen("\"units\": 16", "\"units\": \"sixteen\"", 1);
    let err = Project::from_json_bytes(json.as_bytes(), Path::new("bad.json")).unwrap_err();
    assert!(err.to_string().contains("wrong form"), "{err}");
}

#[test]
fn save_is_atomic_and_a_failed_save_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    let mut p = glassbox::presets::load("mlp-iris").unwrap();
    p.save(&path).unwrap();
    // No temporary files are left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // A save over the same file that fails midway leaves the first file intact. (The
    // temporary file's place is taken by a folder, so writing it fails even as root.)
    let before = std::fs::read(&path).unwrap();
    let blocker = dir
        .path()
        .join(format!(".p.json.{}.tmp", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();
    p.name = "changed".into();
    let err = p.save(&path).unwrap_err();
    assert!(err.to_string().contains("p.json"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(Project::load(&path).unwrap().name, "MLP on iris");
    // Once it can be written, the same save goes through.
    std::fs::remove_dir(&blocker).unwrap();
    p.save(&path).unwrap();
    assert_eq!(Project::load(&path).unwrap().name, "changed");
    // Saving into a folder that does not exist fails too.
    assert!(p.save(&dir.path().join("missing").join("p.json")).is_err());
    // A missing file is a read error naming it.
    let err = Project::load(&dir.path().join("nope.json")).unwrap_err();
    assert!(err.to_string().contains("nope.json"));
}

#[test]
fn unknown_keys_are_reported_by_name_and_presets_have_none() {
    let files = ["presets", "presets/lessons"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"));
    for path in files {
        let (_, unknown) = Project::load_reporting(&path).unwrap();
        assert!(unknown.is_empty(), "{}: {unknown:?}", path.display());
    }
    let json = preset_json("mlp-iris")
        .replacen("\"epochs\"", "\"epoch\"", 1)
        .replacen("\"name\"", "\"colour\": \"red\", \"name\"", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.json");
    std::fs::write(&path, json).unwrap();
    let (project, unknown) = Project::load_reporting(&path).unwrap();
    assert_eq!(unknown, ["colour", "training.epoch"]);
    // The misspelt setting falls back to its default, and the note says which keys it was.
    assert_eq!(
        project.training.epochs,
        glassbox::train::TrainSettings::default().epochs
    );
    let note = Project::unknown_keys_note(&path, &unknown).unwrap();
    assert!(
        note.contains("typo.json") && note.contains("training.epoch"),
        "{note}"
    );
}
