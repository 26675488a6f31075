//! What the data panel shows about a loaded data set: counts, class balance, a preview.

use super::augment::augment_batch;
use super::dataset::{Dataset, Targets};
use super::settings::Augmentation;
use crate::graph::{DataShape, TrainingMode};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Images shown in the preview grid.
const PREVIEW_IMAGES: usize = 32;
const PREVIEW_ROWS: usize = 8;
const PREVIEW_TEXTS: usize = 10;
/// Points drawn in a 2-D scatter.
const PREVIEW_POINTS: usize = 3000;

#[derive(Clone, Debug, PartialEq)]
pub struct ImageSample {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Channel-first bytes.
    pub pixels: Vec<u8>,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Preview {
    Images(Vec<ImageSample>),
    Table {
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// (input text, target) pairs.
    Text(Vec<(String, String)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct DataSummary {
    pub name: String,
    pub sample_shape: Vec<usize>,
    pub tokens: bool,
    pub vocab: Option<usize>,
    pub splits: [usize; 3],
    /// Class names, and per split (train, validation, test) the count of each.
    pub classes: Vec<String>,
    pub class_counts: [Vec<usize>; 3],
    pub outputs: Option<usize>,
    pub notes: Vec<String>,
    pub load_ms: f64,
    pub memory_bytes: usize,
    pub preview: Preview,
    /// All (x, y, class) points of 2-feature data, in the data's raw units.
    pub points: Vec<(f32, f32, u32)>,
}

impl DataSummary {
    pub fn of(ds: &Dataset) -> Self {
        let classes = match &ds.targets {
            Targets::Classes { names, .. } => names.clone(),
            Targets::Values { .. } => Vec::new(),
        };
        let count = |idx: &[usize]| {
            let mut c = vec![0usize; classes.len()];
            for &i in idx {
                if let Some(l) = ds.label(i) {
                    c[l as usize] += 1;
                }
            }
            c
        };
        let outputs = match &ds.targets {
            Targets::Classes { names, .. } => Some(names.len()),
            Targets::Values { dim, .. } => Some(*dim),
        };
        let label_of = |i: usize| match &ds.targets {
            Targets::Classes { labels, names } => names[labels[i] as usize].clone(),
            Targets::Values { values, dim, .. } => values[i * dim..(i + 1) * dim]
                .iter()
                .map(|v| format!("{v}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let show: Vec<usize> = ds.train.iter().copied().take(PREVIEW_IMAGES).collect();
        let preview = if ds.is_tokens() {
            let vocab = ds.vocab.clone().unwrap_or_default();
            let word_like = vocab.iter().skip(2).any(|t| t.chars().count() > 1);
            let sep = if word_like { " " } else { "" };
            Preview::Text(
                show.iter()
                    .take(PREVIEW_TEXTS)
                    .map(|&i| {
                        let mut ids = Vec::new();
                        ds.gather_tokens(&[i], &mut ids);
                        let text: Vec<&str> = ids
                            .iter()
                            .filter(|&&t| t != super::text::PAD)
                            .map(|&t| vocab.get(t as usize).map_or("?", String::as_str))
                            .collect();
                        (text.join(sep), label_of(i))
                    })
                    .collect(),
            )
        } else if ds.sample_shape.len() == 3 {
            let (c, h, w) = (ds.sample_shape[0], ds.sample_shape[1], ds.sample_shape[2]);
            Preview::Images(
                show.iter()
                    .map(|&i| ImageSample {
                        channels: c,
                        height: h,
                        width: w,
                        pixels: to_bytes(&ds.raw_sample(i), ds.is_bytes()),
                        label: label_of(i),
                    })
                    .collect(),
            )
        } else {
            let mut columns = ds.feature_names.clone();
            if columns.len() != ds.sample_len() {
                columns = (0..ds.sample_len()).map(|j| format!("x{j}")).collect();
            }
            columns.push(match &ds.targets {
                Targets::Classes { .. } => "class".into(),
                Targets::Values { names, .. } => names.join(", "),
            });
            let rows = show
                .iter()
                .take(PREVIEW_ROWS)
                .map(|&i| {
                    let mut r: Vec<String> =
                        ds.raw_sample(i).iter().map(|v| format!("{v}")).collect();
                    r.push(label_of(i));
                    r
                })
                .collect();
            Preview::Table { columns, rows }
        };
        let points = if ds.sample_len() == 2 && !ds.is_tokens() {
            let step = (ds.len() / PREVIEW_POINTS).max(1);
            (0..ds.len())
                .step_by(step)
                .map(|i| {
                    let v = ds.raw_sample(i);
                    (v[0], v[1], ds.label(i).unwrap_or(0))
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            name: ds.name.clone(),
            sample_shape: ds.sample_shape.clone(),
            tokens: ds.is_tokens(),
            vocab: ds.vocab_size(),
            splits: [ds.train.len(), ds.val.len(), ds.test.len()],
            class_counts: [count(&ds.train), count(&ds.val), count(&ds.test)],
            classes,
            outputs,
            notes: ds.notes.clone(),
            load_ms: ds.load_ms,
            memory_bytes: ds.memory_bytes(),
            preview,
            points,
        }
    }

    /// What the graph's Input, Embedding and last Dense must be for this data when trained in
    /// `mode` (an autoencoder's output has one value per input value, not one per class).
    pub fn shape(&self, mode: &TrainingMode) -> DataShape {
        let outputs = match mode {
            TrainingMode::Supervised => self.outputs,
            TrainingMode::Autoencoder { .. } => Some(self.sample_shape.iter().product()),
            // The discriminator's one score: real or generated.
            TrainingMode::Gan { .. } => Some(1),
        };
        DataShape {
            sample_shape: self.sample_shape.clone(),
            tokens: self.tokens,
            vocab: self.vocab,
            outputs,
        }
    }
}

fn to_bytes(values: &[f32], already_bytes: bool) -> Vec<u8> {
    if already_bytes {
        return values.iter().map(|&v| v.clamp(0.0, 255.0) as u8).collect();
    }
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = (hi - lo).max(1e-12);
    values
        .iter()
        .map(|&v| ((v - lo) / span * 255.0) as u8)
        .collect()
}

/// The preview images as training would see them after `aug` (for the augmentation preview).
pub fn augmented_images(images: &[ImageSample], aug: &Augmentation, seed: u64) -> Vec<ImageSample> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    images
        .iter()
        .map(|img| {
            let mut xs: Vec<f32> = img.pixels.iter().map(|&b| b as f32 / 255.0).collect();
            augment_batch(
                &mut xs,
                &[img.channels, img.height, img.width],
                aug,
                &mut rng,
            );
            ImageSample {
                pixels: xs
                    .iter()
                    .map(|&v| (v.clamp(0.0, 1.0) * 255.0) as u8)
                    .collect(),
                ..img.clone()
            }
        })
        .collect()
}
