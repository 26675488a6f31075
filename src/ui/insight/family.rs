//! State of the family views (text generation, the autoencoder's planes) and the insight
//! replies that fill it.

use crate::insight::{InsightReply, LatentMap};
use crate::model::SampleOptions;
use crate::ui::studio::Studio;

/// Images of one sample's shape, as the decoder or the network made them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Images {
    pub dims: Vec<usize>,
    pub images: Vec<Vec<f32>>,
}

#[derive(Clone, Debug)]
pub struct FamilyState {
    pub prompt: String,
    pub options: SampleOptions,
    /// The last generated text and how long it took.
    pub generated: Option<(String, f64)>,
    pub latent: Option<LatentMap>,
    /// The plane point last decoded, and its image.
    pub picked: Option<[f32; 2]>,
    pub decoded: Option<Images>,
    /// Decoded codes on the line between two samples' codes.
    pub strip: Option<Images>,
    /// Inputs and their reconstructions.
    pub inputs: Option<Images>,
    pub outputs: Option<Images>,
    /// A GAN's samples between two noise vectors, and the seed of that pair.
    pub interpolation: Option<Images>,
    pub interpolation_seed: u64,
    /// Seconds (studio time) of the last automatic refresh while training.
    pub refreshed_at: f64,
    /// Where the latent plane was drawn last frame (screen points), for tests to click.
    pub plane_rect: Option<egui::Rect>,
}

impl Default for FamilyState {
    fn default() -> Self {
        Self {
            prompt: "Call me Ishmael. ".into(),
            options: SampleOptions::default(),
            generated: None,
            latent: None,
            picked: None,
            decoded: None,
            strip: None,
            inputs: None,
            outputs: None,
            interpolation: None,
            interpolation_seed: 1,
            refreshed_at: f64::NEG_INFINITY,
            plane_rect: None,
        }
    }
}

/// Codes between the strip's two ends.
pub const STRIP_STEPS: usize = 9;

impl Studio {
    /// Takes the replies of the family views.
    pub(super) fn family_reply(&mut self, reply: InsightReply) {
        let f = &mut self.insight.family;
        match reply {
            InsightReply::Generated { text, elapsed_ms } => f.generated = Some((text, elapsed_ms)),
            InsightReply::Latent(map) => {
                let strip = strip_codes(&map);
                let node = map.node.clone();
                f.latent = Some(map);
                if let Some(codes) = strip {
                    self.insight_request(crate::insight::InsightRequest::Decode { node, codes });
                }
            }
            // A strip asks for many codes at once, a pick for one.
            InsightReply::Decoded { dims, images } if images.len() > 1 => {
                f.strip = Some(Images { dims, images })
            }
            InsightReply::Decoded { dims, images } => f.decoded = Some(Images { dims, images }),
            InsightReply::Reconstructed {
                dims,
                inputs,
                outputs,
                ..
            } => {
                f.inputs = Some(Images {
                    dims: dims.clone(),
                    images: inputs,
                });
                f.outputs = Some(Images {
                    dims,
                    images: outputs,
                });
            }
            InsightReply::Interpolated { dims, images } => {
                f.interpolation = Some(Images { dims, images })
            }
            reply => {
                if let Some(InsightReply::Error(e)) = self.insight.tryit.take(reply) {
                    self.insight.error = Some(e);
                }
            }
        }
    }
}

/// Codes on the line from the first sample's code to the first code of another class.
fn strip_codes(map: &LatentMap) -> Option<Vec<Vec<f32>>> {
    let first = *map.points.first()?;
    let label = map.labels.first().copied().flatten();
    let other = map
        .labels
        .iter()
        .position(|l| l.is_some() && *l != label)
        .unwrap_or(map.points.len() - 1);
    let last = map.points[other];
    (0..STRIP_STEPS)
        .map(|k| {
            let t = k as f32 / (STRIP_STEPS - 1) as f32;
            map.code_at([
                first[0] + t * (last[0] - first[0]),
                first[1] + t * (last[1] - first[1]),
            ])
        })
        .collect::<Result<Vec<_>, _>>()
        .ok()
}
