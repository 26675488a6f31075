//! Help ▸ Lessons: the primer's chapters in a side panel — the chapter's text (Markdown), the
//! step's project to open, one thing to do, and the outcome, lit up when the run reaches it.

use super::command::Command;
use super::panel::{Ctx, Panel, Place, StudioEvent};
use super::theme::OK;
use crate::lessons::{self, Evidence, Lesson};
use egui::text::LayoutJob;
use egui::{Color32, FontId, RichText, TextFormat, Ui};

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
}

impl LessonsPanel {
    fn lessons(&mut self) -> &[Lesson] {
        if self.all.is_empty() {
            self.all = lessons::all();
        }
        &self.all
    }
}

/// Inline `**bold**`, `*italic*` and `` `code` `` of one paragraph, as a layout job.
fn inline_job(ui: &Ui, text: &str, size: f32) -> LayoutJob {
    let color = ui.visuals().text_color();
    let strong = ui.visuals().strong_text_color();
    let mut job = LayoutJob::default();
    let (mut bold, mut italic, mut code) = (false, false, false);
    let mut rest = text;
    while !rest.is_empty() {
        let next = ["**", "*", "`"]
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i, *m)))
            .min_by_key(|(i, m)| (*i, std::cmp::Reverse(m.len())));
        let (chunk, marker) = match next {
            Some((i, m)) => (&rest[..i], Some(m)),
            None => (rest, None),
        };
        if !chunk.is_empty() {
            let format = TextFormat {
                font_id: if code {
                    FontId::monospace(size - 1.0)
                } else {
                    FontId::proportional(size)
                },
                color: if bold { strong } else { color },
                italics: italic,
                ..Default::default()
            };
            job.append(chunk, 0.0, format);
        }
        match marker {
            Some(m) => {
                match m {
                    "**" if !code => bold = !bold,
                    "*" if !code => italic = !italic,
                    "`" => code = !code,
                    _ => job.append(m, 0.0, TextFormat::default()),
                }
                rest = &rest[chunk.len() + m.len()..];
            }
            None => rest = "",
        }
    }
    job.wrap.max_width = ui.available_width();
    job
}

/// Headings, paragraphs, bullet and numbered lists: the Markdown the lessons use.
pub fn markdown_ui(ui: &mut Ui, md: &str) {
    let mut para = String::new();
    let flush = |ui: &mut Ui, para: &mut String| {
        if !para.is_empty() {
            let job = inline_job(ui, para.trim(), 14.0);
            ui.label(job);
            para.clear();
        }
    };
    for line in md.lines() {
        let t = line.trim_end();
        let item = t
            .strip_prefix("- ")
            .map(|r| ("•".to_string(), r))
            .or_else(|| {
                let (n, r) = t.split_once(". ")?;
                n.parse::<u32>().ok().map(|n| (format!("{n}."), r))
            });
        if let Some(h) = t.strip_prefix("# ") {
            flush(ui, &mut para);
            ui.label(RichText::new(h).heading());
        } else if t.is_empty() {
            flush(ui, &mut para);
            ui.add_space(4.0);
        } else if let Some((mark, rest)) = item {
            flush(ui, &mut para);
            para = format!("{mark} {rest}");
        } else if t.starts_with("  ") && !para.is_empty() {
            para.push(' ');
            para.push_str(t.trim());
        } else {
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(t.trim());
        }
    }
    flush(ui, &mut para);
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
        Some(check.judge(&Evidence {
            history: ctx.history,
            health: ctx.health,
            graph: &ctx.project.graph,
            exported: self.exported,
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
            .show(ui, |ui| markdown_ui(ui, lesson.text));
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
        }
    }
}
