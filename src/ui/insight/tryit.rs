//! State of the "try it" views (a drawing or a typed text through a classifier, attention maps
//! of a typed text) and the live requests behind them: one in flight at a time, the newest
//! input sent when its answer is back, so the studio never waits and never floods the worker.

use crate::insight::{AttentionMap, ImageVerdict, InsightReply, InsightRequest, TextVerdict};
use crate::ui::studio::Studio;

/// A live input: changed since it was last sent, and whether an answer is still out.
#[derive(Clone, Copy, Debug, Default)]
pub struct Live {
    pub dirty: bool,
    pub in_flight: bool,
}

#[derive(Clone, Debug)]
pub struct TryItState {
    /// The drawing, raw pixel values 0..255 of `dims` ([C, H, W]).
    pub drawing: Vec<f32>,
    pub dims: Vec<usize>,
    /// Shift the drawing's centre of mass to the middle before classifying (as MNIST's were).
    pub center: bool,
    pub image: Option<ImageVerdict>,
    pub image_live: Live,
    /// Where the drawing canvas was last frame (screen points), for tests to draw on.
    pub canvas_rect: Option<egui::Rect>,
    /// The previous point of the stroke being drawn (image pixels).
    pub stroke_from: Option<egui::Pos2>,
    pub text: String,
    pub text_verdict: Option<TextVerdict>,
    pub text_live: Live,
    pub attention_text: String,
    pub attention: Option<(Vec<String>, Vec<AttentionMap>)>,
    pub attention_live: Live,
    pub layer: usize,
    pub head: usize,
    /// Why a dropped file could not be used.
    pub drop_error: Option<String>,
    /// The answer in flight is about a drawing since cleared: drop it.
    pub discard_image: bool,
}

impl Default for TryItState {
    fn default() -> Self {
        Self {
            drawing: Vec::new(),
            dims: Vec::new(),
            center: true,
            image: None,
            image_live: Live::default(),
            canvas_rect: None,
            stroke_from: None,
            text: "Maria".into(),
            text_verdict: None,
            // The example texts are shown as soon as there is a model to read them.
            text_live: Live {
                dirty: true,
                in_flight: false,
            },
            attention_text: "Call me Ishmael. Some years ago".into(),
            attention: None,
            attention_live: Live {
                dirty: true,
                in_flight: false,
            },
            layer: 0,
            head: 0,
            drop_error: None,
            discard_image: false,
        }
    }
}

impl TryItState {
    /// Takes a reply meant for these views; gives back any other.
    /// Blanks the drawing and forgets its verdict (and the one on its way).
    pub fn clear_drawing(&mut self) {
        self.drawing.iter_mut().for_each(|v| *v = 0.0);
        self.image = None;
        self.discard_image = self.image_live.in_flight;
        self.image_live.dirty = false;
    }

    pub(super) fn take(&mut self, reply: InsightReply) -> Option<InsightReply> {
        match reply {
            InsightReply::ImageClassified(v) => {
                self.image_live.in_flight = false;
                if !std::mem::take(&mut self.discard_image) {
                    self.image = Some(v);
                }
            }
            InsightReply::TextClassified(v) => {
                self.text_live.in_flight = false;
                self.text_verdict = Some(v);
            }
            InsightReply::Attention { tokens, maps } => {
                self.attention_live.in_flight = false;
                self.layer = self.layer.min(maps.len().saturating_sub(1));
                let heads = maps.get(self.layer).map_or(1, |m| m.heads);
                self.head = self.head.min(heads.saturating_sub(1));
                self.attention = Some((tokens, maps));
            }
            other => return Some(other),
        }
        None
    }

    /// An error ends whatever was in flight (the user's next change sends again).
    pub(super) fn failed(&mut self) {
        self.discard_image = false;
        for live in [
            &mut self.image_live,
            &mut self.text_live,
            &mut self.attention_live,
        ] {
            live.in_flight = false;
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum LiveInput {
    Drawing,
    Text,
    Attention,
}

impl TryItState {
    fn live(&mut self, input: LiveInput) -> &mut Live {
        match input {
            LiveInput::Drawing => &mut self.image_live,
            LiveInput::Text => &mut self.text_live,
            LiveInput::Attention => &mut self.attention_live,
        }
    }

    fn request(&self, input: LiveInput) -> InsightRequest {
        match input {
            LiveInput::Drawing => InsightRequest::ClassifyImage {
                raw: self.drawing.clone(),
                center: self.center,
            },
            LiveInput::Text => InsightRequest::ClassifyText {
                text: self.text.clone(),
            },
            LiveInput::Attention => InsightRequest::Attention {
                text: self.attention_text.clone(),
            },
        }
    }
}

impl Studio {
    /// Sends the view's live input if it changed and its previous answer is back.
    pub(super) fn tryit_send(&mut self, input: LiveInput) {
        {
            let live = *self.insight.tryit.live(input);
            if !live.dirty || live.in_flight {
                return;
            }
            let request = self.insight.tryit.request(input);
            let before = self.insight.pending;
            self.insight_request(request);
            // Not sent (no weights or data yet): it goes once there are.
            let sent = self.insight.pending != before;
            *self.insight.tryit.live(input) = Live {
                dirty: !sent,
                in_flight: sent,
            };
        }
    }
}
