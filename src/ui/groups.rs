//! Named node groups (a GAN's generator and discriminator, an autoencoder's encoder and
//! decoder) drawn as labelled frames behind their nodes on the canvas.

use crate::graph::Node;
use egui::{Align2, Color32, FontId, Painter, Rect, Stroke};
use egui_snarl::{NodeId, Snarl};
use std::collections::{BTreeMap, HashMap};

/// Room around the nodes, and above them for the label.
const MARGIN: f32 = 14.0;
const LABEL_ROOM: f32 = 18.0;

/// Frames each group around its nodes' rects (graph coordinates, from the last frame).
pub fn paint_group_frames(
    painter: &Painter,
    snarl: &Snarl<Node>,
    rects: &HashMap<NodeId, Rect>,
    dark: bool,
) {
    let mut groups: BTreeMap<&str, Rect> = BTreeMap::new();
    for (id, node) in snarl.node_ids() {
        let (Some(group), Some(rect)) = (node.group.as_deref(), rects.get(&id)) else {
            continue;
        };
        groups
            .entry(group)
            .and_modify(|r| *r = r.union(*rect))
            .or_insert(*rect);
    }
    for (k, (name, rect)) in groups.into_iter().enumerate() {
        let hue = GROUP_COLOURS[k % GROUP_COLOURS.len()];
        let frame = rect
            .expand(MARGIN)
            .with_min_y(rect.min.y - MARGIN - LABEL_ROOM);
        let fill = hue.gamma_multiply(if dark { 0.08 } else { 0.12 });
        painter.rect_filled(frame, 8.0, fill);
        painter.rect_stroke(
            frame,
            8.0,
            Stroke::new(1.5, hue.gamma_multiply(0.7)),
            egui::StrokeKind::Inside,
        );
        painter.text(
            frame.min + egui::vec2(10.0, 4.0),
            Align2::LEFT_TOP,
            name,
            FontId::proportional(14.0),
            hue,
        );
    }
}

const GROUP_COLOURS: [Color32; 4] = [
    Color32::from_rgb(120, 170, 255),
    Color32::from_rgb(255, 170, 90),
    Color32::from_rgb(140, 210, 140),
    Color32::from_rgb(220, 140, 220),
];
