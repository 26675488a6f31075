//! One button beside each chart: write it as PNG and CSV into the project's runs folder.

use super::Studio;
use crate::runs::chart::Chart;
use egui::Ui;

/// Where exported charts go: `<runs folder>/charts`, else the working folder.
fn charts_dir(studio: &Studio) -> std::path::PathBuf {
    studio
        .runs_root()
        .map(|r| r.join("charts"))
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default())
}

/// The export button; true when clicked (build the chart only then).
pub fn export_button_ui(ui: &mut Ui, enabled: bool) -> bool {
    ui.add_enabled(enabled, egui::Button::new("⬇ PNG + CSV").small())
        .on_hover_text("Save this chart as PNG and CSV in the project's runs folder (charts/)")
        .clicked()
}

/// Writes `chart` as `<charts>/<name>-<time>.png` and `.csv` and says where.
pub fn save_chart(studio: &mut Studio, name: &str, chart: &Chart) {
    let dir = charts_dir(studio);
    let stamp = crate::runs::folder::utc_stamp(crate::runs::folder::unix_now_s());
    let stem = dir.join(format!("{}-{stamp}", crate::runs::folder::slug(name)));
    let result = std::fs::create_dir_all(&dir).and_then(|()| chart.write(&stem));
    match result {
        Ok([png, csv]) => studio.notify(format!("Saved {} and {}", png.display(), csv.display())),
        Err(e) => studio.notify_error(format!("Cannot save the chart in {}: {e}", dir.display())),
    }
}

/// The button and, when clicked, the save: for charts already built each frame.
pub fn export_chart_ui(ui: &mut Ui, studio: &mut Studio, name: &str, chart: &Chart) {
    if export_button_ui(ui, !chart.is_empty()) {
        save_chart(studio, name, chart);
    }
}
