//! The evaluation view: confusion matrix, per-class scores, mistakes and baselines.

use crate::insight::{Evaluation, InsightRequest, Split};
use crate::ui::colormap::sample_image;
use crate::ui::studio::Studio;
use crate::ui::theme::{ERROR, OK};
use egui::{RichText, Ui};

/// The split to evaluate on and the Evaluate button (classifiers and regressions alike).
fn evaluate_split_ui(ui: &mut Ui, studio: &mut Studio, what: &str) {
    let split = studio.insight.eval_split.get_or_insert(Split::Validation);
    ui.radio_value(split, Split::Validation, "validation");
    ui.radio_value(split, Split::Test, "test");
    if ui.button("Evaluate").on_hover_text(what).clicked() {
        let split = *split;
        studio.insight_request(InsightRequest::Evaluate { split });
    }
}

pub(super) fn evaluation_ui(ui: &mut Ui, studio: &mut Studio) {
    let regression = studio
        .data
        .dataset
        .as_ref()
        .is_some_and(|d| d.target_dim().is_some());
    if regression {
        ui.horizontal(|ui| {
            evaluate_split_ui(
                ui,
                studio,
                "Predictions against the truth, and a linear least-squares fit on the same split",
            )
        });
        match &studio.insight.regression {
            Some(r) => super::regression_view::regression_ui(ui, r),
            None => {
                ui.label(
                    RichText::new(
                        "Evaluate the trained network on the validation or test split: predicted against true, residuals, R², RMSE and MAE beside a linear model.",
                    )
                    .weak(),
                );
            }
        }
        return;
    }
    ui.horizontal(|ui| {
        evaluate_split_ui(
            ui,
            studio,
            "Confusion matrix, per-class scores and mistakes on the chosen split",
        );
        ui.checkbox(&mut studio.insight.normalized, "normalised by true class");
        if ui
            .button("Compare with baselines")
            .on_hover_text("Majority class, and a linear model trained on the same split")
            .clicked()
        {
            studio.insight_request(InsightRequest::Baselines);
        }
        if let Some((maj, lin)) = studio.insight.baselines {
            let model = studio
                .session
                .history
                .as_ref()
                .and_then(|h| h.test)
                .and_then(|t| t.accuracy);
            let f = |a: Option<f32>| a.map_or("–".into(), |a| format!("{:.1} %", a * 100.0));
            ui.label(format!(
                "test accuracy · network {} · linear model {} · majority class {}",
                f(model),
                f(lin),
                f(maj)
            ));
        }
    });
    let Some((split, eval)) = studio.insight.evaluation.clone() else {
        ui.label(
            RichText::new("Evaluate the trained network on the validation or test split.").weak(),
        );
        return;
    };
    ui.label(format!(
        "{} samples ({}), accuracy {:.2} %",
        eval.total(),
        if split == Split::Validation {
            "validation"
        } else {
            "test"
        },
        eval.accuracy * 100.0
    ));
    ui.horizontal_top(|ui| {
        confusion_ui(ui, studio, &eval);
        ui.separator();
        ui.vertical(|ui| {
            egui::ScrollArea::vertical()
                .id_salt("per-class")
                .max_height(ui.available_height())
                .show(ui, |ui| {
                    egui::Grid::new("per-class-scores")
                        .striped(true)
                        .show(ui, |ui| {
                            for h in ["class", "precision", "recall", "F1", "support"] {
                                ui.label(RichText::new(h).strong());
                            }
                            ui.end_row();
                            for (k, s) in eval.per_class().iter().enumerate() {
                                ui.label(&eval.classes[k]);
                                ui.monospace(format!("{:.3}", s.precision));
                                ui.monospace(format!("{:.3}", s.recall));
                                ui.monospace(format!("{:.3}", s.f1));
                                ui.monospace(s.support.to_string());
                                ui.end_row();
                            }
                        });
                });
        });
        ui.separator();
        ui.vertical(|ui| {
            let (title, picks): (String, Vec<crate::insight::Prediction>) =
                match studio.insight.cell {
                    Some((t, p)) => (
                        format!("true {} → predicted {}", eval.classes[t], eval.classes[p]),
                        eval.cell(t, p).into_iter().take(24).cloned().collect(),
                    ),
                    None => (
                        "most confident mistakes".into(),
                        eval.most_confident_mistakes(24)
                            .into_iter()
                            .cloned()
                            .collect(),
                    ),
                };
            ui.label(RichText::new(title).strong());
            gallery_ui(ui, studio, &eval, &picks);
        });
    });
}

#[allow(clippy::needless_range_loop)] // t and p index the matrix, its normalised copy and the names
fn confusion_ui(ui: &mut Ui, studio: &mut Studio, eval: &Evaluation) {
    let k = eval.classes.len();
    let norm = eval.normalized();
    let max = eval
        .confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    let cell = (280.0 / k as f32).clamp(14.0, 34.0);
    egui::Grid::new("confusion")
        .spacing(egui::vec2(1.0, 1.0))
        .show(ui, |ui| {
            ui.label(RichText::new("true ↓ predicted →").small());
            for c in &eval.classes {
                ui.label(RichText::new(c).small());
            }
            ui.end_row();
            for t in 0..k {
                ui.label(RichText::new(&eval.classes[t]).small());
                for p in 0..k {
                    let count = eval.confusion[t][p];
                    let v = if studio.insight.normalized {
                        norm[t][p]
                    } else {
                        count as f32 / max
                    };
                    let fill = if t == p {
                        OK.gamma_multiply(0.15 + 0.85 * v)
                    } else {
                        ERROR.gamma_multiply(if count > 0 { 0.15 + 0.85 * v } else { 0.03 })
                    };
                    let text = if studio.insight.normalized {
                        format!("{:.2}", norm[t][p])
                    } else {
                        count.to_string()
                    };
                    let (rect, resp) = ui.allocate_exact_size(
                        egui::vec2(cell.max(30.0), cell),
                        egui::Sense::click(),
                    );
                    ui.painter().rect_filled(rect, 2.0, fill);
                    ui.painter().text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        text,
                        egui::FontId::monospace(10.0),
                        ui.visuals().strong_text_color(),
                    );
                    if resp
                        .on_hover_text(format!(
                            "true {} predicted {}: {count}",
                            eval.classes[t], eval.classes[p]
                        ))
                        .clicked()
                    {
                        studio.insight.cell = Some((t, p));
                    }
                }
                ui.end_row();
            }
        });
}

fn gallery_ui(
    ui: &mut Ui,
    studio: &mut Studio,
    eval: &Evaluation,
    picks: &[crate::insight::Prediction],
) {
    let Some(data) = studio.data.dataset.clone() else {
        return;
    };
    let ctx = ui.ctx().clone();
    egui::ScrollArea::vertical()
        .id_salt("gallery")
        .max_height(ui.available_height())
        .show(ui, |ui| {
            egui::Grid::new("gallery-grid").show(ui, |ui| {
                for (i, p) in picks.iter().enumerate() {
                    ui.vertical(|ui| {
                        if let Some(img) =
                            sample_image(&data.raw_sample(p.index), &data.sample_shape)
                        {
                            let tex = studio.insight.texture(&ctx, &format!("gallery-{i}"), img);
                            ui.add(
                                egui::Image::new(&tex).fit_to_exact_size(egui::vec2(48.0, 48.0)),
                            );
                        }
                        ui.label(
                            RichText::new(format!(
                                "{}→{} {:.0}%",
                                eval.classes[p.label],
                                eval.classes[p.predicted],
                                p.confidence * 100.0
                            ))
                            .small(),
                        );
                    });
                    if (i + 1) % 6 == 0 {
                        ui.end_row();
                    }
                }
            });
        });
}
