//! Opening data files: `.gz` files are decompressed on the fly, and every I/O error names the
//! file.

use super::error::DataError;
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::Path;

pub(super) fn io_error(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A buffered reader over the file's content, decompressed when the name ends in `.gz`.
pub(super) fn open(path: &Path) -> Result<Box<dyn Read>, DataError> {
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    let buffered = std::io::BufReader::with_capacity(1 << 16, file);
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    })
}

/// The whole (decompressed) content of the file.
/// Read whole: 4 GiB, so a small .gz that inflates without end (a zip bomb) is refused
/// instead of filling memory. (IDX files stream through their own size check.)
pub(super) fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    const MAX_BYTES: u64 = 4 << 30;
    let mut bytes = Vec::new();
    open(path)?
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(DataError::Table {
            path: path.to_path_buf(),
            reason: format!(
                "its content is larger than {} GiB: split it, or use a smaller sample",
                MAX_BYTES >> 30
            ),
        });
    }
    Ok(bytes)
}
