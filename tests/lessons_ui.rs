//! A lesson followed in the studio as a person would: Help ▸ Lessons, pick the chapter, open
//! the step's project, train, and see the outcome lit up; then the fix.

mod common;

use common::ui::{harness, has_text, wait_for};
use egui_kittest::kittest::Queryable;

fn train(h: &mut egui_kittest::Harness<'static, glassbox::ui::Studio>) {
    assert!(
        wait_for(h, 20.0, |s| s.data.summary.is_some()),
        "data did not load"
    );
    h.get_by_label("▶ Train").click();
    h.step();
    assert!(
        wait_for(h, 60.0, |s| s.session.history.is_some() && !s.is_training()),
        "the run did not end: {:?}",
        h.state().run_state()
    );
    h.run_steps(3);
}

#[test]
fn the_divergence_lesson_lights_up_its_outcome_then_its_fix() {
    let mut h = harness(glassbox::presets::load("mlp-iris").unwrap());
    h.get_by_label("Help").click();
    h.run_steps(2);
    h.get_by_label("Lessons").click();
    h.run_steps(2);
    assert!(has_text(&h, "1. What a neural network is"));
    h.get_by_label_contains("a learning rate too large").click();
    h.run_steps(2);
    assert!(
        has_text(&h, "When the loss explodes"),
        "the lesson's text is not shown"
    );
    assert!(has_text(&h, "Goal: The run stops"));
    h.get_by_label("▶ Open this step's project").click();
    h.run_steps(3);
    assert_eq!(h.state().doc.project.training.lr, 10_000.0);
    // Not reached before the run.
    assert!(!has_text(&h, "✔ The run stops"));
    train(&mut h);
    assert!(
        has_text(&h, "✔ The run stops within a few steps"),
        "outcome not lit: {:?}",
        h.state().run_state()
    );
    h.get_by_label("Next step ▶").click();
    h.run_steps(2);
    h.get_by_label("▶ Open this step's project").click();
    h.run_steps(3);
    assert_eq!(h.state().doc.project.training.lr, 0.01);
    train(&mut h);
    assert!(
        has_text(&h, "✔ At a sane rate"),
        "{:?}",
        h.state().chrome.message
    );
}
