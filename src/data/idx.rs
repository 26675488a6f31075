//! IDX files (MNIST's format), optionally gzip-compressed.

use super::dataset::{Features, RawData, Targets};
use super::error::DataError;
use std::io::Read;
use std::path::{Path, PathBuf};

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

/// MNIST from the shipped IDX files: the 60,000 training images, then the 10,000 test images.
pub fn load_mnist(assets: &Path) -> Result<RawData, DataError> {
    let dir = assets.join("data").join("mnist");
    let mut raw = load_idx_pair(
        &dir.join("train-images-idx3-ubyte.gz"),
        &dir.join("train-labels-idx1-ubyte.gz"),
        Some((
            dir.join("t10k-images-idx3-ubyte.gz"),
            dir.join("t10k-labels-idx1-ubyte.gz"),
        )),
    )?;
    if let Targets::Classes { names, .. } = &mut raw.targets {
        *names = (0..10).map(|d| d.to_string()).collect();
    }
    Ok(raw)
}

/// Images and labels from IDX files, with an optional test pair appended after the training set.
pub fn load_idx_pair(
    images: &Path,
    labels: &Path,
    test: Option<(PathBuf, PathBuf)>,
) -> Result<RawData, DataError> {
    // One buffer for train and test, grown once per file from its header.
    let mut pixels = Vec::new();
    let mut label_bytes = Vec::new();
    let mut read_pair = |img_path: &Path, lab_path: &Path| -> Result<Vec<usize>, DataError> {
        let img_dims = read_idx_append(img_path, &mut pixels)?;
        let lab_dims = read_idx_append(lab_path, &mut label_bytes)?;
        if img_dims.len() != 3 || lab_dims.len() != 1 || img_dims[0] != lab_dims[0] {
            return Err(DataError::Idx {
                path: img_path.to_path_buf(),
                reason: format!(
                    "images {img_dims:?} and labels {lab_dims:?} do not match (expected [n, rows, cols] and [n] with the same n)"
                ),
            });
        }
        Ok(img_dims)
    };
    let dims = read_pair(images, labels)?;
    let source_test_start = match &test {
        Some((ti, tl)) => {
            let test_dims = read_pair(ti, tl)?;
            if dims[1..] != test_dims[1..] {
                return Err(DataError::Idx {
                    path: ti.clone(),
                    reason: format!(
                        "test images are {}×{} but training images are {}×{}",
                        test_dims[1], test_dims[2], dims[1], dims[2]
                    ),
                });
            }
            Some(dims[0])
        }
        None => None,
    };
    let names: Vec<String> = {
        let max = label_bytes.iter().copied().max().unwrap_or(0);
        (0..=max).map(|d| d.to_string()).collect()
    };
    if names.len() < 2 {
        return Err(DataError::Idx {
            path: labels.to_path_buf(),
            reason: "all labels are the same: a classifier needs at least two classes".into(),
        });
    }
    Ok(RawData {
        origins: Default::default(),
        sample_shape: vec![1, dims[1], dims[2]],
        features: Features::U8(pixels),
        targets: Targets::Classes {
            labels: label_bytes.into_iter().map(u32::from).collect(),
            names,
        },
        feature_names: Vec::new(),
        source_test_start,
        vocab: None,
        notes: Vec::new(),
    })
}
