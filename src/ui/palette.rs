//! The layer palette: drag a layer onto the canvas, or double-click to add it.

use super::command::Command;
use super::theme::family_color;
use crate::graph::{LayerFamily, LayerKind};
use egui::{Label, RichText, Sense, Ui};

const GROUPS: [(LayerFamily, &str); 8] = [
    (LayerFamily::Io, "Input / output"),
    (LayerFamily::Linear, "Dense"),
    (LayerFamily::Convolution, "Convolution"),
    (LayerFamily::Sequence, "Sequences"),
    (LayerFamily::Activation, "Activations"),
    (
        LayerFamily::Regularisation,
        "Normalisation & regularisation",
    ),
    (LayerFamily::Shape, "Shape"),
    (LayerFamily::Merge, "Merge"),
];

pub fn palette_ui(ui: &mut Ui, commands: &mut Vec<Command>) {
    // A drag from an item must carry the layer, not select the list's text.
    ui.style_mut().interaction.selectable_labels = false;
    ui.heading("Layers");
    ui.label(
        RichText::new("Drag onto the canvas, or double-click")
            .small()
            .weak(),
    );
    egui::ScrollArea::vertical().show(ui, |ui| {
        for (family, title) in GROUPS {
            ui.add_space(6.0);
            ui.label(RichText::new(title).small().strong());
            for kind in LayerKind::ALL.into_iter().filter(|k| k.family() == family) {
                item_ui(ui, kind, commands);
            }
        }
    });
}

fn item_ui(ui: &mut Ui, kind: LayerKind, commands: &mut Vec<Command>) {
    let dark = ui.visuals().dark_mode;
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(8.0, 14.0), Sense::hover());
        ui.painter()
            .rect_filled(rect, 2.0, family_color(kind.family(), dark));
        let resp = ui
            .add(
                Label::new(format!("+ {}", kind.name()))
                    .selectable(false)
                    .sense(Sense::click_and_drag()),
            )
            .on_hover_text(kind.description());
        resp.dnd_set_drag_payload(kind);
        if resp.dragged() {
            ui.ctx().set_cursor_icon(egui::CursorIcon::Grabbing);
        } else if resp.hovered() {
            ui.ctx().set_cursor_icon(egui::CursorIcon::Grab);
        }
        if resp.double_clicked() {
            commands.push(Command::AddNode(kind));
        }
    });
}
