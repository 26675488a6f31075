//! Never lose work: the open project is written every so often to a recovery file (atomically,
//! so a crash mid-write leaves the previous copy), and offered back after a crash. A normal
//! save or a clean exit removes it.

use crate::fsutil::write_atomic;
use crate::project::Project;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A recovery file that is there but cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("{path} is damaged: {source}")]
    Damaged {
        path: PathBuf,
        source: serde_json::Error,
    },
}

const FILE_NAME: &str = "recovery.json";

/// What the recovery file holds: the unsaved project, where it was saved last, and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovered {
    pub project: Project,
    pub path: Option<PathBuf>,
    /// Seconds since the Unix epoch.
    pub written_unix_s: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryFile {
    dir: PathBuf,
}

impl RecoveryFile {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$GLASSBOX_RECOVERY_DIR`, else `$XDG_STATE_HOME/glassbox`, else
    /// `~/.local/state/glassbox`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("GLASSBOX_RECOVERY_DIR") {
            return Some(PathBuf::from(d));
        }
        if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d).join("glassbox"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/glassbox"))
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Where the studio's runs keep their per-epoch checkpoint.
    pub fn run_checkpoint_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// Forgets the run checkpoint (the run finished, or the user declined to resume it).
    pub fn clear_run_checkpoint(&self) {
        let _ = std::fs::remove_dir_all(self.run_checkpoint_dir());
    }

    pub fn write(&self, project: &Project, path: Option<&Path>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let rec = Recovered {
            project: project.clone(),
            path: path.map(Path::to_path_buf),
            written_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let json = serde_json::to_vec_pretty(&rec).map_err(std::io::Error::other)?;
        write_atomic(&self.path(), &json)
    }

    /// The recovered project, None when there is none, or why it cannot be read.
    pub fn read(&self) -> Option<Result<Recovered, RecoveryError>> {
        let bytes = std::fs::read(self.path()).ok()?;
        Some(
            serde_json::from_slice::<Recovered>(&bytes).map_err(|source| RecoveryError::Damaged {
                path: self.path(),
                source,
            }),
        )
    }

    pub fn clear(&self) {
        let _ = std::fs::remove_file(self.path());
    }
}
