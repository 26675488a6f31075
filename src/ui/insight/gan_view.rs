//! The GAN view, after GAN Lab: the generator's samples from one fixed noise batch, refreshed
//! live, beside both losses and the discriminator's verdicts D(x) on real and D(G(z)) on
//! generated samples.

use crate::train::downsample;
use crate::ui::colormap::sample_image_in;
use crate::ui::studio::Studio;
use crate::ui::theme::{ERROR, OK, TRAIN, VAL};
use egui::{Color32, ColorImage, RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

/// Points per metric line on screen.
const MAX_POINTS: usize = 600;

pub(super) fn gan_ui(ui: &mut Ui, studio: &mut Studio) {
    let Some(history) = studio.session.history.as_ref() else {
        ui.label(
            RichText::new("Press ▶ Train: the generator's samples appear here as it learns.")
                .weak(),
        );
        return;
    };
    let grid = history.generated.clone();
    let lines: Vec<(String, Vec<[f64; 2]>)> = history
        .metrics
        .iter()
        .map(|(k, v)| (k.clone(), downsample(v, MAX_POINTS)))
        .collect();
    let ctx = ui.ctx().clone();
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            match &grid {
                Some((step, dims, images)) => {
                    ui.label(RichText::new(format!("samples from fixed noise, step {step}")).strong());
                    let cols = (images.len() as f64).sqrt().ceil() as usize;
                    if let Some(img) = grid_image(images, dims, cols) {
                        let tex = studio.insight.texture(&ctx, "gan-grid", img);
                        ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(300.0, 300.0)));
                    }
                }
                None => {
                    ui.label(RichText::new("The first samples appear after the first steps.").weak());
                }
            }
        });
        ui.separator();
        ui.vertical(|ui| interpolation_ui(ui, studio));
        ui.separator();
        ui.vertical(|ui| {
            ui.label(RichText::new("the two players").strong());
            let colour = |name: &str| match name {
                "discriminator loss" => VAL,
                "generator loss" => TRAIN,
                "D(x)" => OK,
                _ => ERROR,
            };
            if crate::ui::experiments::export_button_ui(ui, !lines.is_empty()) {
                let mut chart = crate::runs::chart::Chart::new("GAN: the two players", "step", "value");
                for (name, pts) in &lines {
                    chart = chart.with(name, pts.clone());
                }
                crate::ui::experiments::save_chart(studio, "gan-metrics", &chart);
            }
            Plot::new("gan-metrics")
                .height(220.0)
                .width(ui.available_width().clamp(300.0, 640.0))
                .x_axis_label("step")
                .legend(Legend::default())
                .show(ui, |p| {
                    for (name, pts) in lines {
                        let c: Color32 = colour(&name);
                        p.line(Line::new(name, PlotPoints::from(pts)).color(c));
                    }
                });
            ui.label(
                RichText::new(
                    "D(x): how real the discriminator finds real digits; D(G(z)): how real it finds the generator's. They meet near 0.5 when neither wins.",
                )
                .small()
                .weak(),
            );
        });
    });
}

/// The generator's samples on the way from one noise vector to another: a smooth change
/// means it learned a continuous space, not a lookup of training digits.
fn interpolation_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.label(RichText::new("between two noise vectors").strong());
    ui.horizontal(|ui| {
        let f = &mut studio.insight.family;
        let label = if f.interpolation.is_some() {
            "Another pair"
        } else {
            "Interpolate"
        };
        let go = ui.button(label).on_hover_text(
            "Two random noise vectors and the generator's samples on the arc between them",
        );
        if go.clicked() {
            if f.interpolation.is_some() {
                f.interpolation_seed = f.interpolation_seed.wrapping_add(1);
            }
            let seed = f.interpolation_seed;
            studio.insight_request(crate::insight::InsightRequest::GanInterpolation {
                steps: INTERPOLATION_STEPS,
                seed,
            });
        }
    });
    let ctx = ui.ctx().clone();
    if let Some(strip) = studio.insight.family.interpolation.clone() {
        if let Some(img) = grid_image(&strip.images, &strip.dims, strip.images.len()) {
            let tex = studio.insight.texture(&ctx, "gan-strip", img);
            let w = 36.0 * strip.images.len() as f32;
            ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(w, 36.0)));
        }
    }
}

/// Samples in one interpolation strip.
const INTERPOLATION_STEPS: usize = 10;

/// All samples in one image, `cols` to a row with 1-pixel gaps, on 0..1 (or -1..1 for a
/// tanh generator).
fn grid_image(images: &[Vec<f32>], dims: &[usize], cols: usize) -> Option<ColorImage> {
    let lo = if images.iter().flatten().any(|&v| v < -0.01) {
        -1.0
    } else {
        0.0
    };
    let first = sample_image_in(images.first()?, dims, lo, 1.0)?;
    let [w, h] = first.size;
    let cols = cols.max(1);
    let rows = images.len().div_ceil(cols);
    let (gw, gh) = (cols * (w + 1) + 1, rows * (h + 1) + 1);
    let mut out = ColorImage::new([gw, gh], vec![Color32::from_gray(40); gw * gh]);
    for (k, v) in images.iter().enumerate() {
        let img = sample_image_in(v, dims, lo, 1.0)?;
        let (ox, oy) = (1 + (k % cols) * (w + 1), 1 + (k / cols) * (h + 1));
        for y in 0..h {
            for x in 0..w {
                out.pixels[(oy + y) * gw + ox + x] = img.pixels[y * w + x];
            }
        }
    }
    Some(out)
}
