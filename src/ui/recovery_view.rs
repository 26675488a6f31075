//! Autosave in the studio: the open project goes to the recovery file every `AUTOSAVE_S`
//! seconds while it has unsaved changes, and a studio that finds one at start asks whether to
//! bring it back.

use crate::project::Project;
use crate::recovery::{Recovered, RecoveryFile};
use crate::ui::studio::Studio;
use egui::RichText;

/// Seconds between autosaves of a project with unsaved changes.
pub const AUTOSAVE_S: f64 = 20.0;

#[derive(Debug)]
pub struct Autosave {
    pub file: RecoveryFile,
    /// Studio time of the last write, and what was written.
    last_s: f64,
    written: Option<Project>,
    /// Found at start: offered to the user until answered.
    pub offer: Option<Recovered>,
    /// An interrupted run of the open project: the epochs it completed, offered until answered.
    pub run_offer: Option<usize>,
    /// The next run starts from the checkpoint.
    pub resume_next: bool,
}

impl Autosave {
    /// Autosave into `file`, offering back what an earlier session left there.
    pub fn new(file: RecoveryFile) -> (Self, Option<String>) {
        let (offer, error) = match file.read() {
            Some(Ok(rec)) => (Some(rec), None),
            Some(Err(e)) => (None, Some(e.to_string())),
            None => (None, None),
        };
        let a = Self {
            file,
            last_s: f64::NEG_INFINITY,
            written: None,
            offer,
            run_offer: None,
            resume_next: false,
        };
        (a, error)
    }
}

impl Studio {
    /// Turns autosave on (the app does; tests pick their own folder).
    pub fn enable_autosave(&mut self, file: RecoveryFile) {
        let (mut a, error) = Autosave::new(file);
        // A run of this very project that was cut short left its last epoch behind.
        if let Ok(Some(c)) =
            crate::train::checkpoint::load(&a.file.run_checkpoint_dir(), &self.doc.project)
        {
            a.run_offer = Some(c.epochs_done);
        }
        self.keep.autosave = Some(a);
        if let Some(e) = error {
            self.notify_error(format!("A recovery file was found but cannot be read: {e}"));
        }
    }

    /// Where the next run writes its checkpoints, and whether it resumes (taken once).
    pub(super) fn run_checkpoint(&mut self) -> Option<crate::train::CheckpointSpec> {
        let a = self.keep.autosave.as_mut()?;
        Some(crate::train::CheckpointSpec {
            dir: a.file.run_checkpoint_dir(),
            resume: std::mem::take(&mut a.resume_next),
        })
    }

    /// A run that finished needs no checkpoint any more.
    pub(super) fn run_finished(&mut self) {
        if let Some(a) = &self.keep.autosave {
            a.file.clear_run_checkpoint();
        }
    }

    /// "Resume the interrupted training?", while there is such a run and no project to recover.
    pub(super) fn resume_prompt_ui(&mut self, ctx: &egui::Context) {
        let Some(a) = &self.keep.autosave else { return };
        let (Some(done), None) = (a.run_offer, &a.offer) else {
            return;
        };
        let epochs = self.doc.project.training.epochs;
        let mut answer = None;
        egui::Window::new("Resume interrupted training?")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label(format!(
                    "The last run of “{}” stopped after epoch {done} of {epochs}.",
                    self.doc.project.name
                ));
                ui.horizontal(|ui| {
                    if ui.button("Resume training").clicked() {
                        answer = Some(true);
                    }
                    if ui.button("Start over").clicked() {
                        answer = Some(false);
                    }
                });
            });
        let Some(resume) = answer else { return };
        if let Some(a) = &mut self.keep.autosave {
            a.run_offer = None;
            a.resume_next = resume;
            if !resume {
                a.file.clear_run_checkpoint();
            }
        }
        if resume {
            self.push(crate::ui::command::Command::Train);
        }
    }

    /// Every frame: write the project if it changed and is unsaved, remove the file once the
    /// work is saved (or discarded).
    pub(super) fn autosave_tick(&mut self) {
        let dirty = self.is_dirty();
        let now = self.frame.now;
        let Some(a) = &mut self.keep.autosave else {
            return;
        };
        if a.offer.is_some() {
            return; // the earlier session's work is not overwritten before the user answers
        }
        if !dirty {
            if a.written.take().is_some() {
                a.file.clear();
            }
            return;
        }
        if a.written.as_ref() == Some(&self.doc.project) {
            return;
        }
        if now - a.last_s < AUTOSAVE_S {
            // egui draws only on events: make sure a frame comes when the write is due.
            if let Some(ctx) = &self.frame.egui {
                let wait = (AUTOSAVE_S - (now - a.last_s)).max(0.1);
                ctx.request_repaint_after(std::time::Duration::from_secs_f64(wait));
            }
            return;
        }
        a.last_s = now;
        match a.file.write(&self.doc.project, self.doc.path.as_deref()) {
            Ok(()) => a.written = Some(self.doc.project.clone()),
            Err(e) => {
                let msg = format!("autosave to {} failed: {e}", a.file.path().display());
                self.notify_error(msg);
            }
        }
    }

    /// A clean exit: nothing unsaved is left behind, so no recovery file either.
    pub fn exit(&mut self) {
        self.shutdown();
        let dirty = self.is_dirty();
        if let Some(a) = &self.keep.autosave {
            if !dirty && a.offer.is_none() {
                a.file.clear();
            }
        }
    }

    /// The "recover unsaved project?" question, while there is one.
    pub(super) fn recovery_prompt_ui(&mut self, ctx: &egui::Context) {
        let Some(rec) = self.keep.autosave.as_ref().and_then(|a| a.offer.clone()) else {
            return;
        };
        let mut answer = None;
        egui::Window::new("Recover unsaved work?")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                let age = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    .saturating_sub(rec.written_unix_s);
                let from = rec
                    .path
                    .as_ref()
                    .map_or("never saved".to_string(), |p| p.display().to_string());
                ui.label(format!(
                    "Glassbox closed before changes to “{}” were saved.",
                    rec.project.name
                ));
                ui.label(
                    RichText::new(format!("({from}; autosaved {} ago)", human_age(age))).weak(),
                );
                ui.horizontal(|ui| {
                    if ui.button("Recover").clicked() {
                        answer = Some(true);
                    }
                    if ui.button("Discard").clicked() {
                        answer = Some(false);
                    }
                });
            });
        match answer {
            Some(true) => self.recover(rec),
            Some(false) => {
                if let Some(a) = &mut self.keep.autosave {
                    a.offer = None;
                    a.file.clear();
                }
            }
            None => {}
        }
    }

    /// Opens the recovered project with its changes still unsaved.
    fn recover(&mut self, rec: Recovered) {
        let on_disk = rec
            .path
            .as_deref()
            .and_then(|p| Project::load(p).ok())
            .unwrap_or_default();
        self.open_recovered(rec.project, rec.path, on_disk);
        if let Some(a) = &mut self.keep.autosave {
            a.offer = None;
        }
        self.notify("Recovered the unsaved project: save it to keep it");
    }
}

fn human_age(s: u64) -> String {
    match s {
        0..=89 => format!("{s} s"),
        90..=5399 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}
