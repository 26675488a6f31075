//! The data preview: images, table rows, text, or a 2-D scatter with its decision boundary.

use crate::data::{augmented_images, DataSummary, ImageSample, Preview};
use crate::train::BoundaryMap;
use crate::ui::studio::Studio;
use crate::ui::theme::ERROR;
use egui::{Color32, ColorImage, RichText, TextureHandle, TextureOptions, Ui};
use egui_plot::{Legend, Plot, PlotImage, PlotPoint, Points};

fn image_texture(ctx: &egui::Context, img: &ImageSample, name: String) -> TextureHandle {
    let (h, w) = (img.height, img.width);
    let pixels: Vec<Color32> = (0..h * w)
        .map(|p| {
            if img.channels >= 3 {
                let plane = h * w;
                Color32::from_rgb(
                    img.pixels[p],
                    img.pixels[plane + p],
                    img.pixels[2 * plane + p],
                )
            } else {
                let v = img.pixels[p];
                Color32::from_rgb(v, v, v)
            }
        })
        .collect();
    ctx.load_texture(
        name,
        ColorImage::new([w, h], pixels),
        TextureOptions::NEAREST,
    )
}

pub(super) fn preview_ui(ui: &mut Ui, studio: &mut Studio) {
    let seed = studio.time().to_bits();
    let state = &mut studio.data;
    if state.is_loading() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Loading…");
            ui.add(egui::ProgressBar::new(state.load_progress()).desired_width(160.0));
        });
    }
    if let Some(e) = &state.error {
        ui.colored_label(ERROR, format!("⚠ {e}"));
    }
    if let Some(p) = &state.pending {
        ui.label(RichText::new(p).strong());
    }
    let Some(summary) = &state.summary else {
        if !state.is_loading() && state.error.is_none() && state.pending.is_none() {
            ui.label(RichText::new("Choose a data set on the left.").weak());
        }
        return;
    };
    ui.label(
        RichText::new(format!(
            "{}: samples of {:?}{}",
            summary.name,
            summary.sample_shape,
            if summary.tokens { " token ids" } else { "" }
        ))
        .strong(),
    );
    if !summary.points.is_empty() {
        let export = crate::ui::experiments::export_button_ui(ui, true).then(|| {
            let mut chart = crate::runs::chart::Chart::new(&summary.name, "x₁", "x₂")
                .styled(crate::runs::chart::ChartStyle::Points);
            for (k, name) in summary.classes.iter().enumerate() {
                let pts = summary
                    .points
                    .iter()
                    .filter(|q| q.2 == k as u32)
                    .map(|q| [q.0 as f64, q.1 as f64])
                    .collect();
                chart = chart.with(name, pts);
            }
            chart
        });
        scatter_ui(ui, summary, &state.boundary, &mut state.boundary_texture);
        if let Some(chart) = export {
            crate::ui::experiments::save_chart(studio, "data-scatter", &chart);
        }
        return;
    }
    match &summary.preview {
        Preview::Images(images) => {
            let key = (
                images.len(),
                state.show_augmented,
                studio.doc.project.data.augmentation.clone(),
            );
            if state.textures_for.as_ref() != Some(&key) {
                let shown = if state.show_augmented {
                    augmented_images(images, &studio.doc.project.data.augmentation, seed)
                } else {
                    images.clone()
                };
                state.textures = shown
                    .iter()
                    .enumerate()
                    .map(|(i, img)| {
                        (
                            image_texture(ui.ctx(), img, format!("data-preview-{i}")),
                            img.label.clone(),
                        )
                    })
                    .collect();
                state.textures_for = Some(key);
            }
            let side = 56.0;
            let per_row = ((ui.available_width() / (side + 8.0)) as usize).max(1);
            egui::ScrollArea::vertical()
                .id_salt("data-images")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    egui::Grid::new("data-image-grid")
                        .spacing(egui::vec2(8.0, 4.0))
                        .show(ui, |ui| {
                            for (i, (tex, label)) in state.textures.iter().enumerate() {
                                ui.vertical(|ui| {
                                    ui.add(
                                        egui::Image::new(tex)
                                            .fit_to_exact_size(egui::vec2(side, side)),
                                    );
                                    ui.label(RichText::new(label).small());
                                });
                                if (i + 1) % per_row == 0 {
                                    ui.end_row();
                                }
                            }
                        });
                });
        }
        Preview::Table { columns, rows } => {
            egui::ScrollArea::both()
                .id_salt("data-table")
                .show(ui, |ui| {
                    egui::Grid::new("data-head").striped(true).show(ui, |ui| {
                        for c in columns {
                            ui.label(RichText::new(c).strong().small());
                        }
                        ui.end_row();
                        for r in rows {
                            for v in r {
                                ui.label(RichText::new(v).monospace().small());
                            }
                            ui.end_row();
                        }
                    });
                });
        }
        Preview::Text(samples) => {
            egui::Grid::new("data-text").striped(true).show(ui, |ui| {
                ui.label(RichText::new("input").strong());
                ui.label(RichText::new("target").strong());
                ui.end_row();
                for (text, target) in samples {
                    ui.monospace(format!("{text:?}"));
                    ui.monospace(target);
                    ui.end_row();
                }
            });
        }
    }
}

/// Colours of classes in scatter plots and boundary maps.
pub fn class_color(k: u32) -> Color32 {
    // Ten distinct hues (Tableau 10), so MNIST's digits each get their own.
    const COLORS: [Color32; 10] = [
        Color32::from_rgb(240, 150, 40),
        Color32::from_rgb(70, 140, 230),
        Color32::from_rgb(90, 190, 110),
        Color32::from_rgb(210, 80, 160),
        Color32::from_rgb(150, 110, 220),
        Color32::from_rgb(200, 190, 70),
        Color32::from_rgb(230, 80, 70),
        Color32::from_rgb(120, 200, 210),
        Color32::from_rgb(170, 120, 90),
        Color32::from_rgb(160, 160, 160),
    ];
    COLORS[k as usize % COLORS.len()]
}

fn boundary_image(map: &BoundaryMap, dark: bool) -> ColorImage {
    let n = map.spec.resolution;
    let bg = if dark {
        Color32::from_gray(20)
    } else {
        Color32::from_gray(245)
    };
    // Rows run bottom-up in the map and top-down in an image.
    let pixels = (0..n * n)
        .map(|p| {
            let (row, col) = (n - 1 - p / n, p % n);
            let i = row * n + col;
            let strength = ((map.confidence[i] - 0.5) * 2.0).clamp(0.0, 1.0) * 0.55;
            lerp_color(bg, class_color(map.class[i]), strength)
        })
        .collect();
    ColorImage::new([n, n], pixels)
}

fn lerp_color(a: Color32, b: Color32, t: f32) -> Color32 {
    let l = |x: u8, y: u8| (x as f32 + (y as f32 - x as f32) * t) as u8;
    Color32::from_rgb(l(a.r(), b.r()), l(a.g(), b.g()), l(a.b(), b.b()))
}

fn scatter_ui(
    ui: &mut Ui,
    summary: &DataSummary,
    boundary: &Option<BoundaryMap>,
    texture: &mut Option<TextureHandle>,
) {
    let dark = ui.visuals().dark_mode;
    if let Some(map) = boundary {
        let img = boundary_image(map, dark);
        match texture {
            Some(t) => t.set(img, TextureOptions::LINEAR),
            None => {
                *texture = Some(
                    ui.ctx()
                        .load_texture("boundary", img, TextureOptions::LINEAR),
                )
            }
        }
    }
    let height = ui.available_height().max(150.0);
    Plot::new("data-scatter")
        .height(height)
        .data_aspect(1.0)
        .legend(Legend::default())
        .show(ui, |p| {
            if let (Some(map), Some(tex)) = (boundary, texture.as_ref()) {
                let s = map.spec;
                let centre = PlotPoint::new((s.x[0] + s.x[1]) / 2.0, (s.y[0] + s.y[1]) / 2.0);
                let size = egui::vec2(s.x[1] - s.x[0], s.y[1] - s.y[0]);
                p.image(PlotImage::new("decision boundary", tex.id(), centre, size));
            }
            for (k, name) in summary.classes.iter().enumerate() {
                let pts: Vec<[f64; 2]> = summary
                    .points
                    .iter()
                    .filter(|q| q.2 == k as u32)
                    .map(|q| [q.0 as f64, q.1 as f64])
                    .collect();
                p.points(
                    Points::new(name.clone(), pts)
                        .color(class_color(k as u32))
                        .radius(2.5),
                );
            }
        });
}
