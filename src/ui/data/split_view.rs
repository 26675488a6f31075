//! The split and augmentation settings of the data panel.

use crate::data::{Augmentation, DataSettings, DataSource, Normalization};
use egui::{DragValue, RichText, Ui};

pub(super) fn split_ui(ui: &mut Ui, data: &mut DataSettings) {
    let own_test = matches!(data.source, DataSource::Mnist)
        || matches!(
            &data.source,
            DataSource::Idx {
                test_images: Some(_),
                ..
            }
        )
        || matches!(data.source, DataSource::ImageFolder { .. });
    let split = &mut data.split;
    ui.horizontal(|ui| {
        ui.label("Validation");
        ui.add(
            egui::Slider::new(&mut split.validation, 0.0..=0.5)
                .fixed_decimals(2)
                .clamping(egui::SliderClamping::Edits),
        );
    });
    if own_test {
        ui.checkbox(
            &mut split.use_source_test,
            "Use the source's own test set (if it has one)",
        );
    }
    if !own_test || !split.use_source_test {
        ui.horizontal(|ui| {
            ui.label("Test");
            ui.add(
                egui::Slider::new(&mut split.test, 0.0..=0.5)
                    .fixed_decimals(2)
                    .clamping(egui::SliderClamping::Edits),
            );
        });
    }
    ui.horizontal(|ui| {
        ui.checkbox(&mut split.stratify, "Stratify by class");
        ui.label("seed");
        ui.add(DragValue::new(&mut split.seed));
    });
    ui.horizontal(|ui| {
        ui.label("Normalise");
        egui::ComboBox::from_id_salt("normalisation")
            .selected_text(format!("{:?}", data.normalization))
            .show_ui(ui, |ui| {
                for n in [
                    Normalization::Standardize,
                    Normalization::Unit,
                    Normalization::Symmetric,
                    Normalization::None,
                ] {
                    ui.selectable_value(&mut data.normalization, n, format!("{n:?}"));
                }
            });
    });
    ui.horizontal(|ui| {
        let mut limit = data.max_train_samples.is_some();
        ui.checkbox(&mut limit, "At most");
        let mut n = data.max_train_samples.unwrap_or(10_000);
        ui.add_enabled(
            limit,
            DragValue::new(&mut n).range(10..=10_000_000).speed(50),
        );
        ui.label("training samples");
        data.max_train_samples = limit.then_some(n);
    });
    label_noise_ui(ui, data);
}

/// Flip a share of the training labels on purpose, to see what wrong labels cost.
fn label_noise_ui(ui: &mut Ui, data: &mut DataSettings) {
    ui.horizontal(|ui| {
        let mut on = data.label_noise.is_some();
        let mut noise = data.label_noise.unwrap_or_default();
        ui.checkbox(&mut on, "Flip training labels")
            .on_hover_text("On purpose: a share of the training labels changed to another class at random (validation and test stay true), to see what wrong labels cost and whether the data map finds them");
        let mut percent = noise.share * 100.0;
        ui.add_enabled(
            on,
            DragValue::new(&mut percent)
                .range(0.0..=crate::data::noise::MAX_SHARE * 100.0)
                .suffix(" %")
                .speed(0.5),
        );
        noise.share = percent / 100.0;
        ui.label("seed");
        ui.add_enabled(on, DragValue::new(&mut noise.seed));
        data.label_noise = on.then_some(noise);
    });
}

pub(super) fn augmentation_ui(ui: &mut Ui, aug: &mut Augmentation, show: &mut bool) {
    ui.label(RichText::new("Augmentation (training only)").strong());
    ui.horizontal(|ui| {
        ui.label("shift");
        ui.add(DragValue::new(&mut aug.shift_px).range(0..=8).suffix(" px"));
        ui.label("rotate");
        ui.add(
            DragValue::new(&mut aug.rotation_deg)
                .range(0.0..=45.0)
                .suffix("°"),
        );
        ui.checkbox(&mut aug.flip, "mirror");
    });
    ui.horizontal(|ui| {
        ui.label("noise");
        ui.add(
            DragValue::new(&mut aug.noise_std)
                .range(0.0..=1.0)
                .speed(0.01),
        );
        ui.label("cutout");
        ui.add(
            DragValue::new(&mut aug.cutout_px)
                .range(0..=16)
                .suffix(" px"),
        );
    });
    ui.checkbox(show, "Preview augmented samples");
}
