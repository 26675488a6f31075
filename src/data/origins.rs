//! Where each sample came from in the user's own files, so a report (the data map's CSV) can
//! point back at it: a data row of a table, an image's path, or simply its place.

use std::path::PathBuf;

#[derive(Clone, Debug, Default, PartialEq)]
pub enum Origins {
    /// The sample's place in the source (IDX files, text windows, generated sets).
    #[default]
    Position,
    /// A table's data row, counted from 0 after the header, per sample.
    Rows(Vec<u32>),
    /// An image file per sample.
    Files(Vec<PathBuf>),
}

impl Origins {
    /// Sample `i`'s place in its source, as a user would look for it.
    pub fn of(&self, i: usize) -> String {
        match self {
            Origins::Position => i.to_string(),
            Origins::Rows(rows) => rows.get(i).map_or(i.to_string(), |r| r.to_string()),
            Origins::Files(files) => files
                .get(i)
                .map_or(i.to_string(), |f| f.display().to_string()),
        }
    }
}
