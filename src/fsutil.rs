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

/// Folders that may hold Glassbox's shipped `assets/` and `presets/`, in the order they are
/// tried: the working directory, the executable's folder and its ancestors (a build or an
/// unpacked archive), `$XDG_DATA_HOME/glassbox` (`~/.local/share/glassbox`), each of
/// `$XDG_DATA_DIRS` + `/glassbox` (`/usr/local/share`, `/usr/share`: the package), and last the
/// source tree the binary was built from (`cargo install --path .`).
pub fn data_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots.extend(xdg_data_dirs().into_iter().map(|d| d.join("glassbox")));
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    roots
}

/// `$XDG_DATA_HOME` then `$XDG_DATA_DIRS`, with the specification's defaults for unset or
/// empty variables; relative entries are ignored, as the specification says.
fn xdg_data_dirs() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let home = var("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local").join("share")));
    let system = var("XDG_DATA_DIRS").unwrap_or_else(|| "/usr/local/share:/usr/share".into());
    home.into_iter()
        .chain(std::env::split_paths(&system))
        .filter(|p| p.is_absolute())
        .collect()
}

/// Where Glassbox's shipped `assets/` folder is: `$GLASSBOX_ASSETS`, else the first of
/// `data_roots` with an `assets/data` folder.
pub fn assets_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GLASSBOX_ASSETS") {
        return PathBuf::from(dir);
    }
    data_roots()
        .into_iter()
        .map(|r| r.join("assets"))
        .find(|c| c.join("data").is_dir())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("assets"))
}

/// Where the ready-made projects are: beside the assets, else the first of `data_roots` with a
/// `presets` folder.
pub fn presets_dir() -> PathBuf {
    let beside = assets_dir().parent().map(|p| p.join("presets"));
    beside
        .into_iter()
        .chain(data_roots().into_iter().map(|r| r.join("presets")))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("presets"))
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
