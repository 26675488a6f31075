//! `glassbox sample`: new samples of a generative model as a PNG grid, optionally judged by a
//! trained classifier (how many it recognises with confidence, and how many classes).

use super::load_project;
use crate::data::Dataset;
use crate::insight::{classify, draw_samples};
use crate::model::{Model, Weights};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// A sample counts as recognised at this classifier probability.
const CONFIDENT: f32 = 0.8;
/// The most samples one grid holds.
const MAX_SAMPLES: usize = 10_000;

pub(super) fn sample(
    path: &Path,
    weights_path: &Path,
    output: &Path,
    count: usize,
    seed: u64,
    classifier: Option<(&Path, &Path)>,
) -> Result<()> {
    if count == 0 || count > MAX_SAMPLES {
        bail!("--count is {count}: draw between 1 and {MAX_SAMPLES} samples");
    }
    let project = load_project(path)?;
    let weights = Weights::load(weights_path)?;
    let data = Dataset::load(&project.data, path.parent())?;
    let samples = draw_samples(&project, &data, &weights, count, seed)?;
    write_grid(&samples, &data.sample_shape, output)?;
    println!("wrote {} samples to {}", samples.len(), output.display());
    if let Some((cpath, cweights)) = classifier {
        let cproject = load_project(cpath)?;
        let cdata = Dataset::load(&cproject.data, cpath.parent())?;
        let model = Model::build(&cproject.graph, 0)?;
        model.load_weights(&Weights::load(cweights)?)?;
        let raw: Vec<Vec<f32>> = samples.iter().map(|s| data.denormalize(s)).collect();
        let judged = classify(&model, &cdata, &raw)?;
        let confident: Vec<usize> = judged
            .iter()
            .filter(|(_, p)| *p >= CONFIDENT)
            .map(|(k, _)| *k)
            .collect();
        let mut counts = vec![0usize; cdata.class_names().len().max(1)];
        let last = counts.len() - 1;
        confident.iter().for_each(|&k| counts[k.min(last)] += 1);
        let distinct = counts.iter().filter(|&&c| c > 0).count();
        println!(
            "{} of {} samples ({:.0} %) classified with confidence ≥ {CONFIDENT} by {}; {distinct} distinct classes among them",
            confident.len(),
            samples.len(),
            100.0 * confident.len() as f64 / samples.len() as f64,
            cpath.display()
        );
        let per: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let name = cdata
                    .class_names()
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| k.to_string());
                format!("{name}: {c}")
            })
            .collect();
        println!("confident samples per class: {}", per.join(", "));
    }
    Ok(())
}

/// Samples side by side, grey or RGB, 2-pixel gaps; values in 0..1 (else scaled to the grid's
/// own range).
fn write_grid(samples: &[Vec<f32>], dims: &[usize], output: &Path) -> Result<()> {
    let (c, h, w) = match dims[..] {
        [c, h, w] => (c, h, w),
        [n] => (1, 1, n),
        _ => bail!("samples of shape {dims:?} are not images"),
    };
    let cols = (samples.len() as f64).sqrt().ceil() as usize;
    let rows = samples.len().div_ceil(cols);
    let gap = 2;
    let (gw, gh) = (cols * (w + gap) + gap, rows * (h + gap) + gap);
    // A PNG side is a u32 and the grid lives in memory: refuse a sheet past 16k × 16k.
    const MAX_SIDE_PX: usize = 16_384;
    if gw > MAX_SIDE_PX || gh > MAX_SIDE_PX {
        bail!(
            "a sheet of {} samples of {w}×{h} would be {gw}×{gh} pixels, past {MAX_SIDE_PX} a side: ask for fewer (--count)",
            samples.len()
        );
    }
    let (lo, hi) = samples
        .iter()
        .flatten()
        .fold((0f32, 1f32), |(a, b), &v| (a.min(v), b.max(v)));
    let span = (hi - lo).max(1e-12);
    let mut img = image::RgbImage::new(gw as u32, gh as u32);
    for (k, s) in samples.iter().enumerate() {
        let (ox, oy) = (gap + (k % cols) * (w + gap), gap + (k / cols) * (h + gap));
        for y in 0..h {
            for x in 0..w {
                let at = |ch: usize| {
                    let v = s.get(ch * h * w + y * w + x).copied().unwrap_or(0.0);
                    (((v - lo) / span) * 255.0).clamp(0.0, 255.0) as u8
                };
                let px = if c >= 3 {
                    [at(0), at(1), at(2)]
                } else {
                    [at(0); 3]
                };
                img.put_pixel((ox + x) as u32, (oy + y) as u32, image::Rgb(px));
            }
        }
    }
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .context("cannot encode the grid as PNG")?;
    crate::fsutil::write_atomic(output, &bytes)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(())
}
