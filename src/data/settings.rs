//! The project's data settings: which data set, how it is split and normalised.

use serde::{Deserialize, Serialize};

/// Where samples come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DataSource {
    /// The shipped MNIST digits (60,000 train + 10,000 test images, 28×28 grey).
    Mnist,
    /// A CSV table: numeric feature columns and one target column. `path` may start with
    /// `assets/` for the shipped tables; other relative paths are relative to the project file.
    Csv {
        path: String,
        target: String,
        #[serde(default)]
        task: Task,
    },
}

impl DataSource {
    pub fn label(&self) -> String {
        match self {
            DataSource::Mnist => "MNIST digits".into(),
            DataSource::Csv { path, target, .. } => format!("{path} → {target}"),
        }
    }
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
}

impl Default for DataSettings {
    fn default() -> Self {
        Self {
            source: DataSource::Mnist,
            split: SplitSettings::default(),
            normalization: Normalization::default(),
            max_train_samples: None,
        }
    }
}
