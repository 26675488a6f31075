//! CSV/TSV tables: delimiter and header detection, numeric and categorical (one-hot) columns,
//! missing values, and one target column.

use super::dataset::{Features, RawData, Targets};
use super::error::DataError;
use super::open::{io_error, open, read_bytes};
use super::settings::{ColumnKind, CsvOptions, MissingPolicy, Task};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

/// Most distinct whole-number targets that still count as classes under `Task::Auto`.
const MAX_AUTO_CLASSES: usize = 50;
/// A text column with more distinct values than this is left out unless set to categorical.
const MAX_AUTO_CATEGORIES: usize = 100;
/// Most distinct values a column set to categorical may have: each becomes a feature of its
/// own, so a column of unique ids would ask for rows × rows values.
pub const MAX_CATEGORIES: usize = 10_000;

/// The options, with a tab delimiter when none is set and the file is named `.tsv`.
fn with_tsv_default(path: &Path, options: &CsvOptions) -> CsvOptions {
    let mut opts = options.clone();
    if opts.delimiter.is_none() && path.to_string_lossy().contains(".tsv") {
        opts.delimiter = Some('\t');
    }
    opts
}

fn is_missing(s: &str) -> bool {
    matches!(s, "" | "NA" | "N/A" | "NaN" | "nan" | "null" | "NULL" | "?")
}

pub fn read_csv(
    path: &Path,
    target: &str,
    task: Task,
    options: &CsvOptions,
) -> Result<RawData, DataError> {
    let bytes = read_bytes(path)?;
    parse_csv_with(&bytes, path, target, task, &with_tsv_default(path, options))
}

/// Parses CSV text with detected settings (comma or tab, header if the first row is not all
/// numbers, column types from their values).
pub fn parse_csv(
    reader: impl Read,
    path: &Path,
    target: &str,
    task: Task,
) -> Result<RawData, DataError> {
    let mut bytes = Vec::new();
    let mut reader = reader;
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    parse_csv_with(&bytes, path, target, task, &CsvOptions::default())
}

/// The separator that splits the first line most often.
pub fn detect_delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    [b',', b'\t', b';', b'|']
        .into_iter()
        .max_by_key(|d| first.iter().filter(|b| *b == d).count())
        .unwrap_or(b',')
}

/// Rows of a table as strings, with the line each came from.
pub struct RawTable {
    pub headers: Vec<String>,
    pub rows: Vec<(u64, Vec<String>)>,
}

/// Splits the file into a header and rows; every row must have as many fields as the header.
pub fn read_table(bytes: &[u8], path: &Path, options: &CsvOptions) -> Result<RawTable, DataError> {
    let table_err = |reason: String| DataError::Table {
        path: path.to_path_buf(),
        reason,
    };
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(table_err(format!(
            "the file is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.valid_up_to()
        )));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(table_err(
            "the file is empty: it needs a header row and data rows".into(),
        ));
    }
    let delimiter = options
        .delimiter
        .map_or_else(|| detect_delimiter(bytes), |c| c as u8);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut records = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| DataError::Csv {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            column: "(row)".into(),
            reason: e.to_string(),
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(str::is_empty) {
            continue;
        }
        records.push((line, rec.iter().map(str::to_string).collect::<Vec<_>>()));
    }
    let Some((_, first)) = records.first().cloned() else {
        return Err(table_err(
            "the file is empty: it needs a header row and data rows".into(),
        ));
    };
    let has_header = options
        .has_header
        .unwrap_or_else(|| first.iter().any(|f| f.parse::<f64>().is_err()));
    let headers: Vec<String> = if has_header {
        records.remove(0);
        first
    } else {
        (0..first.len()).map(|i| format!("column_{i}")).collect()
    };
    for (line, row) in &records {
        if row.len() != headers.len() {
            return Err(DataError::Csv {
                path: path.to_path_buf(),
                line: *line,
                column: "(row)".into(),
                reason: format!(
                    "this row has {} fields but the header has {}",
                    row.len(),
                    headers.len()
                ),
            });
        }
    }
    Ok(RawTable {
        headers,
        rows: records,
    })
}

/// How each column is used: an override, else numbers if at least half the present values are
/// numbers, else categories (unless there are too many distinct values).
fn column_kinds(
    table: &RawTable,
    target_col: usize,
    options: &CsvOptions,
    notes: &mut Vec<String>,
) -> Vec<ColumnKind> {
    table
        .headers
        .iter()
        .enumerate()
        .map(|(c, name)| {
            if c == target_col {
                return ColumnKind::Ignore;
            }
            if let Some(k) = options.columns.get(name) {
                return *k;
            }
            let present: Vec<&str> = table.rows.iter().map(|(_, r)| r[c].as_str()).filter(|v| !is_missing(v)).collect();
            let numbers = present.iter().filter(|v| v.parse::<f64>().is_ok()).count();
            if present.is_empty() {
                notes.push(format!("column '{name}' is empty and is left out"));
                ColumnKind::Ignore
            } else if numbers * 2 >= present.len() {
                ColumnKind::Numeric
            } else {
                let distinct: BTreeSet<&str> = present.iter().copied().collect();
                if distinct.len() > MAX_AUTO_CATEGORIES {
                    notes.push(format!(
                        "column '{name}' has {} different text values and is left out (set it to categorical to use it)",
                        distinct.len()
                    ));
                    ColumnKind::Ignore
                } else {
                    ColumnKind::Categorical
                }
            }
        })
        .collect()
}

pub fn parse_csv_with(
    bytes: &[u8],
    path: &Path,
    target: &str,
    task: Task,
    options: &CsvOptions,
) -> Result<RawData, DataError> {
    let table_err = |reason: String| DataError::Table {
        path: path.to_path_buf(),
        reason,
    };
    let table = read_table(bytes, path, options)?;
    let Some(target_col) = table.headers.iter().position(|h| h == target) else {
        return Err(table_err(format!(
            "there is no column '{target}'; the columns are: {}",
            table.headers.join(", ")
        )));
    };
    if table.headers.len() < 2 {
        return Err(table_err(
            "the table has only the target column: it needs at least one feature column".into(),
        ));
    }
    if table.rows.is_empty() {
        return Err(table_err("the file has a header but no data rows".into()));
    }
    let mut notes = Vec::new();
    let kinds = column_kinds(&table, target_col, options, &mut notes);
    let used: Vec<usize> = (0..table.headers.len())
        .filter(|&c| kinds[c] != ColumnKind::Ignore)
        .collect();
    if used.is_empty() {
        return Err(table_err(
            "no feature column is left: every column other than the target is ignored".into(),
        ));
    }

    // Parse numbers (an error names the line and column), note missing values.
    let mut numeric: BTreeMap<usize, Vec<Option<f64>>> = BTreeMap::new();
    for &c in used.iter().filter(|&&c| kinds[c] == ColumnKind::Numeric) {
        let mut col = Vec::with_capacity(table.rows.len());
        for (line, row) in &table.rows {
            let v = &row[c];
            if is_missing(v) {
                col.push(None);
                continue;
            }
            let x: f64 = v.parse().map_err(|_| DataError::Csv {
                path: path.to_path_buf(),
                line: *line,
                column: table.headers[c].clone(),
                reason: format!(
                    "\"{v}\" is not a number, but the column holds numbers (set it to categorical if it is text)"
                ),
            })?;
            if !x.is_finite() {
                return Err(DataError::Csv {
                    path: path.to_path_buf(),
                    line: *line,
                    column: table.headers[c].clone(),
                    reason: format!("\"{v}\" is not a finite number"),
                });
            }
            col.push(Some(x));
        }
        numeric.insert(c, col);
    }

    // Rows to keep: the target must be there; other missing values per the policy.
    let mut keep = Vec::with_capacity(table.rows.len());
    let (mut no_target, mut dropped, mut first_missing) = (0usize, 0usize, None);
    for (r, (line, row)) in table.rows.iter().enumerate() {
        if is_missing(&row[target_col]) {
            no_target += 1;
            continue;
        }
        let missing_col = used.iter().find(|&&c| is_missing(&row[c]));
        if let Some(&c) = missing_col {
            first_missing.get_or_insert((*line, table.headers[c].clone()));
            if options.missing == MissingPolicy::DropRow {
                dropped += 1;
                continue;
            }
        }
        keep.push(r);
    }
    if no_target > 0 {
        notes.push(format!(
            "{no_target} row(s) without a target value were left out"
        ));
    }
    if keep.is_empty() {
        let (line, col) = first_missing.unwrap_or((0, target.to_string()));
        return Err(table_err(format!(
            "every row has a missing value (the first: line {line}, column '{col}'); choose 'fill with mean' for missing values"
        )));
    }
    if dropped > 0 {
        notes.push(format!(
            "{dropped} row(s) with missing values were left out"
        ));
    }

    // Features: numbers as they are (missing → mean), categories one-hot (missing → most common).
    let mut feature_names = Vec::new();
    let mut columns: Vec<Vec<f32>> = Vec::new();
    for &c in &used {
        let name = &table.headers[c];
        match kinds[c] {
            ColumnKind::Numeric => {
                let col = &numeric[&c];
                let present: Vec<f64> = keep.iter().filter_map(|&r| col[r]).collect();
                let mean = present.iter().sum::<f64>() / present.len().max(1) as f64;
                columns.push(
                    keep.iter()
                        .map(|&r| col[r].unwrap_or(mean) as f32)
                        .collect(),
                );
                feature_names.push(name.clone());
            }
            ColumnKind::Categorical => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for &r in &keep {
                    let v = table.rows[r].1[c].as_str();
                    if !is_missing(v) {
                        *counts.entry(v).or_default() += 1;
                    }
                }
                if counts.len() > MAX_CATEGORIES {
                    return Err(table_err(format!(
                        "column '{name}' has {} different values, and one-hot encoding makes a feature of each: at most {MAX_CATEGORIES} are allowed (leave the column out, or set it to numeric)",
                        counts.len()
                    )));
                }
                let common = counts
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(v, _)| *v)
                    .unwrap_or("");
                for cat in counts.keys() {
                    columns.push(
                        keep.iter()
                            .map(|&r| {
                                let v = table.rows[r].1[c].as_str();
                                let v = if is_missing(v) { common } else { v };
                                f32::from(u8::from(v == *cat))
                            })
                            .collect(),
                    );
                    feature_names.push(format!("{name}={cat}"));
                }
            }
            ColumnKind::Ignore => {}
        }
    }
    let n = keep.len();
    let width = columns.len();
    let mut features = Vec::with_capacity(n * width);
    for i in 0..n {
        features.extend(columns.iter().map(|col| col[i]));
    }
    let raw_targets: Vec<String> = keep
        .iter()
        .map(|&r| table.rows[r].1[target_col].clone())
        .collect();
    let targets = make_targets(&raw_targets, task, target).map_err(table_err)?;
    Ok(RawData {
        origins: super::Origins::Rows(keep.iter().map(|&r| r as u32).collect()),
        sample_shape: vec![width],
        features: Features::F32(features),
        targets,
        feature_names,
        source_test_start: None,
        vocab: None,
        notes,
    })
}

fn make_targets(raw: &[String], task: Task, target: &str) -> Result<Targets, String> {
    let numbers: Option<Vec<f64>> = raw.iter().map(|s| s.parse::<f64>().ok()).collect();
    let classes = match (task, &numbers) {
        (Task::Classification, _) => true,
        (Task::Regression, None) => {
            return Err(format!(
                "the target '{target}' has text values, so it cannot be a regression target"
            ))
        }
        (Task::Regression, Some(_)) => false,
        (Task::Auto, None) => true,
        (Task::Auto, Some(v)) => {
            let whole = v.iter().all(|x| x.fract() == 0.0);
            // By bit pattern, not `as i64`: that saturates, and would count 1e19 and 2e19 as one.
            let distinct: BTreeSet<u64> = v.iter().map(|&x| (x + 0.0).to_bits()).collect();
            whole && distinct.len() <= MAX_AUTO_CLASSES
        }
    };
    if classes {
        // Numeric class names sort numerically ("2" before "10"); text sorts alphabetically.
        let key = |i: usize| match &numbers {
            Some(v) => format_number(v[i]),
            None => raw[i].clone(),
        };
        let names: Vec<String> = match &numbers {
            Some(v) => {
                let mut sorted = v.clone();
                sorted.sort_by(|a, b| a.total_cmp(b));
                sorted.dedup();
                sorted.iter().map(|x| format_number(*x)).collect()
            }
            None => raw
                .iter()
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        if names.len() < 2 {
            return Err(format!(
                "the target '{target}' has a single value ({}): there is nothing to learn; pick another target column",
                names.first().cloned().unwrap_or_default()
            ));
        }
        let index: BTreeMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u32))
            .collect();
        let labels = (0..raw.len()).map(|i| index[key(i).as_str()]).collect();
        Ok(Targets::Classes { labels, names })
    } else {
        let values: Vec<f32> = numbers
            .expect("regression needs numbers")
            .into_iter()
            .map(|x| x as f32)
            .collect();
        let distinct: BTreeSet<u32> = values.iter().map(|v| v.to_bits()).collect();
        if distinct.len() < 2 {
            return Err(format!(
                "the target '{target}' has a single value: there is nothing to learn; pick another target column"
            ));
        }
        Ok(Targets::Values {
            values,
            dim: 1,
            names: vec![target.to_string()],
        })
    }
}

/// A class name for a number: whole numbers without ".0" ("10", not "10.0"). Whole numbers
/// past 2^53 are written by f64's own formatting, which keeps them apart (`as i64` would
/// saturate, and two classes would share one name).
fn format_number(x: f64) -> String {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if x.fract() == 0.0 && x.abs() < EXACT {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// The column a table most likely predicts, by name alone: one named like a label (label,
/// target, class, y, …; any case), else the last.
pub fn guess_target(columns: &[String]) -> Option<String> {
    named_target(columns).or_else(|| columns.last().cloned())
}

/// The column a table most likely predicts, judged from its rows too: one named like a label;
/// else the one column that holds text (the usual class column, wherever it stands); else the
/// last column.
pub fn guess_target_in(table: &RawTable) -> Option<String> {
    if let Some(named) = named_target(&table.headers) {
        return Some(named);
    }
    let text: Vec<usize> = (0..table.headers.len())
        .filter(|&c| holds_text(table, c))
        .collect();
    match text[..] {
        [c] => Some(table.headers[c].clone()),
        _ => table.headers.last().cloned(),
    }
}

fn named_target(columns: &[String]) -> Option<String> {
    const NAMES: [&str; 12] = [
        "label",
        "labels",
        "target",
        "class",
        "classes",
        "y",
        "category",
        "species",
        "outcome",
        "output",
        "result",
        "diagnosis",
    ];
    columns
        .iter()
        .find(|c| NAMES.contains(&c.trim().to_lowercase().as_str()))
        .cloned()
}

/// Whether column `c` has a value and none of its values reads as a number.
fn holds_text(table: &RawTable, c: usize) -> bool {
    let mut present = table
        .rows
        .iter()
        .map(|(_, r)| r[c].trim())
        .filter(|v| !is_missing(v))
        .peekable();
    present.peek().is_some() && present.all(|v| v.parse::<f64>().is_err())
}

/// Column names of a table file, read from its first rows only (for pickers in the UI).
pub fn peek_columns(path: &Path) -> Result<Vec<String>, DataError> {
    Ok(peek_table(path)?.headers)
}

/// The likeliest target of a table file (`guess_target_in` over its first rows).
pub fn peek_target(path: &Path) -> Result<Option<String>, DataError> {
    Ok(guess_target_in(&peek_table(path)?))
}

/// A table file's header and first rows (its first 64 KiB, whole lines).
fn peek_table(path: &Path) -> Result<RawTable, DataError> {
    let mut head = Vec::new();
    open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .map_err(io_error(path))?;
    // Keep whole lines only.
    if let Some(end) = head.iter().rposition(|&b| b == b'\n') {
        head.truncate(end + 1);
    }
    let opts = with_tsv_default(path, &CsvOptions::default());
    read_table(&head, path, &opts)
}
