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
        cc.egui_ctx.set_fonts(fonts());
        let mut studio = Studio::startup(project, settings);
        studio.set_software_renderer(software_renderer(cc));
        Self { studio }
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
        self.studio.exit();
    }
}

/// egui's fonts, with the monospace font as a last fallback for proportional text: it has the
/// arrows (→, ↓) the proportional font lacks.
pub fn fonts() -> egui::FontDefinitions {
    let mut fonts = egui::FontDefinitions::default();
    let mono = fonts
        .families
        .get(&egui::FontFamily::Monospace)
        .and_then(|f| f.first().cloned());
    if let (Some(mono), Some(prop)) = (
        mono,
        fonts.families.get_mut(&egui::FontFamily::Proportional),
    ) {
        if !prop.contains(&mono) {
            prop.push(mono);
        }
    }
    fonts
}

/// True when the GPU is emulated on the CPU (llvmpipe, lavapipe, SwiftShader), as under Xvfb.
fn software_renderer(cc: &eframe::CreationContext<'_>) -> bool {
    if let Some(rs) = &cc.wgpu_render_state {
        return rs.adapter.get_info().device_type == eframe::wgpu::DeviceType::Cpu;
    }
    if let Some(gl) = &cc.gl {
        use eframe::glow::HasContext;
        // SAFETY: a plain string query on the context eframe just created and made current.
        let renderer = unsafe { gl.get_parameter_string(eframe::glow::RENDERER) }.to_lowercase();
        return ["llvmpipe", "softpipe", "swiftshader", "software"]
            .iter()
            .any(|s| renderer.contains(s));
    }
    false
}

/// Opens the studio window (blocks until it is closed).
pub fn run_studio(project: Option<PathBuf>) -> anyhow::Result<()> {
    // GLASSBOX_RENDERER=glow|wgpu picks the renderer (wgpu by default).
    let renderer = match std::env::var("GLASSBOX_RENDERER").as_deref() {
        Ok("glow") => eframe::Renderer::Glow,
        _ => eframe::Renderer::default(),
    };
    let options = eframe::NativeOptions {
        renderer,
        viewport: egui::ViewportBuilder::default()
            .with_app_id("glassbox")
            .with_title("Glassbox")
            .with_inner_size([1500.0, 950.0])
            .with_min_inner_size([900.0, 600.0])
            .with_icon(window_icon()),
        ..Default::default()
    };
    eframe::run_native(
        "Glassbox",
        options,
        Box::new(move |cc| Ok(Box::new(GlassboxApp::new(cc, project)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

/// The window's icon: the desktop entry's, built in (the package installs the same files).
fn window_icon() -> egui::IconData {
    eframe::icon_data::from_png_bytes(include_bytes!("../assets/desktop/icons/glassbox-64.png"))
        .unwrap_or_default()
}
