//! Plain-words diagnosis of a run from its curves and gradient health, each with a one-click fix
//! that changes the project.

use super::snapshot::Snapshot;
use super::stats::activation_stats;
use crate::graph::{Graph, Layer, LayerKind, Node};
use crate::project::Project;
use crate::train::{RunHistory, RunState, Schedule};

/// Gradient norms below this mean a layer has stopped learning.
pub const VANISHING: f32 = 1e-7;
/// Gradient norms above this are about to blow the weights up.
pub const EXPLODING: f32 = 1e3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    Divergence,
    Overfitting,
    Underfitting,
    Plateau,
    /// A short run whose loss was still falling when it ended: too few steps, not too little
    /// capacity.
    TooFewSteps,
    /// The loss jumped far above where it started and never came back down: steps too large,
    /// told from too little capacity by the curve.
    RateTooHigh,
    VanishingGradients,
    ExplodingGradients,
    DeadRelus,
    /// A layer's updates are tiny against its weights: it barely moves.
    UpdatesTooSmall,
    /// A layer's updates are a large share of its weights: it jumps about.
    UpdatesTooLarge,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fix {
    LowerLearningRate {
        factor: f64,
    },
    RaiseLearningRate {
        factor: f64,
    },
    AddWeightDecay {
        value: f64,
    },
    /// A Dropout layer before the last Dense layer.
    AddDropout {
        p: f32,
    },
    MoreEpochs {
        epochs: usize,
    },
    /// Double the units of every hidden Dense layer.
    WiderLayers,
    CosineSchedule,
    /// Replace ReLU layers by LeakyReLU.
    LeakyRelu,
    /// Replace Sigmoid and Tanh layers by ReLU.
    UseRelu,
}

impl Fix {
    pub fn label(&self) -> String {
        match self {
            Fix::LowerLearningRate { factor } => format!("Lower the learning rate ×{factor}"),
            Fix::RaiseLearningRate { factor } => format!("Raise the learning rate ×{factor}"),
            Fix::AddWeightDecay { value } => format!("Add weight decay {value}"),
            Fix::AddDropout { p } => format!("Add Dropout ({p}) before the last layer"),
            Fix::MoreEpochs { epochs } => format!("Train for {epochs} epochs"),
            Fix::WiderLayers => "Double the hidden units".into(),
            Fix::CosineSchedule => "Use a cosine learning-rate schedule".into(),
            Fix::LeakyRelu => "Replace ReLU by LeakyReLU".into(),
            Fix::UseRelu => "Replace Sigmoid/Tanh by ReLU".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis {
    pub finding: Finding,
    pub message: String,
    pub fix: Option<Fix>,
}

/// Fewer optimisation steps than this, with the loss still falling, is too short to judge.
const MIN_STEPS: usize = 300;

/// For a finished run too short to have learned (fewer than `MIN_STEPS` steps, the loss of its
/// last third at least 3 % under its first third's and not above its middle third's: still
/// falling), the epochs that give at least `MIN_STEPS`.
fn too_few_steps(history: &RunHistory) -> Option<usize> {
    let info = history.info.as_ref()?;
    if history.state != RunState::Finished || history.step >= MIN_STEPS {
        return None;
    }
    let losses: Vec<f64> = history.losses.iter().map(|p| p[1]).collect();
    if losses.len() < 3 {
        return None;
    }
    let third = (losses.len() / 3).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (start, middle, end) = (
        mean(&losses[..third]),
        mean(&losses[losses.len() - 2 * third..losses.len() - third]),
        mean(&losses[losses.len() - third..]),
    );
    let still_falling = end < start * 0.97 && end <= middle;
    let per_epoch = info.steps_per_epoch.max(1);
    still_falling.then(|| MIN_STEPS.div_ceil(per_epoch).max(info.epochs + 1))
}

/// A run whose per-step loss jumped to more than 3× its first value within its first fifth and
/// whose second half still averages above 30 % of that first value: (first, peak, end).
/// Too little capacity creeps down from the start instead; a rate that is merely brisk spikes
/// and recovers.
fn rate_too_high(history: &RunHistory) -> Option<(f64, f64, f64)> {
    let losses: Vec<f64> = history.losses.iter().map(|p| p[1]).collect();
    let n = losses.len();
    if n < 20 || !losses.iter().all(|v| v.is_finite()) {
        return None;
    }
    let first = losses[0];
    let peak = losses[1..=n / 5].iter().cloned().fold(f64::MIN, f64::max);
    let half = &losses[n / 2..];
    let end = half.iter().sum::<f64>() / half.len() as f64;
    (first > 0.0 && peak > 3.0 * first && end > 0.3 * first).then_some((first, peak, end))
}

/// What the run's history and latest snapshot say, most serious first.
pub fn diagnose(
    history: &RunHistory,
    snapshot: Option<&Snapshot>,
    graph: &Graph,
) -> Vec<Diagnosis> {
    let mut out = Vec::new();
    if let RunState::Diverged { step, what, layer } = &history.state {
        let place = layer.as_ref().map_or(String::new(), |l| {
            format!(" The first layer with non-finite or exploding values is {l}.")
        });
        out.push(Diagnosis {
            finding: Finding::Divergence,
            message: format!("Divergence at step {step}: {what}.{place} The learning rate is too high for this network."),
            fix: Some(Fix::LowerLearningRate { factor: 0.1 }),
        });
        return out;
    }
    let e = &history.epochs;
    // Overfitting: validation loss has risen since its best epoch while training loss kept falling.
    let vals: Vec<(usize, f32, f32)> = e
        .iter()
        .filter_map(|m| m.val.map(|v| (m.epoch, v.loss, m.train_loss)))
        .collect();
    if vals.len() >= 3 {
        let (best_i, best) = vals
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(i, v)| (i, *v))
            .expect("non-empty");
        let last = vals.last().expect("non-empty");
        if best_i + 2 < vals.len() && last.1 > best.1 * 1.05 && last.2 < best.2 {
            let has_dropout = graph
                .nodes
                .iter()
                .any(|n| n.layer.kind() == LayerKind::Dropout);
            out.push(Diagnosis {
                finding: Finding::Overfitting,
                message: format!(
                    "Validation loss rising while train loss falls since epoch {} ({:.3} → {:.3} while train loss went {:.3} → {:.3}): overfitting — try dropout, weight decay, more data or early stopping.",
                    best.0, best.1, last.1, best.2, last.2
                ),
                fix: Some(if has_dropout { Fix::AddWeightDecay { value: 1e-3 } } else { Fix::AddDropout { p: 0.3 } }),
            });
        }
    }
    // Too few steps: the run ended while its loss was still falling, before the steps a
    // network needs to learn. More epochs, not more units, is the cure; it is said instead of
    // "underfitting" then.
    let short = too_few_steps(history);
    if let Some(epochs) = short {
        out.push(Diagnosis {
            finding: Finding::TooFewSteps,
            message: format!(
                "The run took only {} optimisation steps and its loss was still falling when it stopped: it has not had time to learn. Train for {epochs} epochs (about {MIN_STEPS} steps or more) before judging the network.",
                history.step
            ),
            fix: Some(Fix::MoreEpochs { epochs }),
        });
    }
    // Too high a rate: the curve jumped up in the first steps and never recovered. Said
    // instead of "underfitting", whose cure (more units) would not help.
    let too_fast = rate_too_high(history);
    if let Some((first, peak, end)) = too_fast {
        out.push(Diagnosis {
            finding: Finding::RateTooHigh,
            message: format!(
                "The loss jumped from {first:.3} to {peak:.3} in the first steps and has stayed high (about {end:.3} in the second half): the steps are too large to settle into a minimum. Lower the learning rate."
            ),
            fix: Some(Fix::LowerLearningRate { factor: 0.1 }),
        });
    }
    // Updates far from their weights' scale: said before (and instead of) underfitting, whose
    // cure (more units) would not help a layer that barely moves.
    let updates = snapshot.and_then(|s| update_size(&s.health));
    let barely_moves = updates
        .as_ref()
        .is_some_and(|d| d.finding == Finding::UpdatesTooSmall);
    out.extend(updates);
    // Underfitting: after a few epochs the network still gets much of the training set wrong.
    if let Some(last) = e
        .last()
        .filter(|_| short.is_none() && too_fast.is_none() && !barely_moves)
    {
        if let Some(acc) = last.train_acc {
            let stuck = e.len() >= 3 && acc < 0.7;
            if stuck {
                out.push(Diagnosis {
                    finding: Finding::Underfitting,
                    message: format!(
                        "Training accuracy is only {:.1} % after {} epochs: the network underfits — give it more units or layers, or train longer.",
                        acc * 100.0,
                        last.epoch
                    ),
                    fix: Some(Fix::WiderLayers),
                });
            }
        }
    }
    // Plateau: the smoothed loss of the last quarter of the run hardly moves, and is not near zero.
    let smooth = history.smoothed_losses(0.9);
    if smooth.len() >= 200 {
        let q = smooth.len() * 3 / 4;
        let (a, b) = (smooth[q][1], smooth[smooth.len() - 1][1]);
        let first = smooth[0][1];
        if (a - b).abs() < 0.02 * a.abs() && b > 0.1 * first && b > 0.05 {
            out.push(Diagnosis {
                finding: Finding::Plateau,
                message: format!(
                    "The loss has hardly moved since step {} (about {:.3}): a plateau — a decaying learning rate often gets it moving again.",
                    smooth[q][0], b
                ),
                fix: Some(Fix::CosineSchedule),
            });
        }
    }
    if let Some(snap) = snapshot {
        if let Some(h) = snap
            .health
            .iter()
            .find(|h| h.grad_norm < VANISHING && h.weight_norm > 0.0)
        {
            let saturating = graph
                .nodes
                .iter()
                .any(|n| matches!(n.layer, Layer::Sigmoid | Layer::Tanh));
            out.push(Diagnosis {
                finding: Finding::VanishingGradients,
                message: format!(
                    "Gradients vanish at '{}' (‖g‖ = {:.1e} < 1e-7): the layers before it barely learn{}.",
                    h.node,
                    h.grad_norm,
                    if saturating { "; Sigmoid and Tanh saturate, ReLU does not" } else { "" }
                ),
                fix: saturating.then_some(Fix::UseRelu),
            });
        }
        if let Some(h) = snap.health.iter().find(|h| h.grad_norm > EXPLODING) {
            out.push(Diagnosis {
                finding: Finding::ExplodingGradients,
                message: format!(
                    "Gradients explode at '{}' (‖g‖ = {:.1e}): the next steps may diverge.",
                    h.node, h.grad_norm
                ),
                fix: Some(Fix::LowerLearningRate { factor: 0.1 }),
            });
        }
        for a in &snap.activations {
            let is_relu = graph
                .node(&a.node)
                .is_some_and(|n| n.layer.kind() == LayerKind::ReLU);
            if !is_relu {
                continue;
            }
            let s = activation_stats(a);
            if s.dead_fraction >= 0.5 {
                out.push(Diagnosis {
                    finding: Finding::DeadRelus,
                    message: format!(
                        "{:.0} % of '{}''s units never fire on the probe samples (dead ReLUs): they pass no gradient and no longer learn.",
                        s.dead_fraction * 100.0,
                        a.node
                    ),
                    fix: Some(Fix::LeakyRelu),
                });
                break;
            }
        }
    }
    out
}

/// Healthy updates are about a thousandth of the weights (1e-4 to 1e-2); below 1e-5 a layer
/// barely moves, above 1e-1 it jumps about.
const UPDATES_TOO_SMALL: f32 = 1e-5;
const UPDATES_TOO_LARGE: f32 = 1e-1;

/// The weight matrix whose updates are furthest outside the healthy band, if one is far
/// outside it, with the learning-rate change that brings it to about 1e-3 (a power of ten).
fn update_size(health: &[crate::train::snapshot::ParamHealth]) -> Option<Diagnosis> {
    // Weights, not biases (which start at zero), and only layers that moved (frozen ones do not).
    let weights = health
        .iter()
        .filter(|h| h.param.ends_with(".weight") && h.update_ratio > 0.0 && h.weight_norm > 0.0);
    let worst = weights.max_by(|a, b| {
        let off = |r: f32| (r.log10() + 3.0).abs();
        off(a.update_ratio).total_cmp(&off(b.update_ratio))
    })?;
    let r = worst.update_ratio;
    let factor = 10f64.powi((1e-3f64 / r as f64).log10().round().clamp(-3.0, 3.0) as i32);
    let (finding, fix, verdict) = if r < UPDATES_TOO_SMALL {
        (
            Finding::UpdatesTooSmall,
            Fix::RaiseLearningRate { factor },
            "the learning rate is too small for this layer",
        )
    } else if r > UPDATES_TOO_LARGE {
        (
            Finding::UpdatesTooLarge,
            Fix::LowerLearningRate { factor },
            "the learning rate is too large for this layer",
        )
    } else {
        return None;
    };
    Some(Diagnosis {
        finding,
        message: format!(
            "{}'s updates are {r:.0e} of its weights (healthy: about 1e-3): {verdict}.",
            worst.param
        ),
        fix: Some(fix),
    })
}

/// Applies a fix to the project and says what changed.
pub fn apply_fix(project: &mut Project, fix: &Fix) -> String {
    let t = &mut project.training;
    match fix {
        Fix::LowerLearningRate { factor } | Fix::RaiseLearningRate { factor } => {
            let old = t.lr;
            t.lr *= factor;
            format!("learning rate {old:e} → {:e}", t.lr)
        }
        Fix::AddWeightDecay { value } => {
            t.weight_decay = *value;
            format!("weight decay set to {value}")
        }
        Fix::MoreEpochs { epochs } => {
            t.epochs = *epochs;
            format!("epochs set to {epochs}")
        }
        Fix::CosineSchedule => {
            t.schedule = Schedule::Cosine {
                min_lr: t.lr * 0.01,
            };
            "cosine learning-rate schedule".into()
        }
        Fix::AddDropout { p } => add_dropout(&mut project.graph, *p),
        Fix::WiderLayers => {
            let out_src = last_dense(&project.graph);
            let mut n = 0;
            for node in &mut project.graph.nodes {
                if let Layer::Dense { units, .. } = &mut node.layer {
                    if Some(&node.id) != out_src.as_ref() {
                        *units *= 2;
                        n += 1;
                    }
                }
            }
            format!("{n} hidden Dense layer(s) doubled")
        }
        Fix::LeakyRelu => replace_layers(
            &mut project.graph,
            |l| matches!(l, Layer::ReLU),
            Layer::LeakyReLU { slope: 0.01 },
        ),
        Fix::UseRelu => replace_layers(
            &mut project.graph,
            |l| matches!(l, Layer::Sigmoid | Layer::Tanh),
            Layer::ReLU,
        ),
    }
}

fn replace_layers(graph: &mut Graph, matches: impl Fn(&Layer) -> bool, with: Layer) -> String {
    let mut n = 0;
    for node in &mut graph.nodes {
        if matches(&node.layer) {
            node.layer = with.clone();
            n += 1;
        }
    }
    format!("{n} layer(s) replaced by {}", with.kind())
}

/// The Dense layer whose output feeds the Output node (possibly through activations).
fn last_dense(graph: &Graph) -> Option<String> {
    let mut cursor = graph
        .nodes
        .iter()
        .find(|n| n.layer.kind() == LayerKind::Output)?
        .id
        .clone();
    for _ in 0..graph.nodes.len() {
        let src = graph.edges.iter().find(|e| e.to == cursor)?.from.clone();
        if graph.node(&src)?.layer.kind() == LayerKind::Dense {
            return Some(src);
        }
        cursor = src;
    }
    None
}

fn add_dropout(graph: &mut Graph, p: f32) -> String {
    let Some(dense) = last_dense(graph) else {
        return "no Dense layer to put Dropout before".into();
    };
    let id = graph.fresh_id(LayerKind::Dropout);
    let pos = graph
        .node(&dense)
        .map_or([0.0, 0.0], |n| [n.pos[0] - 40.0, n.pos[1] + 130.0]);
    for e in graph.edges.iter_mut().filter(|e| e.to == dense) {
        e.to = id.clone();
    }
    graph
        .edges
        .push(crate::graph::Edge::new(id.clone(), dense.clone()));
    let mut node = Node::new(id.clone(), Layer::Dropout { p });
    node.pos = pos;
    graph.nodes.push(node);
    format!("Dropout '{id}' (p = {p}) added before '{dense}'")
}
