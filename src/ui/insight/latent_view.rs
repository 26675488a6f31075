//! The autoencoder view: inputs beside their reconstructions, the latent plane coloured by
//! class (a click or drag decodes that point live), and a strip decoded along the line
//! between two samples' codes.

use super::family::Images;
use crate::insight::InsightRequest;
use crate::ui::colormap::sample_image_in;
use crate::ui::data::class_color;
use crate::ui::studio::Studio;
use crate::ui::theme::ERROR;
use egui::{RichText, Ui};
use egui_plot::{Plot, PlotPoints, Points};

/// Samples placed on the plane, and inputs shown beside their reconstructions.
const PLANE_SAMPLES: usize = 1000;
const RECONSTRUCTIONS: usize = 8;
/// Seconds between refreshes while training.
const REFRESH_EVERY_S: f64 = 2.0;
const THUMB: f32 = 44.0;

impl Studio {
    /// Asks for the plane and the reconstructions of the current weights.
    pub fn request_autoencoder_views(&mut self) {
        let Some(data) = self.data.dataset.clone() else {
            self.insight.error = Some("Load the data first (Data tab).".into());
            return;
        };
        let split = if data.val.is_empty() {
            &data.test
        } else {
            &data.val
        };
        let samples = split.iter().copied().take(RECONSTRUCTIONS).collect();
        self.insight.family.refreshed_at = self.time();
        self.insight_request(InsightRequest::Reconstruct { samples });
        self.insight_request(InsightRequest::Latent {
            samples: PLANE_SAMPLES,
        });
    }
}

pub(super) fn latent_ui(ui: &mut Ui, studio: &mut Studio) {
    let stale = studio.time() - studio.insight.family.refreshed_at >= REFRESH_EVERY_S;
    let first = studio.insight.family.latent.is_none() && studio.insight.error.is_none();
    let has_weights = studio.session.weights.is_some() || studio.insight.snapshot.is_some();
    if has_weights && !studio.insight.is_busy() && (first || (studio.is_training() && stale)) {
        studio.request_autoencoder_views();
    }
    ui.horizontal(|ui| {
        if ui.button("Refresh").clicked() {
            studio.request_autoencoder_views();
        }
        ui.label(
            RichText::new(
                "Click or drag on the latent plane to decode that point; refreshes itself while training.",
            )
            .weak(),
        );
    });
    let ctx = ui.ctx().clone();
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.label(RichText::new("inputs / reconstructions").strong());
            let f = &studio.insight.family;
            let (inputs, outputs) = (f.inputs.clone(), f.outputs.clone());
            match (inputs, outputs) {
                (Some(inputs), Some(outputs)) => {
                    thumbs_ui(ui, studio, &ctx, "ae-in", &inputs);
                    thumbs_ui(ui, studio, &ctx, "ae-out", &outputs);
                }
                _ => {
                    ui.label(
                        RichText::new("Train the autoencoder to see its reconstructions.").weak(),
                    );
                }
            }
        });
        ui.separator();
        plane_ui(ui, studio);
        ui.separator();
        ui.vertical(|ui| {
            ui.label(RichText::new("decoded").strong());
            match studio.insight.family.picked {
                Some(p) => {
                    ui.label(RichText::new(format!("at ({:.2}, {:.2})", p[0], p[1])).small())
                }
                None => ui.label(RichText::new("click the plane").small().weak()),
            };
            if let Some(img) = studio.insight.family.decoded.clone() {
                image_ui(ui, studio, &ctx, "ae-decoded", &img, 0, 120.0);
            }
            if let Some(strip) = studio.insight.family.strip.clone() {
                ui.add_space(4.0);
                ui.label(RichText::new("from one sample's code to another's").strong());
                thumbs_ui(ui, studio, &ctx, "ae-strip", &strip);
            }
        });
    });
}

fn plane_ui(ui: &mut Ui, studio: &mut Studio) {
    let Some(map) = studio.insight.family.latent.clone() else {
        ui.label(RichText::new("The latent plane appears once the network is trained.").weak());
        return;
    };
    ui.vertical(|ui| {
        let title = if map.projection.is_some() {
            format!(
                "latent '{}': first two principal axes of {} values",
                map.node, map.dim
            )
        } else {
            format!("latent '{}'", map.node)
        };
        ui.label(RichText::new(&title).strong());
        classes_key_ui(ui, &map.labels);
        if crate::ui::experiments::export_button_ui(ui, !map.points.is_empty()) {
            let mut by_class: std::collections::BTreeMap<Option<u32>, Vec<[f64; 2]>> =
                Default::default();
            for (pt, label) in map.points.iter().zip(&map.labels) {
                by_class
                    .entry(*label)
                    .or_default()
                    .push([pt[0] as f64, pt[1] as f64]);
            }
            let mut chart = crate::runs::chart::Chart::new(&title, "z₁", "z₂")
                .styled(crate::runs::chart::ChartStyle::Points);
            for (label, pts) in by_class {
                chart = chart.with(&label.map_or("samples".to_string(), |l| l.to_string()), pts);
            }
            crate::ui::experiments::save_chart(studio, "latent", &chart);
        }
        let response = Plot::new("latent-plane")
            .width(360.0)
            .height(180.0)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .show(ui, |p| {
                let mut by_class: std::collections::BTreeMap<Option<u32>, Vec<[f64; 2]>> =
                    Default::default();
                for (pt, label) in map.points.iter().zip(&map.labels) {
                    by_class
                        .entry(*label)
                        .or_default()
                        .push([pt[0] as f64, pt[1] as f64]);
                }
                for (label, pts) in by_class {
                    let name = label.map_or("samples".to_string(), |l| l.to_string());
                    let color = label.map_or(egui::Color32::GRAY, class_color);
                    p.points(
                        Points::new(name, PlotPoints::from(pts))
                            .color(color)
                            .radius(1.8),
                    );
                }
                if let Some(pick) = studio.insight.family.picked {
                    let at = vec![[pick[0] as f64, pick[1] as f64]];
                    p.points(
                        Points::new("picked", PlotPoints::from(at))
                            .color(egui::Color32::WHITE)
                            .radius(5.0),
                    );
                }
                p.pointer_coordinate()
            });
        let r = &response.response;
        studio.insight.family.plane_rect = Some(response.transform.frame().to_owned());
        if r.clicked() || r.dragged() {
            if let Some(pt) = response.inner {
                pick(studio, [pt.x as f32, pt.y as f32]);
            }
        }
    });
}

/// The colour of each class on the plane, as a row of coloured names.
fn classes_key_ui(ui: &mut Ui, labels: &[Option<u32>]) {
    let classes: std::collections::BTreeSet<u32> = labels.iter().flatten().copied().collect();
    if classes.is_empty() {
        return;
    }
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        ui.label(RichText::new("class").small().weak());
        for k in classes {
            ui.label(
                RichText::new(k.to_string())
                    .small()
                    .strong()
                    .color(class_color(k)),
            );
        }
    });
}

/// Decodes the plane point `p`, or says why it cannot.
pub fn pick(studio: &mut Studio, p: [f32; 2]) {
    let Some(map) = &studio.insight.family.latent else {
        return;
    };
    match map.code_at(p) {
        Ok(code) => {
            let node = map.node.clone();
            studio.insight.family.picked = Some(p);
            studio.insight_request(InsightRequest::Decode {
                node,
                codes: vec![code],
            });
        }
        Err(e) => studio.insight.error = Some(e.to_string()),
    }
}

fn thumbs_ui(ui: &mut Ui, studio: &mut Studio, ctx: &egui::Context, name: &str, set: &Images) {
    ui.horizontal(|ui| {
        for k in 0..set.images.len() {
            image_ui(ui, studio, ctx, &format!("{name}-{k}"), set, k, THUMB);
        }
    });
}

fn image_ui(
    ui: &mut Ui,
    studio: &mut Studio,
    ctx: &egui::Context,
    name: &str,
    set: &Images,
    k: usize,
    side: f32,
) {
    // Pixels 0..1 as the network sees them (0..1 normalisation): outputs on their inputs' scale.
    let Some(img) = set
        .images
        .get(k)
        .and_then(|v| sample_image_in(v, &set.dims, 0.0, 1.0))
    else {
        ui.colored_label(ERROR, "not an image");
        return;
    };
    let tex = studio.insight.texture(ctx, name, img);
    ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(side, side)));
}
