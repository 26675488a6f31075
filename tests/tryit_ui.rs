//! The "try it" views driven as a user would (egui_kittest): draw a digit with the mouse, type
//! a text into a text classifier, and read a transformer's attention maps.

use egui::accesskit::Role;
use egui::{Event, Key, Modifiers, Pos2};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use glassbox::ui::Studio;

mod common;
use common::ui::{harness, has_text, train_then_open_insight, wait_for};

fn train_then_open(h: &mut Harness<'static, Studio>, tab: &str) {
    train_then_open_insight(h, 90.0);
    h.get_by_label(tab).click();
    h.run_steps(2);
}

/// A mouse stroke with the left button held, through `points`.
fn drag_through(h: &mut Harness<'static, Studio>, points: &[Pos2]) {
    h.hover_at(points[0]);
    h.step();
    h.drag_at(points[0]);
    h.step();
    for &p in &points[1..] {
        h.event(Event::PointerMoved(p));
        h.step();
    }
    h.drop_at(*points.last().unwrap());
    h.step();
}

#[test]
fn a_digit_drawn_with_the_mouse_is_read_as_it_is_drawn() {
    let mut p = glassbox::presets::load("mlp-mnist").unwrap();
    p.data.max_train_samples = Some(6_000);
    p.training.epochs = 2;
    let mut h = harness(p);
    train_then_open(&mut h, "Try it: draw");
    assert!(has_text(&h, "draw here"));
    let canvas = h
        .state()
        .insight
        .tryit
        .canvas_rect
        .expect("the canvas is drawn");
    // A "1": one stroke down the middle.
    let stroke: Vec<Pos2> = (0..=12)
        .map(|k| {
            let t = 0.2 + 0.6 * k as f32 / 12.0;
            Pos2::new(canvas.center().x, canvas.top() + t * canvas.height())
        })
        .collect();
    drag_through(&mut h, &stroke);
    let ink: f32 = h.state().insight.tryit.drawing.iter().sum();
    assert!(ink > 255.0 * 20.0, "the stroke left {ink} of ink");
    assert!(
        wait_for(&mut h, 20.0, |s| s.insight.tryit.image.is_some()
            && !s.insight.tryit.image_live.in_flight),
        "{:?}",
        h.state().insight.error
    );
    h.run_steps(2);
    let v = h.state().insight.tryit.image.clone().unwrap();
    assert_eq!(
        v.class, 1,
        "a vertical stroke read as {} ({:?})",
        v.class, v.probs
    );
    assert!(has_text(&h, "prediction: 1"));
    assert!(has_text(&h, "what it looks at"));
    h.get_by_label("Clear").click();
    h.run_steps(2);
    let left: f32 = h.state().insight.tryit.drawing.iter().sum();
    assert_eq!(
        left,
        0.0,
        "ink after Clear; verdict {:?}",
        h.state().insight.tryit.image.is_some()
    );
    assert!(h.state().insight.tryit.image.is_none());
}

#[test]
fn a_typed_text_shows_its_class_and_the_characters_it_rests_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(common::x_spotter(&dir));
    train_then_open(&mut h, "Try it: type");
    assert!(
        !has_text(&h, "Try it: draw"),
        "a drawing board for a text model"
    );
    let field = h.get_by_role_and_label(Role::TextInput, "Text to classify");
    field.focus();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_role_and_label(Role::TextInput, "Text to classify")
        .type_text("bcxab");
    assert!(
        wait_for(&mut h, 20.0, |s| s
            .insight
            .tryit
            .text_verdict
            .as_ref()
            .is_some_and(|v| v.tokens.concat() == "bcxab")),
        "{:?}",
        h.state().insight.error
    );
    h.run_steps(2);
    assert!(has_text(&h, "prediction: x"));
    assert!(has_text(&h, "what it rests on"));
    let v = h.state().insight.tryit.text_verdict.clone().unwrap();
    let top = v
        .saliency
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    assert_eq!(v.tokens[top], "x", "{v:?}");
}

#[test]
fn attention_maps_of_a_typed_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tale.txt");
    std::fs::write(
        &path,
        "it was the best of times, it was the worst of times. ".repeat(20),
    )
    .unwrap();
    let mut p = glassbox::presets::load("transformer-moby-dick").unwrap();
    p.data.source = glassbox::data::DataSource::TextLm {
        path: path.display().to_string(),
        context: 64,
        stride: 8,
        carry_state: false,
        vocab_from: None,
    };
    p.training.epochs = 1;
    let mut h = harness(p);
    // The preset's vocabulary size follows the new text when it loads.
    train_then_open(&mut h, "Attention");
    let field = h.get_by_role_and_label(Role::TextInput, "Text to look at");
    field.focus();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_role_and_label(Role::TextInput, "Text to look at")
        .type_text("it was the best");
    assert!(
        wait_for(&mut h, 20.0, |s| s
            .insight
            .tryit
            .attention
            .as_ref()
            .is_some_and(|(t, _)| t.concat() == "it was the best")),
        "{:?}",
        h.state().insight.error
    );
    h.run_steps(2);
    assert!(has_text(&h, "attn · head 1"));
    assert!(has_text(&h, "the last character 't' looks most at"));
    h.get_by_label("3").click();
    h.run_steps(2);
    assert!(has_text(&h, "attn · head 3"));
    // A character the text never had is named.
    h.get_by_role_and_label(Role::TextInput, "Text to look at")
        .focus();
    h.step();
    h.get_by_role_and_label(Role::TextInput, "Text to look at")
        .type_text("£");
    assert!(wait_for(&mut h, 20.0, |s| s
        .insight
        .error
        .as_deref()
        .is_some_and(|e| e.contains("'£'"))));
}
