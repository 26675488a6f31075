//! The studio driven as a user would (egui_kittest): a harness, text queries and bounded waits
//! shared by the UI test binaries.

use egui::{Event, Key, Modifiers, PointerButton, Pos2};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use glassbox::project::Project;
use glassbox::ui::{Studio, StudioSettings};
use std::time::{Duration, Instant};

pub fn harness(project: Project) -> Harness<'static, Studio> {
    let mut s = Studio::new(project, None, StudioSettings::default());
    s.chrome.dialogs.native = false;
    s.doc.editor.identity_transform = true;
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .with_max_steps(12)
        .with_step_dt(0.05)
        .build_ui_state(|ui, s: &mut Studio| s.ui(ui), s);
    h.run_steps(3);
    h
}

pub fn has_text(h: &Harness<'static, Studio>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// Steps the UI until `done` holds or `secs` pass; false on time-out (never hangs).
pub fn wait_for(
    h: &mut Harness<'static, Studio>,
    secs: f32,
    done: impl Fn(&Studio) -> bool,
) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs_f32(secs) {
        h.step();
        if done(h.state()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The studio on `project`, trained with the Train button until the run ends.
pub fn trained(project: Project) -> Harness<'static, Studio> {
    let mut h = harness(project);
    assert!(
        wait_for(&mut h, 20.0, |s| s.data.summary.is_some()),
        "the data did not load"
    );
    train_to_the_end(&mut h, 60.0);
    h
}

/// Presses ▶ Train and waits (at most `secs`) until the run has ended with weights.
pub fn train_to_the_end(h: &mut Harness<'static, Studio>, secs: f32) {
    h.get_by_label("▶ Train").click();
    h.step();
    assert!(
        wait_for(h, secs, |s| s.session.weights.is_some() && !s.is_training()),
        "training did not finish: {:?}",
        h.state().run_state()
    );
}

/// Trains the studio's project with the Train button (for at most `secs`) and opens the
/// Insight tab.
pub fn train_then_open_insight(h: &mut Harness<'static, Studio>, secs: f32) {
    assert!(
        wait_for(h, 20.0, |s| s.data.summary.is_some()),
        "the data did not load"
    );
    train_to_the_end(h, secs);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num3);
    h.run_steps(2);
}

pub fn press(h: &Harness<'static, Studio>, pos: Pos2, pressed: bool) {
    h.event(Event::PointerButton {
        pos,
        button: PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    });
}

/// A mouse drag in small moves, one frame each, as a hand would do it.
pub fn drag(h: &mut Harness<'static, Studio>, from: Pos2, to: Pos2) {
    h.hover_at(from);
    h.step();
    press(h, from, true);
    h.step();
    for i in 1..=8 {
        h.hover_at(from + (to - from) * (i as f32 / 8.0));
        h.step();
    }
    press(h, to, false);
    h.run_steps(3);
}
