//! The inspector's training settings: optimiser, rate, schedule, batch, epochs, seed, early
//! stopping and the LR finder's button.

use super::Studio;
use crate::graph::TrainingMode;
use crate::train::{Optimizer, Schedule};
use egui::{DragValue, RichText, Ui};

pub fn training_settings_ui(ui: &mut Ui, studio: &mut Studio) {
    let t = &mut studio.doc.project.training;
    // A GAN's two Adams and their rates are set with the mode above.
    if !matches!(studio.doc.project.mode, TrainingMode::Gan { .. }) {
        optimizer_ui(ui, t);
    }
    ui.horizontal(|ui| {
        ui.label("Weight decay");
        // Edits clamp; values a project (or a lesson) brings keep what they are.
        ui.add(
            egui::Slider::new(&mut t.weight_decay, 0.0..=0.1)
                .logarithmic(true)
                .clamping(egui::SliderClamping::Edits),
        );
    });
    ui.horizontal(|ui| {
        ui.label("Schedule");
        egui::ComboBox::from_id_salt("schedule")
            .selected_text(t.schedule.name())
            .show_ui(ui, |ui| {
                let options = [
                    Schedule::Constant,
                    Schedule::Step {
                        every_epochs: 1,
                        gamma: 0.5,
                    },
                    Schedule::Cosine { min_lr: 0.0 },
                ];
                for s in options {
                    if ui
                        .selectable_label(t.schedule.name() == s.name(), s.name())
                        .clicked()
                        && t.schedule.name() != s.name()
                    {
                        t.schedule = s;
                    }
                }
            });
    });
    match &mut t.schedule {
        Schedule::Step {
            every_epochs,
            gamma,
        } => {
            ui.horizontal(|ui| {
                ui.label("every");
                ui.add(DragValue::new(every_epochs).range(1..=100));
                ui.label("epochs ×");
                ui.add(DragValue::new(gamma).range(0.01..=1.0).speed(0.01));
            });
        }
        Schedule::Cosine { min_lr } => {
            ui.horizontal(|ui| {
                ui.label("down to");
                ui.add(DragValue::new(min_lr).range(0.0..=1.0).speed(1e-5));
            });
        }
        Schedule::Constant => {}
    }
    ui.horizontal(|ui| {
        ui.label("Batch size");
        ui.add(DragValue::new(&mut t.batch_size).range(1..=4096));
        ui.label("Epochs");
        ui.add(DragValue::new(&mut t.epochs).range(1..=1000));
    });
    let mut find_lr = false;
    ui.horizontal(|ui| {
        ui.label("Seed");
        ui.add(DragValue::new(&mut t.seed));
        find_lr = ui
            .small_button("Find LR…")
            .on_hover_text("Learning-rate range test: suggests a rate for this network and data")
            .clicked();
    });
    if find_lr {
        studio.push(crate::ui::command::Command::OpenPanel("Find learning rate"));
    }
    let t = &mut studio.doc.project.training;
    crate::ui::experiments::early_stopping_ui(ui, t);
    if let Some(from) = t.init_from.clone() {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("Starts from the weights of {from}")).weak());
            if ui
                .small_button("fresh instead")
                .on_hover_text("Start the next run from freshly initialised weights")
                .clicked()
            {
                studio.push(crate::ui::command::Command::Deploy(
                    crate::ui::studio::DeployAction::ClearStartFrom,
                ));
            }
        });
    }
}

fn optimizer_ui(ui: &mut Ui, t: &mut crate::train::TrainSettings) {
    ui.horizontal(|ui| {
        ui.label("Optimizer");
        egui::ComboBox::from_id_salt("optimizer")
            .selected_text(t.optimizer.name())
            .show_ui(ui, |ui| {
                for o in [
                    Optimizer::sgd(0.9, false),
                    Optimizer::adam(),
                    Optimizer::adamw(),
                    Optimizer::rmsprop(),
                ] {
                    if ui
                        .selectable_label(t.optimizer.name() == o.name(), o.name())
                        .clicked()
                        && t.optimizer.name() != o.name()
                    {
                        t.optimizer = o;
                    }
                }
            });
    });
    match &mut t.optimizer {
        Optimizer::Sgd { momentum, nesterov } => {
            ui.horizontal(|ui| {
                ui.label("Momentum");
                ui.add(egui::Slider::new(momentum, 0.0..=0.99));
            });
            ui.checkbox(nesterov, "Nesterov");
        }
        Optimizer::Adam { beta1, beta2, .. } | Optimizer::AdamW { beta1, beta2, .. } => {
            ui.horizontal(|ui| {
                ui.label("β1");
                ui.add(DragValue::new(beta1).range(0.0..=0.999).speed(0.001));
                ui.label("β2");
                ui.add(DragValue::new(beta2).range(0.0..=0.9999).speed(0.0001));
            });
        }
        Optimizer::RmsProp {
            alpha, momentum, ..
        } => {
            ui.horizontal(|ui| {
                ui.label("α");
                ui.add(DragValue::new(alpha).range(0.0..=0.999).speed(0.001));
                ui.label("momentum");
                ui.add(DragValue::new(momentum).range(0.0..=0.99).speed(0.01));
            });
        }
    }
    ui.horizontal(|ui| {
        ui.label("Learning rate");
        ui.add(
            egui::Slider::new(&mut t.lr, 1e-5..=10.0)
                .logarithmic(true)
                .clamping(egui::SliderClamping::Edits),
        );
    });
}
