//! A run's folder beside its project: `run.json` (what ran and how it ended), `project.json`
//! (the exact project), `scalars.csv` (every figure by step), `best.safetensors` and
//! `last.safetensors`. Listing never fails on one bad folder: it is skipped with a reason.

use crate::fsutil::write_atomic;
use crate::project::Project;
use crate::train::TrainSettings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const META_FILE: &str = "run.json";
pub const PROJECT_FILE: &str = "project.json";
pub const SCALARS_FILE: &str = "scalars.csv";
pub const BEST_WEIGHTS: &str = "best.safetensors";
pub const LAST_WEIGHTS: &str = "last.safetensors";
/// The run.json layout this build writes; newer ones are listed as unreadable.
pub const META_FORMAT: u32 = 1;

#[derive(Debug, Error)]
pub enum RunsError {
    #[error("cannot write the run folder {dir}: {source}")]
    Write {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is damaged: {why}")]
    Damaged { path: PathBuf, why: String },
    #[error("{0}")]
    Spec(String),
}

/// How a run ended, as its folder says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    /// Still training, or killed mid-way (see `RunRecord::incomplete`).
    Running,
    Finished,
    /// Early stopping ended it; it counts as finished.
    EarlyStopped,
    Stopped,
    Failed,
    Diverged,
}

/// Final (or latest) figures of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunFigures {
    pub epochs_done: usize,
    pub steps_done: usize,
    pub train_loss: Option<f32>,
    pub val_loss: Option<f32>,
    pub val_accuracy: Option<f32>,
    pub test_loss: Option<f32>,
    pub test_accuracy: Option<f32>,
    /// A regression's validation and test R², and test RMSE (target units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_r2: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_r2: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_rmse: Option<f32>,
    /// Best epoch by the watched validation figure (1-based) and its value.
    pub best_epoch: Option<usize>,
    pub best_value: Option<f64>,
    pub elapsed_s: f64,
    pub params: usize,
}

/// Everything `run.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunMeta {
    pub format: u32,
    pub label: String,
    pub project_name: String,
    pub status: RunStatus,
    /// Why it failed or diverged.
    pub reason: Option<String>,
    /// The process that writes the folder while it is Running.
    pub pid: u32,
    pub started_unix_s: f64,
    pub updated_unix_s: f64,
    pub ended_unix_s: Option<f64>,
    /// FNV-1a of the graph, to tell at a glance which runs share a network.
    pub graph_hash: String,
    pub training: TrainSettings,
    /// The settings a sweep chose for this run, by name.
    pub params: BTreeMap<String, serde_json::Value>,
    pub sweep: Option<String>,
    pub notes: String,
    pub tags: Vec<String>,
    pub figures: RunFigures,
}

impl Default for RunMeta {
    fn default() -> Self {
        Self {
            format: META_FORMAT,
            label: String::new(),
            project_name: String::new(),
            status: RunStatus::Running,
            reason: None,
            pid: 0,
            started_unix_s: 0.0,
            updated_unix_s: 0.0,
            ended_unix_s: None,
            graph_hash: String::new(),
            training: TrainSettings::default(),
            params: BTreeMap::new(),
            sweep: None,
            notes: String::new(),
            tags: Vec::new(),
            figures: RunFigures::default(),
        }
    }
}

pub fn unix_now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub fn graph_hash(project: &Project) -> String {
    crate::fsutil::fnv64_hex(
        serde_json::to_string(&project.graph)
            .unwrap_or_default()
            .as_bytes(),
    )
}

/// Where a project's runs live: `<dir>/<stem>.runs/` beside a saved project; under
/// `fallback_dir/runs/<name>/` for an unsaved one.
pub fn runs_dir(project_path: Option<&Path>, project_name: &str, fallback_dir: &Path) -> PathBuf {
    match project_path {
        Some(p) => {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "project".into());
            p.with_file_name(format!("{stem}.runs"))
        }
        None => fallback_dir.join("runs").join(slug(project_name)),
    }
}

/// A file-name-safe version of `s` (lower case, dashes).
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "untitled".into()
    } else {
        out.chars().take(60).collect()
    }
}

/// One run's folder, open for writing.
#[derive(Clone, Debug)]
pub struct RunFolder {
    pub dir: PathBuf,
    pub meta: RunMeta,
}

impl RunFolder {
    /// Makes a new folder under `root` named after the time and `label`, and writes the
    /// project and a Running `run.json` into it.
    pub fn create(root: &Path, project: &Project, label: &str) -> Result<Self, RunsError> {
        std::fs::create_dir_all(root).map_err(|e| write_error(root, e))?;
        let now = unix_now_s();
        let stamp = utc_stamp(now);
        let base = format!("{stamp}-{}", slug(label));
        let mut dir = root.join(&base);
        let mut n = 2;
        // create_dir (not _all) fails when it exists, so two runs never share a folder.
        while let Err(e) = std::fs::create_dir(&dir) {
            if e.kind() != std::io::ErrorKind::AlreadyExists || n > 999 {
                return Err(write_error(&dir, e));
            }
            dir = root.join(format!("{base}-{n}"));
            n += 1;
        }
        project
            .save(&dir.join(PROJECT_FILE))
            .map_err(|e| write_error(&dir, std::io::Error::other(e.to_string())))?;
        let meta = RunMeta {
            label: label.to_string(),
            project_name: project.name.clone(),
            pid: std::process::id(),
            started_unix_s: now,
            updated_unix_s: now,
            graph_hash: graph_hash(project),
            training: project.training.clone(),
            ..Default::default()
        };
        let folder = Self { dir, meta };
        folder.write_meta()?;
        Ok(folder)
    }

    pub fn id(&self) -> String {
        folder_id(&self.dir)
    }

    pub fn write_meta(&self) -> Result<(), RunsError> {
        write_meta(&self.dir, &self.meta)
    }
}

pub(super) fn write_error(dir: &Path, source: std::io::Error) -> RunsError {
    RunsError::Write {
        dir: dir.to_path_buf(),
        source,
    }
}

pub fn write_meta(dir: &Path, meta: &RunMeta) -> Result<(), RunsError> {
    let json = serde_json::to_vec_pretty(meta).expect("plain data serialises");
    write_atomic(&dir.join(META_FILE), &json).map_err(|e| write_error(dir, e))
}

fn folder_id(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `20261201-190203` (UTC) for a unix time.
pub fn utc_stamp(unix_s: f64) -> String {
    let secs = unix_s.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A listed run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub dir: PathBuf,
    pub id: String,
    pub meta: RunMeta,
    /// It says Running but the process writing it is gone: killed or crashed mid-way.
    pub incomplete: bool,
}

impl RunRecord {
    pub fn status_label(&self) -> &'static str {
        if self.incomplete {
            return "incomplete";
        }
        match self.meta.status {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::EarlyStopped => "early-stopped",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
            RunStatus::Diverged => "diverged",
        }
    }

    pub fn project(&self) -> Result<Project, RunsError> {
        let path = self.dir.join(PROJECT_FILE);
        Project::load(&path).map_err(|e| RunsError::Damaged {
            path,
            why: e.to_string(),
        })
    }

    /// The best weights where saved, else the last.
    pub fn weights_path(&self) -> Option<PathBuf> {
        [BEST_WEIGHTS, LAST_WEIGHTS]
            .into_iter()
            .map(|f| self.dir.join(f))
            .find(|p| p.exists())
    }

    pub fn save_notes(&mut self, notes: &str, tags: Vec<String>) -> Result<(), RunsError> {
        // Re-read first: the run may still be writing its own figures.
        if let Ok(fresh) = read_meta(&self.dir) {
            self.meta = fresh;
        }
        self.meta.notes = notes.to_string();
        self.meta.tags = tags;
        write_meta(&self.dir, &self.meta)
    }
}

/// What a runs folder holds: the readable runs, newest first, and a line for each skipped one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    pub runs: Vec<RunRecord>,
    pub skipped: Vec<String>,
}

pub fn read_meta(dir: &Path) -> Result<RunMeta, RunsError> {
    let path = dir.join(META_FILE);
    let bytes = std::fs::read(&path).map_err(|source| RunsError::Read {
        path: path.clone(),
        source,
    })?;
    let meta: RunMeta = serde_json::from_slice(&bytes).map_err(|e| RunsError::Damaged {
        path: path.clone(),
        why: e.to_string(),
    })?;
    if meta.format > META_FORMAT {
        return Err(RunsError::Damaged {
            path,
            why: format!(
                "format {} is newer than this Glassbox reads ({META_FORMAT})",
                meta.format
            ),
        });
    }
    Ok(meta)
}

/// Every run under `root` (none when it does not exist).
pub fn list(root: &Path) -> Listing {
    let mut out = Listing::default();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let id = folder_id(&dir);
        if id.starts_with('.') {
            continue;
        }
        match read_meta(&dir) {
            Ok(meta) => {
                let incomplete = meta.status == RunStatus::Running && !process_alive(meta.pid);
                out.runs.push(RunRecord {
                    dir,
                    id,
                    meta,
                    incomplete,
                });
            }
            Err(e) => out.skipped.push(format!("skipped run folder {id}: {e}")),
        }
    }
    out.runs.sort_by(|a, b| {
        b.meta
            .started_unix_s
            .total_cmp(&a.meta.started_unix_s)
            .then_with(|| b.id.cmp(&a.id))
    });
    out
}

/// Whether process `pid` still runs (unix); elsewhere a Running folder counts as live.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // Signal 0 checks for existence; EPERM means it exists under another user.
        // SAFETY: kill with signal 0 sends nothing.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_slugs() {
        assert_eq!(utc_stamp(0.0), "19700101-000000");
        assert_eq!(utc_stamp(1_796_151_723.0), "20261201-190203");
        assert_eq!(slug("MLP on MNIST (lr=0.01)"), "mlp-on-mnist-lr-0.01");
        assert_eq!(slug("///"), "untitled");
    }

    #[test]
    fn runs_dir_sits_beside_a_saved_project() {
        let d = runs_dir(Some(Path::new("/a/b/mlp.json")), "x", Path::new("/s"));
        assert_eq!(d, Path::new("/a/b/mlp.runs"));
        let d = runs_dir(None, "My Net", Path::new("/s"));
        assert_eq!(d, Path::new("/s/runs/my-net"));
    }
}
