//! The data map tab: every training sample of a classifier placed by its confidence in its own
//! label (y) and how much that changed between epochs (x), coloured by how often it was
//! predicted right; the likely mislabelled and the hardest samples listed; a picked sample shown
//! with its label and prediction, to keep out of training or relabel (stored in the project).

use super::command::Command;
use super::panel::{Ctx, Panel, Place};
use super::theme::{ERROR, OK, VAL};
use crate::data::{Dataset, SampleEdits};
use crate::train::{DataMap, MapPoint, AMBIGUOUS_VARIABILITY, HARD_CONFIDENCE};
use egui::{Color32, RichText, TextureHandle, Ui};
use egui_plot::{Line, Plot, PlotPoint, PlotPoints, PlotTransform, Points, Text};

/// Samples listed in each ranking.
const LISTED: usize = 12;

#[derive(Default)]
pub struct DataMapPanel {
    /// The picked sample (data-set index).
    pub selected: Option<usize>,
    /// The plot's mapping of the last frame, to tell which point a click hit.
    pub transform: Option<PlotTransform>,
    /// Edits before each change made here, newest last (Undo).
    undo: Vec<SampleEdits>,
    relabel_to: usize,
    /// The sample `relabel_to` was set for (it starts at that sample's prediction).
    relabel_for: Option<usize>,
    texture: Option<(usize, TextureHandle)>,
    /// How many of the likeliest mislabelled "Relabel as predicted" changes (None: not set yet).
    pub bulk: Option<usize>,
}

impl DataMapPanel {
    /// Where point `index` is drawn on screen in the last frame.
    pub fn screen_pos_of(&self, map: &DataMap, index: usize) -> Option<egui::Pos2> {
        let p = map.points.iter().find(|p| p.index == index)?;
        let t = self.transform.as_ref()?;
        Some(t.position_from_point(&PlotPoint::new(p.variability, p.confidence)))
    }

    fn nearest(&self, map: &DataMap, pos: egui::Pos2) -> Option<usize> {
        let t = self.transform.as_ref()?;
        map.points
            .iter()
            .map(|p| {
                let at = t.position_from_point(&PlotPoint::new(p.variability, p.confidence));
                (p.index, at.distance(pos))
            })
            .filter(|(_, d)| *d < 12.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    fn change(&mut self, ctx: &mut Ctx, edit: impl FnOnce(&mut SampleEdits)) {
        let before = ctx.project.data.edits.clone();
        let mut after = before.clone();
        edit(&mut after);
        self.undo.push(before);
        ctx.push(Command::SetSampleEdits(after));
    }

    fn map_ui(&mut self, ui: &mut Ui, map: &DataMap, height: f32) {
        // Green where the sample was mostly predicted right, red where mostly wrong.
        let colour = |p: &MapPoint| {
            let t = p.correct_share.clamp(0.0, 1.0);
            Color32::from_rgb(
                (ERROR.r() as f32 * (1.0 - t) + OK.r() as f32 * t) as u8,
                (ERROR.g() as f32 * (1.0 - t) + OK.g() as f32 * t) as u8,
                (ERROR.b() as f32 * (1.0 - t) + OK.b() as f32 * t) as u8,
            )
        };
        // Few colour buckets: one Points item each draws fast for 60,000 samples.
        let mut buckets: Vec<Vec<[f64; 2]>> = vec![Vec::new(); 5];
        for p in &map.points {
            let b = ((p.correct_share * 4.0).round() as usize).min(4);
            buckets[b].push([p.variability as f64, p.confidence as f64]);
        }
        let selected = self
            .selected
            .and_then(|i| map.points.iter().find(|p| p.index == i));
        let response = Plot::new("data-map")
            .height(height)
            .x_axis_label("variability (spread of the label's probability over epochs)")
            .y_axis_label("confidence (mean probability of its own label)")
            .include_x(0.0)
            .include_x(0.5)
            .include_y(-0.12)
            .include_y(1.12)
            .allow_scroll(false)
            .show(ui, |plot| {
                for (b, pts) in buckets.into_iter().enumerate() {
                    let share = b as f32 / 4.0;
                    let probe = MapPoint {
                        correct_share: share,
                        ..map.points[0]
                    };
                    plot.points(
                        Points::new(
                            format!("right in {:.0} % of epochs", share * 100.0),
                            PlotPoints::new(pts),
                        )
                        .color(colour(&probe))
                        .radius(2.0),
                    );
                }
                let edge =
                    |x: [f64; 2], y: [f64; 2]| PlotPoints::new(vec![[x[0], y[0]], [x[1], y[1]]]);
                let v = AMBIGUOUS_VARIABILITY as f64;
                plot.line(Line::new("", edge([v, v], [0.0, 1.0])).color(Color32::GRAY));
                let h = HARD_CONFIDENCE as f64;
                plot.line(Line::new("", edge([0.0, v], [h, h])).color(Color32::GRAY));
                let label = |text: &str| {
                    RichText::new(text)
                        .strong()
                        .size(15.0)
                        .color(Color32::WHITE)
                };
                plot.text(
                    Text::new("", PlotPoint::new(0.03, 1.04), label("easy to learn"))
                        .anchor(egui::Align2::LEFT_BOTTOM),
                );
                plot.text(
                    Text::new("", PlotPoint::new(0.03, -0.04), label("hard to learn"))
                        .anchor(egui::Align2::LEFT_TOP),
                );
                plot.text(
                    Text::new("", PlotPoint::new(v + 0.01, 0.02), label("ambiguous →"))
                        .anchor(egui::Align2::LEFT_BOTTOM),
                );
                if let Some(p) = selected {
                    plot.points(
                        Points::new(
                            "picked",
                            PlotPoints::new(vec![[p.variability as f64, p.confidence as f64]]),
                        )
                        .color(VAL)
                        .radius(6.0),
                    );
                }
            });
        self.transform = Some(response.transform);
        if response.response.clicked() {
            if let Some(pos) = response.response.interact_pointer_pos() {
                if let Some(i) = self.nearest(map, pos) {
                    self.selected = Some(i);
                }
            }
        }
    }

    /// Relabels the `bulk` likeliest mislabelled samples as the network predicts them (one
    /// undoable change).
    fn bulk_relabel_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx, map: &DataMap, data: &Dataset) {
        let n = self
            .bulk
            .unwrap_or((map.points.len() / 50).max(1))
            .min(map.points.len().max(1));
        ui.horizontal_wrapped(|ui| {
            ui.label("The");
            let mut k = n;
            ui.add(egui::DragValue::new(&mut k).range(1..=map.points.len().max(1)))
                .on_hover_text("How many of the likeliest mislabelled samples");
            ui.label("likeliest mislabelled:");
            self.bulk = Some(k);
            if ui
                .button("Relabel as predicted")
                .on_hover_text("Give each of them the label the network predicts (undoable)")
                .clicked()
            {
                let names = data.class_names();
                let picks: Vec<(String, String)> = map
                    .likely_mislabelled(k)
                    .into_iter()
                    .filter(|p| p.predicted != p.label)
                    .filter_map(|p| {
                        let class = names.get(p.predicted as usize)?.clone();
                        Some((data.origin(p.index), class))
                    })
                    .collect();
                self.change(ctx, |e| {
                    for (place, class) in &picks {
                        e.relabel(place, class);
                    }
                });
            }
        });
    }

    fn ranking_ui(&mut self, ui: &mut Ui, title: &str, points: Vec<&MapPoint>, data: &Dataset) {
        ui.label(RichText::new(title).strong());
        let names = data.class_names();
        let name = |c: u32| names.get(c as usize).cloned().unwrap_or(c.to_string());
        for p in points {
            let text = format!(
                "#{}  {} → {}  ({:.2})",
                data.origin(p.index),
                name(p.label),
                name(p.predicted),
                p.confidence
            );
            if ui
                .selectable_label(self.selected == Some(p.index), text)
                .clicked()
            {
                self.selected = Some(p.index);
            }
        }
    }

    fn sample_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx, map: &DataMap, data: &Dataset) {
        let Some(p) = self
            .selected
            .and_then(|i| map.points.iter().find(|p| p.index == i))
            .copied()
        else {
            ui.label(RichText::new("Click a point or a listed sample to see it.").weak());
            return;
        };
        let names = data.class_names();
        let name = |c: u32| names.get(c as usize).cloned().unwrap_or(c.to_string());
        let place = data.origin(p.index);
        ui.label(
            RichText::new(format!(
                "Sample {place}: labelled {}, predicted {}",
                name(p.label),
                name(p.predicted)
            ))
            .strong(),
        );
        ui.label(format!(
            "confidence {:.3} · variability {:.3} · right in {:.0} % of {} epochs · {}",
            p.confidence,
            p.variability,
            p.correct_share * 100.0,
            p.epochs,
            p.region().name()
        ));
        crate::ui::colormap::sample_preview_ui(ui, data, p.index, &mut self.texture, 96.0);
        let excluded = ctx.project.data.edits.excluded.contains(&place);
        ui.horizontal(|ui| {
            let label = if excluded {
                "Put back into training"
            } else {
                "Keep out of training"
            };
            if ui.button(label).clicked() {
                self.change(ctx, |e| e.toggle_excluded(&place));
            }
            if self.relabel_for != Some(p.index) {
                self.relabel_for = Some(p.index);
                self.relabel_to = p.predicted as usize;
            }
            self.relabel_to = self.relabel_to.min(names.len().saturating_sub(1));
            egui::ComboBox::from_id_salt("relabel-to")
                .selected_text(names.get(self.relabel_to).cloned().unwrap_or_default())
                .show_ui(ui, |ui| {
                    for (k, n) in names.iter().enumerate() {
                        ui.selectable_value(&mut self.relabel_to, k, n);
                    }
                });
            if ui.button("Relabel").clicked() {
                let class = names.get(self.relabel_to).cloned().unwrap_or_default();
                self.change(ctx, |e| e.relabel(&place, &class));
            }
        });
    }
}

impl Panel for DataMapPanel {
    fn name(&self) -> &'static str {
        "Data map"
    }

    fn place(&self) -> Place {
        Place::BottomTab
    }

    fn ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        let edits = ctx.project.data.edits.clone();
        ui.horizontal(|ui| {
            ui.label(if edits.is_empty() {
                "No sample changed yet; the next run uses any change made here.".to_string()
            } else {
                format!("{}; the next run uses them.", edits.summary())
            });
            if ui
                .add_enabled(!self.undo.is_empty(), egui::Button::new("Undo"))
                .clicked()
            {
                if let Some(before) = self.undo.pop() {
                    ctx.push(Command::SetSampleEdits(before));
                }
            }
        });
        let (Some((epoch, map)), Some(data)) = (
            ctx.history.and_then(|h| h.datamap.clone()),
            ctx.dataset.clone(),
        ) else {
            ui.label(
                RichText::new(
                    "Train a classifier: after each epoch every training sample is placed here by how sure the network is of its label.",
                )
                .weak(),
            );
            return;
        };
        if map.points.is_empty() {
            return;
        }
        let (easy, ambiguous, hard) = map.region_counts();
        ui.label(format!(
            "After epoch {epoch}: {} samples · {easy} easy to learn · {ambiguous} ambiguous · {hard} hard to learn (often a wrong label)",
            map.points.len()
        ));
        let height = (ui.available_height() - 8.0).max(200.0);
        ui.horizontal_top(|ui| {
            let w = ui.available_width();
            ui.vertical(|ui| {
                ui.set_width(w * 0.5);
                self.map_ui(ui, &map, height);
            });
            ui.vertical(|ui| {
                ui.set_width(w * 0.22);
                self.bulk_relabel_ui(ui, ctx, &map, &data);
                egui::ScrollArea::vertical()
                    .id_salt("datamap-lists")
                    .max_height(height - 28.0)
                    .show(ui, |ui| {
                        self.ranking_ui(
                            ui,
                            "Likely mislabelled",
                            map.likely_mislabelled(LISTED),
                            &data,
                        );
                        ui.separator();
                        self.ranking_ui(ui, "Hardest", map.hardest(LISTED), &data);
                    });
            });
            ui.vertical(|ui| self.sample_ui(ui, ctx, &map, &data));
        });
    }
}
