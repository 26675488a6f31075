//! Colour scales for activations (sequential) and attributions (signed, diverging).

use egui::{Color32, ColorImage};

/// Viridis-like sequential scale, t in [0, 1].
pub fn sequential(t: f32) -> Color32 {
    const STOPS: [(f32, [u8; 3]); 5] = [
        (0.0, [68, 1, 84]),
        (0.25, [59, 82, 139]),
        (0.5, [33, 145, 140]),
        (0.75, [94, 201, 98]),
        (1.0, [253, 231, 37]),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    for w in STOPS.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if t <= b {
            let f = (t - a) / (b - a);
            let mix = |i: usize| (ca[i] as f32 + (cb[i] as f32 - ca[i] as f32) * f) as u8;
            return Color32::from_rgb(mix(0), mix(1), mix(2));
        }
    }
    Color32::from_rgb(253, 231, 37)
}

/// Blue (negative) – transparent-ish grey – red (positive), v in [-1, 1].
pub fn diverging(v: f32) -> Color32 {
    let v = if v.is_finite() {
        v.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    if v >= 0.0 {
        Color32::from_rgb(255, (255.0 * (1.0 - v)) as u8, (255.0 * (1.0 - v)) as u8)
    } else {
        Color32::from_rgb((255.0 * (1.0 + v)) as u8, (255.0 * (1.0 + v)) as u8, 255)
    }
}

/// Min and max of finite values (0, 1 when there are none).
pub fn range(values: &[f32]) -> (f32, f32) {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if lo.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

/// A [h, w] plane through the sequential scale, scaled to `lo..hi`.
pub fn plane_image(values: &[f32], h: usize, w: usize, lo: f32, hi: f32) -> ColorImage {
    let span = (hi - lo).max(1e-12);
    let pixels = values
        .iter()
        .take(h * w)
        .map(|&v| sequential((v - lo) / span))
        .collect();
    ColorImage::new([w, h], pixels)
}

/// A sample for display: grey (1 channel) or RGB (3 channels), from raw values.
pub fn sample_image(raw: &[f32], dims: &[usize]) -> Option<ColorImage> {
    let (lo, hi) = range(raw);
    sample_image_in(raw, dims, lo, hi)
}

/// `sample_image` on a fixed value range (so reconstructions compare with their inputs).
pub fn sample_image_in(raw: &[f32], dims: &[usize], lo: f32, hi: f32) -> Option<ColorImage> {
    let [c, h, w] = dims[..] else { return None };
    if raw.len() < c * h * w {
        return None;
    }
    let span = (hi - lo).max(1e-12);
    let at =
        |ch: usize, p: usize| (((raw[ch * h * w + p] - lo) / span) * 255.0).clamp(0.0, 255.0) as u8;
    let pixels = (0..h * w)
        .map(|p| {
            if c >= 3 {
                Color32::from_rgb(at(0, p), at(1, p), at(2, p))
            } else {
                Color32::from_gray(at(0, p))
            }
        })
        .collect();
    Some(ColorImage::new([w, h], pixels))
}

/// The sample in grey with the attribution laid over it: red where it raises the score, blue
/// where it lowers it, `opacity` of the colour at full strength.
pub fn overlay_image(
    raw: &[f32],
    attribution: &[f32],
    dims: &[usize],
    opacity: f32,
) -> Option<ColorImage> {
    let [c, h, w] = dims[..] else { return None };
    let base = sample_image(raw, dims)?;
    // Per pixel: the attribution summed over channels (Grad-CAM maps have one channel).
    let per_pixel: Vec<f32> = (0..h * w)
        .map(|p| {
            let channels = attribution.len() / (h * w).max(1);
            (0..channels.max(1).min(c.max(1)))
                .map(|ch| attribution.get(ch * h * w + p).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let scale = per_pixel
        .iter()
        .map(|v| v.abs())
        .fold(0.0f32, f32::max)
        .max(1e-12);
    let pixels = base
        .pixels
        .iter()
        .zip(&per_pixel)
        .map(|(g, &a)| {
            let col = diverging(a / scale);
            let t = opacity * (a.abs() / scale).sqrt();
            let mix = |x: u8, y: u8| (x as f32 * (1.0 - t) + y as f32 * t) as u8;
            Color32::from_rgb(
                mix(g.r(), col.r()),
                mix(g.g(), col.g()),
                mix(g.b(), col.b()),
            )
        })
        .collect();
    Some(ColorImage::new([w, h], pixels))
}

/// A table whose columns are the pixels of a square picture (`pixel_0` … `pixel_63`, as
/// scikit-learn's digits and Kaggle's MNIST CSVs name them): shown as that picture.
fn pixel_table_shape(data: &crate::data::Dataset) -> Option<Vec<usize>> {
    let [n] = data.sample_shape[..] else {
        return None;
    };
    let side = (n as f64).sqrt().round() as usize;
    let pixels = data.feature_names.len() == n
        && data
            .feature_names
            .iter()
            .all(|f| f.to_ascii_lowercase().starts_with("pixel"));
    (side >= 4 && side * side == n && pixels).then(|| vec![1, side, side])
}

/// One sample as a person recognises it: its image (kept as a texture in `cache` while the same
/// sample is shown; a table of a square's pixels too), or its table row as "feature value"
/// pairs; nothing for other data.
pub fn sample_preview_ui(
    ui: &mut egui::Ui,
    data: &crate::data::Dataset,
    index: usize,
    cache: &mut Option<(usize, egui::TextureHandle)>,
    side: f32,
) {
    let raw = data.raw_sample(index);
    let dims = pixel_table_shape(data).unwrap_or_else(|| data.sample_shape.clone());
    match sample_image(&raw, &dims) {
        Some(img) => {
            if cache.as_ref().is_none_or(|(i, _)| *i != index) {
                let tex = ui
                    .ctx()
                    .load_texture("sample-preview", img, Default::default());
                *cache = Some((index, tex));
            }
            if let Some((_, tex)) = cache {
                ui.add(egui::Image::new(&*tex).fit_to_exact_size(egui::vec2(side, side)));
            }
        }
        None if !data.feature_names.is_empty() => {
            let row: Vec<String> = data
                .feature_names
                .iter()
                .zip(&raw)
                .map(|(f, v)| format!("{f} {v}"))
                .collect();
            ui.label(row.join(" · "));
        }
        None => {}
    }
}
