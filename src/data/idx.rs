//! IDX files (MNIST's format), optionally gzip-compressed.

use super::error::DataError;
use std::io::Read;
use std::path::Path;

/// Raw IDX content: unsigned bytes and the dimensions from the header.
#[derive(Debug)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let mut data = Vec::new();
    let dims = read_idx_append(path, &mut data)?;
    Ok(IdxArray { dims, data })
}

/// Reads an IDX file's values onto the end of `out` (sized once from the header, so a 47 MB
/// image file is never copied while growing) and returns its dimensions.
pub fn read_idx_append(path: &Path, out: &mut Vec<u8>) -> Result<Vec<usize>, DataError> {
    read_idx_from(super::open::open(path)?, out).map_err(|reason| DataError::Idx {
        path: path.to_path_buf(),
        reason,
    })
}

/// Most values one IDX file may declare (16 GiB of bytes).
const MAX_IDX_VALUES: usize = 1 << 34;
/// Reserved up front for the values; MNIST's training images (47 MB) fit.
const RESERVE_BYTES: usize = 64 << 20;

fn read_idx_from(mut r: impl Read, out: &mut Vec<u8>) -> Result<Vec<usize>, String> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "the file is cut short".to_string(),
        _ => format!("it could not be read: {e}"),
    };
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)
        .map_err(|_| "the file is shorter than its 4-byte header".to_string())?;
    let rank = check_magic(&magic)?;
    let mut raw_dims = vec![0u8; 4 * rank];
    r.read_exact(&mut raw_dims)
        .map_err(|_| format!("the header declares {rank} dimensions but is cut short"))?;
    let dims: Vec<usize> = raw_dims
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_IDX_VALUES)
        .ok_or_else(|| {
            format!(
                "the header declares dimensions {dims:?}: more than {MAX_IDX_VALUES} values, larger than any data set this reads"
            )
        })?;
    let start = out.len();
    // Reserve what a real file of this header surely holds, not whatever a header claims:
    // a short file then costs nothing, and a large one grows as it is read.
    out.reserve_exact(expected.min(RESERVE_BYTES));
    let got = r.take(expected as u64 + 1).read_to_end(out).map_err(io)?;
    if got != expected {
        out.truncate(start);
        return Err(format!(
            "the header promises {expected} values ({dims:?}) but the file holds {}",
            if got > expected {
                "more".to_string()
            } else {
                got.to_string()
            }
        ));
    }
    Ok(dims)
}

fn check_magic(magic: &[u8; 4]) -> Result<usize, String> {
    if magic[0] != 0 || magic[1] != 0 {
        return Err("the magic number does not start with two zero bytes".into());
    }
    if magic[2] != 0x08 {
        return Err(format!(
            "element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            magic[2]
        ));
    }
    if magic[3] == 0 {
        return Err("the header declares 0 dimensions".into());
    }
    Ok(magic[3] as usize)
}

/// Parses a whole IDX file held in memory.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, String> {
    let mut data = Vec::new();
    let dims = read_idx_from(bytes, &mut data)?;
    Ok(IdxArray { dims, data })
}
