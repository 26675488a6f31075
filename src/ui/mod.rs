//! The studio's views (egui only). They draw the engine's state and push `Command`s.

pub mod colormap;
pub mod command;
pub mod data;
pub mod datamap_view;
pub mod editor;
pub mod experiments;
pub mod files;
mod groups;
pub mod insight;
pub mod inspector;
pub mod job;
pub mod landscape_view;
pub mod lessons_view;
pub mod palette;
pub mod panel;
pub mod perf;
pub mod plots;
pub mod projector_view;
pub mod recovery_view;
pub mod serving_view;
pub mod studio;
pub mod theme;
mod training_settings_view;

use command::{Command, SHORTCUTS};
use egui::{Key, KeyboardShortcut, Modifiers, RichText, Ui};
use files::FilePurpose;
pub use studio::{Studio, StudioSettings};
use theme::{ERROR, OK};

/// How long a status message stays in the status bar.
const MESSAGE_SECS: f64 = 8.0;

/// `let mut $ctx = panel::Ctx { … }` over the studio's fields, borrowed one by one so the
/// panels (another field) can be borrowed beside it.
macro_rules! panel_ctx {
    ($studio:ident, $ctx:ident) => {
        let runs_root = $studio.runs_root();
        let dir = $studio.project_dir();
        let dataset = $studio
            .data
            .dataset_for(&$studio.doc.project.data, dir.as_deref());
        let health = $studio
            .insight
            .health
            .last()
            .map_or(&[][..], |(_, h)| &h[..]);
        let mut $ctx = panel::Ctx::new(
            &$studio.doc.project,
            &$studio.doc.analysis,
            &mut $studio.commands,
        );
        $ctx.project_path = $studio.doc.path.as_deref();
        $ctx.history = $studio.session.history.as_ref();
        $ctx.past_runs = &$studio.session.past_runs;
        $ctx.training = $studio.session.run.is_some();
        $ctx.paused = $studio.session.run.as_ref().is_some_and(|r| r.is_paused());
        $ctx.has_weights = $studio.session.weights.is_some();
        $ctx.weights = $studio.session.weights.as_ref();
        $ctx.continue_training = $studio.session.continue_training;
        $ctx.chart = panel::ChartPrefs {
            smoothing: $studio.settings.smoothing,
            log_scale: $studio.settings.log_scale,
            keep_overlays: $studio.settings.keep_overlays,
        };
        $ctx.health = health;
        $ctx.now = $studio.frame.now;
        $ctx.runs_root = runs_root;
        $ctx.recording = $studio.keep.runs.record;
        $ctx.dataset = dataset;
    };
}

impl Studio {
    /// The bottom-panel tab a registered panel draws (the Runs tab).
    fn tab_panel_ui(&mut self, ui: &mut Ui, name: &str) {
        panel_ctx!(self, ctx);
        if let Some(p) = self.panels.iter_mut().find(|p| p.name() == name) {
            p.ui(ui, &mut ctx);
        }
    }

    /// Every panel's per-frame work: background jobs, its own windows.
    fn panels_frame(&mut self, egui: &egui::Context) {
        panel_ctx!(self, ctx);
        for p in self.panels.iter_mut() {
            p.frame(egui, &mut ctx);
        }
    }

    /// The open side panels of the registry, each drawn through `Ctx` alone.
    fn side_panels_ui(&mut self, ui: &mut Ui) {
        panel_ctx!(self, ctx);
        for p in self.panels.iter_mut() {
            if p.place() == panel::Place::Right && p.is_open() && p.applies(ctx.project) {
                egui::Panel::right(p.name())
                    .resizable(true)
                    .default_size(360.0)
                    .show(ui, |ui| p.ui(ui, &mut ctx));
            }
        }
    }

    /// The whole window: menu, palette, canvas, inspector, training panel, status bar.
    pub fn ui(&mut self, ui: &mut Ui) {
        let started = std::time::Instant::now();
        let ctx = ui.ctx().clone();
        self.set_time(ctx.input(|i| i.time));
        self.frame.egui = Some(ctx.clone());
        self.poll();
        self.poll_data(&ctx);
        self.poll_insight();
        self.autosave_tick();
        self.poll_deploy();
        if self.deploy.busy() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
        if let Some(outcome) = self.chrome.dialogs.poll() {
            self.dialog_outcome(outcome);
        }
        if ctx.input(|i| i.viewport().close_requested()) && !self.close_requested() {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        }
        self.shortcuts(&ctx);

        egui::Panel::top("menu-bar").show(ui, |ui| self.menu_ui(ui));
        egui::Panel::bottom("status-bar").show(ui, |ui| self.status_ui(ui));
        egui::Panel::bottom("training-panel")
            .resizable(true)
            .default_size(320.0)
            .min_size(220.0)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    let tab = &mut self.settings.bottom_tab;
                    ui.selectable_value(
                        tab,
                        studio::BottomTab::Training,
                        RichText::new("Training").strong(),
                    );
                    let data_label = if self.data.is_loading() {
                        "Data (loading…)"
                    } else {
                        "Data"
                    };
                    ui.selectable_value(
                        tab,
                        studio::BottomTab::Data,
                        RichText::new(data_label).strong(),
                    );
                    ui.selectable_value(
                        tab,
                        studio::BottomTab::Insight,
                        RichText::new("Insight").strong(),
                    );
                    ui.selectable_value(
                        tab,
                        studio::BottomTab::DataMap,
                        RichText::new("Data map").strong(),
                    );
                    ui.selectable_value(
                        tab,
                        studio::BottomTab::Projector,
                        RichText::new("Projector").strong(),
                    );
                    ui.selectable_value(
                        tab,
                        studio::BottomTab::Runs,
                        RichText::new("Runs").strong(),
                    );
                });
                ui.separator();
                // Content scrolls inside the panel rather than growing it: the panel keeps the
                // height the user gave it whichever tab is open.
                let height = ui.available_height();
                egui::ScrollArea::vertical()
                    .id_salt("bottom-tab")
                    .auto_shrink([false, false])
                    .max_height(height)
                    .show(ui, |ui| {
                        ui.set_max_height(height);
                        match self.settings.bottom_tab {
                            studio::BottomTab::Training => self.tab_panel_ui(ui, "Training"),
                            studio::BottomTab::Data => data::data_panel_ui(ui, self),
                            studio::BottomTab::Insight => insight::insight_panel_ui(ui, self),
                            studio::BottomTab::DataMap => self.tab_panel_ui(ui, "Data map"),
                            studio::BottomTab::Projector => self.tab_panel_ui(ui, "Projector"),
                            studio::BottomTab::Runs => self.tab_panel_ui(ui, "Runs"),
                        }
                    });
            });
        egui::Panel::left("palette")
            .resizable(true)
            .default_size(170.0)
            .show(ui, |ui| {
                ui.add_enabled_ui(!self.is_training(), |ui| {
                    palette::palette_ui(ui, &mut self.commands)
                });
            });
        self.side_panels_ui(ui);
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(320.0)
            .show(ui, |ui| inspector::inspector_ui(ui, self));
        egui::CentralPanel::default().show(ui, |ui| self.canvas_ui(ui));

        let gesture = ctx.input(|i| i.pointer.any_down()) || ctx.egui_wants_keyboard_input();
        self.sync_graph(gesture);
        self.dialogs_ui(&ctx);
        self.recovery_prompt_ui(&ctx);
        self.resume_prompt_ui(&ctx);
        self.panels_frame(&ctx);
        self.apply_commands(&ctx);
        self.update_title(&ctx);
        self.frame
            .perf
            .record(started.elapsed().as_secs_f32() * 1e3, self.time());
        self.perf_log();
    }

    fn canvas_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let training = self.is_training();
            ui.add_enabled_ui(!training, |ui| {
                if ui.button("⟲ Undo").on_hover_text("Ctrl+Z").clicked() {
                    self.push(Command::Undo);
                }
                if ui.button("⟳ Redo").on_hover_text("Ctrl+Shift+Z").clicked() {
                    self.push(Command::Redo);
                }
                if ui
                    .button("Tidy")
                    .on_hover_text("Lay the graph out left to right")
                    .clicked()
                {
                    self.push(Command::Tidy);
                }
            });
            if ui
                .button("Fit")
                .on_hover_text("Fit the graph in view (or double-click the canvas)")
                .clicked()
            {
                self.doc.editor.request_fit();
            }
            let a = &self.doc.analysis;
            if a.is_ok() {
                ui.colored_label(
                    OK,
                    format!("✔ {} parameters", editor::thousands(a.total_params())),
                );
            } else {
                ui.colored_label(
                    ERROR,
                    format!("⚠ {} problem(s): {}", a.errors.len(), a.errors[0]),
                )
                .on_hover_text(
                    a.errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
            }
            // A graph that does not fit the loaded data: say what would change, fix in one click.
            if let Some(changes) = self.data_misfit() {
                if ui
                    .add_enabled(!self.is_training(), egui::Button::new("Fit to the data"))
                    .on_hover_text(format!("Does not fit the data: {}", changes.join("; ")))
                    .clicked()
                {
                    self.fit_graph_to_data();
                }
            }
        });
        if let Some(w) = self.chrome.welcome.clone() {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(w).strong().color(theme::VAL));
                if ui
                    .button("📖 Start the lessons")
                    .on_hover_text(
                        "The primer's chapters, each with a project, a task and its outcome",
                    )
                    .clicked()
                {
                    self.push(Command::OpenPanel("Lessons"));
                }
            });
        }
        if self.is_training() {
            ui.label(
                RichText::new("Training: the graph is locked. Stop the run to edit it.").weak(),
            );
        }
        let dark = ui.visuals().dark_mode;
        let analysis = self.doc.analysis.clone();
        // The canvas stays live while training (select a node to see its activations, move
        // nodes); structural edits are undone in `sync_graph`.
        let out = self.doc.editor.ui(ui, &analysis, dark);
        if let Some(reason) = out.rejected {
            self.notify_error(format!("Wire refused: {reason}"));
        }
        if !out.delete.is_empty() {
            self.push(Command::Delete);
            self.doc.editor.selected = out.delete.first().cloned();
        }
        if !out.duplicate.is_empty() {
            self.doc.editor.selected = out.duplicate.first().cloned();
            self.push(Command::Duplicate);
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let cmd = Modifiers::COMMAND;
        let shift_cmd = Modifiers::COMMAND | Modifiers::SHIFT;
        let table: [(KeyboardShortcut, Command, bool); 14] = [
            (KeyboardShortcut::new(cmd, Key::N), Command::New, true),
            (
                KeyboardShortcut::new(cmd, Key::O),
                Command::OpenDialog,
                true,
            ),
            (
                KeyboardShortcut::new(shift_cmd, Key::S),
                Command::SaveAsDialog,
                true,
            ),
            (KeyboardShortcut::new(cmd, Key::S), Command::Save, true),
            (
                KeyboardShortcut::new(shift_cmd, Key::Z),
                Command::Redo,
                false,
            ),
            (KeyboardShortcut::new(cmd, Key::Z), Command::Undo, false),
            (KeyboardShortcut::new(cmd, Key::Y), Command::Redo, false),
            (
                KeyboardShortcut::new(cmd, Key::D),
                Command::Duplicate,
                false,
            ),
            (KeyboardShortcut::new(cmd, Key::C), Command::Copy, false),
            (KeyboardShortcut::new(cmd, Key::V), Command::Paste, false),
            (KeyboardShortcut::new(cmd, Key::Enter), Command::Train, true),
            (
                KeyboardShortcut::new(Modifiers::SHIFT, Key::F5),
                Command::Stop,
                true,
            ),
            (
                KeyboardShortcut::new(Modifiers::NONE, Key::F5),
                Command::Train,
                true,
            ),
            (
                KeyboardShortcut::new(Modifiers::NONE, Key::F6),
                Command::TogglePause,
                true,
            ),
        ];
        for (shortcut, command, while_typing) in table {
            if (while_typing || !typing) && ctx.input_mut(|i| i.consume_shortcut(&shortcut)) {
                self.push(command);
            }
        }
        for (key, tab) in [
            (Key::Num1, studio::BottomTab::Training),
            (Key::Num2, studio::BottomTab::Data),
            (Key::Num3, studio::BottomTab::Insight),
            (Key::Num4, studio::BottomTab::Runs),
            (Key::Num5, studio::BottomTab::DataMap),
            (Key::Num6, studio::BottomTab::Projector),
        ] {
            if ctx.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(cmd, key))) {
                self.settings.bottom_tab = tab;
            }
        }
        if !typing && ctx.input(|i| i.key_pressed(Key::Delete) || i.key_pressed(Key::Backspace)) {
            self.push(Command::Delete);
        }
    }

    fn menu_ui(&mut self, ui: &mut Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("New").clicked() {
                    self.push(Command::New);
                    ui.close();
                }
                if ui.button("Open…").clicked() {
                    self.push(Command::OpenDialog);
                    ui.close();
                }
                ui.menu_button("Open preset", |ui| {
                    for path in crate::presets::list() {
                        let name = path
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        if ui.button(&name).clicked() {
                            self.push(Command::Open(path.clone()));
                            ui.close();
                        }
                    }
                });
                ui.menu_button("Recent", |ui| {
                    if self.settings.recent.is_empty() {
                        ui.label(RichText::new("nothing yet").weak());
                    }
                    for path in self.settings.recent.clone() {
                        if ui.button(path.display().to_string()).clicked() {
                            self.push(Command::Open(path));
                            ui.close();
                        }
                    }
                });
                ui.separator();
                if ui.button("Save").clicked() {
                    self.push(Command::Save);
                    ui.close();
                }
                if ui.button("Save As…").clicked() {
                    self.push(Command::SaveAsDialog);
                    ui.close();
                }
                ui.separator();
                if ui
                    .add_enabled(
                        self.session.weights.is_some(),
                        egui::Button::new("Save trained weights"),
                    )
                    .on_hover_text("Saves <project>.safetensors beside the project file")
                    .clicked()
                {
                    self.push(Command::SaveWeights);
                    ui.close();
                }
                if ui.button("Load weights…").clicked() {
                    self.push(Command::LoadWeightsDialog);
                    ui.close();
                }
                ui.separator();
                studio::deploy_file_menu_ui(ui, self);
                ui.separator();
                if ui.button("Quit").clicked() {
                    self.push(Command::Quit);
                    ui.close();
                }
            });
            ui.menu_button("Edit", |ui| {
                let locked = self.is_training();
                for (label, cmd, enabled) in [
                    ("Undo", Command::Undo, self.doc.editor.can_undo()),
                    ("Redo", Command::Redo, self.doc.editor.can_redo()),
                    ("Delete", Command::Delete, true),
                    ("Duplicate", Command::Duplicate, true),
                    ("Copy", Command::Copy, true),
                    ("Paste", Command::Paste, self.doc.editor.has_clipboard()),
                    ("Tidy layout", Command::Tidy, true),
                ] {
                    if ui
                        .add_enabled(enabled && !locked, egui::Button::new(label))
                        .clicked()
                    {
                        self.push(cmd);
                        ui.close();
                    }
                }
            });
            ui.menu_button("Run", |ui| {
                let training = self.is_training();
                if ui
                    .add_enabled(!training, egui::Button::new("Train"))
                    .clicked()
                {
                    self.push(Command::Train);
                    ui.close();
                }
                if ui
                    .add_enabled(training, egui::Button::new("Pause / Resume"))
                    .clicked()
                {
                    self.push(Command::TogglePause);
                    ui.close();
                }
                if ui
                    .add_enabled(training, egui::Button::new("Stop"))
                    .clicked()
                {
                    self.push(Command::Stop);
                    ui.close();
                }
                ui.separator();
                if ui.button("Sweep…").clicked() {
                    self.push(Command::OpenPanel("Sweep"));
                    ui.close();
                }
                if ui.button("Find learning rate…").clicked() {
                    self.push(Command::OpenPanel("Find learning rate"));
                    ui.close();
                }
                if ui.button("Loss landscape…").clicked() {
                    self.push(Command::OpenPanel("Loss landscape"));
                    ui.close();
                }
                if ui.button("Runs").clicked() {
                    self.settings.bottom_tab = studio::BottomTab::Runs;
                    ui.close();
                }
                ui.separator();
                let has_weights = self.session.weights.is_some();
                if let Some(p) = self.panels.get_mut::<serving_view::ServingPanel>() {
                    p.menu_ui(ui, has_weights);
                }
            });
            ui.menu_button("View", |ui| {
                let dark = self.settings.theme == theme::ThemeChoice::Dark;
                if ui.radio(dark, "Dark theme").clicked() {
                    self.push(Command::SetTheme(theme::ThemeChoice::Dark));
                    ui.close();
                }
                if ui.radio(!dark, "Light theme").clicked() {
                    self.push(Command::SetTheme(theme::ThemeChoice::Light));
                    ui.close();
                }
                ui.checkbox(
                    &mut self.settings.show_perf,
                    "Frame timing in the status bar",
                );
            });
            ui.menu_button("Help", |ui| {
                if ui.button("Lessons").clicked() {
                    self.push(Command::OpenPanel("Lessons"));
                    ui.close();
                }
                if ui.button("Shortcuts").clicked() {
                    self.push(Command::ShowShortcuts);
                    ui.close();
                }
                if ui.button("About").clicked() {
                    self.push(Command::ShowAbout);
                    ui.close();
                }
            });
        });
    }

    fn status_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            match &self.session.history {
                Some(h) => {
                    ui.label(format!("Run: {}", h.state.label()));
                    ui.label(format!("step {}", h.step));
                    if let Some(r) = h.samples_per_sec() {
                        ui.label(format!("{r:.0} samples/s"));
                    }
                }
                None => {
                    ui.label("Run: idle");
                }
            }
            ui.separator();
            if let Some(m) = &self.chrome.message {
                if self.time() - m.at < MESSAGE_SECS || m.error {
                    let color = if m.error {
                        ERROR
                    } else {
                        ui.visuals().text_color()
                    };
                    ui.colored_label(color, &m.text);
                }
            }
            if self.settings.show_perf {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if let (Some(p50), Some(p95)) =
                        (self.frame.perf.p50_ms(), self.frame.perf.p95_ms())
                    {
                        ui.label(
                            RichText::new(format!(
                                "UI pass p50 {p50:.1} ms · p95 {p95:.1} ms · {:.0} fps",
                                self.frame.perf.fps()
                            ))
                            .small()
                            .weak(),
                        );
                    }
                });
            }
        });
    }

    fn dialogs_ui(&mut self, ctx: &egui::Context) {
        if let Some(cmd) = &self.chrome.confirm {
            let what = match cmd {
                Command::Quit => "quitting",
                Command::New => "starting a new project",
                _ => "opening another project",
            };
            let mut answer = None;
            egui::Modal::new(egui::Id::new("unsaved-changes")).show(ctx, |ui| {
                ui.heading("Unsaved changes");
                ui.label(format!(
                    "Save the changes to '{}' before {what}?",
                    self.doc.project.name
                ));
                ui.horizontal(|ui| {
                    if ui.button("Save").clicked() {
                        answer = Some(Some(true));
                    }
                    if ui.button("Discard").clicked() {
                        answer = Some(Some(false));
                    }
                    if ui.button("Cancel").clicked() {
                        answer = Some(None);
                    }
                });
            });
            match answer {
                Some(Some(save)) => self.resolve_confirm(save, ctx),
                Some(None) => self.cancel_confirm(),
                None => {}
            }
        }
        if let Some(prompt) = &mut self.chrome.prompt {
            let mut done = None;
            let mut cancel = false;
            egui::Window::new(prompt.purpose.title())
                .collapsible(false)
                .resizable(false)
                .show(ctx, |ui| {
                    if let Some(note) = &prompt.note {
                        ui.label(note);
                    }
                    let resp = ui.add(
                        egui::TextEdit::singleline(&mut prompt.text)
                            .desired_width(420.0)
                            .hint_text("/path/to/file"),
                    );
                    let enter = resp.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                    ui.horizontal(|ui| {
                        let label = match prompt.purpose {
                            FilePurpose::SaveProjectAs => "Save",
                            FilePurpose::Export(_) => "Export",
                            _ => "Open",
                        };
                        if (ui.button(label).clicked() || enter) && !prompt.text.trim().is_empty() {
                            done = Some(std::path::PathBuf::from(prompt.text.trim()));
                        }
                        if ui.button("Cancel").clicked() {
                            cancel = true;
                        }
                    });
                });
            if let Some(path) = done {
                let purpose = prompt.purpose;
                self.chrome.prompt = None;
                self.file_chosen(purpose, path);
            } else if cancel {
                self.chrome.prompt = None;
                self.cancel_confirm();
            }
        }
        if self.chrome.show_shortcuts {
            egui::Window::new("Keyboard shortcuts")
                .open(&mut self.chrome.show_shortcuts)
                .show(ctx, |ui| {
                    egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                        for (keys, what) in SHORTCUTS {
                            ui.monospace(*keys);
                            ui.label(*what);
                            ui.end_row();
                        }
                    });
                });
        }
        if self.chrome.show_about {
            egui::Window::new("About Glassbox").open(&mut self.chrome.show_about).show(ctx, |ui| {
                ui.label(format!("Glassbox {}", env!("CARGO_PKG_VERSION")));
                ui.label("Build, train and look inside neural networks, offline on a CPU.");
                ui.label("Made with egui, egui-snarl, egui_plot and candle.");
                ui.label("MNIST © Yann LeCun and Corinna Cortes, CC BY-SA 3.0; iris and digits from the UCI repository, CC BY 4.0.");
            });
        }
    }
}
