//! The studio window (a placeholder until the studio lands).

use std::path::PathBuf;

pub fn run_studio(_project: Option<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions::default();
    eframe::run_ui_native("Glassbox", options, |ui, _frame| {
        ui.heading("Glassbox");
    })
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
