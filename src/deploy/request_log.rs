//! The served model's request log: one JSON line per request (time, the inputs or their hash,
//! the predictions, the latency), rotated by size, so real traffic can be relabelled and trained
//! on (`glassbox import-log`).

use super::predict::{PredictInput, PredictOutput};
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where and how a server logs its requests.
#[derive(Clone, Debug, PartialEq)]
pub struct LogSettings {
    pub path: PathBuf,
    /// Write the inputs themselves (else a hash of each: no data kept, still countable).
    pub inputs: bool,
    /// Size from which the file is moved to `<path>.1` (replacing an older one) and restarted.
    pub max_bytes: u64,
}

pub struct RequestLog {
    settings: LogSettings,
    file: BufWriter<File>,
    written: u64,
}

fn open(path: &Path) -> std::io::Result<(BufWriter<File>, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let len = file.metadata()?.len();
    Ok((BufWriter::new(file), len))
}

/// FNV-1a (64 bit) of an input's JSON: the same input logs the same hash.
fn hash(v: &Value) -> String {
    crate::fsutil::fnv64_hex(v.to_string().as_bytes())
}

impl RequestLog {
    pub fn open(settings: LogSettings) -> std::io::Result<Self> {
        let (file, written) = open(&settings.path)?;
        Ok(Self {
            settings,
            file,
            written,
        })
    }

    /// Appends one request; rotates first when the file has reached its size.
    pub fn write(
        &mut self,
        inputs: &[PredictInput],
        outputs: &[PredictOutput],
        latency_ms: f64,
    ) -> std::io::Result<()> {
        if self.written >= self.settings.max_bytes.max(1) {
            self.rotate()?;
        }
        let inputs: Vec<Value> = inputs
            .iter()
            .map(|i| match i {
                PredictInput::Values(v) => json!(v),
                PredictInput::Text(t) => json!(t),
            })
            .collect();
        let time_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut line = json!({
            "time": time_s,
            "predictions": outputs.iter().map(|o| json!({
                "label": o.label,
                "output": o.values,
            })).collect::<Vec<_>>(),
            "latency_ms": latency_ms,
        });
        if self.settings.inputs {
            line["inputs"] = json!(inputs);
        } else {
            line["input_hashes"] = json!(inputs.iter().map(hash).collect::<Vec<_>>());
        }
        let mut text = line.to_string();
        text.push('\n');
        self.file.write_all(text.as_bytes())?;
        self.file.flush()?;
        self.written += text.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let mut old = self.settings.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.settings.path, PathBuf::from(old))?;
        let (file, written) = open(&self.settings.path)?;
        self.file = file;
        self.written = written;
        Ok(())
    }
}

/// A logged request's inputs and predicted labels, read back (`import-log`).
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedInput {
    pub input: Value,
    pub predicted: Option<String>,
}

/// The inputs of a request log, with a line for each that could not be read (its number and
/// why); lines that logged only hashes are counted, not imported.
pub fn read_log(text: &str) -> (Vec<LoggedInput>, Vec<String>, usize) {
    let (mut out, mut bad, mut hashed) = (Vec::new(), Vec::new(), 0);
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                bad.push(format!("line {} is not JSON ({e})", n + 1));
                continue;
            }
        };
        let Some(inputs) = v.get("inputs").and_then(Value::as_array) else {
            if v.get("input_hashes").is_some() {
                hashed += 1;
            } else {
                bad.push(format!("line {} has no \"inputs\" list", n + 1));
            }
            continue;
        };
        let preds = v.get("predictions").and_then(Value::as_array);
        for (k, input) in inputs.iter().enumerate() {
            let pred = preds.and_then(|p| p.get(k));
            let predicted = pred
                .and_then(|p| p.get("label"))
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| {
                    let first = pred?.get("output")?.as_array()?.first()?.as_f64()?;
                    Some(first.to_string())
                });
            out.push(LoggedInput {
                input: input.clone(),
                predicted,
            });
        }
    }
    (out, bad, hashed)
}
