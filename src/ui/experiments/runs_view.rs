//! The Runs tab: every recorded run of this project, sortable and filterable, with notes and
//! tags; tick runs to compare them below.

use super::{ExperimentsPanel, SortKey};
use crate::runs::RunRecord;
use crate::ui::panel::Ctx;
use crate::ui::theme::{ERROR, OK};
use egui::{RichText, Ui};

fn pct(a: Option<f32>) -> String {
    a.map_or("–".into(), |a| format!("{:.2} %", a * 100.0))
}

fn matches(r: &RunRecord, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    let params = serde_json::to_string(&r.meta.params).unwrap_or_default();
    [
        r.id.as_str(),
        r.meta.label.as_str(),
        r.meta.notes.as_str(),
        r.status_label(),
        params.as_str(),
    ]
    .iter()
    .any(|s| s.to_lowercase().contains(&f))
        || r.meta.tags.iter().any(|t| t.to_lowercase().contains(&f))
}

fn sorted<'a>(runs: &'a [RunRecord], key: SortKey, filter: &str) -> Vec<&'a RunRecord> {
    let mut out: Vec<&RunRecord> = runs.iter().filter(|r| matches(r, filter)).collect();
    let key_of = |r: &RunRecord| -> f64 {
        let f = &r.meta.figures;
        match key {
            SortKey::Newest => 0.0,
            SortKey::ValAccuracy => -f.val_accuracy.map_or(-1.0, f64::from),
            SortKey::ValLoss => f.val_loss.map_or(f64::INFINITY, f64::from),
            SortKey::TestAccuracy => -f.test_accuracy.map_or(-1.0, f64::from),
        }
    };
    // A stable sort: runs with equal figures stay newest first.
    out.sort_by(|a, b| key_of(a).total_cmp(&key_of(b)));
    out
}

impl ExperimentsPanel {
    pub(super) fn runs_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        self.refresh_runs(ctx, false);
        let Some(root) = ctx.runs_root.clone() else {
            ui.label("Runs are recorded beside the project once it is saved.");
            return;
        };
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{} run(s)", self.listing.runs.len())).strong());
            ui.label(RichText::new(format!("in {}", root.display())).weak());
            if ui.small_button("⟳ Refresh").clicked() {
                self.refresh_runs(ctx, true);
            }
            ui.separator();
            ui.label("Filter");
            ui.add(egui::TextEdit::singleline(&mut self.filter).desired_width(120.0))
                .on_hover_text("Matches names, notes, tags, status and swept settings");
            egui::ComboBox::from_id_salt("runs-sort")
                .selected_text(self.sort.name())
                .show_ui(ui, |ui| {
                    for k in SortKey::ALL {
                        ui.selectable_value(&mut self.sort, k, k.name());
                    }
                });
            if ui
                .button("New sweep…")
                .on_hover_text("Search over settings, run after run")
                .clicked()
            {
                self.show_sweep = true;
            }
            ui.separator();
            self.repeat_ui(ui, ctx);
        });
        if !ctx.recording {
            ui.label(RichText::new("Recording is off in this session.").weak());
        }
        for s in &self.listing.skipped {
            ui.colored_label(ERROR, s);
        }
        let runs = self.listing.runs.clone();
        if runs.is_empty() {
            ui.label("No runs yet: press ▶ Train and each run is kept here, with its settings, curves and weights.");
            return;
        }
        let shown = sorted(&runs, self.sort, &self.filter);
        let mut open = None;
        egui::ScrollArea::vertical()
            .id_salt("runs-list")
            .max_height((ui.available_height() * 0.35).max(150.0))
            .show(ui, |ui| {
                egui::Grid::new("runs-grid")
                    .striped(true)
                    .num_columns(8)
                    .show(ui, |ui| {
                        for h in [
                            "run",
                            "status",
                            "epochs",
                            "val loss",
                            "val acc / R²",
                            "test acc / R²",
                            "tags / notes",
                            "",
                        ] {
                            ui.label(RichText::new(h).strong());
                        }
                        ui.end_row();
                        for r in shown {
                            let mut on = self.selected.contains(&r.id);
                            let tick = ui
                                .checkbox(&mut on, &r.meta.label)
                                .on_hover_text(format!("Compare · {}", r.id));
                            if tick.changed() {
                                if on {
                                    self.selected.insert(r.id.clone());
                                } else {
                                    self.selected.remove(&r.id);
                                }
                            }
                            let color = match r.status_label() {
                                "finished" | "early-stopped" => OK,
                                "failed" | "diverged" | "incomplete" => ERROR,
                                _ => ui.visuals().text_color(),
                            };
                            let status = ui.colored_label(color, r.status_label());
                            if let Some(why) = &r.meta.reason {
                                status.on_hover_text(why);
                            }
                            let f = &r.meta.figures;
                            ui.label(format!("{}/{}", f.epochs_done, r.meta.training.epochs));
                            ui.label(f.val_loss.map_or("–".into(), |l| format!("{l:.4}")));
                            // A regression shows R² where a classifier shows accuracy.
                            let r2 = |v: Option<f32>| v.map(|r| format!("R² {r:.3}"));
                            ui.label(r2(f.val_r2).unwrap_or_else(|| pct(f.val_accuracy)));
                            ui.label(r2(f.test_r2).unwrap_or_else(|| pct(f.test_accuracy)));
                            self.notes_ui(ui, ctx, r);
                            if ui
                                .small_button("Open")
                                .on_hover_text("Open this run's project and weights")
                                .clicked()
                            {
                                open = Some(r.id.clone());
                            }
                            ui.end_row();
                        }
                    });
            });
        if let Some(id) = open {
            self.open_run(ctx, &id);
        }
        ui.separator();
        self.compare_ui(ui, ctx);
    }

    fn notes_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx, r: &RunRecord) {
        let editing = self.editing.as_ref().is_some_and(|e| e.0 == r.id);
        if !editing {
            let text = [r.meta.tags.join(", "), r.meta.notes.clone()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" · ");
            let shown = if text.is_empty() {
                "✏".to_string()
            } else {
                format!("{text} ✏")
            };
            if ui
                .small_button(shown)
                .on_hover_text("Edit tags and notes")
                .clicked()
            {
                self.editing = Some((r.id.clone(), r.meta.tags.join(", "), r.meta.notes.clone()));
            }
            return;
        }
        let mut save = false;
        ui.horizontal(|ui| {
            if let Some((_, tags, notes)) = &mut self.editing {
                ui.add(
                    egui::TextEdit::singleline(tags)
                        .hint_text("tags, comma separated")
                        .desired_width(90.0),
                );
                ui.add(
                    egui::TextEdit::singleline(notes)
                        .hint_text("notes")
                        .desired_width(140.0),
                );
            }
            save = ui.small_button("Save").clicked();
        });
        if save {
            if let Some((id, tags, notes)) = self.editing.take() {
                let tags: Vec<String> = tags
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect();
                if let Some(run) = self.listing.runs.iter_mut().find(|x| x.id == id) {
                    if let Err(e) = run.save_notes(&notes, tags) {
                        ctx.notify_error(e.to_string());
                    }
                }
            }
        }
    }
}
