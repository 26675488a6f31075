//! Attention maps, after BertViz and Transformer Explainer: pick a layer and a head and see,
//! for a typed text, how much each position (row) attends to each earlier one (column).

use super::tryit::LiveInput;
use crate::ui::colormap::sequential;
use crate::ui::studio::Studio;
use egui::{Color32, RichText, Sense, Ui};

/// Size of the map on screen, points: at most, at least, and the margin for its labels.
const MAP_PT: f32 = 420.0;
const MIN_MAP_PT: f32 = 160.0;
const LABEL_PT: f32 = 12.0;

pub(super) fn attention_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal(|ui| {
        let l = ui.label("Text to look at");
        let edit = ui
            .add(
                egui::TextEdit::singleline(&mut studio.insight.tryit.attention_text)
                    .desired_width(360.0)
                    .hint_text("type a text"),
            )
            .labelled_by(l.id);
        if edit.changed() || ui.button("Show attention").clicked() {
            studio.insight.tryit.attention_live.dirty = true;
        }
    });
    let Some((tokens, maps)) = studio.insight.tryit.attention.clone() else {
        ui.label(
            RichText::new(
                "Type a text and press Show attention: each head's weights appear as a heat map.",
            )
            .weak(),
        );
        studio.tryit_send(LiveInput::Attention);
        return;
    };
    let t = &mut studio.insight.tryit;
    ui.horizontal(|ui| {
        ui.label("layer");
        for (i, m) in maps.iter().enumerate() {
            ui.selectable_value(&mut t.layer, i, &m.node);
        }
        let heads = maps.get(t.layer).map_or(0, |m| m.heads);
        t.head = t.head.min(heads.saturating_sub(1));
        ui.separator();
        ui.label("head");
        for h in 0..heads {
            ui.selectable_value(&mut t.head, h, format!("{}", h + 1));
        }
    });
    let Some(map) = maps.get(t.layer) else {
        return;
    };
    let head = t.head;
    let n = map.len.min(tokens.len());
    if n == 0 {
        return;
    }
    ui.horizontal_top(|ui| {
        // The map fills the panel's height; the characters label its rows and columns.
        let side = (ui.available_height() - 4.0).clamp(MIN_MAP_PT, MAP_PT);
        let (outer, resp) = ui.allocate_exact_size(egui::vec2(side, side), Sense::hover());
        let rect = egui::Rect::from_min_max(outer.min + egui::vec2(LABEL_PT, LABEL_PT), outer.max);
        let cell = rect.width() / n.max(1) as f32;
        let painter = ui.painter_at(outer);
        let font = egui::FontId::monospace((cell * 0.9).clamp(6.0, 12.0));
        let text_colour = ui.visuals().text_color();
        for (i, tok) in tokens.iter().take(n).enumerate() {
            let shown = if tok == " " {
                "·".to_string()
            } else {
                tok.replace('\n', "⏎")
            };
            let mid = (i as f32 + 0.5) * cell;
            painter.text(
                egui::pos2(rect.left() - 2.0, rect.top() + mid),
                egui::Align2::RIGHT_CENTER,
                &shown,
                font.clone(),
                text_colour,
            );
            painter.text(
                egui::pos2(rect.left() + mid, rect.top() - 2.0),
                egui::Align2::CENTER_BOTTOM,
                &shown,
                font.clone(),
                text_colour,
            );
        }
        for q in 0..n {
            for k in 0..n {
                let w = map.at(head, q, k);
                let r = egui::Rect::from_min_size(
                    rect.min + egui::vec2(k as f32 * cell, q as f32 * cell),
                    egui::vec2(cell, cell),
                );
                // √ spreads the small weights most heads give most keys.
                let colour = if map.causal && k > q {
                    Color32::from_gray(30)
                } else {
                    sequential(w.sqrt())
                };
                painter.rect_filled(r, 0.0, colour);
            }
        }
        let hovered = resp.hover_pos().filter(|p| rect.contains(*p)).map(|p| {
            let rel = p - rect.min;
            (
                ((rel.y / cell) as usize).min(n.saturating_sub(1)),
                ((rel.x / cell) as usize).min(n.saturating_sub(1)),
            )
        });
        ui.vertical(|ui| {
            ui.label(RichText::new(format!("{} · head {}", map.node, head + 1)).strong());
            ui.label("rows: the position that looks; columns: the position looked at.");
            if map.causal {
                ui.label(
                    RichText::new("causal: a position sees only itself and earlier ones (grey)")
                        .weak(),
                );
            }
            let show = |s: &str| {
                if s == " " {
                    "·".to_string()
                } else {
                    s.replace('\n', "⏎")
                }
            };
            if let Some((q, k)) = hovered {
                ui.label(format!(
                    "'{}' (position {}) → '{}' (position {}): {:.3}",
                    show(&tokens[q]),
                    q + 1,
                    show(&tokens[k]),
                    k + 1,
                    map.at(head, q, k)
                ));
            }
            // Where the last position looks: the characters it weighs most.
            let last = n.saturating_sub(1);
            let mut keys: Vec<(usize, f32)> = (0..n).map(|k| (k, map.at(head, last, k))).collect();
            keys.sort_by(|a, b| b.1.total_cmp(&a.1));
            ui.add_space(6.0);
            ui.label(
                RichText::new(format!(
                    "the last character '{}' looks most at:",
                    show(&tokens[last])
                ))
                .strong(),
            );
            for (k, w) in keys.iter().take(5) {
                ui.monospace(format!(
                    "{:>5.1} %  '{}' (position {})",
                    w * 100.0,
                    show(&tokens[*k]),
                    k + 1
                ));
            }
            ui.add_space(6.0);
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 1.0;
                for (k, tok) in tokens.iter().take(n).enumerate() {
                    let w = map.at(head, last, k);
                    ui.label(
                        RichText::new(show(tok))
                            .monospace()
                            .size(16.0)
                            .color(Color32::BLACK)
                            .background_color(heat(w)),
                    );
                }
            });
        });
    });
    studio.tryit_send(LiveInput::Attention);
}

/// White (no weight) to orange (all of it), light enough for black text.
fn heat(w: f32) -> Color32 {
    let w = w.clamp(0.0, 1.0).sqrt();
    Color32::from_rgb(255, (255.0 - 110.0 * w) as u8, (255.0 - 220.0 * w) as u8)
}
