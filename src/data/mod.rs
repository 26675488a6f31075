//! Data sets: loading (IDX, CSV), splits, normalisation and batches. No egui here.

mod augment;
mod batch;
mod dataset;
mod edits;
mod error;
mod idx;
mod images;
pub mod noise;
mod normalize;
mod open;
mod origins;
mod settings;
mod split;
mod summary;
mod table;
mod target_scale;
mod text;
mod toy;

pub use augment::augment_batch;
pub use batch::{batches_per_epoch, epoch_batches, stream_batches};
pub use dataset::{Dataset, Features, RawData, Targets};
pub use edits::SampleEdits;
pub use error::DataError;
pub use noise::LabelNoise;

/// Most values (samples × values per sample) a loaded data set may hold: 8 GiB of f32. A
/// settings value past it (an image size, a padded length, a sample count) is refused, not
/// left to abort the allocation.
pub const MAX_DATASET_VALUES: usize = 1 << 31;
pub use idx::{
    load_idx_pair, load_mnist, parse_idx, read_idx, read_idx_append, IdxArray, IdxError,
};
pub use images::{image_folder, read_image_sample};
pub use origins::Origins;
pub use settings::{
    Augmentation, ColorMode, ColumnKind, CsvOptions, DataSettings, DataSource, MissingPolicy,
    Normalization, SplitSettings, Task, TokenKind, ToyKind,
};
pub use summary::{augmented_images, DataSummary, ImageSample, Preview};
pub use table::{
    detect_delimiter, guess_target, guess_target_in, parse_csv, parse_csv_with, peek_columns,
    peek_target, read_csv, read_table, RawTable, MAX_CATEGORIES,
};
pub use target_scale::{TargetScale, TargetScaling};
pub use text::{char_lm, encode_text, read_text, text_classes, words, PAD, UNKNOWN};
pub use toy::toy;
