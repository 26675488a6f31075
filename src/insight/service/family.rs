//! The insight worker's answers for the model families and the "try it" views: generated
//! text, an autoencoder's planes, a GAN's interpolation, typed texts, drawings and attention.

use super::{InsightReply, InsightRequest, Worker};
use crate::data::DataSource;
use crate::graph::TrainingMode;
use crate::insight::attention::attention_maps_of;
use crate::insight::latent::{decode, latent_map, reconstruct};
use crate::insight::samples::{interpolate_noise, require_gan};
use crate::insight::tryit::{center_of_mass, classify_image, classify_text};
use crate::model::{check_language_model, encode_prompt, generate, SampleOptions};
use std::time::Instant;

impl Worker {
    pub(super) fn answer_family(
        &self,
        r: &InsightRequest,
        t0: Instant,
    ) -> Result<InsightReply, String> {
        let autoencoder = matches!(self.project.mode, TrainingMode::Autoencoder { .. });
        let elapsed_ms = || t0.elapsed().as_secs_f64() * 1e3;
        let classifies = matches!(
            r,
            InsightRequest::ClassifyText { .. } | InsightRequest::ClassifyImage { .. }
        );
        if classifies && self.project.mode != TrainingMode::Supervised {
            return Err(
                "trying inputs needs a classifier: set the training mode to supervised".into(),
            );
        }
        match r {
            InsightRequest::Generate { prompt, options } => {
                let vocab = self.lm_vocab()?;
                let options = SampleOptions {
                    carry_state: self.project.data.source.carries_state(),
                    ..options.clone()
                };
                let text =
                    generate(&self.model, vocab, prompt, &options).map_err(|e| e.to_string())?;
                Ok(InsightReply::Generated {
                    text,
                    elapsed_ms: elapsed_ms(),
                })
            }
            InsightRequest::Latent { samples } => {
                let node = self.latent()?;
                let idx: Vec<usize> = self.eval_split().iter().copied().take(*samples).collect();
                Ok(InsightReply::Latent(
                    latent_map(&self.model, &self.data, &node, &idx).map_err(|e| e.to_string())?,
                ))
            }
            InsightRequest::Decode { node, codes } => {
                self.latent()?;
                Ok(InsightReply::Decoded {
                    dims: self.data.sample_shape.clone(),
                    images: decode(&self.model, node, codes).map_err(|e| e.to_string())?,
                })
            }
            InsightRequest::Reconstruct { samples } => {
                if !autoencoder {
                    return Err("reconstructions come from an autoencoder: set the training mode to autoencoder".into());
                }
                let samples: Vec<usize> = samples
                    .iter()
                    .copied()
                    .filter(|&i| i < self.data.len())
                    .collect();
                let (inputs, outputs) =
                    reconstruct(&self.model, &self.data, &samples).map_err(|e| e.to_string())?;
                Ok(InsightReply::Reconstructed {
                    dims: self.data.sample_shape.clone(),
                    samples,
                    inputs,
                    outputs,
                })
            }
            InsightRequest::ClassifyText { text } => {
                let DataSource::TextClass { tokens, .. } = self.project.data.source else {
                    return Err(
                        "typing a text needs a text classifier (data: a CSV of texts and labels)"
                            .into(),
                    );
                };
                classify_text(&self.model, &self.data, tokens, text)
                    .map(InsightReply::TextClassified)
                    .map_err(|e| e.to_string())
            }
            InsightRequest::ClassifyImage { raw, center } => {
                let raw = if *center {
                    center_of_mass(raw, &self.data.sample_shape)
                } else {
                    raw.clone()
                };
                classify_image(&self.model, &self.data, &raw)
                    .map(InsightReply::ImageClassified)
                    .map_err(|e| e.to_string())
            }
            InsightRequest::Attention { text } => {
                let (ids, tokens) = self.attention_tokens(text)?;
                let maps = attention_maps_of(&self.model, &ids, tokens.len())
                    .map_err(|e| e.to_string())?;
                Ok(InsightReply::Attention { tokens, maps })
            }
            InsightRequest::GanInterpolation { steps, seed } => {
                require_gan(&self.project).map_err(|e| e.to_string())?;
                // The worker's model is the generator already.
                let noise_dim = self.model.input_shape().numel();
                Ok(InsightReply::Interpolated {
                    dims: self.data.sample_shape.clone(),
                    images: interpolate_noise(&self.model, noise_dim, *steps, *seed)
                        .map_err(|e| e.to_string())?,
                })
            }
            _ => Err("internal error: a request without an answer".into()),
        }
    }

    /// The vocabulary of a character language model, or why this is not one.
    fn lm_vocab(&self) -> Result<&[String], String> {
        self.data
            .vocab
            .as_deref()
            .filter(|_| self.data.is_windows())
            .ok_or_else(|| {
                "only a language model (trained on a text file, next character) generates text"
                    .into()
            })
    }

    /// A typed text as the model's token ids (a language model's last context characters,
    /// a classifier's first tokens), with the tokens shown on the map's axes.
    fn attention_tokens(&self, text: &str) -> Result<(Vec<u32>, Vec<String>), String> {
        if let DataSource::TextClass { tokens, .. } = self.project.data.source {
            let (Some(vocab), Some(&len)) =
                (self.data.vocab.as_deref(), self.data.sample_shape.first())
            else {
                return Err("this data set has no vocabulary".into());
            };
            // The whole padded row, as the classifier reads it; the map is cut to the text.
            let (ids, shown, _) = crate::data::encode_text(text, tokens, vocab, len);
            if shown.is_empty() {
                return Err("type some text to look at".into());
            }
            return Ok((ids, shown));
        }
        let vocab = self.lm_vocab().map_err(|_| {
            "attention maps read a typed text: train on a text file or labelled texts".to_string()
        })?;
        let context = check_language_model(&self.model, vocab).map_err(|e| e.to_string())?;
        let ids = encode_prompt(vocab, text).map_err(|e| e.to_string())?;
        let start = ids.len().saturating_sub(context);
        let ids = ids[start..].to_vec();
        let tokens = ids.iter().map(|&i| vocab[i as usize].clone()).collect();
        Ok((ids, tokens))
    }
}
