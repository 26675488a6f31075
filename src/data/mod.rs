//! Data sets: loading (IDX, CSV), splits, normalisation and batches. No egui here.

mod batch;
mod dataset;
mod error;
mod idx;
mod settings;
mod table;

pub use batch::{batches_per_epoch, epoch_batches};
pub use dataset::{load_mnist, Dataset, Features, RawData, Targets};
pub use error::DataError;
pub use idx::{parse_idx, read_idx, read_idx_append, IdxArray};
pub use settings::{DataSettings, DataSource, Normalization, SplitSettings, Task};
pub use table::{parse_csv, read_csv};
