//! Charts out of the app: any set of (x, y) series as CSV (one row per point, like
//! TensorBoard's scalar export) or as a PNG with title, axes, ticks and legend, drawn with the
//! studio's own font so the file looks like the chart on screen.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<[f64; 2]>,
}

/// How a chart's points are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChartStyle {
    #[default]
    Lines,
    /// A scatter: each point a dot.
    Points,
    /// Each point a bar from zero (class counts, attributions).
    Bars,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    pub style: ChartStyle,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_x: bool,
    pub log_y: bool,
}

/// Line colours, in order (the studio's plot palette).
const COLORS: [[u8; 3]; 8] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
];

impl Chart {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Default::default()
        }
    }

    pub fn styled(mut self, style: ChartStyle) -> Self {
        self.style = style;
        self
    }

    pub fn with(mut self, name: &str, points: Vec<[f64; 2]>) -> Self {
        self.series.push(Series {
            name: name.into(),
            points,
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }

    /// `series,<x label>,<y label>` rows; names with commas or quotes are quoted.
    pub fn to_csv(&self) -> String {
        let q = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut out = format!("series,{},{}\n", q(&self.x_label), q(&self.y_label));
        for s in &self.series {
            for p in &s.points {
                let _ = writeln!(out, "{},{},{}", q(&s.name), p[0], p[1]);
            }
        }
        out
    }

    /// Writes `<stem>.png` and `<stem>.csv`; returns both paths.
    pub fn write(&self, stem: &Path) -> std::io::Result<[PathBuf; 2]> {
        let png = stem.with_extension("png");
        let csv = stem.with_extension("csv");
        crate::fsutil::write_atomic(&png, &self.to_png(960, 540))?;
        crate::fsutil::write_atomic(&csv, self.to_csv().as_bytes())?;
        Ok([png, csv])
    }

    fn tx(&self, x: f64) -> f64 {
        if self.log_x {
            x.max(f64::MIN_POSITIVE).log10()
        } else {
            x
        }
    }

    fn ty(&self, y: f64) -> f64 {
        if self.log_y {
            y.max(f64::MIN_POSITIVE).log10()
        } else {
            y
        }
    }

    fn bounds(&self) -> ([f64; 2], [f64; 2]) {
        let mut xr = [f64::INFINITY, f64::NEG_INFINITY];
        let mut yr = xr;
        for p in self.series.iter().flat_map(|s| &s.points) {
            let (x, y) = (self.tx(p[0]), self.ty(p[1]));
            if x.is_finite() && y.is_finite() {
                xr = [xr[0].min(x), xr[1].max(x)];
                yr = [yr[0].min(y), yr[1].max(y)];
            }
        }
        if self.style == ChartStyle::Bars && !self.log_y {
            // Bars start at zero, so zero is on the axis.
            yr = [yr[0].min(0.0), yr[1].max(0.0)];
            xr = [xr[0] - 0.5, xr[1] + 0.5];
        }
        let widen = |r: [f64; 2]| {
            if !r[0].is_finite() {
                [0.0, 1.0]
            } else if r[1] - r[0] < 1e-12 {
                [r[0] - 0.5, r[1] + 0.5]
            } else {
                let pad = (r[1] - r[0]) * 0.04;
                [r[0] - pad, r[1] + pad]
            }
        };
        (widen(xr), widen(yr))
    }

    /// A `w`×`h` PNG of the chart on white.
    pub fn to_png(&self, w: u32, h: u32) -> Vec<u8> {
        let mut c = Canvas::new(w, h);
        let (xr, yr) = self.bounds();
        let (left, right, top, bottom) = (70.0, w as f64 - 20.0, 40.0, h as f64 - 50.0);
        let px = |x: f64| left + (right - left) * (x - xr[0]) / (xr[1] - xr[0]);
        let py = |y: f64| bottom - (bottom - top) * (y - yr[0]) / (yr[1] - yr[0]);
        c.text(&self.title, left, 24.0, 18.0, [20, 20, 20]);
        for (k, v) in ticks(yr).into_iter().enumerate() {
            let y = py(v);
            c.hline(left, right, y, [228, 228, 228]);
            let label = tick_label(v, self.log_y, k);
            c.text(&label, 6.0, y + 5.0, 13.0, [90, 90, 90]);
        }
        for v in ticks(xr) {
            let x = px(v);
            c.vline(x, top, bottom, [238, 238, 238]);
            c.text(
                &tick_label(v, self.log_x, 0),
                x - 12.0,
                bottom + 18.0,
                13.0,
                [90, 90, 90],
            );
        }
        c.hline(left, right, bottom, [120, 120, 120]);
        c.vline(left, top, bottom, [120, 120, 120]);
        c.text(
            &self.x_label,
            (left + right) / 2.0 - 30.0,
            h as f64 - 10.0,
            14.0,
            [50, 50, 50],
        );
        c.text(&self.y_label, left + 6.0, top - 4.0, 13.0, [50, 50, 50]);
        for (i, s) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|p| (self.tx(p[0]), self.ty(p[1])))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(x, y)| (px(x), py(y)))
                .collect();
            match self.style {
                ChartStyle::Lines => {
                    if pts.len() == 1 {
                        c.dot(pts[0].0, pts[0].1, color);
                    }
                    for pair in pts.windows(2) {
                        c.line(pair[0], pair[1], color);
                    }
                }
                ChartStyle::Points => {
                    for p in &pts {
                        c.dot(p.0, p.1, color);
                    }
                }
                ChartStyle::Bars => {
                    // Series side by side within each slot.
                    let n = self.series.len().max(1) as f64;
                    let slot = (px(1.0) - px(0.0)).abs() * 0.8;
                    let w = (slot / n).max(1.0);
                    let zero = py(0.0);
                    for p in &pts {
                        let x0 = p.0 - slot / 2.0 + w * i as f64;
                        for x in x0.round() as i64..(x0 + w - 1.0).round() as i64 {
                            c.vline(x as f64, p.1.min(zero), p.1.max(zero), color);
                        }
                    }
                }
            }
            // Legend, top right, one row per series.
            let ly = top + 16.0 + 18.0 * i as f64;
            c.hline(right - 190.0, right - 170.0, ly - 5.0, color);
            c.hline(right - 190.0, right - 170.0, ly - 4.0, color);
            c.text(&s.name, right - 164.0, ly, 13.0, [40, 40, 40]);
        }
        c.png()
    }
}

/// About five round values across `r`.
fn ticks(r: [f64; 2]) -> Vec<f64> {
    let span = r[1] - r[0];
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(mag * 10.0);
    let mut v = (r[0] / step).ceil() * step;
    let mut out = Vec::new();
    while v <= r[1] && out.len() < 12 {
        out.push(v);
        v += step;
    }
    out
}

fn tick_label(v: f64, log: bool, _k: usize) -> String {
    if log {
        return format!("1e{}", v.round() as i64);
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else if a >= 100.0 || v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

struct Canvas {
    img: image::RgbImage,
    font: Option<FontRef<'static>>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Self {
        Self {
            img: image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255])),
            font: FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).ok(),
        }
    }

    fn blend(&mut self, x: i64, y: i64, color: [u8; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= self.img.width() as i64 || y >= self.img.height() as i64 {
            return;
        }
        let p = self.img.get_pixel_mut(x as u32, y as u32);
        let a = alpha.clamp(0.0, 1.0);
        for (c, n) in p.0.iter_mut().zip(color) {
            *c = (*c as f32 * (1.0 - a) + n as f32 * a).round() as u8;
        }
    }

    fn hline(&mut self, x0: f64, x1: f64, y: f64, color: [u8; 3]) {
        for x in x0.round() as i64..=x1.round() as i64 {
            self.blend(x, y.round() as i64, color, 1.0);
        }
    }

    fn vline(&mut self, x: f64, y0: f64, y1: f64, color: [u8; 3]) {
        let (y0, y1) = (y0.min(y1), y0.max(y1));
        for y in y0.round() as i64..=y1.round() as i64 {
            self.blend(x.round() as i64, y, color, 1.0);
        }
    }

    fn dot(&mut self, x: f64, y: f64, color: [u8; 3]) {
        for dy in -2..=2 {
            for dx in -2..=2 {
                self.blend(x as i64 + dx, y as i64 + dy, color, 1.0);
            }
        }
    }

    /// A 2-px line, stepped one pixel at a time.
    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: [u8; 3]) {
        let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).clamp(1, 100_000);
        for i in 0..=n {
            let t = i as f64 / n as f64;
            let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                self.blend(x as i64 + dx, y as i64 + dy, color, 1.0);
            }
        }
    }

    /// Text with its baseline at `y`.
    fn text(&mut self, s: &str, x: f64, y: f64, size: f32, color: [u8; 3]) {
        let Some(font) = self.font.clone() else {
            return;
        };
        let scaled = font.as_scaled(PxScale::from(size));
        let mut pen = x as f32;
        for ch in s.chars() {
            let mut glyph = scaled.scaled_glyph(ch);
            glyph.position = ab_glyph::point(pen, y as f32);
            pen += scaled.h_advance(glyph.id);
            if let Some(outline) = font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cov| {
                    self.blend(
                        b.min.x as i64 + gx as i64,
                        b.min.y as i64 + gy as i64,
                        color,
                        cov,
                    )
                });
            }
        }
    }

    fn png(self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = image::DynamicImage::ImageRgb8(self.img)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_every_point_and_png_draws_each_series_colour() {
        let chart = Chart::new("Loss", "step", "loss")
            .with("run a", vec![[1.0, 2.0], [2.0, 1.0]])
            .with("run, b", vec![[1.0, 3.0], [2.0, 0.5]]);
        let csv = chart.to_csv();
        assert_eq!(csv.lines().count(), 5);
        assert!(csv.contains("\"run, b\",2,0.5"), "{csv}");
        let png = chart.to_png(400, 300);
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        for color in &COLORS[..2] {
            let n = img.pixels().filter(|p| p.0 == *color).count();
            assert!(n > 50, "colour {color:?} drawn on {n} pixels");
        }
        // Text is drawn: the title's band (nothing else is drawn there) has inked pixels.
        let inked = (0..400)
            .flat_map(|x| (0..32).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().any(|&c| c < 200))
            .count();
        assert!(inked > 40, "{inked}");
        let blank = Chart::new("", "", "").with("a", vec![[0.0, 0.0], [1.0, 1.0]]);
        let img = image::load_from_memory(&blank.to_png(400, 300))
            .unwrap()
            .to_rgb8();
        let inked_blank = (0..400)
            .flat_map(|x| (0..32).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().any(|&c| c < 200))
            .count();
        assert!(inked_blank < inked / 4, "{inked_blank} vs {inked}");
    }

    #[test]
    fn bars_rise_from_zero_and_points_are_dots() {
        let bars = Chart::new("b", "class", "n")
            .styled(ChartStyle::Bars)
            .with("train", vec![[0.0, 10.0], [1.0, 5.0]]);
        let img = image::load_from_memory(&bars.to_png(400, 300))
            .unwrap()
            .to_rgb8();
        let blue = |x: u32| {
            (0..300)
                .filter(|&y| img.get_pixel(x, y).0 == COLORS[0])
                .count()
        };
        // Some column of the first bar is taller than every column of the second.
        let first = (70..200).map(blue).max().unwrap();
        let second = (220..380).map(blue).max().unwrap();
        assert!(first > second && second > 50, "{first} {second}");
        let dots = Chart::new("p", "x", "y")
            .styled(ChartStyle::Points)
            .with("a", vec![[0.0, 0.0], [1.0, 1.0]]);
        let img = image::load_from_memory(&dots.to_png(400, 300))
            .unwrap()
            .to_rgb8();
        let n = img.pixels().filter(|p| p.0 == COLORS[0]).count();
        // Two 5×5 dots and the legend swatch, no line between them.
        assert!((50..=100).contains(&n), "{n}");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks([0.0, 10.0]), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(tick_label(0.25, false, 0), "0.25");
        assert_eq!(tick_label(-3.0, true, 0), "1e-3");
    }
}
