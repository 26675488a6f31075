//! "Try it" for text classifiers: type a text, see every class's probability and, per
//! character or word, how much the prediction rests on it.

use super::class_name;
use super::draw_view::prediction_ui;
use super::tryit::LiveInput;
use crate::ui::colormap::diverging;
use crate::ui::studio::Studio;
use egui::{Color32, RichText, Ui};

pub(super) fn text_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal(|ui| {
        let l = ui.label("Text to classify");
        let edit = ui
            .add(
                egui::TextEdit::singleline(&mut studio.insight.tryit.text)
                    .desired_width(320.0)
                    .hint_text("type a text"),
            )
            .labelled_by(l.id);
        if edit.changed() {
            studio.insight.tryit.text_live.dirty = true;
        }
        if ui.button("Classify").clicked() {
            studio.insight.tryit.text_live.dirty = true;
        }
    });
    ui.add_space(6.0);
    match studio.insight.tryit.text_verdict.clone() {
        Some(v) => {
            prediction_ui(ui, studio, &v.probs, v.class);
            ui.add_space(6.0);
            ui.label(RichText::new("what it rests on").strong());
            let scale = v
                .saliency
                .iter()
                .map(|s| s.abs())
                .fold(0.0f32, f32::max)
                .max(1e-6);
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 2.0;
                for (tok, s) in v.tokens.iter().zip(&v.saliency) {
                    let bg = diverging(s / scale);
                    let shown = if tok == " " { "·" } else { tok.as_str() };
                    ui.label(
                        RichText::new(shown)
                            .monospace()
                            .size(20.0)
                            .color(Color32::BLACK)
                            .background_color(bg),
                    )
                    .on_hover_text(format!(
                        "without it, p({}) changes by {:+.1} points",
                        class_name(studio, v.class),
                        -s * 100.0
                    ));
                }
            });
            ui.label(
                RichText::new(
                    "red: blanking it out lowers the predicted class's probability (it supports it); blue: blanking it raises it",
                )
                .small()
                .weak(),
            );
            if v.cut > 0 {
                ui.label(
                    RichText::new(format!(
                        "{} more token(s) are past the model's length and were not read",
                        v.cut
                    ))
                    .small(),
                );
            }
        }
        None => {
            ui.label(
                RichText::new(
                    "Type a text: the prediction and each character's share in it update as you type.",
                )
                .weak(),
            );
        }
    }
    studio.tryit_send(LiveInput::Text);
}
