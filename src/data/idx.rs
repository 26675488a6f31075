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
    read_idx_from(super::open::open(path)?, out).map_err(|e| DataError::Idx {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// What is wrong with IDX bytes, in words.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("the file is shorter than its 4-byte header")]
    NoHeader,
    #[error("the magic number does not start with two zero bytes")]
    Magic,
    #[error("element type 0x{0:02x} is not supported (only unsigned bytes, 0x08)")]
    ElementType(u8),
    #[error("the header declares 0 dimensions")]
    NoDimensions,
    #[error("the header declares {0} dimensions but is cut short")]
    ShortDimensions(usize),
    #[error("the header declares dimensions {0:?}: more than {MAX_IDX_VALUES} values, larger than any data set this reads")]
    TooLarge(Vec<usize>),
    #[error("the header promises {expected} values ({dims:?}) but the file holds {}", if *.more { "more".to_string() } else { .got.to_string() })]
    Count {
        expected: usize,
        dims: Vec<usize>,
        got: usize,
        more: bool,
    },
    #[error("the file is cut short")]
    CutShort,
    #[error("it could not be read: {0}")]
    Read(std::io::Error),
}

/// Most values one IDX file may declare (16 GiB of bytes).
const MAX_IDX_VALUES: usize = 1 << 34;
/// Reserved up front for the values; MNIST's training images (47 MB) fit.
const RESERVE_BYTES: usize = 64 << 20;

fn read_idx_from(mut r: impl Read, out: &mut Vec<u8>) -> Result<Vec<usize>, IdxError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => IdxError::CutShort,
        _ => IdxError::Read(e),
    };
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic).map_err(|_| IdxError::NoHeader)?;
    let rank = check_magic(&magic)?;
    let mut raw_dims = vec![0u8; 4 * rank];
    r.read_exact(&mut raw_dims)
        .map_err(|_| IdxError::ShortDimensions(rank))?;
    let dims: Vec<usize> = raw_dims
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_IDX_VALUES)
        .ok_or_else(|| IdxError::TooLarge(dims.clone()))?;
    let start = out.len();
    // Reserve what a real file of this header surely holds, not whatever a header claims:
    // a short file then costs nothing, and a large one grows as it is read.
    out.reserve_exact(expected.min(RESERVE_BYTES));
    let got = r.take(expected as u64 + 1).read_to_end(out).map_err(io)?;
    if got != expected {
        out.truncate(start);
        return Err(IdxError::Count {
            expected,
            dims,
            got,
            more: got > expected,
        });
    }
    Ok(dims)
}

fn check_magic(magic: &[u8; 4]) -> Result<usize, IdxError> {
    if magic[0] != 0 || magic[1] != 0 {
        return Err(IdxError::Magic);
    }
    if magic[2] != 0x08 {
        return Err(IdxError::ElementType(magic[2]));
    }
    if magic[3] == 0 {
        return Err(IdxError::NoDimensions);
    }
    Ok(magic[3] as usize)
}

/// Parses a whole IDX file held in memory.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, IdxError> {
    let mut data = Vec::new();
    let dims = read_idx_from(bytes, &mut data)?;
    Ok(IdxArray { dims, data })
}
