//! The project's data settings: which data set, how it is split and normalised.

use serde::{Deserialize, Serialize};

/// Where samples come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DataSource {
    /// The shipped MNIST digits (60,000 train + 10,000 test images, 28×28 grey).
    Mnist,
    /// MNIST-style IDX files (gzip or raw) of the user's: images [n, rows, cols] and labels [n].
    Idx {
        train_images: String,
        train_labels: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test_images: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test_labels: Option<String>,
    },
    /// A CSV/TSV table with one target column. `path` may start with `assets/` for the shipped
    /// tables; other relative paths are relative to the project file.
    Csv {
        path: String,
        target: String,
        #[serde(default)]
        task: Task,
        #[serde(default)]
        options: CsvOptions,
    },
    /// One sub-folder per class of PNG/JPEG/BMP images (or `train/` and `test/` folders that
    /// each hold the class folders), resized to `width`×`height`.
    ImageFolder {
        path: String,
        width: usize,
        height: usize,
        #[serde(default)]
        color: ColorMode,
    },
    /// A 2-D toy problem as in TensorFlow Playground.
    Toy {
        kind: ToyKind,
        #[serde(default = "toy_samples")]
        samples: usize,
        #[serde(default = "toy_noise")]
        noise: f32,
    },
    /// Character-level language modelling: predict the next character from the `context`
    /// characters before it.
    TextLm {
        path: String,
        #[serde(default = "lm_context")]
        context: usize,
        /// Characters between the starts of two examples: 1 uses every position; the context
        /// length gives non-overlapping windows (enough when every position is predicted).
        #[serde(default = "one")]
        stride: usize,
        /// Read the windows in order, each batch row continuing the text where it stopped, so
        /// recurrent layers carry their state across windows (needs stride = context).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        carry_state: bool,
        /// Take the characters (and their ids) from this text instead, so a model pre-trained
        /// on it reads this one the same way; other characters become <unk>.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vocab_from: Option<String>,
    },
    /// Text classification from a CSV of (text, label) rows.
    TextClass {
        path: String,
        text_column: String,
        label_column: String,
        #[serde(default)]
        tokens: TokenKind,
        #[serde(default = "text_max_len")]
        max_len: usize,
    },
}

fn toy_samples() -> usize {
    600
}
fn toy_noise() -> f32 {
    0.1
}
fn one() -> usize {
    1
}
fn lm_context() -> usize {
    16
}
fn text_max_len() -> usize {
    16
}

impl DataSource {
    pub fn label(&self) -> String {
        match self {
            DataSource::Mnist => "MNIST digits".into(),
            DataSource::Idx { train_images, .. } => format!("IDX {train_images}"),
            DataSource::Csv { path, target, .. } => format!("{path} → {target}"),
            DataSource::ImageFolder {
                path,
                width,
                height,
                ..
            } => format!("images in {path} ({width}×{height})"),
            DataSource::Toy { kind, .. } => format!("{} (2-D toy)", kind.name()),
            DataSource::TextLm { path, .. } => format!("next character in {path}"),
            DataSource::TextClass {
                path, label_column, ..
            } => format!("{path} → {label_column}"),
        }
    }

    /// Windows read in order with recurrent state carried across them.
    pub fn carries_state(&self) -> bool {
        matches!(
            self,
            DataSource::TextLm {
                carry_state: true,
                ..
            }
        )
    }

    /// Next-character data: the project trains a language model.
    pub fn is_text_corpus(&self) -> bool {
        matches!(self, DataSource::TextLm { .. })
    }

    /// A file path the source reads, if it reads one (for the file picker).
    /// What the user has yet to give before there is anything to load (an empty path, no
    /// target column), in words; None when the source is complete.
    pub fn missing_input(&self) -> Option<String> {
        match self {
            DataSource::Csv { path, .. } if path.trim().is_empty() => {
                Some("Type the path of a CSV or TSV file, or press Browse…".into())
            }
            DataSource::Csv { target, .. } if target.trim().is_empty() => {
                Some("Choose the target column: the one the network should predict".into())
            }
            DataSource::ImageFolder { path, .. } if path.trim().is_empty() => {
                Some("Choose a folder with one sub-folder of images per class".into())
            }
            DataSource::TextLm { path, .. } | DataSource::TextClass { path, .. }
                if path.trim().is_empty() =>
            {
                Some("Choose a text file".into())
            }
            DataSource::Idx { train_images, .. } if train_images.trim().is_empty() => {
                Some("Choose the IDX image and label files".into())
            }
            _ => None,
        }
    }

    pub fn path_mut(&mut self) -> Option<&mut String> {
        match self {
            DataSource::Csv { path, .. }
            | DataSource::ImageFolder { path, .. }
            | DataSource::TextLm { path, .. }
            | DataSource::TextClass { path, .. } => Some(path),
            DataSource::Idx { train_images, .. } => Some(train_images),
            DataSource::Mnist | DataSource::Toy { .. } => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ToyKind {
    Circle,
    Xor,
    Gaussians,
    Spiral,
}

impl ToyKind {
    pub const ALL: [ToyKind; 4] = [
        ToyKind::Circle,
        ToyKind::Xor,
        ToyKind::Gaussians,
        ToyKind::Spiral,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ToyKind::Circle => "circle",
            ToyKind::Xor => "XOR",
            ToyKind::Gaussians => "two gaussians",
            ToyKind::Spiral => "spiral",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColorMode {
    #[default]
    Grey,
    Rgb,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    #[default]
    Char,
    Word,
}

/// How a column of a table is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnKind {
    Numeric,
    /// Text values, one-hot encoded.
    Categorical,
    Ignore,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MissingPolicy {
    /// Leave out rows with a missing value.
    #[default]
    DropRow,
    /// Numbers: the column mean; categories: the most frequent value.
    FillMean,
}

/// Import settings of a CSV/TSV table. Unset fields are detected from the file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CsvOptions {
    /// Field separator; detected (comma, tab, semicolon) when None.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// Whether the first row names the columns; detected when None.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_header: Option<bool>,
    /// Per-column overrides; other columns are detected.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub columns: std::collections::BTreeMap<String, ColumnKind>,
    pub missing: MissingPolicy,
}

/// Whether the target is a class or a number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// Classes if the target has text or few distinct whole numbers, otherwise regression.
    #[default]
    Auto,
    Classification,
    Regression,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Normalization {
    /// Raw values (images still go to [0, 1]).
    None,
    /// Scale into [0, 1] (images: /255; tables: min–max per column on the training split).
    Unit,
    /// Zero mean, unit variance from the training split (images: one mean/std for all pixels).
    #[default]
    Standardize,
    /// Scale into [-1, 1] (images: /127.5 − 1; tables: min–max per column), for generators
    /// that end in tanh.
    Symmetric,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitSettings {
    /// Fraction of the non-test samples held out for validation.
    pub validation: f32,
    /// Fraction held out for testing when the source has no test set of its own.
    pub test: f32,
    /// Use the source's own test set (MNIST's 10,000) when it has one.
    pub use_source_test: bool,
    /// Keep class proportions equal across the splits.
    pub stratify: bool,
    /// Seed of the split; separate from the training seed so runs compare on the same split.
    pub seed: u64,
}

impl Default for SplitSettings {
    fn default() -> Self {
        Self {
            validation: 0.1,
            test: 0.2,
            use_source_test: true,
            stratify: true,
            seed: 42,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSettings {
    pub source: DataSource,
    #[serde(default)]
    pub split: SplitSettings,
    #[serde(default)]
    pub normalization: Normalization,
    /// Train on at most this many samples (quick experiments); validation and test stay whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_samples: Option<usize>,
    /// Random changes to training images (never to validation or test).
    #[serde(default, skip_serializing_if = "Augmentation::is_off")]
    pub augmentation: Augmentation,
    /// Keep only these classes (by name), numbered in this order; empty keeps all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Numeric targets standardised while training (the default), or kept raw.
    #[serde(default, skip_serializing_if = "super::TargetScaling::is_default")]
    pub target_scaling: super::TargetScaling,
    /// Samples left out of training or relabelled (from the data map).
    #[serde(default, skip_serializing_if = "super::SampleEdits::is_empty")]
    pub edits: super::SampleEdits,
    /// Training labels flipped on purpose (a teaching device); before the edits, so a
    /// relabel from the data map corrects a flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_noise: Option<super::LabelNoise>,
}

/// On-the-fly image augmentation, applied to training batches only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Augmentation {
    /// Largest shift in pixels, each direction.
    pub shift_px: usize,
    /// Largest rotation in degrees, either way.
    pub rotation_deg: f32,
    /// Mirror left-right half the time.
    pub flip: bool,
    /// Standard deviation of added Gaussian noise (in normalised units).
    pub noise_std: f32,
    /// Side of a square blanked at a random place (0 = off).
    pub cutout_px: usize,
}

impl Augmentation {
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for DataSettings {
    fn default() -> Self {
        Self {
            source: DataSource::Mnist,
            split: SplitSettings::default(),
            normalization: Normalization::default(),
            max_train_samples: None,
            classes: Vec::new(),
            augmentation: Augmentation::default(),
            target_scaling: super::TargetScaling::default(),
            edits: super::SampleEdits::default(),
            label_noise: None,
        }
    }
}
