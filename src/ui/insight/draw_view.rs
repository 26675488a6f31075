//! "Try it" for image classifiers: draw with the mouse (right button erases) or drop an image
//! file, and see the prediction, every class's probability and the saliency update as you draw.

use super::tryit::LiveInput;
use super::{class_name, class_names};
use crate::ui::colormap::{overlay_image, sample_image_in};
use crate::ui::studio::Studio;
use egui::{Color32, PointerButton, Pos2, RichText, Sense, Ui};

/// Canvas side on screen, points.
const CANVAS_PT: f32 = 224.0;
/// Brush: full ink within `INNER` pixels of the stroke, fading to none at `OUTER`, which
/// gives strokes about as thick as MNIST's.
const INNER_PX: f32 = 0.9;
const OUTER_PX: f32 = 1.9;

pub(super) fn draw_ui(ui: &mut Ui, studio: &mut Studio) {
    let Some(dims) = studio
        .data
        .summary
        .as_ref()
        .map(|s| s.sample_shape.clone())
        .filter(|d| d.len() == 3)
    else {
        ui.label(RichText::new("Drawing needs an image classifier: load image data first.").weak());
        return;
    };
    let t = &mut studio.insight.tryit;
    if t.dims != dims {
        t.dims = dims.clone();
        t.drawing = vec![0.0; dims.iter().product()];
        t.image = None;
    }
    dropped_file_ui(ui, studio, &dims);
    let ctx = ui.ctx().clone();
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new("draw here").strong());
                if ui.button("Clear").clicked() {
                    studio.insight.tryit.clear_drawing();
                }
                let t = &mut studio.insight.tryit;
                if ui
                    .checkbox(&mut t.center, "centre it")
                    .on_hover_text("Move the drawing's centre of mass to the middle, as MNIST's digits were prepared")
                    .changed()
                {
                    t.image_live.dirty = true;
                }
            });
            canvas_ui(ui, studio, &dims);
            ui.label(
                RichText::new("left button draws, right button erases; or drop a PNG/JPEG here")
                    .small()
                    .weak(),
            );
            if let Some(e) = &studio.insight.tryit.drop_error {
                ui.colored_label(crate::ui::theme::ERROR, e);
            }
        });
        ui.separator();
        let Some(v) = studio.insight.tryit.image.clone() else {
            ui.label(RichText::new("Draw a digit: the prediction appears as you draw.").weak());
            return;
        };
        ui.vertical(|ui| {
            ui.label(RichText::new("what it looks at").strong());
            if let Some(img) = overlay_image(&v.input, &v.saliency, &dims, 0.85) {
                let tex = studio.insight.texture(&ctx, "draw-saliency", img);
                ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(180.0, 180.0)));
            }
            ui.label(
                RichText::new("red: pixels whose change moves the score most (|gradient|)")
                    .small()
                    .weak(),
            );
        });
        ui.separator();
        ui.vertical(|ui| prediction_ui(ui, studio, &v.probs, v.class));
    });
    studio.tryit_send(LiveInput::Drawing);
}

/// The predicted class and its probability, above one bar per class.
pub(super) fn prediction_ui(ui: &mut Ui, studio: &Studio, probs: &[f32], class: usize) {
    ui.label(
        RichText::new(format!(
            "prediction: {} ({:.1} %)",
            class_name(studio, class),
            probs[class] * 100.0
        ))
        .strong()
        .size(18.0),
    );
    probability_bars_ui(ui, &class_names(studio), probs, class);
}

/// One bar per class, the predicted one highlighted.
fn probability_bars_ui(ui: &mut Ui, names: &[String], probs: &[f32], best: usize) {
    for (k, &p) in probs.iter().enumerate() {
        let name = names.get(k).cloned().unwrap_or_else(|| k.to_string());
        ui.horizontal(|ui| {
            ui.add_sized(
                [70.0, 16.0],
                egui::Label::new(RichText::new(name).monospace()),
            );
            let bar = egui::ProgressBar::new(p.clamp(0.0, 1.0))
                .desired_width(220.0)
                .text(format!("{:.1} %", p * 100.0));
            let bar = if k == best {
                bar.fill(crate::ui::theme::OK)
            } else {
                bar
            };
            ui.add(bar);
        });
    }
}

fn canvas_ui(ui: &mut Ui, studio: &mut Studio, dims: &[usize]) {
    let (rect, resp) =
        ui.allocate_exact_size(egui::vec2(CANVAS_PT, CANVAS_PT), Sense::click_and_drag());
    let t = &mut studio.insight.tryit;
    t.canvas_rect = Some(rect);
    let (h, w) = (dims[1], dims[2]);
    let to_px = |p: Pos2| {
        Pos2::new(
            (p.x - rect.left()) / rect.width() * w as f32,
            (p.y - rect.top()) / rect.height() * h as f32,
        )
    };
    let ink = if resp.dragged_by(PointerButton::Primary) || resp.clicked() {
        Some(255.0)
    } else if resp.dragged_by(PointerButton::Secondary) || resp.secondary_clicked() {
        Some(0.0)
    } else {
        None
    };
    match (ink, resp.interact_pointer_pos()) {
        (Some(value), Some(p)) => {
            let to = to_px(p);
            let from = t.stroke_from.unwrap_or(to);
            stroke(&mut t.drawing, dims, from, to, value);
            t.stroke_from = Some(to);
            t.image_live.dirty = true;
        }
        _ => t.stroke_from = None,
    }
    if let Some(img) = sample_image_in(&t.drawing, dims, 0.0, 255.0) {
        let tex = studio.insight.texture(ui.ctx(), "draw-canvas", img);
        ui.painter().image(
            tex.id(),
            rect,
            egui::Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
            Color32::WHITE,
        );
    }
    ui.painter().rect_stroke(
        rect,
        0.0,
        egui::Stroke::new(1.0, Color32::GRAY),
        egui::StrokeKind::Outside,
    );
}

/// Paints the segment `from`–`to` (image pixels) into every channel of `drawing`; ink 0 erases.
pub fn stroke(drawing: &mut [f32], dims: &[usize], from: Pos2, to: Pos2, ink: f32) {
    let [c, h, w] = dims[..] else { return };
    let seg = to - from;
    let len2 = seg.length_sq().max(1e-9);
    for y in 0..h {
        for x in 0..w {
            let p = Pos2::new(x as f32 + 0.5, y as f32 + 0.5);
            let t = ((p - from).dot(seg) / len2).clamp(0.0, 1.0);
            let d = (p - (from + seg * t)).length();
            let a = ((OUTER_PX - d) / (OUTER_PX - INNER_PX)).clamp(0.0, 1.0);
            if a <= 0.0 {
                continue;
            }
            for ch in 0..c {
                let v = &mut drawing[(ch * h + y) * w + x];
                *v = if ink > 0.0 {
                    v.max(ink * a)
                } else {
                    *v * (1.0 - a)
                };
            }
        }
    }
}

/// A file dropped on the window becomes the drawing.
fn dropped_file_ui(ui: &mut Ui, studio: &mut Studio, dims: &[usize]) {
    let dropped = ui.ctx().input(|i| i.raw.dropped_files.clone());
    let Some(path) = dropped.first().map(|f| f.path().to_path_buf()) else {
        return;
    };
    let t = &mut studio.insight.tryit;
    // Only grey digits are expected light on dark (as MNIST's); colour photos stay as they are.
    match crate::data::read_image_sample(&path, dims, dims[0] == 1) {
        Ok(values) => {
            t.drawing = values;
            t.drop_error = None;
            t.image_live.dirty = true;
        }
        Err(e) => t.drop_error = Some(e.to_string()),
    }
}
