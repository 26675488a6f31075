//! Transfer learning: weights from another network loaded wherever a tensor of the same name
//! (node id + parameter) and shape exists; everything else keeps its fresh initial values.

use super::build::{Model, ModelError};
use super::weights::Weights;
use std::fmt;

/// What a transfer did, tensor by tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TransferReport {
    /// Tensors taken from the file.
    pub loaded: Vec<String>,
    /// Tensors of this network the file has under the same name but with another shape:
    /// (name, shape in the file, shape here). They stay freshly initialised.
    pub skipped: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// Tensors of this network the file does not have: freshly initialised.
    pub fresh: Vec<String>,
    /// Tensors of the file this network has no place for.
    pub unused: Vec<String>,
}

impl TransferReport {
    /// Nothing was taken from the file.
    pub fn is_empty(&self) -> bool {
        self.loaded.is_empty()
    }
}

impl fmt::Display for TransferReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} tensor(s) loaded, {} skipped, {} freshly initialised",
            self.loaded.len(),
            self.skipped.len(),
            self.fresh.len()
        )?;
        if !self.skipped.is_empty() {
            let list: Vec<String> = self
                .skipped
                .iter()
                .map(|(n, file, here)| format!("{n}: {file:?} in the file, {here:?} here"))
                .collect();
            write!(f, " (skipped: {})", list.join("; "))?;
        }
        if !self.unused.is_empty() {
            write!(f, "; {} tensor(s) of the file unused", self.unused.len())?;
        }
        Ok(())
    }
}

impl Model {
    /// Loads every tensor of `weights` that fits this network by name and shape.
    pub fn load_matching(&self, weights: &Weights) -> Result<TransferReport, ModelError> {
        let mut report = TransferReport::default();
        let vars = self.store().all();
        for (name, var) in &vars {
            match weights.tensors.get(name) {
                Some(t) if t.shape == var.dims() => {
                    var.set(&t.to_tensor(var.dtype())?)?;
                    report.loaded.push(name.clone());
                }
                Some(t) => {
                    report
                        .skipped
                        .push((name.clone(), t.shape.clone(), var.dims().to_vec()))
                }
                None => report.fresh.push(name.clone()),
            }
        }
        report.unused = weights
            .tensors
            .keys()
            .filter(|k| !vars.iter().any(|(n, _)| n == *k))
            .cloned()
            .collect();
        Ok(report)
    }
}
