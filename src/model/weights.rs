//! Trained weights as plain data (no candle tensors), saved and loaded as safetensors.

use crate::fsutil::write_atomic;
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Clone, Debug, PartialEq)]
pub struct WeightTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Named tensors, keyed like the model's variables ("fc1.weight", "bn1.running_mean").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    pub tensors: BTreeMap<String, WeightTensor>,
}

impl WeightTensor {
    /// The tensor on the CPU, in `dtype` (a model's parameters may be f64 in gradient checks).
    pub fn to_tensor(&self, dtype: candle_core::DType) -> candle_core::Result<candle_core::Tensor> {
        candle_core::Tensor::from_vec(
            self.data.clone(),
            self.shape.clone(),
            &candle_core::Device::Cpu,
        )?
        .to_dtype(dtype)
    }
}

impl Weights {
    /// The tensors named in `names` (one network's share of a GAN's weights).
    pub fn only(&self, names: &[String]) -> Weights {
        Weights {
            tensors: self
                .tensors
                .iter()
                .filter(|(k, _)| names.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

#[derive(Debug, Error)]
pub enum WeightsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot save {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot save {path}: {reason}")]
    Serialize { path: PathBuf, reason: String },
    #[error("{path} is not a safetensors file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("the weights cannot be written as safetensors: {reason}")]
    Encode { reason: String },
}

impl View for &WeightTensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.data.iter().flat_map(|x| x.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.data.len() * 4
    }
}

impl Weights {
    pub fn param_count(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }

    /// The safetensors bytes; fails (naming the tensor) when a tensor's values do not fill its
    /// shape, which only weights built from a foreign file could bring.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WeightsError> {
        let mut meta = std::collections::HashMap::new();
        meta.insert("producer".to_string(), "glassbox".to_string());
        safetensors::serialize(self.tensors.iter(), Some(meta)).map_err(|e| WeightsError::Encode {
            reason: e.to_string(),
        })
    }

    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, WeightsError> {
        let format = |reason: String| WeightsError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| format(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(format(format!(
                    "tensor {name} is {:?}; Glassbox reads f32 weights",
                    view.dtype()
                )));
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(
                name,
                WeightTensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(Self { tensors })
    }

    /// Saves atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), WeightsError> {
        let bytes = self.to_bytes().map_err(|e| WeightsError::Serialize {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        write_atomic(path, &bytes).map_err(|source| WeightsError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values that do not fill their shape are refused with the file named, not a panic,
    /// and nothing is written.
    #[test]
    fn saving_a_tensor_shorter_than_its_shape_is_an_error() {
        let mut w = Weights {
            tensors: BTreeMap::new(),
        };
        w.tensors.insert(
            "bn.bias".into(),
            WeightTensor {
                shape: vec![4],
                data: vec![0.0; 3],
            },
        );
        let dir = std::env::temp_dir().join(format!("gb-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        let err = w.save(&path).unwrap_err();
        assert!(matches!(err, WeightsError::Serialize { .. }), "{err}");
        assert!(err.to_string().contains("w.safetensors"), "{err}");
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
