//! Small file helpers shared by project, weight and export saving, and the one content hash
//! (FNV-1a, 64 bit) that names what a file or a served model holds.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` so that a crash or full disk never leaves a half-written file:
/// the data goes to a temporary file beside it, is flushed to disk, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Where Glassbox's shipped `assets/` folder is: `$GLASSBOX_ASSETS`, else `assets/` beside the
/// working directory or the executable (or its ancestors), else the source tree it was built from.
pub fn assets_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GLASSBOX_ASSETS") {
        return PathBuf::from(dir);
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join("assets"));
    }
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(|a| a.join("assets")));
    }
    candidates
        .into_iter()
        .find(|c| c.join("data").is_dir())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("assets"))
}

/// Where the ready-made projects are, found the same way as the assets.
pub fn presets_dir() -> PathBuf {
    let assets = assets_dir();
    let beside = assets.parent().map(|p| p.join("presets"));
    match beside {
        Some(p) if p.is_dir() => p,
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("presets"),
    }
}

/// Resolves a data path from a project: `assets/...` means the shipped assets folder; other
/// relative paths are relative to the project file's folder (or the working directory).
pub fn resolve_data_path(path: &str, project_dir: Option<&Path>) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    if let Ok(rest) = p.strip_prefix("assets") {
        return assets_dir().join(rest);
    }
    match project_dir {
        Some(dir) => dir.join(p),
        None => p.to_path_buf(),
    }
}

/// FNV-1a (64 bit), fed piece by piece: a stable fingerprint of contents (not for security).
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// FNV-1a of `bytes`, as 16 hex digits.
pub fn fnv64_hex(bytes: &[u8]) -> String {
    let mut h = Fnv64::default();
    h.write(bytes);
    h.hex()
}
