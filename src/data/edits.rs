//! Changes a user made to single samples (from the data map): samples left out of training and
//! labels corrected. Kept in the project by each sample's place in the source (`Origins`), so
//! they survive reloading and reach every run, the CLI's included.

use super::{DataError, Origins, Targets};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SampleEdits {
    /// Places (as `Origins::of` writes them) of samples kept out of training.
    pub excluded: Vec<String>,
    /// (place, class name) of samples whose label was corrected.
    pub relabelled: Vec<(String, String)>,
}

impl SampleEdits {
    pub fn is_empty(&self) -> bool {
        self.excluded.is_empty() && self.relabelled.is_empty()
    }

    /// How many samples the edits touch, for a line of text.
    pub fn summary(&self) -> String {
        format!(
            "{} sample(s) kept out of training, {} relabelled",
            self.excluded.len(),
            self.relabelled.len()
        )
    }

    /// Sample `place` left out of training (or back in, when it was already out).
    pub fn toggle_excluded(&mut self, place: &str) {
        match self.excluded.iter().position(|p| p == place) {
            Some(i) => {
                self.excluded.remove(i);
            }
            None => self.excluded.push(place.to_string()),
        }
    }

    /// Sample `place`'s label set to `class` (replacing an earlier correction).
    pub fn relabel(&mut self, place: &str, class: &str) {
        self.relabelled.retain(|(p, _)| p != place);
        self.relabelled.push((place.to_string(), class.to_string()));
    }

    /// Applies the edits to a loaded data set: relabels in `targets`, drops excluded samples
    /// from `train`. Returns a note for the user; an unknown class name is an error, a place
    /// the data no longer has is counted in the note.
    pub(super) fn apply(
        &self,
        origins: &Origins,
        targets: &mut Targets,
        train: &mut Vec<usize>,
        n: usize,
    ) -> Result<Option<String>, DataError> {
        if self.is_empty() {
            return Ok(None);
        }
        let place: HashMap<String, usize> = (0..n).map(|i| (origins.of(i), i)).collect();
        let mut missing = 0;
        if !self.relabelled.is_empty() {
            let Targets::Classes { labels, names } = targets else {
                return Err(DataError::Settings(
                    "labels can be corrected only for class targets".into(),
                ));
            };
            for (p, class) in &self.relabelled {
                let Some(c) = names.iter().position(|n| n == class) else {
                    return Err(DataError::Settings(format!(
                        "sample {p} is relabelled as '{class}', which is not a class of this data ({})",
                        names.join(", ")
                    )));
                };
                match place.get(p) {
                    Some(&i) => labels[i] = c as u32,
                    None => missing += 1,
                }
            }
        }
        let out: std::collections::HashSet<usize> = self
            .excluded
            .iter()
            .filter_map(|p| {
                let i = place.get(p).copied();
                missing += usize::from(i.is_none());
                i
            })
            .collect();
        train.retain(|i| !out.contains(i));
        let mut note = format!("data map edits: {}", self.summary());
        if missing > 0 {
            note.push_str(&format!(
                " ({missing} name a sample this data no longer has)"
            ));
        }
        Ok(Some(note))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_samples_leave_training_and_relabels_change_labels() {
        let mut targets = Targets::Classes {
            labels: vec![0, 0, 1, 1],
            names: vec!["a".into(), "b".into()],
        };
        let mut train = vec![0, 1, 2, 3];
        let origins = Origins::Rows(vec![10, 11, 12, 13]);
        let mut e = SampleEdits::default();
        e.toggle_excluded("11");
        e.relabel("12", "a");
        e.relabel("99", "b");
        let note = e.apply(&origins, &mut targets, &mut train, 4).unwrap();
        assert_eq!(train, [0, 2, 3]);
        let Targets::Classes { labels, .. } = &targets else {
            unreachable!()
        };
        assert_eq!(labels, &[0, 0, 0, 1]);
        assert!(note.unwrap().contains("1 name a sample"));
        e.toggle_excluded("11");
        assert!(e.excluded.is_empty());
        e.relabel("12", "zebra");
        let err = e.apply(&origins, &mut targets, &mut train, 4).unwrap_err();
        assert!(err.to_string().contains("'zebra'"), "{err}");
    }
}
