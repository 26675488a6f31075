//! Help ▸ Lessons: the primer's chapters in a side panel — the chapter's text (Markdown), the
//! step's project to open, one thing to do, and the outcome, lit up when the run reaches it.

use super::command::Command;
use super::panel::{Ctx, Panel, Place, StudioEvent};
use super::theme::OK;
use crate::lessons::{self, Evidence, Lesson};
use egui::{Color32, RichText, Ui};

/// The lessons side panel (Help ▸ Lessons): the primer's chapters, each step's task, and
/// whether the open step's run has reached its outcome.
#[derive(Default)]
pub struct LessonsPanel {
    pub show: bool,
    /// Index into `lessons::all()`.
    pub lesson: Option<usize>,
    pub step: usize,
    /// (lesson, step, project name) of the step last opened: its project's runs count
    /// towards the outcome.
    pub opened: Option<(usize, usize, String)>,
    /// A model was exported since the step was opened.
    pub exported: bool,
    all: Vec<Lesson>,
    /// egui_commonmark's layout state for the lesson text.
    markdown: egui_commonmark::CommonMarkCache,
}

impl LessonsPanel {
    fn lessons(&mut self) -> &[Lesson] {
        if self.all.is_empty() {
            self.all = lessons::all();
        }
        &self.all
    }
}

impl LessonsPanel {
    /// The outcome of the open step, judged from this project's current run.
    fn verdict(&mut self, ctx: &Ctx) -> Option<lessons::Verdict> {
        let (l, s) = (self.lesson?, self.step);
        let check = self.lessons().get(l)?.steps.get(s)?.check;
        match &self.opened {
            Some((ol, os, name)) if (*ol, *os) == (l, s) && *name == ctx.project.name => {}
            _ => return None,
        }
        let flipped = ctx.dataset.as_ref().map_or(&[][..], |d| &d.flipped[..]);
        Some(check.judge(&Evidence {
            history: ctx.history,
            health: ctx.health,
            graph: &ctx.project.graph,
            exported: self.exported,
            flipped,
        }))
    }

    fn list_ui(&mut self, ui: &mut Ui) {
        ui.label("The primer, chapter by chapter. Each lesson opens a project, asks one thing and shows when you got there.");
        ui.add_space(6.0);
        let lessons: Vec<(String, String)> = self
            .lessons()
            .iter()
            .map(|l| (l.chapter.to_string(), l.title.to_string()))
            .collect();
        for (i, (chapter, title)) in lessons.into_iter().enumerate() {
            if ui
                .button(format!("{chapter} — {title}"))
                .on_hover_text("Open this lesson")
                .clicked()
            {
                self.lesson = Some(i);
                self.step = 0;
                self.opened = None;
            }
        }
    }

    fn lesson_ui(&mut self, ui: &mut Ui, ctx: &mut Ctx, index: usize) {
        let Some(lesson) = self.lessons().get(index).cloned() else {
            self.lesson = None;
            return;
        };
        ui.horizontal(|ui| {
            if ui.small_button("◀ All lessons").clicked() {
                self.lesson = None;
            }
            ui.label(RichText::new(lesson.chapter).weak());
        });
        ui.separator();
        egui::ScrollArea::vertical()
            .id_salt("lesson-text")
            .max_height(ui.available_height() * 0.55)
            .show(ui, |ui| {
                egui_commonmark::CommonMarkViewer::new().show(ui, &mut self.markdown, lesson.text);
            });
        ui.separator();
        let n = lesson.steps.len();
        let step_index = self.step.min(n.saturating_sub(1));
        let step = &lesson.steps[step_index];
        ui.label(RichText::new(format!("Step {} of {n}", step_index + 1)).strong());
        ui.label(step.task);
        let opened = self
            .opened
            .as_ref()
            .is_some_and(|(l, s, _)| (*l, *s) == (index, step_index));
        if ui
            .button(if opened {
                "Open the project again"
            } else {
                "▶ Open this step's project"
            })
            .clicked()
        {
            ctx.push(Command::OpenLesson(index, step_index));
        }
        ui.add_space(6.0);
        let verdict = if opened { self.verdict(ctx) } else { None };
        let met = verdict.as_ref().is_some_and(|v| v.met);
        outcome_ui(ui, step.outcome, verdict.as_ref());
        ui.horizontal(|ui| {
            if step_index > 0 && ui.button("◀ Previous step").clicked() {
                self.step = step_index - 1;
            }
            if step_index + 1 < n {
                let next = egui::Button::new(if met {
                    "Next step ▶"
                } else {
                    "Skip to the next step ▶"
                });
                if ui.add(next).clicked() {
                    self.step = step_index + 1;
                }
            } else if index + 1 < self.lessons().len() && ui.button("Next lesson ▶").clicked() {
                self.lesson = Some(index + 1);
                self.step = 0;
            }
        });
        if met {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(500));
        }
    }
}

/// The step's goal, framed in green with its figures once the run reaches it.
fn outcome_ui(ui: &mut Ui, outcome: &str, verdict: Option<&lessons::Verdict>) {
    let met = verdict.is_some_and(|v| v.met);
    let frame = egui::Frame::group(ui.style()).stroke(egui::Stroke::new(
        if met { 2.0 } else { 1.0 },
        if met { OK } else { Color32::GRAY },
    ));
    frame.show(ui, |ui| {
        ui.set_width(ui.available_width());
        if met {
            ui.label(RichText::new(format!("✔ {outcome}")).strong().color(OK));
        } else {
            ui.label(RichText::new(format!("Goal: {outcome}")).weak());
        }
        if let Some(v) = verdict {
            ui.label(RichText::new(&v.detail).small());
        }
    });
}

impl Panel for LessonsPanel {
    fn name(&self) -> &'static str {
        "Lessons"
    }

    fn place(&self) -> Place {
        Place::Right
    }

    fn is_open(&self) -> bool {
        self.show
    }

    fn set_open(&mut self, open: bool) {
        self.show = open;
    }

    fn ui(&mut self, ui: &mut Ui, ctx: &mut Ctx) {
        ui.horizontal(|ui| {
            ui.heading("Lessons");
            if ui
                .small_button("Close")
                .on_hover_text("Close the lessons")
                .clicked()
            {
                self.show = false;
            }
        });
        match self.lesson {
            None => {
                egui::ScrollArea::vertical()
                    .id_salt("lesson-list")
                    .show(ui, |ui| self.list_ui(ui));
            }
            Some(i) => self.lesson_ui(ui, ctx, i),
        }
    }

    fn on_event(&mut self, ev: &StudioEvent) {
        match ev {
            StudioEvent::LessonOpened {
                lesson,
                step,
                project,
            } => {
                self.opened = Some((*lesson, *step, project.clone()));
                self.lesson = Some(*lesson);
                self.step = *step;
                self.exported = false;
            }
            StudioEvent::Exported => self.exported = true,
            _ => {}
        }
    }
}
