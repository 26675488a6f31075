//! Sampling text from a trained character language model: the prompt, then one character at a
//! time drawn from the model's next-character distribution (temperature, top-k).

use super::{CarriedState, ForwardCtx, Model};
use crate::graph::DType as GraphDType;
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

/// Ids below this are the text vocabulary's reserved tokens (pad, unknown): never sampled.
const RESERVED_TOKENS: usize = 2;

/// The longest text one call generates.
pub const MAX_GENERATE_CHARS: usize = 20_000;

#[derive(Clone, Debug, PartialEq)]
pub struct SampleOptions {
    /// Below 1 sharpens the distribution (safer text), above 1 flattens it (more surprise).
    pub temperature: f32,
    /// Draw only among the k likeliest characters (0 = all).
    pub top_k: usize,
    /// Characters to add after the prompt.
    pub length: usize,
    pub seed: u64,
    /// Read the prompt once and then one character at a time, recurrent layers carrying their
    /// state (for a model trained with `carry_state`): it sees everything generated so far.
    /// Otherwise each character is predicted from the last window of text.
    pub carry_state: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 0,
            length: 300,
            seed: 1,
            carry_state: false,
        }
    }
}

#[derive(Debug, Error)]
pub enum GenerateError {
    #[error("this model does not generate text: {0}")]
    NotLanguageModel(String),
    #[error("the prompt is empty: type at least one character to start from")]
    EmptyPrompt,
    #[error("the prompt has characters the model never saw in its training text: {0} (remove or replace them)")]
    UnknownCharacters(String),
    #[error("{0}")]
    Settings(String),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The prompt followed by `opts.length` generated characters. `vocab` is the training text's
/// vocabulary (ids 0 and 1 reserved), as `Dataset::vocab` holds it.
pub fn generate(
    model: &Model,
    vocab: &[String],
    prompt: &str,
    opts: &SampleOptions,
) -> Result<String, GenerateError> {
    let context = check_language_model(model, vocab)?;
    if !(opts.temperature.is_finite() && opts.temperature > 0.0) {
        return Err(GenerateError::Settings(format!(
            "the temperature is {}: it must be a number above 0 (try 0.8)",
            opts.temperature
        )));
    }
    if opts.length > MAX_GENERATE_CHARS {
        return Err(GenerateError::Settings(format!(
            "asked for {} characters: at most {MAX_GENERATE_CHARS} at once",
            opts.length
        )));
    }
    let mut ids = encode_prompt(vocab, prompt)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut out = prompt.to_string();
    if opts.carry_state {
        return generate_carrying_state(model, vocab, ids, context, opts, &mut rng, out);
    }
    for _ in 0..opts.length {
        let start = ids.len().saturating_sub(context);
        let logits = next_logits(model, &ids[start..], None)?;
        let next = sample(&logits, opts, &mut rng);
        ids.push(next as u32);
        out.push_str(&vocab[next]);
    }
    Ok(out)
}

/// The logits after the last of `ids` [1, T], starting from the state in `carry` if given.
fn next_logits(
    model: &Model,
    ids: &[u32],
    carry: Option<&mut CarriedState>,
) -> Result<Vec<f32>, GenerateError> {
    let x = Tensor::from_vec(ids.to_vec(), (1, ids.len()), &Device::Cpu)?;
    let mut ctx = ForwardCtx::eval();
    ctx.carry = carry;
    let pred = model.forward(&x, &mut ctx)?;
    Ok(pred
        .get(0)?
        .get(ids.len() - 1)?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1::<f32>()?)
}

/// Generation that reads the prompt in windows of `context` and then feeds each new character
/// alone, the recurrent state carrying everything before it.
fn generate_carrying_state(
    model: &Model,
    vocab: &[String],
    ids: Vec<u32>,
    context: usize,
    opts: &SampleOptions,
    rng: &mut ChaCha8Rng,
    mut out: String,
) -> Result<String, GenerateError> {
    let mut carry = CarriedState::default();
    let mut logits = Vec::new();
    for window in ids.chunks(context.max(1)) {
        logits = next_logits(model, window, Some(&mut carry))?;
    }
    for k in 0..opts.length {
        let next = sample(&logits, opts, rng);
        out.push_str(&vocab[next]);
        if k + 1 < opts.length {
            logits = next_logits(model, &[next as u32], Some(&mut carry))?;
        }
    }
    Ok(out)
}

/// The context length of a character language model over `vocab`, or why it is not one.
pub fn check_language_model(model: &Model, vocab: &[String]) -> Result<usize, GenerateError> {
    let input = model.input_shape();
    if input.dtype != GraphDType::TokenId || input.rank() != 1 {
        return Err(GenerateError::NotLanguageModel(format!(
            "its Input takes {input}, not a sequence of token ids"
        )));
    }
    let pred = model.prediction_shape();
    if pred.rank() != 2 || pred.dims[1] != vocab.len() {
        return Err(GenerateError::NotLanguageModel(format!(
            "it predicts {pred}, not one score per character of its {}-character vocabulary at every step",
            vocab.len()
        )));
    }
    if vocab.len() <= RESERVED_TOKENS {
        return Err(GenerateError::NotLanguageModel(
            "its vocabulary has no characters".into(),
        ));
    }
    Ok(input.dims[0])
}

/// The ids of `prompt`'s characters, or which characters the vocabulary lacks.
pub fn encode_prompt(vocab: &[String], prompt: &str) -> Result<Vec<u32>, GenerateError> {
    if prompt.is_empty() {
        return Err(GenerateError::EmptyPrompt);
    }
    let mut unknown: Vec<char> = Vec::new();
    let ids: Vec<u32> = prompt
        .chars()
        .filter_map(|c| {
            let mut buf = [0u8; 4];
            let s: &str = c.encode_utf8(&mut buf);
            match vocab.iter().skip(RESERVED_TOKENS).position(|t| t == s) {
                Some(i) => Some((i + RESERVED_TOKENS) as u32),
                None => {
                    if !unknown.contains(&c) {
                        unknown.push(c);
                    }
                    None
                }
            }
        })
        .collect();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|c| format!("{c:?}")).collect();
        return Err(GenerateError::UnknownCharacters(list.join(", ")));
    }
    Ok(ids)
}

/// One id drawn from softmax(logits / temperature) over the top k, never a reserved one.
fn sample(logits: &[f32], opts: &SampleOptions, rng: &mut ChaCha8Rng) -> usize {
    let mut order: Vec<usize> = (RESERVED_TOKENS..logits.len())
        .filter(|&i| logits[i].is_finite())
        .collect();
    if order.is_empty() {
        return RESERVED_TOKENS;
    }
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if opts.top_k > 0 {
        order.truncate(opts.top_k);
    }
    let top = logits[order[0]];
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| (((logits[i] - top) / opts.temperature) as f64).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut r = rng.random::<f64>() * total;
    for (&i, w) in order.iter().zip(&weights) {
        if r < *w {
            return i;
        }
        r -= w;
    }
    order[order.len() - 1]
}
