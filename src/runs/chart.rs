//! Charts out of the app: any set of (x, y) series as CSV (one row per point, like
//! TensorBoard's scalar export) or as a PNG with title, axes, ticks and legend, drawn by
//! plotters with the studio's own font so the file looks like the chart on screen.

use plotters::prelude::*;
use plotters::style::FontStyle;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

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
        let bytes = self.to_png(960, 540).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(&png, &bytes)?;
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

    /// A `w`×`h` PNG of the chart on white, drawn by plotters in the studio's font.
    pub fn to_png(&self, w: u32, h: u32) -> Result<Vec<u8>, ChartError> {
        let mut rgb = vec![255u8; w as usize * h as usize * 3];
        self.draw(&mut rgb, w, h)
            .map_err(|e| ChartError::Draw(e.to_string()))?;
        encode_png(rgb, w, h)
    }

    fn draw(&self, rgb: &mut [u8], w: u32, h: u32) -> Result<(), Box<dyn std::error::Error>> {
        register_font();
        let (xr, yr) = self.bounds();
        let root = BitMapBackend::with_buffer(rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(xr[0]..xr[1], yr[0]..yr[1])?;
        let grid = RGBColor(235, 235, 235);
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| tick_label(*v, self.log_x, 0))
            .y_label_formatter(&|v| tick_label(*v, self.log_y, 0))
            .label_style((FONT, 13))
            .light_line_style(grid)
            .bold_line_style(grid)
            .draw()?;
        for (i, s) in self.series.iter().enumerate() {
            let [r, g, b] = COLORS[i % COLORS.len()];
            let color = RGBColor(r, g, b);
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|p| (self.tx(p[0]), self.ty(p[1])))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            let drawn = match self.style {
                ChartStyle::Lines if pts.len() > 1 => {
                    chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                }
                // A 5×5 square per point: pixel-exact, so the PNG holds the series' colour.
                ChartStyle::Lines | ChartStyle::Points => {
                    chart.draw_series(pts.iter().map(|&p| {
                        EmptyElement::at(p) + Rectangle::new([(-2, -2), (2, 2)], color.filled())
                    }))?
                }
                ChartStyle::Bars => {
                    // Series side by side within each slot of width 1 (one per class).
                    let n = self.series.len().max(1) as f64;
                    let width = 0.8 / n;
                    chart.draw_series(pts.iter().map(|&(x, y)| {
                        let x0 = x - 0.4 + width * i as f64;
                        Rectangle::new([(x0, 0.0), (x0 + width, y)], color.filled())
                    }))?
                }
            };
            drawn.label(s.name.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()?;
        root.present()?;
        Ok(())
    }
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

/// The family name charts ask plotters for; `register_font` gives it the studio's font.
const FONT: &str = "sans-serif";

/// plotters draws text with a font registered by name (its `ab_glyph` backend): the studio's
/// own, so an exported chart looks like the one on screen.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in; a failure would leave charts without text, not fail them.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// Why a chart could not be made.
#[derive(Debug, Error)]
pub enum ChartError {
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("encoding the chart as PNG failed: {0}")]
    Encode(#[from] image::ImageError),
    #[error("the chart's pixels do not fill a {w}×{h} image")]
    Size { w: u32, h: u32 },
}

/// RGB rows as PNG bytes.
pub(crate) fn encode_png(rgb: Vec<u8>, w: u32, h: u32) -> Result<Vec<u8>, ChartError> {
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or(ChartError::Size { w, h })?;
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
    Ok(out)
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
        let png = chart.to_png(400, 300).unwrap();
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
        let img = image::load_from_memory(&blank.to_png(400, 300).unwrap())
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
        let img = image::load_from_memory(&bars.to_png(400, 300).unwrap())
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
        let img = image::load_from_memory(&dots.to_png(400, 300).unwrap())
            .unwrap()
            .to_rgb8();
        let n = img.pixels().filter(|p| p.0 == COLORS[0]).count();
        // Two 5×5 dots and the legend swatch, no line between them.
        assert!((50..=100).contains(&n), "{n}");
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.25, false, 0), "0.25");
        assert_eq!(tick_label(-3.0, true, 0), "1e-3");
    }
}
