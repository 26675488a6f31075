//! Colours and visual settings shared by the views.

use crate::graph::LayerFamily;
use egui::Color32;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
}

impl ThemeChoice {
    pub fn apply(self, ctx: &egui::Context) {
        ctx.set_theme(match self {
            ThemeChoice::Dark => egui::Theme::Dark,
            ThemeChoice::Light => egui::Theme::Light,
        });
    }
}

/// Header colour of a node, by layer family.
pub fn family_color(family: LayerFamily, dark: bool) -> Color32 {
    let (r, g, b) = match family {
        LayerFamily::Io => (90, 110, 130),
        LayerFamily::Linear => (60, 110, 190),
        LayerFamily::Convolution => (150, 90, 190),
        LayerFamily::Shape => (100, 130, 100),
        LayerFamily::Activation => (200, 130, 50),
        LayerFamily::Regularisation => (40, 150, 150),
        LayerFamily::Merge => (170, 80, 110),
        LayerFamily::Sequence => (190, 160, 40),
    };
    if dark {
        Color32::from_rgb(r, g, b)
    } else {
        // Lighter tints keep dark header text readable in the light theme.
        Color32::from_rgb(
            ((r as u16 + 255 * 2) / 3) as u8,
            ((g as u16 + 255 * 2) / 3) as u8,
            ((b as u16 + 255 * 2) / 3) as u8,
        )
    }
}

pub const ERROR: Color32 = Color32::from_rgb(230, 70, 70);
pub const TRAIN: Color32 = Color32::from_rgb(70, 140, 230);
pub const VAL: Color32 = Color32::from_rgb(240, 150, 40);
pub const OK: Color32 = Color32::from_rgb(80, 180, 100);
