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
    const MAX_SIDE: usize = 4096;
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(err(format!(
            "the image size is {width}×{height}; each side must be 1 to {MAX_SIDE} pixels"
        )));
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
    let values = files.len().saturating_mul(per);
    if values > super::MAX_DATASET_VALUES {
        return Err(err(format!(
            "{} images of {width}×{height} are {values} values, more than the {} a data set may hold: choose a smaller size",
            files.len(),
            super::MAX_DATASET_VALUES
        )));
    }
    let mut pixels = Vec::with_capacity(values);
    let mut labels = Vec::with_capacity(files.len());
    let mut kept_files = Vec::with_capacity(files.len());
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
        pixels.extend(image_values(&img, channels, width, height));
        labels.push(*label);
        kept_files.push(file.clone());
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
    // A class left without a readable image would train as if it did not exist.
    let mut per_class = vec![0usize; names.len()];
    for &l in &labels {
        per_class[l as usize] += 1;
    }
    if let Some(empty) = per_class.iter().position(|&n| n == 0) {
        let skipped: Vec<&String> = bad
            .iter()
            .filter(|b| b.contains(&format!("{}{}", names[empty], std::path::MAIN_SEPARATOR)))
            .collect();
        return Err(err(format!(
            "class '{}' has no readable image{}",
            names[empty],
            if skipped.is_empty() {
                String::new()
            } else {
                format!(
                    "; skipped: {}",
                    skipped
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        )));
    }
    let mut notes = vec![format!(
        "{} images in {} classes",
        labels.len(),
        names.len()
    )];
    if !bad.is_empty() {
        const LISTED: usize = 10;
        let mut list = bad
            .iter()
            .take(LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if bad.len() > LISTED {
            list.push_str(&format!("; and {} more", bad.len() - LISTED));
        }
        notes.push(format!(
            "skipped {} file(s) that could not be decoded: {list}",
            bad.len()
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
        origins: super::Origins::Files(kept_files),
        sample_shape: vec![channels, height, width],
        features: Features::U8(pixels),
        targets: Targets::Classes { labels, names },
        feature_names: Vec::new(),
        source_test_start,
        vocab: None,
        notes,
    })
}

/// An image resized to `width`×`height`, as `channels` (1 grey, 3 RGB) planes of 0..255 bytes,
/// channel-first (C, H, W) as the convolution layers read it.
fn image_values(
    img: &image::DynamicImage,
    channels: usize,
    width: usize,
    height: usize,
) -> Vec<u8> {
    let resized = img.resize_exact(
        width as u32,
        height as u32,
        image::imageops::FilterType::Triangle,
    );
    if channels >= 3 {
        let rgb = resized.to_rgb8();
        (0..3)
            .flat_map(|c| {
                rgb.as_raw()
                    .iter()
                    .skip(c)
                    .step_by(3)
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect()
    } else {
        resized.to_luma8().into_raw()
    }
}

/// One image file as a sample of `dims` ([C, H, W], C = 1 or 3): raw pixel values 0..255.
/// Dark strokes on a light ground are inverted to light on dark when `light_on_dark` is set
/// (MNIST's digits are white on black; most scans and drawings are the other way round).
pub fn read_image_sample(
    path: &Path,
    dims: &[usize],
    light_on_dark: bool,
) -> Result<Vec<f32>, DataError> {
    let err = |reason: String| DataError::Table {
        path: path.to_path_buf(),
        reason,
    };
    let [c, h, w] = dims[..] else {
        return Err(err(format!(
            "the model reads samples of shape {dims:?}, not images"
        )));
    };
    if c != 1 && c != 3 {
        return Err(err(format!(
            "the model reads {c}-channel images; only 1 or 3 can be loaded"
        )));
    }
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| err(format!("cannot open it: {e}")))?;
    // A hostile header cannot make the decoder allocate more than this.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    let mut reader = reader;
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| err(format!("not a readable PNG, JPEG or BMP image: {e}")))?;
    let mut values: Vec<f32> = image_values(&img, c, w, h)
        .into_iter()
        .map(f32::from)
        .collect();
    let mean = values.iter().sum::<f32>() / values.len().max(1) as f32;
    if light_on_dark && mean > 127.0 {
        values.iter_mut().for_each(|v| *v = 255.0 - *v);
    }
    Ok(values)
}

/// Most memory one dropped image may take to decode.
const MAX_IMAGE_BYTES: u64 = 256 << 20;
