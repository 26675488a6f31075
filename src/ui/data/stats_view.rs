//! The data statistics column: split counts, load notes and class balance.

use crate::ui::studio::Studio;
use crate::ui::theme::{TRAIN, VAL};
use egui::{Color32, RichText, Ui};
use egui_plot::{Bar, BarChart, Plot};

pub(super) fn stats_ui(ui: &mut Ui, studio: &mut Studio) {
    let Some(s) = &studio.data.summary else {
        return;
    };
    egui::Grid::new("split-counts").show(ui, |ui| {
        for (name, n, color) in [
            ("train", s.splits[0], TRAIN),
            ("validation", s.splits[1], VAL),
            ("test", s.splits[2], ui.visuals().text_color()),
        ] {
            ui.colored_label(color, name);
            ui.monospace(crate::ui::editor::thousands(n));
            ui.end_row();
        }
    });
    ui.label(
        RichText::new(format!(
            "loaded in {:.0} ms · {:.1} MB in memory",
            s.load_ms,
            s.memory_bytes as f64 / 1e6
        ))
        .weak()
        .small(),
    );
    if let Some(v) = s.vocab {
        ui.label(format!("vocabulary: {v} tokens"));
    }
    for n in &s.notes {
        ui.label(RichText::new(format!("• {n}")).small());
    }
    if s.classes.is_empty() {
        ui.label("Numeric target (regression)");
        return;
    }
    ui.label(RichText::new(format!("Class balance ({} classes)", s.classes.len())).strong());
    let bars = |split: usize, offset: f64, color: Color32| {
        BarChart::new(
            ["train", "validation", "test"][split],
            s.class_counts[split]
                .iter()
                .enumerate()
                .map(|(k, &c)| Bar::new(k as f64 + offset, c as f64).width(0.3))
                .collect(),
        )
        .color(color)
    };
    let names = s.classes.clone();
    let mut export = None;
    let counts = s.class_counts.clone();
    ui.horizontal(|ui| {
        if crate::ui::experiments::export_button_ui(ui, true) {
            let mut chart = crate::runs::chart::Chart::new("Class balance", "class", "samples")
                .styled(crate::runs::chart::ChartStyle::Bars);
            for (split, name) in ["train", "validation", "test"].iter().enumerate() {
                let pts = counts[split]
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| [k as f64, c as f64])
                    .collect();
                chart = chart.with(name, pts);
            }
            export = Some(chart);
        }
        ui.colored_label(TRAIN, "■ train");
        ui.colored_label(VAL, "■ validation");
        ui.colored_label(Color32::GRAY, "■ test");
    });
    Plot::new("class-balance")
        .height(140.0)
        .width(250.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .x_axis_formatter(move |m, _| {
            let k = m.value.round();
            if (m.value - k).abs() < 1e-6 && k >= 0.0 {
                names.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |p| {
            p.bar_chart(bars(0, -0.3, TRAIN));
            p.bar_chart(bars(1, 0.0, VAL));
            p.bar_chart(bars(2, 0.3, Color32::GRAY));
        });
    if let Some(chart) = export {
        crate::ui::experiments::save_chart(studio, "class-balance", &chart);
    }
}
