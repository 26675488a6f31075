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
    /// The run learned (its best validation loss at least 10 % under the first epoch's), is
    /// still falling at the end (the last within 5 % of the best), and ends below the given
    /// loss (what the run it fixes reached at its best).
    ValLossKeepsFallingBelow(f32),
    /// First Dense layer's weight gradient over the last Dense layer's, in the newest
    /// gradient-health snapshot.
    FirstLayerGradientBelow(f32),
    FirstLayerGradientAtLeast(f32),
    Diverges,
    /// A trained model was exported (or served).
    Exported,
    /// Among as many samples as were flipped on purpose (`data.label_noise`), the data map's
    /// likeliest mislabelled hold at least this share of them.
    DataMapFindsFlipped(f32),
}

/// What the run (and the user) did.
#[derive(Clone, Debug)]
pub struct Evidence<'a> {
    pub history: Option<&'a RunHistory>,
    /// The newest gradient-health snapshot.
    pub health: &'a [ParamHealth],
    pub graph: &'a Graph,
    pub exported: bool,
    /// Training samples whose labels the data's `label_noise` flipped.
    pub flipped: &'a [usize],
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
            Check::ValLossRises | Check::ValLossKeepsFallingBelow(_) => {
                if finished.is_none() || val_losses.len() < 3 {
                    return no("train to the end (at least 3 epochs) to see the validation curve");
                }
                let best = val_losses.iter().cloned().fold(f32::INFINITY, f32::min);
                let first = val_losses[0];
                let last = *val_losses.last().expect("3 or more");
                let at = val_losses.iter().position(|&v| v == best).unwrap_or(0) + 1;
                let mut detail = format!(
                    "validation loss: first {first:.4}, best {best:.4} at epoch {at}, last {last:.4} at epoch {}",
                    val_losses.len()
                );
                let met = if let Check::ValLossKeepsFallingBelow(goal) = *self {
                    detail += &format!(" (goal: still falling, and below {goal})");
                    // A flat curve that never learned is not "still falling".
                    let learned = best <= first * 0.9;
                    learned && last <= best * 1.05 && last < goal
                } else {
                    last > best * 1.10
                };
                Verdict { met, detail }
            }
            Check::FirstLayerGradientBelow(r) | Check::FirstLayerGradientAtLeast(r) => {
                match first_last_gradients(e.graph, e.health) {
                    // A gradient of exactly zero is a layer nothing reached (or nothing
                    // measured), not a small gradient: no evidence either way.
                    Some((first, last)) if first > 0.0 && last > 0.0 => {
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
            Check::DataMapFindsFlipped(goal) => {
                let Some((epoch, map)) = finished.and_then(|h| h.datamap.as_ref()) else {
                    return no("train to the end to see the data map");
                };
                let k = e.flipped.len();
                if k == 0 {
                    return no("this data has no labels flipped on purpose");
                }
                let flipped: std::collections::HashSet<usize> = e.flipped.iter().copied().collect();
                let hit = map
                    .likely_mislabelled(k)
                    .iter()
                    .filter(|p| flipped.contains(&p.index))
                    .count();
                let share = hit as f32 / k as f32;
                Verdict {
                    met: share >= goal,
                    detail: format!(
                        "after {epoch} epochs, {hit} of the map's {k} likeliest mislabelled samples are flipped ones: {} (goal {})",
                        pct(share),
                        pct(goal)
                    ),
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{DType, Node};
    use crate::train::{EpochMetrics, EvalMetrics, TrainEvent};

    fn finished_run(val_losses: &[f32]) -> RunHistory {
        let mut h = RunHistory::new("test");
        for (i, &loss) in val_losses.iter().enumerate() {
            h.apply(&TrainEvent::Epoch(EpochMetrics {
                epoch: i + 1,
                step: (i + 1) * 10,
                train_loss: loss,
                train_acc: None,
                val: Some(EvalMetrics {
                    loss,
                    accuracy: None,
                    samples: 100,
                    regression: None,
                }),
                elapsed_ms: 1.0,
            }));
        }
        h.apply(&TrainEvent::Finished {
            test: None,
            weights: Default::default(),
            elapsed_ms: 1.0,
        });
        h
    }

    fn judge(check: Check, history: Option<&RunHistory>, health: &[ParamHealth]) -> bool {
        let dense = |units| Layer::Dense { units, bias: true };
        let input = Layer::Input {
            shape: vec![3],
            dtype: DType::F32,
        };
        let graph = Graph::chain(vec![
            Node::new("in", input),
            Node::new("fc1", dense(4)),
            Node::new("fc2", dense(2)),
        ]);
        let e = Evidence {
            history,
            health,
            graph: &graph,
            exported: false,
            flipped: &[],
        };
        check.judge(&e).met
    }

    #[test]
    fn still_falling_needs_a_curve_that_learned_and_beats_the_goal() {
        let check = Check::ValLossKeepsFallingBelow(0.74);
        let falling = finished_run(&[1.2, 0.8, 0.65, 0.6, 0.59]);
        assert!(judge(check, Some(&falling), &[]));
        // Flat: never learned, though the last is "within 5 % of the best".
        let flat = finished_run(&[0.6, 0.6, 0.6, 0.6]);
        assert!(!judge(check, Some(&flat), &[]));
        // Fell, but not below what the overfit run reached.
        let short = finished_run(&[1.2, 0.9, 0.8]);
        assert!(!judge(check, Some(&short), &[]));
        // Turned up at the end.
        let rising = finished_run(&[1.2, 0.6, 0.7]);
        assert!(!judge(check, Some(&rising), &[]));
        assert!(judge(Check::ValLossRises, Some(&rising), &[]));
    }

    #[test]
    fn a_zero_gradient_is_no_evidence_of_a_small_one() {
        let health = |first: f32| {
            ["fc1", "fc2"]
                .iter()
                .zip([first, 1.0])
                .map(|(node, g)| ParamHealth {
                    param: format!("{node}.weight"),
                    node: node.to_string(),
                    grad_norm: g,
                    weight_norm: 1.0,
                    update_ratio: 1e-3,
                    grad_histogram: None,
                })
                .collect::<Vec<_>>()
        };
        let check = Check::FirstLayerGradientBelow(0.01);
        assert!(judge(check, None, &health(0.001)));
        assert!(!judge(check, None, &health(0.0)));
        assert!(!judge(check, None, &health(0.5)));
    }
}
