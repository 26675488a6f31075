//! A folder of images with one sub-folder per class (optionally under `train/` and `test/`).

use super::dataset::{Features, RawData, Targets};
use super::error::DataError;
use super::settings::ColorMode;
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];
/// More than this share of undecodable files is an error rather than a note.
const MAX_BAD_SHARE: f32 = 0.5;

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut dirs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn sorted_images(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_image(p))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Loads and resizes every image; `progress` gets the fraction done.
pub fn image_folder(
    root: &Path,
    width: usize,
    height: usize,
    color: ColorMode,
    progress: &dyn Fn(f32),
) -> Result<RawData, DataError> {
    let err = |reason: String| DataError::Table {
        path: root.to_path_buf(),
        reason,
    };
    if width == 0 || height == 0 {
        return Err(err("the image size must be at least 1×1".into()));
    }
    // `train/` + `test/` folders (each with class folders) give the source its own test set.
    let (train_root, test_root) = {
        let (tr, te) = (root.join("train"), root.join("test"));
        if tr.is_dir() && te.is_dir() {
            (tr, Some(te))
        } else {
            (root.to_path_buf(), None)
        }
    };
    let class_dirs = sorted_dirs(&train_root)?;
    let names: Vec<String> = class_dirs
        .iter()
        .map(|d| {
            d.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    if names.is_empty() {
        return Err(err(
            "the folder has no sub-folders: put each class's images in a folder named after the class".into(),
        ));
    }
    if names.len() == 1 {
        return Err(err(format!(
            "the folder has one class ('{}'): a classifier needs at least two class folders",
            names[0]
        )));
    }
    let collect = |base: &Path, files: &mut Vec<(PathBuf, u32)>| {
        for (label, name) in names.iter().enumerate() {
            for f in sorted_images(&base.join(name)) {
                files.push((f, label as u32));
            }
        }
    };
    let mut files: Vec<(PathBuf, u32)> = Vec::new();
    collect(&train_root, &mut files);
    let test_start = test_root.as_ref().map(|t| {
        let n = files.len();
        collect(t, &mut files);
        n
    });
    if files.is_empty() {
        return Err(err(format!(
            "the class folders hold no images ({})",
            EXTENSIONS.join(", ")
        )));
    }
    let channels = match color {
        ColorMode::Grey => 1,
        ColorMode::Rgb => 3,
    };
    let per = channels * width * height;
    let mut pixels = Vec::with_capacity(files.len() * per);
    let mut labels = Vec::with_capacity(files.len());
    let mut bad: Vec<String> = Vec::new();
    let mut kept_before_test = 0;
    for (i, (file, label)) in files.iter().enumerate() {
        if i % 64 == 0 {
            progress(i as f32 / files.len() as f32);
        }
        if test_start == Some(i) {
            kept_before_test = labels.len();
        }
        let img = match image::open(file) {
            Ok(img) => img,
            Err(e) => {
                bad.push(format!("{} ({e})", file.display()));
                continue;
            }
        };
        let resized = img.resize_exact(
            width as u32,
            height as u32,
            image::imageops::FilterType::Triangle,
        );
        match color {
            ColorMode::Grey => pixels.extend_from_slice(resized.to_luma8().as_raw()),
            ColorMode::Rgb => {
                // Stored channel-first (C, H, W), as the convolution layers read it.
                let rgb = resized.to_rgb8();
                for c in 0..3 {
                    pixels.extend(rgb.as_raw().iter().skip(c).step_by(3));
                }
            }
        }
        labels.push(*label);
    }
    progress(1.0);
    if bad.len() as f32 > MAX_BAD_SHARE * files.len() as f32 || labels.is_empty() {
        return Err(err(format!(
            "{} of {} images could not be read; the first: {}",
            bad.len(),
            files.len(),
            bad.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
        )));
    }
    let mut notes = vec![format!(
        "{} images in {} classes",
        labels.len(),
        names.len()
    )];
    if !bad.is_empty() {
        notes.push(format!(
            "skipped {} file(s) that could not be decoded, e.g. {}",
            bad.len(),
            bad[0]
        ));
    }
    let source_test_start = test_start.map(|s| {
        if s >= files.len() {
            labels.len()
        } else {
            kept_before_test
        }
    });
    Ok(RawData {
        sample_shape: vec![channels, height, width],
        features: Features::U8(pixels),
        targets: Targets::Classes { labels, names },
        feature_names: Vec::new(),
        source_test_start,
        vocab: None,
        notes,
    })
}
