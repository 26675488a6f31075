//! "Try it": the user's own input through a trained classifier, a typed text or a drawn
//! image, giving every class's probability and the parts of the input the prediction rests on.

use super::saliency::{class_probabilities, saliency, SaliencyMethod};
use crate::data::{encode_text, Dataset, TokenKind, PAD};
use crate::model::Model;
use crate::train::EVAL_BATCH;
use candle_core::{Device, Tensor};
use thiserror::Error;

/// Longest text the text box classifies (more than any classifier here reads).
pub const MAX_TRY_TEXT_CHARS: usize = 2000;

#[derive(Debug, Error)]
pub enum TryItError {
    #[error("this model is not a text classifier: {0}")]
    NotTextClassifier(String),
    #[error("this model is not an image classifier: {0}")]
    NotImageClassifier(String),
    #[error("type some text to classify")]
    EmptyText,
    #[error("the text has {0} characters: at most {MAX_TRY_TEXT_CHARS} at once")]
    TextTooLong(usize),
    #[error("the drawing has {got} values; the model takes images of {want} values")]
    DrawingSize { got: usize, want: usize },
    #[error("the drawing holds a value that is not a number (pixel {0})")]
    NotFinite(usize),
    #[error(transparent)]
    Model(#[from] candle_core::Error),
}

/// A typed text's classification.
#[derive(Clone, Debug, PartialEq)]
pub struct TextVerdict {
    /// The tokens the model read (characters or words), in order.
    pub tokens: Vec<String>,
    /// Tokens past the model's length, not read.
    pub cut: usize,
    /// One probability per class.
    pub probs: Vec<f32>,
    pub class: usize,
    /// Per token: how much the predicted class's probability falls when that token is
    /// replaced by padding (occlusion; negative: the token speaks against it).
    pub saliency: Vec<f32>,
}

/// A drawn image's classification.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageVerdict {
    /// The image as classified (raw units, after any centring).
    pub input: Vec<f32>,
    pub probs: Vec<f32>,
    pub class: usize,
    /// |∂ score / ∂ pixel| of the predicted class, one per input value.
    pub saliency: Vec<f32>,
}

/// Class probabilities of each row of `x`.
fn probabilities(model: &Model, x: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    class_probabilities(model, x)?
        .to_dtype(candle_core::DType::F32)?
        .to_vec2()
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

fn classes(data: &Dataset) -> Option<usize> {
    data.n_classes().filter(|&n| n >= 2)
}

/// Whether the model scores `data`'s classes (one logit per class, or one for two classes).
fn scores_classes(model: &Model, data: &Dataset) -> Result<(), String> {
    let n = classes(data).unwrap_or(0);
    let out = model.prediction_shape();
    let fits = out.rank() == 1 && (out.dims[0] == n || (n == 2 && out.dims[0] == 1));
    if fits {
        Ok(())
    } else {
        Err(format!(
            "it predicts {out}, not one score per class of its {n} classes"
        ))
    }
}

/// `raw` [C, H, W] shifted (whole pixels, zeros brought in) so that its centre of mass sits
/// in the middle, as MNIST's digits were prepared; a blank image stays as it is.
pub fn center_of_mass(raw: &[f32], dims: &[usize]) -> Vec<f32> {
    let [c, h, w] = dims[..] else {
        return raw.to_vec();
    };
    if raw.len() != c * h * w {
        return raw.to_vec(); // classify_image names the size mismatch
    }
    let (mut total, mut sy, mut sx) = (0f64, 0f64, 0f64);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let v = f64::from(raw[(ch * h + y) * w + x].max(0.0));
                total += v;
                sy += v * y as f64;
                sx += v * x as f64;
            }
        }
    }
    if total <= 0.0 {
        return raw.to_vec();
    }
    let dy = ((h as f64 - 1.0) / 2.0 - sy / total).round() as i64;
    let dx = ((w as f64 - 1.0) / 2.0 - sx / total).round() as i64;
    let mut out = vec![0f32; raw.len()];
    for ch in 0..c {
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let (fy, fx) = (y - dy, x - dx);
                if fy >= 0 && fy < h as i64 && fx >= 0 && fx < w as i64 {
                    out[(ch * h + y as usize) * w + x as usize] =
                        raw[(ch * h + fy as usize) * w + fx as usize];
                }
            }
        }
    }
    out
}

/// Classifies `text` with a model trained on `data` (a text classification set read as `kind`).
pub fn classify_text(
    model: &Model,
    data: &Dataset,
    kind: TokenKind,
    text: &str,
) -> Result<TextVerdict, TryItError> {
    let (Some(vocab), true, Some(_)) = (&data.vocab, data.is_tokens(), classes(data)) else {
        return Err(TryItError::NotTextClassifier(
            "it was not trained on labelled texts".into(),
        ));
    };
    if data.is_windows() {
        return Err(TryItError::NotTextClassifier(
            "it is a language model (next character); use Generate text".into(),
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_TRY_TEXT_CHARS {
        return Err(TryItError::TextTooLong(chars));
    }
    let &[max_len] = &data.sample_shape[..] else {
        return Err(TryItError::NotTextClassifier(format!(
            "its inputs are {:?}, not one sequence of tokens",
            data.sample_shape
        )));
    };
    scores_classes(model, data).map_err(TryItError::NotTextClassifier)?;
    let (ids, tokens, cut) = encode_text(text, kind, vocab, max_len);
    if tokens.is_empty() {
        return Err(TryItError::EmptyText);
    }
    // Row 0 is the text; row 1 + i has token i occluded by padding, which the model saw in
    // training (an unknown token in a character vocabulary never was).
    let rows: Vec<Vec<u32>> = std::iter::once(ids.clone())
        .chain((0..tokens.len()).map(|i| {
            let mut r = ids.clone();
            r[i] = PAD;
            r
        }))
        .collect();
    let mut probs = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(EVAL_BATCH) {
        let flat: Vec<u32> = chunk.concat();
        let x = Tensor::from_vec(flat, (chunk.len(), max_len), &Device::Cpu)?;
        probs.extend(probabilities(model, &x)?);
    }
    let class = argmax(&probs[0]);
    let saliency = probs[1..]
        .iter()
        .map(|p| probs[0][class] - p[class])
        .collect();
    Ok(TextVerdict {
        tokens,
        cut,
        probs: probs[0].clone(),
        class,
        saliency,
    })
}

/// Classifies one image given in raw units (pixels 0..255) with a model trained on `data`.
pub fn classify_image(
    model: &Model,
    data: &Dataset,
    raw: &[f32],
) -> Result<ImageVerdict, TryItError> {
    if data.sample_shape.len() != 3 || data.is_tokens() || classes(data).is_none() {
        return Err(TryItError::NotImageClassifier(format!(
            "it was trained on {} samples of shape {:?}, not labelled images",
            if data.is_tokens() { "token" } else { "numeric" },
            data.sample_shape
        )));
    }
    scores_classes(model, data).map_err(TryItError::NotImageClassifier)?;
    let want: usize = data.sample_shape.iter().product();
    if raw.len() != want {
        return Err(TryItError::DrawingSize {
            got: raw.len(),
            want,
        });
    }
    if let Some(i) = raw.iter().position(|v| !v.is_finite()) {
        return Err(TryItError::NotFinite(i));
    }
    let mut shape = vec![1];
    shape.extend_from_slice(&data.sample_shape);
    let x = Tensor::from_vec(data.normalize_raw(raw), shape, &Device::Cpu)?;
    let probs = probabilities(model, &x)?.remove(0);
    let class = argmax(&probs);
    // A single logit scores class 1; its gradient's size is the same for class 0.
    let score = if probs.len() > model.prediction_shape().numel() {
        0
    } else {
        class
    };
    let attribution = saliency(model, &x, score, &SaliencyMethod::Vanilla, 0)?;
    Ok(ImageVerdict {
        input: raw.to_vec(),
        probs,
        class,
        saliency: attribution.values.iter().map(|v| v.abs()).collect(),
    })
}
