//! One button beside each chart: write it as PNG and CSV into the project's runs folder.

use super::Studio;
use crate::runs::chart::Chart;
use crate::ui::panel::Ctx;
use egui::Ui;
use std::path::{Path, PathBuf};

/// Where exported charts go: `<runs folder>/charts`, else the working folder.
fn charts_dir(runs_root: Option<&Path>) -> PathBuf {
    runs_root
        .map(|r| r.join("charts"))
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default())
}

/// The export button; true when clicked (build the chart only then).
pub fn export_button_ui(ui: &mut Ui, enabled: bool) -> bool {
    ui.add_enabled(enabled, egui::Button::new("⬇ PNG + CSV").small())
        .on_hover_text("Save this chart as PNG and CSV in the project's runs folder (charts/)")
        .clicked()
}

/// Writes `chart` as `<charts>/<name>-<time>.png` and `.csv`; says where, or why not.
pub fn write_chart(runs_root: Option<&Path>, name: &str, chart: &Chart) -> Result<String, String> {
    let dir = charts_dir(runs_root);
    let stamp = crate::runs::folder::utc_stamp(crate::runs::folder::unix_now_s());
    let stem = dir.join(format!("{}-{stamp}", crate::runs::folder::slug(name)));
    match std::fs::create_dir_all(&dir).and_then(|()| chart.write(&stem)) {
        Ok([png, csv]) => Ok(format!("Saved {} and {}", png.display(), csv.display())),
        Err(e) => Err(format!("Cannot save the chart in {}: {e}", dir.display())),
    }
}

/// Writes `chart` (see `write_chart`) and says so in the status bar.
pub fn save_chart(studio: &mut Studio, name: &str, chart: &Chart) {
    match write_chart(studio.runs_root().as_deref(), name, chart) {
        Ok(line) => studio.notify(line),
        Err(e) => studio.notify_error(e),
    }
}

/// The button and, when clicked, the save, for a chart a panel builds each frame: the status
/// line goes through its `Ctx`.
pub(super) fn export_chart_ui(ui: &mut Ui, ctx: &mut Ctx, name: &str, chart: &Chart) {
    if export_button_ui(ui, !chart.is_empty()) {
        panel_save_chart(ctx, name, chart);
    }
}

pub fn panel_save_chart(ctx: &mut Ctx, name: &str, chart: &Chart) {
    match write_chart(ctx.runs_root.as_deref(), name, chart) {
        Ok(line) => ctx.notify(line),
        Err(e) => ctx.notify_error(e),
    }
}
