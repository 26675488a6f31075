//! Predictions for inputs given from outside (the CLI's `predict`, the server): numbers in the
//! data's raw units (a CSV row, pixels 0..255) or a text, checked one by one, normalised as the
//! data set was, and run as one batch. Ensembles average the members' probabilities.

use crate::data::{encode_text, DataSource, Dataset, TokenKind};
use crate::insight::saliency::probabilities_of;
use crate::model::{ForwardCtx, Model, ModelError, Weights};
use crate::project::Project;
use candle_core::{Device, Tensor};
use serde_json::Value;
use std::sync::Arc;
use thiserror::Error;

/// Most inputs one call predicts at once.
pub const MAX_BATCH: usize = 1024;

/// Input numbers in messages count from 1, as a person reading a file does.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum PredictError {
    #[error("no inputs: give at least one")]
    Empty,
    #[error("{0} inputs at once: at most {MAX_BATCH}")]
    TooMany(usize),
    #[error("input {} has {got} values; the model takes {want} (shape {shape:?})", .index + 1)]
    WrongShape {
        index: usize,
        got: usize,
        want: usize,
        shape: Vec<usize>,
    },
    #[error("input {} is {got}; this model takes {want}", .index + 1)]
    WrongType {
        index: usize,
        got: &'static str,
        want: &'static str,
    },
    #[error("input {} holds a value that is not a finite number (position {})", .index + 1, .at + 1)]
    NotFinite { index: usize, at: usize },
    #[error("input {} is an empty text", .index + 1)]
    EmptyText { index: usize },
    #[error("{0}")]
    Unsupported(String),
    #[error("the model failed: {0}")]
    Model(String),
}

impl PredictError {
    /// A short name for the metrics' `reason` label (None: the model failed, not the input).
    pub fn reason(&self) -> Option<&'static str> {
        Some(match self {
            PredictError::Empty => "empty",
            PredictError::TooMany(_) => "too_many",
            PredictError::WrongShape { .. } => "wrong_shape",
            PredictError::WrongType { .. } => "wrong_type",
            PredictError::NotFinite { .. } => "not_finite",
            PredictError::EmptyText { .. } => "empty_text",
            PredictError::Unsupported(_) => "unsupported",
            PredictError::Model(_) => return None,
        })
    }
}

impl From<candle_core::Error> for PredictError {
    fn from(e: candle_core::Error) -> Self {
        PredictError::Model(e.to_string())
    }
}

/// One input as a caller gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum PredictInput {
    /// Values in the data's raw units, flattened (any nesting is the caller's to flatten).
    Values(Vec<f32>),
    Text(String),
}

/// What the model says about one input.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictOutput {
    /// Class probabilities (classifiers), else None.
    pub probabilities: Option<Vec<f32>>,
    /// The likeliest class's name (classifiers).
    pub label: Option<String>,
    /// The raw output: logits for classifiers, values for regression (in the target's units)
    /// and autoencoders.
    pub values: Vec<f32>,
}

/// One model of the project's graph per weight file (an ensemble's members); with several,
/// a file that does not fit is named by its place.
pub fn members(project: &Project, weights: &[Weights]) -> Result<Vec<Model>, ModelError> {
    if weights.is_empty() {
        return Err(ModelError::Weights("no weight files given".into()));
    }
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let model = Model::build(&project.graph, project.training.seed)?;
            model.load_weights(w).map_err(|e| match e {
                ModelError::Weights(why) if weights.len() > 1 => {
                    ModelError::Weights(format!("member {}: {why}", i + 1))
                }
                e => e,
            })?;
            Ok(model)
        })
        .collect()
}

/// Trained models of one project (one, or several averaged: an ensemble) with what they need
/// to read outside inputs. Not `Send` (candle models): build it on the thread that uses it.
pub struct Predictor {
    models: Vec<Model>,
    data: Arc<Dataset>,
    tokens: Option<TokenKind>,
}

impl Predictor {
    /// `weights` holds one file per member; they must all fit the project's graph.
    pub fn new(
        project: &Project,
        weights: &[Weights],
        data: Arc<Dataset>,
    ) -> Result<Self, ModelError> {
        if let crate::graph::TrainingMode::Gan { .. } = project.mode {
            return Err(ModelError::Data(
                "a GAN draws new samples rather than predicting: use `glassbox sample`".into(),
            ));
        }
        let models = members(project, weights)?;
        if data.is_windows() {
            return Err(ModelError::Data(
                "a language model continues text: use `glassbox generate` instead".into(),
            ));
        }
        let tokens = match &project.data.source {
            DataSource::TextClass { tokens, .. } => Some(*tokens),
            _ => None,
        };
        Ok(Self {
            models,
            data,
            tokens,
        })
    }

    /// One sample's shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.data.sample_shape
    }

    pub fn takes_text(&self) -> bool {
        self.tokens.is_some()
    }

    /// The tokens a text becomes (text models), for drift's length summary.
    pub fn token_count(&self, text: &str) -> Option<usize> {
        let (kind, vocab) = (self.tokens?, self.data.vocab.as_ref()?);
        let want: usize = self.data.sample_shape.iter().product();
        Some(encode_text(text, kind, vocab, want).1.len())
    }

    pub fn class_names(&self) -> &[String] {
        self.data.class_names()
    }

    pub fn members(&self) -> usize {
        self.models.len()
    }

    /// The inputs as one batch for the model, every input checked before any runs, so one bad
    /// input names itself.
    pub fn batch(&self, inputs: &[PredictInput]) -> Result<Tensor, PredictError> {
        if inputs.is_empty() {
            return Err(PredictError::Empty);
        }
        if inputs.len() > MAX_BATCH {
            return Err(PredictError::TooMany(inputs.len()));
        }
        let shape = &self.data.sample_shape;
        let want: usize = shape.iter().product();
        let mut dims = vec![inputs.len()];
        dims.extend_from_slice(shape);
        if let (Some(kind), Some(vocab)) = (self.tokens, &self.data.vocab) {
            let mut ids = Vec::with_capacity(inputs.len() * want);
            for (index, input) in inputs.iter().enumerate() {
                let PredictInput::Text(text) = input else {
                    return Err(PredictError::WrongType {
                        index,
                        got: "a list of numbers",
                        want: "a text",
                    });
                };
                let (row, tokens, _) = encode_text(text, kind, vocab, want);
                if tokens.is_empty() {
                    return Err(PredictError::EmptyText { index });
                }
                ids.extend(row);
            }
            return Ok(Tensor::from_vec(ids, dims, &Device::Cpu)?);
        }
        let mut xs = Vec::with_capacity(inputs.len() * want);
        for (index, input) in inputs.iter().enumerate() {
            let PredictInput::Values(v) = input else {
                return Err(PredictError::WrongType {
                    index,
                    got: "a text",
                    want: "a list of numbers",
                });
            };
            if v.len() != want {
                return Err(PredictError::WrongShape {
                    index,
                    got: v.len(),
                    want,
                    shape: shape.clone(),
                });
            }
            if let Some(at) = v.iter().position(|x| !x.is_finite()) {
                return Err(PredictError::NotFinite { index, at });
            }
            xs.extend(self.data.normalize_raw(v));
        }
        Ok(Tensor::from_vec(xs, dims, &Device::Cpu)?)
    }

    /// Predictions for `inputs`, averaged over the members.
    pub fn predict(&self, inputs: &[PredictInput]) -> Result<Vec<PredictOutput>, PredictError> {
        self.predict_batch(&self.batch(inputs)?)
    }

    /// Predictions for a batch made by `batch` (or several of them concatenated).
    pub fn predict_batch(&self, x: &Tensor) -> Result<Vec<PredictOutput>, PredictError> {
        let classes = self.data.n_classes().is_some();
        let n = self.models.len() as f64;
        let mut raw: Option<Tensor> = None;
        let mut probs: Option<Tensor> = None;
        for model in &self.models {
            let y = model.forward(x, &mut ForwardCtx::eval())?;
            if classes {
                let p = probabilities_of(&y)?;
                probs = Some(match probs {
                    Some(acc) => (acc + p)?,
                    None => p,
                });
            }
            let y = y.flatten_from(1)?;
            raw = Some(match raw {
                Some(acc) => (acc + y)?,
                None => y,
            });
        }
        let mut raw: Vec<Vec<f32>> = (raw.expect("at least one member") / n)?.to_vec2()?;
        // A regression's outputs in the target's units (the model learnt standardised ones).
        if self.data.target_dim().is_some() {
            raw.iter_mut().for_each(|v| self.data.restore_values(v));
        }
        let probs: Option<Vec<Vec<f32>>> = probs.map(|p| (p / n)?.to_vec2()).transpose()?;
        let names = self.data.class_names();
        Ok(raw
            .into_iter()
            .enumerate()
            .map(|(i, values)| {
                let p = probs.as_ref().map(|p| p[i].clone());
                let label = p.as_ref().and_then(|p| {
                    let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b]))?;
                    names.get(best).cloned().or(Some(best.to_string()))
                });
                PredictOutput {
                    probabilities: p,
                    label,
                    values,
                }
            })
            .collect())
    }
}

/// `{"inputs": [...]}`: each input a list of numbers (nested as the sample's shape, or flat)
/// or a string for text models.
pub fn parse_request_body(body: &[u8]) -> Result<Vec<PredictInput>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Some(items) = value.get("inputs") else {
        return Err(
            r#"the body needs an "inputs" list, e.g. {"inputs": [[5.1, 3.5, 1.4, 0.2]]}"#.into(),
        );
    };
    let Some(items) = items.as_array() else {
        return Err(r#""inputs" must be a list of inputs"#.into());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(PredictInput::Text(s.clone())),
            Value::Array(_) => {
                let mut flat = Vec::new();
                flatten_numbers(item, &mut flat)
                    .map_err(|bad| format!("input {} holds {bad} where a number belongs", i + 1))?;
                Ok(PredictInput::Values(flat))
            }
            other => Err(format!(
                "input {} is {}, not a list of numbers or a text",
                i + 1,
                json_kind(other)
            )),
        })
        .collect()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a single number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn flatten_numbers(v: &Value, out: &mut Vec<f32>) -> Result<(), String> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|x| flatten_numbers(x, out)),
        Value::Number(n) => {
            out.push(n.as_f64().unwrap_or(f64::NAN) as f32);
            Ok(())
        }
        other => Err(json_kind(other).to_string()),
    }
}
