//! The language model's generation box: a prompt, temperature, top-k and length, usable during
//! and after training, with the samples of earlier epochs kept below to show them improve.

use crate::insight::InsightRequest;
use crate::model::MAX_GENERATE_CHARS;
use crate::ui::studio::Studio;
use egui::{RichText, Ui};

pub(super) fn generate_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal(|ui| {
        ui.label("Prompt");
        ui.add(
            egui::TextEdit::singleline(&mut studio.insight.family.prompt)
                .desired_width(260.0)
                .hint_text("text to continue"),
        );
        let o = &mut studio.insight.family.options;
        ui.label("temperature");
        ui.add(egui::Slider::new(&mut o.temperature, 0.1..=2.0))
            .on_hover_text("Below 1: safer, more repetitive text; above 1: more surprising");
        ui.label("top-k");
        ui.add(egui::DragValue::new(&mut o.top_k).range(0..=200))
            .on_hover_text("Draw only among the k likeliest characters (0 = all)");
        ui.label("length");
        ui.add(egui::DragValue::new(&mut o.length).range(1..=MAX_GENERATE_CHARS));
        if ui.button("Generate").clicked() {
            o.seed = o.seed.wrapping_add(1);
            let request = InsightRequest::Generate {
                prompt: studio.insight.family.prompt.clone(),
                options: studio.insight.family.options.clone(),
            };
            studio.insight_request(request);
        }
    });
    match &studio.insight.family.generated {
        Some((text, ms)) => {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.label(RichText::new(text).monospace());
            });
            ui.label(
                RichText::new(format!("generated in {:.0} ms", ms))
                    .small()
                    .weak(),
            );
        }
        None => {
            ui.label(
                RichText::new(
                    "Type a prompt and press Generate: the model continues it one character at a time.",
                )
                .weak(),
            );
        }
    }
    let samples = studio
        .session
        .history
        .as_ref()
        .map(|h| h.samples_text.clone())
        .unwrap_or_default();
    if samples.is_empty() {
        return;
    }
    ui.add_space(6.0);
    ui.label(RichText::new("Samples while training (newest first)").strong());
    for (epoch, text) in samples.iter().rev() {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("epoch {epoch}")).small().strong());
            ui.label(RichText::new(text).monospace().small());
        });
    }
}
