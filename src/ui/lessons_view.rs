//! Help ▸ Lessons: the primer's chapters in a side panel — the chapter's text (Markdown), the
//! step's project to open, one thing to do, and the outcome, lit up when the run reaches it.

use super::command::Command;
use super::studio::Studio;
use super::theme::OK;
use crate::lessons::{self, Evidence, Lesson};
use egui::text::LayoutJob;
use egui::{Color32, FontId, RichText, TextFormat, Ui};

/// Which lesson is open and what the user did in it.
#[derive(Default)]
pub struct LessonState {
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

impl LessonState {
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

impl Studio {
    /// Opens step `step` of lesson `lesson`: its project, with nothing run yet.
    pub(super) fn open_lesson_step(&mut self, lesson: usize, step: usize) {
        let Some(s) = self
            .lessons
            .lessons()
            .get(lesson)
            .and_then(|l| l.steps.get(step))
            .cloned()
        else {
            return;
        };
        match s.project() {
            Ok(p) => {
                self.lessons.opened = Some((lesson, step, p.name.clone()));
                self.lessons.lesson = Some(lesson);
                self.lessons.step = step;
                self.lessons.exported = false;
                self.open_lesson_project(crate::presets::laid_out(p));
                self.notify(format!("Lesson step opened: {}", s.task));
            }
            Err(e) => self.notify_error(e.to_string()),
        }
    }

    /// The outcome of the open step, judged from this project's current run.
    fn lesson_verdict(&mut self) -> Option<lessons::Verdict> {
        let (l, s) = (self.lessons.lesson?, self.lessons.step);
        let check = self.lessons.lessons().get(l)?.steps.get(s)?.check;
        match &self.lessons.opened {
            Some((ol, os, name)) if (*ol, *os) == (l, s) && *name == self.project.name => {}
            _ => return None,
        }
        let health = self.insight.health.last().map_or(&[][..], |(_, h)| &h[..]);
        Some(check.judge(&Evidence {
            history: self.history.as_ref(),
            health,
            graph: &self.project.graph,
            exported: self.lessons.exported,
        }))
    }
}

fn list_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.label("The primer, chapter by chapter. Each lesson opens a project, asks one thing and shows when you got there.");
    ui.add_space(6.0);
    let lessons: Vec<(String, String)> = studio
        .lessons
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
            studio.lessons.lesson = Some(i);
            studio.lessons.step = 0;
            studio.lessons.opened = None;
        }
    }
}

fn lesson_ui(ui: &mut Ui, studio: &mut Studio, index: usize) {
    let Some(lesson) = studio.lessons.lessons().get(index).cloned() else {
        studio.lessons.lesson = None;
        return;
    };
    ui.horizontal(|ui| {
        if ui.small_button("◀ All lessons").clicked() {
            studio.lessons.lesson = None;
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
    let step_index = studio.lessons.step.min(n.saturating_sub(1));
    let step = &lesson.steps[step_index];
    ui.label(RichText::new(format!("Step {} of {n}", step_index + 1)).strong());
    ui.label(step.task);
    let opened = studio
        .lessons
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
        studio.push(Command::OpenLesson(index, step_index));
    }
    ui.add_space(6.0);
    let verdict = if opened {
        studio.lesson_verdict()
    } else {
        None
    };
    let met = verdict.as_ref().is_some_and(|v| v.met);
    let frame = egui::Frame::group(ui.style()).stroke(egui::Stroke::new(
        if met { 2.0 } else { 1.0 },
        if met { OK } else { Color32::GRAY },
    ));
    frame.show(ui, |ui| {
        ui.set_width(ui.available_width());
        if met {
            ui.label(
                RichText::new(format!("✔ {}", step.outcome))
                    .strong()
                    .color(OK),
            );
        } else {
            ui.label(RichText::new(format!("Goal: {}", step.outcome)).weak());
        }
        if let Some(v) = &verdict {
            ui.label(RichText::new(&v.detail).small());
        }
    });
    ui.horizontal(|ui| {
        if step_index > 0 && ui.button("◀ Previous step").clicked() {
            studio.lessons.step = step_index - 1;
        }
        if step_index + 1 < n {
            let next = egui::Button::new(if met {
                "Next step ▶"
            } else {
                "Skip to the next step ▶"
            });
            if ui.add(next).clicked() {
                studio.lessons.step = step_index + 1;
            }
        } else if index + 1 < studio.lessons.lessons().len() && ui.button("Next lesson ▶").clicked()
        {
            studio.lessons.lesson = Some(index + 1);
            studio.lessons.step = 0;
        }
    });
    if met {
        if let Some(ctx) = &studio.ctx {
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        }
    }
}

/// The lesson panel, when Help ▸ Lessons has opened it.
pub fn lessons_panel_ui(ui: &mut Ui, studio: &mut Studio) {
    ui.horizontal(|ui| {
        ui.heading("Lessons");
        if ui
            .small_button("Close")
            .on_hover_text("Close the lessons")
            .clicked()
        {
            studio.lessons.show = false;
        }
    });
    match studio.lessons.lesson {
        None => {
            egui::ScrollArea::vertical()
                .id_salt("lesson-list")
                .show(ui, |ui| list_ui(ui, studio));
        }
        Some(i) => lesson_ui(ui, studio, i),
    }
}
