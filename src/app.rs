//! eframe glue: one `Studio`, persisted settings, clean shutdown.

use crate::ui::{Studio, StudioSettings};
use std::path::PathBuf;

const SETTINGS_KEY: &str = "glassbox-settings";

pub struct GlassboxApp {
    pub studio: Studio,
}

impl GlassboxApp {
    pub fn new(cc: &eframe::CreationContext<'_>, project: Option<PathBuf>) -> Self {
        let settings: StudioSettings = cc
            .storage
            .and_then(|s| s.get_string(SETTINGS_KEY))
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        settings.theme.apply(&cc.egui_ctx);
        Self {
            studio: Studio::startup(project, settings),
        }
    }
}

impl eframe::App for GlassboxApp {
    fn logic(&mut self, _ctx: &egui::Context, _frame: &mut eframe::Frame) {
        // Drain training events even while the window is hidden.
        self.studio.poll();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.studio.ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if let Ok(json) = serde_json::to_string(&self.studio.settings) {
            storage.set_string(SETTINGS_KEY, json);
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.studio.shutdown();
    }
}

/// Opens the studio window (blocks until it is closed).
pub fn run_studio(project: Option<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_app_id("glassbox")
            .with_title("Glassbox")
            .with_inner_size([1500.0, 950.0])
            .with_min_inner_size([900.0, 600.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Glassbox",
        options,
        Box::new(move |cc| Ok(Box::new(GlassboxApp::new(cc, project)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
