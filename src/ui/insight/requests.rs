//! The insight requests: starting the insight thread, asking it for maps, maximisation and
//! evaluations, and taking its answers.

use super::{MapResult, Maximized, METHODS};
use crate::insight::{
    Baseline, ExplainMethod, InsightHandle, InsightReply, InsightRequest, LimeSettings,
    SaliencyMethod, Segmentation, ShapSettings,
};
use crate::ui::studio::Studio;

/// Seconds between live saliency refreshes while training.
const LIVE_EVERY_S: f64 = 1.0;

impl Studio {
    /// Makes sure an insight thread runs for the current graph with the latest weights.
    fn insight_ready(&mut self) -> bool {
        let graph = self.doc.project.graph.clone();
        let weights = self
            .insight
            .weights
            .clone()
            .or_else(|| self.session.weights.clone());
        let dir = self
            .doc
            .path
            .as_ref()
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf));
        let data = self
            .data
            .dataset_for(&self.doc.project.data, dir.as_deref());
        let (Some(weights), Some(data)) = (weights, data) else {
            self.insight.error = Some(if self.data.dataset.is_none() {
                "Load the data first (Data tab).".into()
            } else {
                "Train the network first: explanations need trained weights.".into()
            });
            return false;
        };
        // A new mode or data source changes what the worker builds (a GAN's generator, the
        // text encoding), as a new graph structure does.
        let same = self
            .insight
            .handle_graph
            .as_ref()
            .is_some_and(|g| crate::ui::editor::same_structure(g, &graph))
            && self.insight.handle_setup
                == Some((self.doc.project.mode, self.doc.project.data.source.clone()));
        if self.insight.handle.is_none() || !same {
            let repaint = self.repaint_ctx();
            let notify: Option<crate::train::Notify> =
                repaint.map(|ctx| Box::new(move || ctx.request_repaint()) as crate::train::Notify);
            match InsightHandle::spawn(self.doc.project.clone(), data, weights, notify) {
                Ok(h) => {
                    self.insight.handle = Some(h);
                    self.insight.handle_graph = Some(graph);
                    self.insight.handle_setup =
                        Some((self.doc.project.mode, self.doc.project.data.source.clone()));
                }
                Err(e) => {
                    self.insight.error = Some(format!("cannot start the insight thread: {e}"));
                    return false;
                }
            }
        }
        self.insight.error = None;
        true
    }

    pub(super) fn insight_request(&mut self, r: InsightRequest) {
        if self.insight_ready() {
            if let Some(h) = &self.insight.handle {
                h.request(r);
                self.insight.pending += 1;
            }
        }
    }

    /// Takes finished insight answers; every frame.
    pub fn poll_insight(&mut self) {
        let mut replies = Vec::new();
        if let Some(h) = &self.insight.handle {
            while let Some(r) = h.try_recv() {
                replies.push(r);
            }
        }
        for r in replies {
            if !matches!(r, InsightReply::MaximizeProgress { .. }) {
                self.insight.pending = self.insight.pending.saturating_sub(1);
            }
            match r {
                InsightReply::Saliency {
                    sample,
                    method,
                    attribution,
                    elapsed_ms,
                } => {
                    let result = MapResult {
                        method: method.name().to_string(),
                        sample,
                        dims: attribution.dims,
                        values: attribution.values,
                        elapsed_ms,
                        note: None,
                    };
                    self.map_arrived(result);
                }
                InsightReply::Explain {
                    sample,
                    method,
                    explanation,
                    elapsed_ms,
                } => {
                    let note = match explanation.r2 {
                        Some(r2) => {
                            format!("{} segments, fit R² = {r2:.2}", explanation.n_segments)
                        }
                        None => format!(
                            "{} segments, Σφ = {:.3} = f(x) − E[f]",
                            explanation.n_segments,
                            explanation.weights.iter().sum::<f32>()
                        ),
                    };
                    let result = MapResult {
                        method: method.name().to_string(),
                        dims: sample.dims.clone(),
                        values: explanation.per_value(),
                        sample,
                        elapsed_ms,
                        note: Some(note),
                    };
                    self.map_arrived(result);
                }
                InsightReply::MaximizeProgress {
                    dims,
                    image,
                    objective,
                    ..
                } => {
                    let mut history = self
                        .insight
                        .maximize
                        .take()
                        .map(|m| m.history)
                        .unwrap_or_default();
                    history.push(objective);
                    self.insight.maximize = Some(Maximized {
                        dims,
                        image,
                        history,
                        done: false,
                    });
                }
                InsightReply::MaximizeDone {
                    dims,
                    image,
                    history,
                } => {
                    self.insight.maximize = Some(Maximized {
                        dims,
                        image,
                        history,
                        done: true,
                    });
                }
                InsightReply::Evaluation { split, evaluation } => {
                    self.insight.evaluation = Some((split, evaluation));
                    self.insight.cell = None;
                }
                InsightReply::RegressionEvaluation {
                    split,
                    evaluation,
                    baseline,
                } => {
                    self.insight.regression = Some(super::regression_view::RegressionEvaluated {
                        split,
                        evaluation,
                        baseline,
                    });
                }
                InsightReply::Baselines { majority, linear } => {
                    self.insight.baselines = Some((majority, linear))
                }
                InsightReply::Error(e) => {
                    self.insight.error = Some(e);
                    self.insight.compare_queue.clear();
                    self.insight.tryit.failed();
                }
                // The family views (generation, latent plane) take these.
                reply => self.family_reply(reply),
            }
        }
        // Live: refresh the current map during training.
        if self.insight.live
            && self.is_training()
            && self.insight.map.is_some()
            && !self.insight.is_busy()
            && self.time() - self.insight.last_live >= LIVE_EVERY_S
        {
            self.insight.last_live = self.time();
            self.request_current_method();
        }
    }

    fn map_arrived(&mut self, result: MapResult) {
        if self.insight.compare_queue.is_empty() && self.insight.compare.is_empty() {
            self.insight.map = Some(result);
            return;
        }
        self.insight.map = Some(result.clone());
        self.insight.compare.push(result);
        if let Some(next) = self.insight.compare_queue.pop() {
            self.request_method(next);
        }
    }

    fn sample_index(&self) -> Option<usize> {
        let data = self.data.dataset.as_ref()?;
        let split = if data.val.is_empty() {
            &data.test
        } else {
            &data.val
        };
        split
            .get(self.insight.sample_pos.min(split.len().saturating_sub(1)))
            .copied()
    }

    fn method_request(&self, m: usize) -> Option<InsightRequest> {
        let sample = self.sample_index()?;
        let p = &self.insight.params;
        let class = self.insight.class;
        let image = self
            .data
            .dataset
            .as_ref()
            .is_some_and(|d| d.sample_shape.len() == 3);
        let segmentation = if !image {
            Segmentation::Features
        } else if p.slic {
            Segmentation::Slic {
                segments: p.slic_segments,
                compactness: 0.5,
            }
        } else {
            Segmentation::Grid { cell: p.grid_cell }
        };
        let method = match m {
            0 => SaliencyMethod::Vanilla,
            1 => SaliencyMethod::GradTimesInput,
            2 => SaliencyMethod::SmoothGrad {
                samples: p.smooth_samples,
                sigma: p.smooth_sigma,
            },
            3 => SaliencyMethod::IntegratedGradients {
                steps: p.ig_steps,
                baseline: if p.ig_blur_baseline {
                    Baseline::Blur
                } else {
                    Baseline::Zero
                },
            },
            4 => SaliencyMethod::Occlusion {
                patch: p.occ_patch,
                stride: p.occ_stride,
            },
            5 => SaliencyMethod::GradCam {
                node: self.cam_node()?,
            },
            6 => {
                return Some(InsightRequest::Explain {
                    sample,
                    class,
                    method: ExplainMethod::Lime {
                        segmentation,
                        settings: LimeSettings {
                            samples: p.lime_samples,
                            ..Default::default()
                        },
                    },
                })
            }
            _ => {
                return Some(InsightRequest::Explain {
                    sample,
                    class,
                    method: ExplainMethod::KernelShap {
                        segmentation,
                        background: p.shap_background,
                        settings: ShapSettings {
                            max_coalitions: p.shap_coalitions,
                            seed: 0,
                        },
                    },
                })
            }
        };
        Some(InsightRequest::Saliency {
            sample,
            class,
            method,
        })
    }

    /// Nodes with [C, H, W] outputs, where Grad-CAM applies.
    pub(super) fn conv_nodes(&self) -> Vec<String> {
        self.doc
            .project
            .graph
            .nodes
            .iter()
            .filter(|n| {
                self.doc
                    .analysis
                    .node(&n.id)
                    .and_then(|s| s.output.as_ref())
                    .is_some_and(|o| o.rank() == 3)
                    && n.layer.kind() != crate::graph::LayerKind::Input
            })
            .map(|n| n.id.clone())
            .collect()
    }

    pub(super) fn cam_node(&self) -> Option<String> {
        let nodes = self.conv_nodes();
        if nodes.contains(&self.insight.params.cam_node) {
            Some(self.insight.params.cam_node.clone())
        } else {
            nodes.last().cloned()
        }
    }

    fn request_method(&mut self, m: usize) {
        match self.method_request(m) {
            Some(r) => self.insight_request(r),
            None => {
                self.insight.error = Some(if m == 5 {
                    "Grad-CAM needs a convolution layer in the network.".into()
                } else {
                    "Load the data first.".into()
                })
            }
        }
    }

    pub fn request_current_method(&mut self) {
        self.insight.compare.clear();
        self.insight.compare_queue.clear();
        self.request_method(self.insight.method);
    }

    pub(super) fn request_all_methods(&mut self) {
        self.insight.compare.clear();
        let image = self
            .data
            .dataset
            .as_ref()
            .is_some_and(|d| d.sample_shape.len() == 3);
        let mut queue: Vec<usize> = (0..METHODS.len())
            .filter(|&m| m != 5 || (image && self.cam_node().is_some()))
            .collect();
        queue.reverse();
        if let Some(first) = queue.pop() {
            self.insight.compare_queue = queue;
            self.request_method(first);
        }
    }
}
