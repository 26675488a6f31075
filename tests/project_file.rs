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
    // Saving into a folder that does not exist fails and leaves the first file intact.
    p.name = "changed".into();
    assert!(p.save(&dir.path().join("missing").join("p.json")).is_err());
    assert_eq!(Project::load(&path).unwrap().name, "MLP on iris");
    // A missing file is a read error naming it.
    let err = Project::load(&dir.path().join("nope.json")).unwrap_err();
    assert!(err.to_string().contains("nope.json"));
}
