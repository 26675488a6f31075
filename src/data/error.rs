use std::path::PathBuf;
use thiserror::Error;

/// A data set that cannot be read, with the file (and line/column where known) and what to do.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid IDX file: {reason}")]
    Idx { path: PathBuf, reason: String },
    #[error("{path}, line {line}, column '{column}': {reason}")]
    Csv {
        path: PathBuf,
        line: u64,
        column: String,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Table { path: PathBuf, reason: String },
    #[error("data settings: {0}")]
    Settings(String),
}
