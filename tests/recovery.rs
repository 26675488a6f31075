//! Never losing work: autosave to a recovery file, the "recover unsaved work?" prompt, and
//! project files that survive the writer being killed with SIGKILL at any moment.

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use glassbox::project::Project;
use glassbox::recovery::RecoveryFile;
use glassbox::ui::{Studio, StudioSettings};
use std::time::Duration;

/// `step_s` of studio time per frame: large steps make autosave come round quickly, small
/// ones let a press and release count as a click.
fn harness_stepping(studio: Studio, step_s: f32) -> Harness<'static, Studio> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .with_max_steps(12)
        .with_step_dt(step_s)
        .build_ui_state(|ui, s: &mut Studio| s.ui(ui), studio);
    h.run_steps(2);
    h
}

fn harness(studio: Studio) -> Harness<'static, Studio> {
    harness_stepping(studio, 0.05)
}

fn studio() -> Studio {
    let mut s = Studio::new(
        glassbox::presets::load("mlp-iris").unwrap(),
        None,
        StudioSettings::default(),
    );
    s.chrome.dialogs.native = false;
    s
}

#[test]
fn unsaved_changes_are_autosaved_and_the_file_goes_once_saved() {
    let dir = tempfile::tempdir().unwrap();
    let file = RecoveryFile::new(dir.path().join("state"));
    let mut s = studio();
    s.enable_autosave(file.clone());
    let mut h = harness_stepping(s, 5.0);
    assert!(
        file.read().is_none(),
        "nothing unsaved yet, nothing written"
    );
    h.state_mut().doc.project.name = "Edited iris".into();
    h.run_steps(6); // 30 s of studio time
    let rec = file.read().expect("autosaved").unwrap();
    assert_eq!(rec.project.name, "Edited iris");
    // Saving the project makes the recovery file unnecessary.
    let saved = dir.path().join("iris.json");
    h.state_mut()
        .push(glassbox::ui::command::Command::SaveAs(saved.clone()));
    h.run_steps(3);
    assert!(!h.state().is_dirty());
    assert_eq!(Project::load(&saved).unwrap().name, "Edited iris");
    assert!(file.read().is_none(), "the recovery file outlived the save");
}

#[test]
fn a_recovery_file_from_a_crash_is_offered_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = RecoveryFile::new(dir.path());
    let mut lost = glassbox::presets::load("mlp-iris").unwrap();
    lost.name = "Lost work".into();
    lost.training.epochs = 77;
    file.write(&lost, None).unwrap();
    // Recover: the project comes back, still unsaved.
    let mut s = studio();
    s.enable_autosave(file.clone());
    let mut h = harness(s);
    assert!(h.query_by_label("Recover unsaved work?").is_some());
    assert!(h.query_by_label_contains("“Lost work”").is_some());
    h.get_by_label("Recover").click();
    h.run_steps(2);
    assert_eq!(h.state().doc.project.name, "Lost work");
    assert_eq!(h.state().doc.project.training.epochs, 77);
    assert!(
        h.state().is_dirty(),
        "recovered work must still be saved by the user"
    );
    assert!(h.query_by_label("Recover unsaved work?").is_none());
    // Discard: the file is gone and the studio keeps what it opened.
    file.write(&lost, None).unwrap();
    let mut s = studio();
    s.enable_autosave(file.clone());
    let mut h = harness(s);
    h.get_by_label("Discard").click();
    h.run_steps(2);
    assert_eq!(h.state().doc.project.name, "MLP on iris");
    assert!(file.read().is_none());
    // A damaged recovery file is reported, not a crash.
    std::fs::write(file.path(), b"{ not json").unwrap();
    let mut s = studio();
    s.enable_autosave(file.clone());
    let h = harness(s);
    assert!(h.query_by_label_contains("cannot be read").is_some());
}

/// The child side of the SIGKILL test: saves projects of changing size in a loop, forever,
/// naming each `save <cycle>-<i>` and marking its first finished save with a file.
#[test]
fn save_loop_child() {
    let (Some(path), Some(cycle), Some(mark)) = (
        std::env::var_os("GLASSBOX_SAVE_LOOP"),
        std::env::var_os("GLASSBOX_SAVE_CYCLE"),
        std::env::var_os("GLASSBOX_SAVE_MARK"),
    ) else {
        return; // only runs as the child process
    };
    let cycle = cycle.to_string_lossy().into_owned();
    let mut p = glassbox::presets::load("cnn-mnist").unwrap();
    for i in 0u64.. {
        p.name = format!("save {cycle}-{i}");
        p.description = "x".repeat((i % 50_000) as usize);
        p.save(std::path::Path::new(&path)).unwrap();
        if i == 0 {
            std::fs::write(&mark, b"wrote").unwrap();
        }
    }
}

#[test]
fn project_files_survive_sigkill_at_random_moments_in_200_save_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    glassbox::presets::load("cnn-mnist")
        .unwrap()
        .save(&path)
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut killed_writing = 0;
    for cycle in 0..200 {
        let mark = marks.path().join(format!("wrote-{cycle}"));
        let mut child = std::process::Command::new(&exe)
            .args([
                "save_loop_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("GLASSBOX_SAVE_LOOP", &path)
            .env("GLASSBOX_SAVE_CYCLE", cycle.to_string())
            .env("GLASSBOX_SAVE_MARK", &mark)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The kill lands after the child's first save, so every cycle kills a writer at work.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !mark.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "cycle {cycle}: the child saved nothing in 30 s"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "cycle {cycle}: the child ended before saving"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 30_000));
        if child.try_wait().unwrap().is_none() {
            killed_writing += 1;
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let p = Project::load(&path).unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        // What is on disk is this child's work, whole: not an earlier cycle's, not the preset.
        assert!(
            p.name.starts_with(&format!("save {cycle}-")),
            "cycle {cycle}: the file holds {:?}",
            p.name
        );
    }
    assert!(
        killed_writing >= 190,
        "only {killed_writing} kills hit a running writer"
    );
    // Temporary files a killed writer leaves carry the dot prefix; the project is intact.
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "p.json" && !n.starts_with(".p.json."))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn an_interrupted_run_is_offered_and_resumes_after_its_last_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let file = RecoveryFile::new(dir.path());
    let mut p = glassbox::presets::load("mlp-iris").unwrap();
    p.training.epochs = 6;
    // What a run killed after epoch 4 leaves behind.
    let weights = glassbox::model::Model::build(&p.graph, 1)
        .unwrap()
        .weights()
        .unwrap();
    let spec = glassbox::train::CheckpointSpec {
        dir: file.run_checkpoint_dir(),
        resume: false,
    };
    glassbox::train::checkpoint::save(&spec, &p, 4, &weights).unwrap();
    let mut s = Studio::new(p, None, StudioSettings::default());
    s.chrome.dialogs.native = false;
    s.enable_autosave(file.clone());
    let mut h = harness(s);
    assert!(h.query_by_label("Resume interrupted training?").is_some());
    assert!(h
        .query_by_label_contains("stopped after epoch 4 of 6")
        .is_some());
    let t0 = std::time::Instant::now();
    while h.state().data.summary.is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the data did not load"
        );
        h.step();
    }
    h.get_by_label("Resume training").click();
    h.run_steps(2);
    while h.state().is_training() || h.state().session.weights.is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{:?}",
            h.state().run_state()
        );
        h.step();
    }
    let r = h.state().session.history.clone().unwrap();
    let epochs: Vec<usize> = r.epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, [5, 6], "only the epochs after the checkpoint ran");
    assert!(h.query_by_label("Resume interrupted training?").is_none());
    // A finished run leaves no checkpoint to offer next time.
    assert!(!file.run_checkpoint_dir().join("checkpoint.json").exists());
}
