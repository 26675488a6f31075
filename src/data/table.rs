//! CSV tables: numeric feature columns and one target column.

use super::dataset::{Features, RawData, Targets};
use super::error::DataError;
use super::settings::Task;
use flate2::read::MultiGzDecoder;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

/// Most distinct whole-number targets that still count as classes under `Task::Auto`.
const MAX_AUTO_CLASSES: usize = 50;

pub fn read_csv(path: &Path, target: &str, task: Task) -> Result<RawData, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(MultiGzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    parse_csv(reader, path, target, task)
}

pub fn parse_csv(
    reader: impl Read,
    path: &Path,
    target: &str,
    task: Task,
) -> Result<RawData, DataError> {
    let table_err = |reason: String| DataError::Table {
        path: path.to_path_buf(),
        reason,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| table_err(format!("cannot read the header row: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(table_err(
            "the file is empty: it needs a header row and data rows".into(),
        ));
    }
    let Some(target_col) = headers.iter().position(|h| h == target) else {
        return Err(table_err(format!(
            "there is no column '{target}'; the columns are: {}",
            headers.join(", ")
        )));
    };
    if headers.len() < 2 {
        return Err(table_err(
            "the table has only the target column: it needs at least one feature column".into(),
        ));
    }
    let feature_names: Vec<String> = headers
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != target_col)
        .map(|(_, h)| h.clone())
        .collect();

    let mut features: Vec<f32> = Vec::new();
    let mut raw_targets: Vec<String> = Vec::new();
    for record in rdr.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            let reason = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("this row has {len} fields but the header has {expected_len}"),
                _ => e.to_string(),
            };
            DataError::Csv {
                path: path.to_path_buf(),
                line,
                column: "(row)".into(),
                reason,
            }
        })?;
        let line = record.position().map_or(0, |p| p.line());
        for (i, field) in record.iter().enumerate() {
            if i == target_col {
                raw_targets.push(field.to_string());
                continue;
            }
            let value: f32 = field.parse().map_err(|_| DataError::Csv {
                path: path.to_path_buf(),
                line,
                column: headers[i].clone(),
                reason: if field.is_empty() {
                    "the value is missing".into()
                } else {
                    format!("\"{field}\" is not a number")
                },
            })?;
            if !value.is_finite() {
                return Err(DataError::Csv {
                    path: path.to_path_buf(),
                    line,
                    column: headers[i].clone(),
                    reason: format!("\"{field}\" is not a finite number"),
                });
            }
            features.push(value);
        }
    }
    if raw_targets.is_empty() {
        return Err(table_err("the file has a header but no data rows".into()));
    }
    let targets = make_targets(&raw_targets, task, target).map_err(table_err)?;
    Ok(RawData {
        sample_shape: vec![feature_names.len()],
        features: Features::F32(features),
        targets,
        feature_names,
        source_test_start: None,
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
            let distinct: BTreeSet<i64> = v.iter().map(|&x| x as i64).collect();
            whole && distinct.len() <= MAX_AUTO_CLASSES
        }
    };
    if classes {
        // Numeric class names sort numerically ("2" before "10"); text sorts alphabetically.
        let mut names: Vec<String> = raw
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if let Some(v) = &numbers {
            let mut sorted: Vec<f64> = v.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            sorted.dedup();
            names = sorted.iter().map(|x| format_number(*x)).collect();
        }
        if names.len() < 2 {
            return Err(format!(
                "the target '{target}' has a single value ({}): there is nothing to learn; pick another target column",
                names.first().cloned().unwrap_or_default()
            ));
        }
        let labels = raw
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let key = match &numbers {
                    Some(v) => format_number(v[i]),
                    None => s.clone(),
                };
                names
                    .iter()
                    .position(|n| *n == key)
                    .expect("name set built from values") as u32
            })
            .collect();
        Ok(Targets::Classes { labels, names })
    } else {
        let values: Vec<f32> = numbers
            .expect("regression needs numbers")
            .into_iter()
            .map(|x| x as f32)
            .collect();
        Ok(Targets::Values {
            values,
            dim: 1,
            names: vec![target.to_string()],
        })
    }
}

fn format_number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}
