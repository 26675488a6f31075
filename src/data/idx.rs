//! IDX files (MNIST's format), optionally gzip-compressed.

use super::error::DataError;
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::Path;

/// Raw IDX content: unsigned bytes and the dimensions from the header.
#[derive(Debug)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    if is_gz {
        MultiGzDecoder::new(std::io::BufReader::new(file))
            .read_to_end(&mut bytes)
            .map_err(io)?;
    } else {
        std::io::BufReader::new(file)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    parse_idx(&bytes).map_err(|reason| DataError::Idx {
        path: path.to_path_buf(),
        reason,
    })
}

pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err("the file is shorter than its 4-byte header".into());
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err("the magic number does not start with two zero bytes".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            bytes[2]
        ));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if rank == 0 || bytes.len() < header {
        return Err(format!(
            "the header declares {rank} dimensions but is cut short"
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected: usize = dims.iter().product();
    let body = &bytes[header..];
    if body.len() != expected {
        return Err(format!(
            "the header promises {expected} values ({dims:?}) but the file holds {}",
            body.len()
        ));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}
