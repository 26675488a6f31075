//! How a lesson step's outcome is recognised from what a run left behind.

use crate::graph::{Graph, Layer};
use crate::insight::ParamHealth;
use crate::train::{RunHistory, RunState};

/// The outcome a step asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check {
    TestAccuracyAtLeast(f32),
    ValAndTestAccuracyAtLeast(f32),
    TestLossBelow(f32),
    ValLossBelow(f32),
    /// The last epoch's validation loss is well above the best epoch's (overfitting).
    ValLossRises,
    /// The last epoch's validation loss is within 5 % of the best: still falling at the end.
    ValLossKeepsFalling,
    /// First Dense layer's weight gradient over the last Dense layer's, in the newest
    /// gradient-health snapshot.
    FirstLayerGradientBelow(f32),
    FirstLayerGradientAtLeast(f32),
    Diverges,
    /// A trained model was exported (or served).
    Exported,
}

/// What the run (and the user) did.
#[derive(Clone, Debug)]
pub struct Evidence<'a> {
    pub history: Option<&'a RunHistory>,
    /// The newest gradient-health snapshot.
    pub health: &'a [ParamHealth],
    pub graph: &'a Graph,
    pub exported: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub met: bool,
    /// The figures behind it, in words.
    pub detail: String,
}

fn pct(a: f32) -> String {
    format!("{:.1} %", a * 100.0)
}

/// The gradient norm of the first and last Dense layers' weights.
pub fn first_last_gradients(graph: &Graph, health: &[ParamHealth]) -> Option<(f32, f32)> {
    let order = crate::graph::analyze(graph).order;
    let dense: Vec<&str> = order
        .iter()
        .map(|&i| &graph.nodes[i])
        .filter(|n| matches!(n.layer, Layer::Dense { .. }))
        .map(|n| n.id.as_str())
        .collect();
    let grad = |id: &str| {
        health
            .iter()
            .find(|h| h.node == id && h.param.ends_with("weight"))
            .map(|h| h.grad_norm)
    };
    Some((grad(dense.first()?)?, grad(dense.last()?)?))
}

impl Check {
    pub fn judge(&self, e: &Evidence) -> Verdict {
        let no = |detail: &str| Verdict {
            met: false,
            detail: detail.to_string(),
        };
        let finished = e.history.filter(|h| h.state == RunState::Finished);
        let val_losses: Vec<f32> = e
            .history
            .map(|h| {
                h.epochs
                    .iter()
                    .filter_map(|m| m.val.map(|v| v.loss))
                    .collect()
            })
            .unwrap_or_default();
        let test = finished.and_then(|h| h.test);
        match *self {
            Check::TestAccuracyAtLeast(a) => match test.and_then(|t| t.accuracy) {
                Some(t) => Verdict {
                    met: t >= a,
                    detail: format!("test accuracy {} (goal {})", pct(t), pct(a)),
                },
                None => no("train to the end to see the test accuracy"),
            },
            Check::ValAndTestAccuracyAtLeast(a) => {
                let val = finished.and_then(|h| h.epochs.last()?.val?.accuracy);
                match (val, test.and_then(|t| t.accuracy)) {
                    (Some(v), Some(t)) => Verdict {
                        met: v >= a && t >= a,
                        detail: format!("validation {}, test {} (goal {})", pct(v), pct(t), pct(a)),
                    },
                    _ => no("train to the end to see validation and test accuracy"),
                }
            }
            Check::TestLossBelow(l) => match test {
                Some(t) => Verdict {
                    met: t.loss < l,
                    detail: format!("test loss {:.4} (goal below {l})", t.loss),
                },
                None => no("train to the end to see the test loss"),
            },
            Check::ValLossBelow(l) => match finished.and(val_losses.last()) {
                Some(&v) => Verdict {
                    met: v < l,
                    detail: format!("validation loss {v:.4} (goal below {l})"),
                },
                None => no("train to the end to see the validation loss"),
            },
            Check::ValLossRises | Check::ValLossKeepsFalling => {
                if finished.is_none() || val_losses.len() < 3 {
                    return no("train to the end (at least 3 epochs) to see the validation curve");
                }
                let best = val_losses.iter().cloned().fold(f32::INFINITY, f32::min);
                let last = *val_losses.last().expect("3 or more");
                let at = val_losses.iter().position(|&v| v == best).unwrap_or(0) + 1;
                let detail = format!(
                    "validation loss: best {best:.4} at epoch {at}, last {last:.4} at epoch {}",
                    val_losses.len()
                );
                let rises = last > best * 1.10;
                let met = match self {
                    Check::ValLossRises => rises,
                    _ => last <= best * 1.05,
                };
                Verdict { met, detail }
            }
            Check::FirstLayerGradientBelow(r) | Check::FirstLayerGradientAtLeast(r) => {
                match first_last_gradients(e.graph, e.health) {
                    Some((first, last)) if last > 0.0 => {
                        let ratio = first / last;
                        let met = match self {
                            Check::FirstLayerGradientBelow(_) => ratio < r,
                            _ => ratio >= r,
                        };
                        Verdict {
                            met,
                            detail: format!(
                                "first layer's gradient {first:.2e}, last layer's {last:.2e}: {:.2} % (goal {} {:.0} %)",
                                ratio * 100.0,
                                if matches!(self, Check::FirstLayerGradientBelow(_)) { "below" } else { "at least" },
                                r * 100.0
                            ),
                        }
                    }
                    _ => no("train for a few steps so the gradient health is measured"),
                }
            }
            Check::Diverges => match e.history.map(|h| &h.state) {
                Some(RunState::Diverged { step, what, .. }) => Verdict {
                    met: true,
                    detail: format!("diverged at step {step}: {what}"),
                },
                _ => no("train to see what happens"),
            },
            Check::Exported => Verdict {
                met: e.exported,
                detail: if e.exported {
                    "exported".into()
                } else {
                    "train, then export the model".into()
                },
            },
        }
    }
}
