//! A regression's evaluation: predicted against true (the diagonal is a perfect model), the
//! residuals against the prediction (a pattern is what the model has not learnt), and its
//! figures beside ordinary least squares on the same split.

use crate::insight::{RegressionEvaluation, Split};
use crate::train::RegressionMetrics;
use crate::ui::theme::{TRAIN, VAL};
use egui::{RichText, Ui};
use egui_plot::{Line, Plot, PlotPoints, Points};

/// What the insight service answered for a regression.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionEvaluated {
    pub split: Split,
    pub evaluation: RegressionEvaluation,
    /// Ordinary least squares fitted on the training split, measured on the same split.
    pub baseline: Option<RegressionMetrics>,
}

impl RegressionEvaluated {
    /// The figures as one line: the network's, then the baseline's.
    pub fn summary(&self) -> String {
        let split = match self.split {
            Split::Validation => "validation",
            Split::Test => "test",
        };
        let baseline = self.baseline.map_or(
            "linear least squares: not computed for this data".into(),
            |b| format!("linear least squares {}", b.line()),
        );
        format!(
            "{} samples ({split}) · network {} · {baseline}",
            self.evaluation.points.len(),
            self.evaluation.metrics.line()
        )
    }
}

/// The two plots and the figures, in the target's units.
pub(super) fn regression_ui(ui: &mut Ui, r: &RegressionEvaluated) {
    ui.label(r.summary());
    let target = &r.evaluation.target;
    let truth_pred: Vec<[f64; 2]> = r
        .evaluation
        .points
        .iter()
        .map(|p| [p.truth as f64, p.predicted as f64])
        .collect();
    let residuals: Vec<[f64; 2]> = r
        .evaluation
        .points
        .iter()
        .map(|p| [p.predicted as f64, (p.predicted - p.truth) as f64])
        .collect();
    let (lo, hi) = truth_pred
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let width = (ui.available_width() / 2.0 - 12.0).max(200.0);
    let height = (ui.available_height() - 30.0).clamp(180.0, 420.0);
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.label(RichText::new(format!("Predicted against true {target}")).strong());
            Plot::new("regression-predicted-vs-true")
                .width(width)
                .height(height)
                .data_aspect(1.0)
                .x_axis_label(format!("true {target}"))
                .y_axis_label(format!("predicted {target}"))
                .show(ui, |plot| {
                    plot.line(
                        Line::new("perfect", PlotPoints::new(vec![[lo, lo], [hi, hi]])).color(VAL),
                    );
                    plot.points(
                        Points::new("samples", PlotPoints::new(truth_pred))
                            .color(TRAIN)
                            .radius(2.5),
                    );
                });
        });
        ui.vertical(|ui| {
            ui.label(RichText::new("Residuals (predicted − true) against predicted").strong());
            let (plo, phi) = residuals
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                    (a.min(p[0]), b.max(p[0]))
                });
            let (plo, phi) = if plo.is_finite() {
                (plo, phi)
            } else {
                (0.0, 1.0)
            };
            Plot::new("regression-residuals")
                .width(width)
                .height(height)
                .x_axis_label(format!("predicted {target}"))
                .y_axis_label("residual")
                .show(ui, |plot| {
                    plot.line(
                        Line::new("zero", PlotPoints::new(vec![[plo, 0.0], [phi, 0.0]])).color(VAL),
                    );
                    plot.points(
                        Points::new("residuals", PlotPoints::new(residuals))
                            .color(TRAIN)
                            .radius(2.5),
                    );
                });
        });
    });
}
