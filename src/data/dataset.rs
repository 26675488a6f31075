//! A loaded data set: compact sample storage, targets, and the batches read from them; loading
//! dispatches on the source, splitting is in `split`, normalisation in `normalize`.

use super::error::DataError;
use super::idx::{load_idx_pair, load_mnist};
use super::images::image_folder;
use super::normalize::normalization;
use super::settings::{DataSettings, DataSource};
use super::split::{keep_classes, split, split_contiguous};
use super::table::read_csv;
use super::text::{char_lm, text_classes};
use super::toy::toy;
use crate::fsutil::{assets_dir, resolve_data_path};
use std::path::Path;

/// Sample values as stored: images stay bytes (4× smaller than f32) and are converted per batch;
/// texts are token ids; a language-model corpus is stored once and read through windows.
#[derive(Clone, Debug)]
pub enum Features {
    U8(Vec<u8>),
    F32(Vec<f32>),
    /// Token ids, `sample_len` per sample.
    Tokens(Vec<u32>),
    /// Sample i is `corpus[i .. i + len]`.
    Windows {
        corpus: Vec<u32>,
        len: usize,
    },
}

impl Features {
    /// Number of stored values (for windows: the number of samples times the window length).
    fn len(&self) -> usize {
        match self {
            Features::U8(v) => v.len(),
            Features::F32(v) => v.len(),
            Features::Tokens(v) => v.len(),
            Features::Windows { corpus, len } => corpus.len().saturating_sub(*len) * len,
        }
    }

    /// Value `j` of sample `i`, as a number.
    fn value(&self, sample_len: usize, i: usize, j: usize) -> f32 {
        match self {
            Features::U8(v) => v[i * sample_len + j] as f32,
            Features::F32(v) => v[i * sample_len + j],
            Features::Tokens(v) => v[i * sample_len + j] as f32,
            Features::Windows { corpus, .. } => corpus[i + j] as f32,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Features::U8(v) => v.len(),
            Features::F32(v) => v.len() * 4,
            Features::Tokens(v) => v.len() * 4,
            Features::Windows { corpus, .. } => corpus.len() * 4,
        }
    }

    pub fn is_tokens(&self) -> bool {
        matches!(self, Features::Tokens(_) | Features::Windows { .. })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    Classes {
        labels: Vec<u32>,
        names: Vec<String>,
    },
    Values {
        values: Vec<f32>,
        dim: usize,
        names: Vec<String>,
    },
}

impl Targets {
    fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values { values, dim, .. } => values.len() / dim.max(&1),
        }
    }
}

/// What a source loader returns before splitting and normalising.
#[derive(Debug)]
pub struct RawData {
    pub sample_shape: Vec<usize>,
    pub features: Features,
    pub targets: Targets,
    pub feature_names: Vec<String>,
    /// Samples from this index on are the source's own test set.
    pub source_test_start: Option<usize>,
    /// Token strings by id, for text sources.
    pub vocab: Option<Vec<String>>,
    /// Things the loader decided that the user should know ("3 rows with missing values left out").
    pub notes: Vec<String>,
    /// Where each sample came from in the user's files.
    pub origins: super::Origins,
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub name: String,
    pub sample_shape: Vec<usize>,
    pub feature_names: Vec<String>,
    pub targets: Targets,
    pub vocab: Option<Vec<String>>,
    pub notes: Vec<String>,
    /// Time spent loading, in milliseconds.
    pub load_ms: f64,
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
    features: Features,
    /// Normalised value = (raw - shift) * scale, per feature or one for all (len 1).
    shift: Vec<f32>,
    scale: Vec<f32>,
    /// How numeric targets are standardised for training (None: used as they are).
    target_scale: Option<super::TargetScale>,
    origins: super::Origins,
    /// Training samples whose label `label_noise` flipped, ascending (empty without it).
    pub flipped: Vec<usize>,
}

impl Dataset {
    /// Loads, splits and normalises the data a project names.
    pub fn load(settings: &DataSettings, project_dir: Option<&Path>) -> Result<Self, DataError> {
        Self::load_with_progress(settings, project_dir, &|_| {})
    }

    /// Like `load`, reporting the fraction done (image folders) to `progress`.
    pub fn load_with_progress(
        settings: &DataSettings,
        project_dir: Option<&Path>,
        progress: &dyn Fn(f32),
    ) -> Result<Self, DataError> {
        let started = std::time::Instant::now();
        let file_name = |path: &str| {
            let file = resolve_data_path(path, project_dir);
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.to_string());
            (file, name)
        };
        let (name, raw) = match &settings.source {
            DataSource::Mnist => ("MNIST".to_string(), load_mnist(&assets_dir())?),
            DataSource::Idx {
                train_images,
                train_labels,
                test_images,
                test_labels,
            } => {
                let (imgs, name) = file_name(train_images);
                let test = match (test_images, test_labels) {
                    (Some(i), Some(l)) => Some((file_name(i).0, file_name(l).0)),
                    (None, None) => None,
                    _ => {
                        return Err(DataError::Settings(
                            "give both the test images and the test labels, or neither".into(),
                        ))
                    }
                };
                (
                    name,
                    load_idx_pair(&imgs, &file_name(train_labels).0, test)?,
                )
            }
            DataSource::Csv {
                path,
                target,
                task,
                options,
            } => {
                let (file, name) = file_name(path);
                (name, read_csv(&file, target, *task, options)?)
            }
            DataSource::ImageFolder {
                path,
                width,
                height,
                color,
            } => {
                let (dir, name) = file_name(path);
                (name, image_folder(&dir, *width, *height, *color, progress)?)
            }
            DataSource::Toy {
                kind,
                samples,
                noise,
            } => {
                const MAX_TOY_SAMPLES: usize = 1_000_000;
                if *samples > MAX_TOY_SAMPLES {
                    return Err(DataError::Settings(format!(
                        "the toy set asks for {samples} points; at most {MAX_TOY_SAMPLES}"
                    )));
                }
                (
                    format!("{} toy", kind.name()),
                    toy(*kind, *samples, *noise, settings.split.seed),
                )
            }
            DataSource::TextLm {
                path,
                context,
                vocab_from,
                ..
            } => {
                let (file, name) = file_name(path);
                let vocab = vocab_from.as_deref().map(|v| file_name(v).0);
                (name, char_lm(&file, *context, vocab.as_deref())?)
            }
            DataSource::TextClass {
                path,
                text_column,
                label_column,
                tokens,
                max_len,
            } => {
                let (file, name) = file_name(path);
                (
                    name,
                    text_classes(&file, text_column, label_column, *tokens, *max_len)?,
                )
            }
        };
        let contiguous = matches!(settings.source, DataSource::TextLm { .. });
        let mut ds = Self::from_raw_split(name, raw, settings, contiguous)?;
        if let DataSource::TextLm {
            stride,
            context,
            carry_state,
            ..
        } = settings.source
        {
            if carry_state && stride != context {
                return Err(DataError::Settings(format!(
                    "carrying the state across windows needs windows that follow each other: set the stride to the context ({context}), not {stride}"
                )));
            }
            if stride > 1 {
                for part in [&mut ds.train, &mut ds.val, &mut ds.test] {
                    part.retain(|&i| i % stride == 0);
                }
            }
        }
        ds.load_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(ds)
    }

    pub fn from_raw(
        name: String,
        raw: RawData,
        settings: &DataSettings,
    ) -> Result<Self, DataError> {
        Self::from_raw_split(name, raw, settings, false)
    }

    /// `contiguous`: split by position (train, then validation, then test) instead of at
    /// random, for overlapping windows of one text.
    fn from_raw_split(
        name: String,
        raw: RawData,
        settings: &DataSettings,
        contiguous: bool,
    ) -> Result<Self, DataError> {
        let sample_len: usize = raw.sample_shape.iter().product();
        let n = raw.targets.len();
        if sample_len == 0 || raw.features.len() != n * sample_len {
            return Err(DataError::Settings(format!(
                "{name}: {} values do not make {n} samples of shape {:?}",
                raw.features.len(),
                raw.sample_shape
            )));
        }
        if n == 0 {
            return Err(DataError::Settings(format!("{name} has no samples")));
        }
        let (mut train, mut val, mut test) = if contiguous {
            split_contiguous(n, &settings.split)?
        } else {
            split(n, raw.source_test_start, &raw.targets, &settings.split)?
        };
        let mut targets = raw.targets;
        if !settings.classes.is_empty() {
            let keep = keep_classes(&mut targets, &settings.classes, &name)?;
            for part in [&mut train, &mut val, &mut test] {
                part.retain(|&i| keep[i]);
            }
        }
        let mut notes = raw.notes;
        let flipped = match &settings.label_noise {
            Some(noise) => noise.apply(&mut targets, &train)?,
            None => Vec::new(),
        };
        if !flipped.is_empty() {
            notes.push(format!(
                "label noise: {} training labels flipped on purpose",
                flipped.len()
            ));
        }
        if let Some(note) = settings
            .edits
            .apply(&raw.origins, &mut targets, &mut train, n)?
        {
            notes.push(note);
        }
        if let Some(max) = settings.max_train_samples {
            train.truncate(max.max(1));
        }
        let mut flipped = flipped;
        if !flipped.is_empty() {
            let kept: std::collections::HashSet<usize> = train.iter().copied().collect();
            flipped.retain(|i| kept.contains(i));
        }
        if train.is_empty() {
            return Err(DataError::Settings(format!(
                "{name}: the split leaves no training samples; lower the validation/test fractions"
            )));
        }
        let (shift, scale) =
            normalization(&raw.features, sample_len, &train, settings.normalization);
        let target_scale = match (&targets, settings.target_scaling) {
            (Targets::Values { values, dim, .. }, super::TargetScaling::Standardize) => {
                super::TargetScale::fit(values, *dim, &train)
            }
            _ => None,
        };
        Ok(Self {
            name,
            sample_shape: raw.sample_shape,
            feature_names: raw.feature_names,
            targets,
            vocab: raw.vocab,
            notes,
            load_ms: 0.0,
            train,
            val,
            test,
            features: raw.features,
            shift,
            scale,
            target_scale,
            origins: raw.origins,
            flipped,
        })
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    pub fn n_classes(&self) -> Option<usize> {
        match &self.targets {
            Targets::Classes { names, .. } => Some(names.len()),
            Targets::Values { .. } => None,
        }
    }

    pub fn class_names(&self) -> &[String] {
        match &self.targets {
            Targets::Classes { names, .. } | Targets::Values { names, .. } => names,
        }
    }

    pub fn label(&self, i: usize) -> Option<u32> {
        match &self.targets {
            Targets::Classes { labels, .. } => Some(labels[i]),
            Targets::Values { .. } => None,
        }
    }

    /// Whether samples are token ids (for an Embedding) rather than numbers.
    pub fn is_tokens(&self) -> bool {
        self.features.is_tokens()
    }

    pub fn vocab_size(&self) -> Option<usize> {
        self.vocab.as_ref().map(Vec::len)
    }

    /// Appends the normalised features of the samples `idx` to `out`, sample after sample.
    pub fn gather_features(&self, idx: &[usize], out: &mut Vec<f32>) {
        let len = self.sample_len();
        out.reserve(idx.len() * len);
        for &i in idx {
            let range = i * len..(i + 1) * len;
            match (&self.features, self.shift.len()) {
                (Features::U8(v), 1) => {
                    let (s, k) = (self.shift[0], self.scale[0]);
                    out.extend(v[range].iter().map(|&b| (b as f32 - s) * k));
                }
                (Features::F32(v), 1) => {
                    let (s, k) = (self.shift[0], self.scale[0]);
                    out.extend(v[range].iter().map(|&x| (x - s) * k));
                }
                (f, _) => out.extend((0..len).map(|j| {
                    (f.value(len, i, j) - self.shift[j % self.shift.len()])
                        * self.scale[j % self.scale.len()]
                })),
            }
        }
    }

    /// Normalises one sample given in raw units, as `gather_features` would.
    pub fn normalize_raw(&self, raw: &[f32]) -> Vec<f32> {
        raw.iter()
            .enumerate()
            .map(|(j, &v)| {
                (v - self.shift[j % self.shift.len()]) * self.scale[j % self.scale.len()]
            })
            .collect()
    }

    /// Raw values of one normalised sample (the inverse of `normalize_raw`).
    pub fn denormalize(&self, values: &[f32]) -> Vec<f32> {
        values
            .iter()
            .enumerate()
            .map(|(j, &v)| v / self.scale[j % self.scale.len()] + self.shift[j % self.shift.len()])
            .collect()
    }

    /// Whether samples are windows of one corpus (language modelling), whose every position
    /// has a next token.
    pub fn is_windows(&self) -> bool {
        matches!(self.features, Features::Windows { .. })
    }

    /// The whole text a language model trains on (windows only), decoded.
    pub fn corpus_text(&self) -> Option<String> {
        let (Features::Windows { corpus, .. }, Some(vocab)) = (&self.features, &self.vocab) else {
            return None;
        };
        Some(
            corpus
                .iter()
                .filter_map(|&i| vocab.get(i as usize).map(String::as_str))
                .collect(),
        )
    }

    /// Appends, for each sample, the token after each of its positions (windows only).
    pub fn gather_sequence_labels(&self, idx: &[usize], out: &mut Vec<u32>) {
        if let Features::Windows { corpus, len } = &self.features {
            idx.iter()
                .for_each(|&i| out.extend_from_slice(&corpus[i + 1..i + 1 + len]));
        }
    }

    /// Appends the token ids of the samples `idx` (text data only).
    pub fn gather_tokens(&self, idx: &[usize], out: &mut Vec<u32>) {
        let len = self.sample_len();
        match &self.features {
            Features::Tokens(v) => idx
                .iter()
                .for_each(|&i| out.extend_from_slice(&v[i * len..(i + 1) * len])),
            Features::Windows { corpus, len } => idx
                .iter()
                .for_each(|&i| out.extend_from_slice(&corpus[i..i + len])),
            Features::U8(_) | Features::F32(_) => {}
        }
    }

    /// Appends class labels of the samples `idx` (classification data only).
    pub fn gather_labels(&self, idx: &[usize], out: &mut Vec<u32>) {
        if let Targets::Classes { labels, .. } = &self.targets {
            out.extend(idx.iter().map(|&i| labels[i]));
        }
    }

    /// Appends numeric targets of the samples `idx` (regression data only), as the model
    /// learns them: standardised when the data's `target_scale` says so.
    pub fn gather_values(&self, idx: &[usize], out: &mut Vec<f32>) {
        let start = out.len();
        self.gather_raw_values(idx, out);
        if let Some(s) = &self.target_scale {
            s.standardize(&mut out[start..]);
        }
    }

    /// Appends numeric targets of the samples `idx` in the target's own units.
    pub fn gather_raw_values(&self, idx: &[usize], out: &mut Vec<f32>) {
        if let Targets::Values { values, dim, .. } = &self.targets {
            for &i in idx {
                out.extend_from_slice(&values[i * dim..(i + 1) * dim]);
            }
        }
    }

    /// The model's outputs for numeric targets, back in the target's units (in place).
    pub fn restore_values(&self, values: &mut [f32]) {
        if let Some(s) = &self.target_scale {
            s.restore(values);
        }
    }

    /// Sample `i`'s place in the user's files (a table's data row from 0, an image's path).
    pub fn origin(&self, i: usize) -> String {
        self.origins.of(i)
    }

    /// How numeric targets are standardised for training, if they are.
    pub fn target_scale(&self) -> Option<&super::TargetScale> {
        self.target_scale.as_ref()
    }

    /// Values per sample of a numeric target (None: classes).
    pub fn target_dim(&self) -> Option<usize> {
        match &self.targets {
            Targets::Values { dim, .. } => Some(*dim),
            Targets::Classes { .. } => None,
        }
    }

    /// One sample's raw values (before normalisation), for display.
    pub fn raw_sample(&self, i: usize) -> Vec<f32> {
        let len = self.sample_len();
        (0..len).map(|j| self.features.value(len, i, j)).collect()
    }

    /// Whether stored values are bytes (images), so raw samples are in 0..=255.
    pub fn is_bytes(&self) -> bool {
        matches!(self.features, Features::U8(_))
    }

    /// Bytes held by samples and targets.
    pub fn memory_bytes(&self) -> usize {
        let targets = match &self.targets {
            Targets::Classes { labels, .. } => labels.len() * 4,
            Targets::Values { values, .. } => values.len() * 4,
        };
        // Overlapping windows index one corpus, not a copy per sample.
        self.features.bytes() + targets + (self.train.len() + self.val.len() + self.test.len()) * 8
    }
}
