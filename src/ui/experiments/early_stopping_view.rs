//! Early stopping's settings, in the inspector's training section.

use crate::train::{EarlyStopping, Monitor, TrainSettings};
use egui::{DragValue, Ui};

pub fn early_stopping_ui(ui: &mut Ui, t: &mut TrainSettings) {
    let mut on = t.early_stopping.is_some();
    if ui
        .checkbox(&mut on, "Early stopping")
        .on_hover_text(
            "End the run when the validation figure stops improving, and keep the best epoch's weights",
        )
        .changed()
    {
        t.early_stopping = on.then(EarlyStopping::default);
    }
    let Some(es) = &mut t.early_stopping else {
        return;
    };
    ui.horizontal(|ui| {
        ui.label("watch");
        egui::ComboBox::from_id_salt("early-monitor")
            .selected_text(es.monitor.name())
            .show_ui(ui, |ui| {
                for m in Monitor::ALL {
                    ui.selectable_value(&mut es.monitor, m, m.name());
                }
            });
    });
    ui.horizontal(|ui| {
        ui.label("patience");
        ui.add(DragValue::new(&mut es.patience_epochs).range(1..=100))
            .on_hover_text("Epochs without improvement before stopping");
        ui.label("min change");
        ui.add(
            DragValue::new(&mut es.min_delta)
                .range(0.0..=1.0)
                .speed(1e-4),
        );
    });
    ui.checkbox(&mut es.restore_best, "keep the best epoch's weights");
}
