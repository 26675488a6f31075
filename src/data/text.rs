//! Text sources: a plain-text corpus for next-character prediction, and a CSV of (text, label)
//! rows for classification. Tokens are ids into a vocabulary built from the file.

use super::dataset::{Features, RawData, Targets};
use super::error::DataError;
use super::open::read_bytes;
use super::settings::TokenKind;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Id 0 pads short texts, id 1 stands for tokens not in the vocabulary.
pub const PAD: u32 = 0;
pub const UNKNOWN: u32 = 1;
/// Largest word vocabulary kept (most frequent words); the rest become UNKNOWN.
const MAX_WORDS: usize = 20_000;

/// Reads a whole text file (optionally .gz) and checks it is UTF-8.
pub fn read_text(path: &Path) -> Result<String, DataError> {
    String::from_utf8(read_bytes(path)?).map_err(|e| DataError::Table {
        path: path.to_path_buf(),
        reason: format!(
            "the file is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Next-character prediction: sample i is characters [i, i + context), its label the character
/// after them. The corpus is stored once; samples are windows into it.
/// `vocab_from`: another text whose characters (and so ids) the vocabulary is; characters of
/// this text outside it are read as <unk>.
pub fn char_lm(
    path: &Path,
    context: usize,
    vocab_from: Option<&Path>,
) -> Result<RawData, DataError> {
    let text = read_text(path)?;
    let table_err = |reason: String| DataError::Table {
        path: path.to_path_buf(),
        reason,
    };
    if context == 0 {
        return Err(table_err(
            "the context length is 0; it must be at least 1".into(),
        ));
    }
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= context.saturating_add(1) {
        return Err(table_err(format!(
            "the text has {} characters; it needs more than the context ({context}) to make examples",
            chars.len()
        )));
    }
    let alphabet: BTreeSet<char> = match vocab_from {
        Some(other) => read_text(other)?.chars().collect(),
        None => chars.iter().copied().collect(),
    };
    // Ids 0 and 1 are reserved (pad, unknown) so every text vocabulary looks alike.
    let mut vocab: Vec<String> = vec!["<pad>".into(), "<unk>".into()];
    vocab.extend(alphabet.iter().map(|c| c.to_string()));
    let index: BTreeMap<char, u32> = alphabet
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i as u32 + 2))
        .collect();
    // Id 1 is <unk>: only a borrowed vocabulary can miss characters.
    let corpus: Vec<u32> = chars
        .iter()
        .map(|c| index.get(c).copied().unwrap_or(1))
        .collect();
    let unknown = corpus.iter().filter(|&&id| id == 1).count();
    let labels: Vec<u32> = corpus[context..].to_vec();
    Ok(RawData {
        origins: Default::default(),
        sample_shape: vec![context],
        features: Features::Windows {
            corpus,
            len: context,
        },
        targets: Targets::Classes {
            labels,
            names: vocab.iter().map(|t| display_token(t)).collect(),
        },
        feature_names: Vec::new(),
        source_test_start: None,
        vocab: Some(vocab),
        notes: std::iter::once(format!(
            "{} characters, {} distinct",
            chars.len(),
            alphabet.len()
        ))
        .chain((unknown > 0).then(|| {
            format!("{unknown} character(s) are not in the borrowed vocabulary and read as <unk>")
        }))
        .collect(),
    })
}

fn display_token(t: &str) -> String {
    match t {
        "\n" => "\\n".into(),
        " " => "·".into(),
        "\t" => "\\t".into(),
        other => other.to_string(),
    }
}

fn tokenize(text: &str, kind: TokenKind) -> Vec<String> {
    match kind {
        TokenKind::Char => text.chars().map(|c| c.to_string()).collect(),
        TokenKind::Word => text
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect(),
    }
}

/// Text classification: each row's text becomes `max_len` token ids (padded or cut).
pub fn text_classes(
    path: &Path,
    text_column: &str,
    label_column: &str,
    kind: TokenKind,
    max_len: usize,
) -> Result<RawData, DataError> {
    let text = read_text(path)?;
    let table_err = |reason: String| DataError::Table {
        path: path.to_path_buf(),
        reason,
    };
    const MAX_TOKENS: usize = 1 << 16;
    if max_len == 0 || max_len > MAX_TOKENS {
        return Err(table_err(format!(
            "the maximum length is {max_len}; it must be 1 to {MAX_TOKENS} tokens"
        )));
    }
    let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| table_err(format!("cannot read the header row: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            table_err(format!(
                "there is no column '{name}'; the columns are: {}",
                headers.join(", ")
            ))
        })
    };
    let (tc, lc) = (col(text_column)?, col(label_column)?);
    let mut texts = Vec::new();
    let mut raw_labels = Vec::new();
    for record in rdr.records() {
        let record = record.map_err(|e| DataError::Csv {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            column: "(row)".into(),
            reason: e.to_string(),
        })?;
        let (Some(t), Some(l)) = (record.get(tc), record.get(lc)) else {
            continue;
        };
        if l.trim().is_empty() {
            continue;
        }
        texts.push(tokenize(t, kind));
        raw_labels.push(l.trim().to_string());
    }
    if texts.is_empty() {
        return Err(table_err("the file has no rows with a label".into()));
    }
    let names: Vec<String> = raw_labels
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if names.len() < 2 {
        return Err(table_err(format!(
            "the label column '{label_column}' has a single value; there is nothing to learn"
        )));
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    texts
        .iter()
        .flatten()
        .for_each(|t| *counts.entry(t).or_default() += 1);
    let mut by_freq: Vec<(&str, usize)> = counts.into_iter().collect();
    by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let limit = if kind == TokenKind::Word {
        MAX_WORDS
    } else {
        usize::MAX
    };
    let mut vocab: Vec<String> = vec!["<pad>".into(), "<unk>".into()];
    vocab.extend(by_freq.iter().take(limit).map(|(t, _)| t.to_string()));
    let index: BTreeMap<&str, u32> = vocab
        .iter()
        .enumerate()
        .skip(2)
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    // Every text padded to max_len: refuse a table that would not fit rather than abort.
    let values = texts.len().saturating_mul(max_len);
    if values > super::MAX_DATASET_VALUES {
        return Err(table_err(format!(
            "{} texts of {max_len} tokens are {values} values, more than the {} a data set may hold",
            texts.len(),
            super::MAX_DATASET_VALUES
        )));
    }
    let mut tokens = Vec::with_capacity(values);
    let mut cut = 0;
    for t in &texts {
        cut += usize::from(t.len() > max_len);
        let ids = t
            .iter()
            .take(max_len)
            .map(|w| index.get(w.as_str()).copied().unwrap_or(UNKNOWN));
        let n = ids.len();
        tokens.extend(ids);
        tokens.extend(std::iter::repeat_n(PAD, max_len - n));
    }
    let labels = raw_labels
        .iter()
        .map(|l| {
            names
                .iter()
                .position(|n| n == l)
                .expect("names built from labels") as u32
        })
        .collect();
    let mut notes = vec![format!(
        "{} texts, vocabulary of {} tokens",
        texts.len(),
        vocab.len()
    )];
    if cut > 0 {
        notes.push(format!(
            "{cut} texts were longer than {max_len} tokens and were cut"
        ));
    }
    Ok(RawData {
        origins: Default::default(),
        sample_shape: vec![max_len],
        features: Features::Tokens(tokens),
        targets: Targets::Classes { labels, names },
        feature_names: Vec::new(),
        source_test_start: None,
        vocab: Some(vocab),
        notes,
    })
}

/// A new text as a classifier trained by `text_classes` reads it: `max_len` token ids (cut or
/// padded), the tokens kept (for display), and how many tokens were cut off.
pub fn encode_text(
    text: &str,
    kind: TokenKind,
    vocab: &[String],
    max_len: usize,
) -> (Vec<u32>, Vec<String>, usize) {
    let tokens = tokenize(text, kind);
    let cut = tokens.len().saturating_sub(max_len);
    let kept: Vec<String> = tokens.into_iter().take(max_len).collect();
    let index: BTreeMap<&str, u32> = vocab
        .iter()
        .enumerate()
        .skip(2)
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    let mut ids: Vec<u32> = kept
        .iter()
        .map(|t| index.get(t.as_str()).copied().unwrap_or(UNKNOWN))
        .collect();
    ids.resize(max_len, PAD);
    (ids, kept, cut)
}

/// The words of a text, lower-cased: runs of letters (with apostrophes inside), for checking
/// how much of a generated text is made of real words.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphabetic() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}
