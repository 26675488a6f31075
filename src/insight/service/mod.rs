//! The insight thread: it owns its own model (built from the graph, fed the latest weights) and
//! answers saliency, explanation, maximisation and evaluation requests as plain data, so the UI
//! never waits and never touches candle.

use super::attention::AttentionMap;
use super::evaluate::{evaluate_split, linear_baseline, majority_baseline, Evaluation};
use super::explain::{kernel_shap, lime, Explanation, LimeSettings, Segmentation, ShapSettings};
use super::latent::{latent_node, LatentMap};
use super::maximize::{maximize, MaxTarget, MaximizeSettings};
use super::saliency::{saliency, top_classes, Attribution, SaliencyMethod};
use super::tryit::{ImageVerdict, TextVerdict};
use crate::data::Dataset;
use crate::graph::{gan_parts, TrainingMode};
use crate::model::{Model, SampleOptions, TargetEncoding, Weights};
use crate::project::Project;
use crate::train::{make_batch, Control};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

mod family;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Validation,
    Test,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExplainMethod {
    Lime {
        segmentation: Segmentation,
        settings: LimeSettings,
    },
    KernelShap {
        segmentation: Segmentation,
        background: usize,
        settings: ShapSettings,
    },
}

impl ExplainMethod {
    pub fn name(&self) -> &'static str {
        match self {
            ExplainMethod::Lime { .. } => "LIME",
            ExplainMethod::KernelShap { .. } => "KernelSHAP",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum InsightRequest {
    Saliency {
        sample: usize,
        class: Option<usize>,
        method: SaliencyMethod,
    },
    Explain {
        sample: usize,
        class: Option<usize>,
        method: ExplainMethod,
    },
    Maximize {
        target: MaxTarget,
        settings: MaximizeSettings,
    },
    Evaluate {
        split: Split,
    },
    Baselines,
    /// Text from a language model.
    Generate {
        prompt: String,
        options: SampleOptions,
    },
    /// The latent codes of up to `samples` validation samples on a plane.
    Latent {
        samples: usize,
    },
    /// Images the decoder makes of codes put in at `node`.
    Decode {
        node: String,
        codes: Vec<Vec<f32>>,
    },
    /// Inputs beside the model's reconstructions.
    Reconstruct {
        samples: Vec<usize>,
    },
    /// A typed text through a text classifier.
    ClassifyText {
        text: String,
    },
    /// A drawn image (raw pixel values, one sample's shape) through an image classifier,
    /// centred first by its centre of mass when `center` is set.
    ClassifyImage {
        raw: Vec<f32>,
        center: bool,
    },
    /// The self-attention maps of a typed text.
    Attention {
        text: String,
    },
    /// A GAN's samples between two noise vectors.
    GanInterpolation {
        steps: usize,
        seed: u64,
    },
}

impl InsightRequest {
    /// Requests of one kind replace each other in the queue.
    fn kind(&self) -> u8 {
        match self {
            InsightRequest::Saliency { .. } => 0,
            InsightRequest::Explain { .. } => 1,
            InsightRequest::Maximize { .. } => 2,
            InsightRequest::Evaluate { .. } => 3,
            InsightRequest::Baselines => 4,
            InsightRequest::Generate { .. } => 5,
            InsightRequest::Latent { .. } => 6,
            InsightRequest::Decode { .. } => 7,
            InsightRequest::Reconstruct { .. } => 8,
            InsightRequest::ClassifyText { .. } => 9,
            InsightRequest::ClassifyImage { .. } => 10,
            InsightRequest::Attention { .. } => 11,
            InsightRequest::GanInterpolation { .. } => 12,
        }
    }

    /// Requests that explain a classifier's or regressor's predictions of the labels.
    fn is_supervised(&self) -> bool {
        self.kind() <= 4
    }
}

/// The sample an answer is about, for display.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleView {
    pub index: usize,
    pub dims: Vec<usize>,
    /// Values before normalisation (pixels 0..255 for images).
    pub raw: Vec<f32>,
    pub label: Option<usize>,
    /// The model's top three classes with probabilities.
    pub top: Vec<(usize, f32)>,
    pub class: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum InsightReply {
    Saliency {
        sample: SampleView,
        method: SaliencyMethod,
        attribution: Attribution,
        elapsed_ms: f64,
    },
    Explain {
        sample: SampleView,
        method: ExplainMethod,
        explanation: Explanation,
        elapsed_ms: f64,
    },
    MaximizeProgress {
        step: usize,
        dims: Vec<usize>,
        image: Vec<f32>,
        objective: f32,
    },
    MaximizeDone {
        dims: Vec<usize>,
        image: Vec<f32>,
        history: Vec<f32>,
    },
    Evaluation {
        split: Split,
        evaluation: Evaluation,
    },
    Baselines {
        majority: Option<f32>,
        linear: Option<f32>,
    },
    /// A regression's evaluation, with the least-squares baseline on the same split.
    RegressionEvaluation {
        split: Split,
        evaluation: super::RegressionEvaluation,
        baseline: Option<crate::train::RegressionMetrics>,
    },
    Generated {
        text: String,
        elapsed_ms: f64,
    },
    Latent(LatentMap),
    /// Decoded images, each of `dims` (one sample's shape).
    Decoded {
        dims: Vec<usize>,
        images: Vec<Vec<f32>>,
    },
    Reconstructed {
        dims: Vec<usize>,
        samples: Vec<usize>,
        inputs: Vec<Vec<f32>>,
        outputs: Vec<Vec<f32>>,
    },
    TextClassified(TextVerdict),
    ImageClassified(ImageVerdict),
    Attention {
        tokens: Vec<String>,
        maps: Vec<AttentionMap>,
    },
    /// Samples from one noise vector to another.
    Interpolated {
        dims: Vec<usize>,
        images: Vec<Vec<f32>>,
    },
    Error(String),
    /// A newer request of the same kind came before this one was started.
    Superseded,
}

enum Msg {
    Weights(Weights),
    Request(InsightRequest),
}

pub struct InsightHandle {
    tx: Option<Sender<Msg>>,
    rx: Receiver<InsightReply>,
    join: Option<JoinHandle<()>>,
}

struct Worker {
    /// The network (a GAN's: its generator).
    model: Model,
    data: Arc<Dataset>,
    encoding: TargetEncoding,
    project: Project,
}

impl InsightHandle {
    /// Starts the thread for `project`'s graph with `weights`; `notify` runs after each reply.
    pub fn spawn(
        project: Project,
        data: Arc<Dataset>,
        weights: Weights,
        notify: Option<crate::train::Notify>,
    ) -> std::io::Result<Self> {
        let (tx, rx_msg) = channel::<Msg>();
        let (tx_reply, rx) = channel();
        let join = std::thread::Builder::new()
            .name("glassbox-insight".into())
            .spawn(move || {
                let send = |r: InsightReply| {
                    let _ = tx_reply.send(r);
                    if let Some(n) = &notify {
                        n();
                    }
                };
                let worker = match Worker::new(project, data, &weights) {
                    Ok(w) => w,
                    Err(e) => {
                        // Every request gets the reason, so no caller waits for an answer.
                        send(InsightReply::Error(e.clone()));
                        while let Ok(m) = rx_msg.recv() {
                            if let Msg::Request(_) = m {
                                send(InsightReply::Error(e.clone()));
                            }
                        }
                        return;
                    }
                };
                while let Ok(first) = rx_msg.recv() {
                    // Take everything queued: the newest weights, the newest request of each kind.
                    let mut msgs = vec![first];
                    msgs.extend(rx_msg.try_iter());
                    let mut requests: Vec<InsightRequest> = Vec::new();
                    for m in msgs {
                        match m {
                            Msg::Weights(w) => {
                                if let Err(e) = worker.load(&w) {
                                    send(InsightReply::Error(e.to_string()));
                                }
                            }
                            Msg::Request(r) => {
                                // A newer request of the same kind replaces a queued one,
                                // which is answered as superseded (one reply per request).
                                let before = requests.len();
                                requests.retain(|q| q.kind() != r.kind());
                                if requests.len() < before {
                                    send(InsightReply::Superseded);
                                }
                                requests.push(r);
                            }
                        }
                    }
                    for r in requests {
                        let replies =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                worker.answer(&r, &send)
                            }));
                        match replies {
                            Ok(Ok(reply)) => send(reply),
                            Ok(Err(e)) => send(InsightReply::Error(e)),
                            Err(_) => send(InsightReply::Error(
                                "internal error while computing the insight".into(),
                            )),
                        }
                    }
                }
            })?;
        Ok(Self {
            tx: Some(tx),
            rx,
            join: Some(join),
        })
    }

    pub fn set_weights(&self, w: Weights) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Weights(w));
        }
    }

    pub fn request(&self, r: InsightRequest) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Request(r));
        }
    }

    pub fn try_recv(&self) -> Option<InsightReply> {
        self.rx.try_recv().ok()
    }

    /// Waits for the next reply (tests and the CLI).
    pub fn recv_timeout(&self, t: std::time::Duration) -> Option<InsightReply> {
        self.rx.recv_timeout(t).ok()
    }
}

impl Drop for InsightHandle {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop after its current request.
        self.tx.take();
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Worker {
    fn new(project: Project, data: Arc<Dataset>, weights: &Weights) -> Result<Worker, String> {
        // A GAN's questions are about its generator: the rest of the graph is the critic.
        let graph = match project.mode {
            TrainingMode::Gan { .. } => {
                gan_parts(&project.graph)
                    .map_err(|e| e.to_string())?
                    .generator
            }
            _ => project.graph.clone(),
        };
        let model = Model::build(&graph, project.training.seed).map_err(|e| e.to_string())?;
        // An autoencoder's output is an image, not class scores: nothing to bind.
        let encoding = match project.mode {
            TrainingMode::Autoencoder { .. } | TrainingMode::Gan { .. } => TargetEncoding::Values,
            TrainingMode::Supervised => model.bind_data(&data).map_err(|e| e.to_string())?,
        };
        let worker = Worker {
            model,
            data,
            encoding,
            project,
        };
        worker.load(weights)?;
        Ok(worker)
    }

    fn load(&self, weights: &Weights) -> Result<(), String> {
        let result = if matches!(self.project.mode, TrainingMode::Gan { .. }) {
            self.model
                .load_weights(&weights.only(&self.model.variable_names()))
        } else {
            self.model.load_weights(weights)
        };
        result.map_err(|e| e.to_string())
    }

    /// The latent node of an autoencoder, or why this model has none.
    fn latent(&self) -> Result<String, String> {
        if !matches!(self.project.mode, TrainingMode::Autoencoder { .. }) {
            return Err(
                "the latent plane belongs to an autoencoder: set the training mode to autoencoder"
                    .into(),
            );
        }
        if self.data.is_tokens() {
            return Err("the latent plane needs numeric inputs".into());
        }
        latent_node(&self.model).ok_or_else(|| {
            "the network has no layer between its Input and Output to read codes from".into()
        })
    }

    /// Validation samples, else test samples.
    fn eval_split(&self) -> &[usize] {
        if self.data.val.is_empty() {
            &self.data.test
        } else {
            &self.data.val
        }
    }

    fn sample(
        &self,
        index: usize,
        class: Option<usize>,
    ) -> Result<(candle_core::Tensor, SampleView), String> {
        if index >= self.data.len() {
            return Err(format!(
                "sample {index} is not in the data set ({} samples)",
                self.data.len()
            ));
        }
        let (x, _, labels) = make_batch(&self.data, &[index], self.encoding, &self.model)
            .map_err(|e| e.to_string())?;
        let top = top_classes(&self.model, &x, 3).map_err(|e| e.to_string())?;
        let class = class.unwrap_or(top.first().map_or(0, |t| t.0));
        let n_out = self.model.prediction_shape().numel();
        if class >= n_out.max(1) {
            return Err(format!(
                "class {class} does not exist (the model has {n_out} outputs)"
            ));
        }
        let view = SampleView {
            index,
            dims: self.data.sample_shape.clone(),
            raw: self.data.raw_sample(index),
            label: labels.first().map(|&l| l as usize),
            top,
            class,
        };
        Ok((x, view))
    }

    fn answer(
        &self,
        r: &InsightRequest,
        send: &dyn Fn(InsightReply),
    ) -> Result<InsightReply, String> {
        let t0 = Instant::now();
        let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
        let not_labels = match self.project.mode {
            TrainingMode::Autoencoder { .. } => {
                Some("an autoencoder predicts its input: see the Autoencoder tab")
            }
            TrainingMode::Gan { .. } => Some("a GAN's generator makes samples: see the GAN tab"),
            TrainingMode::Supervised => None,
        };
        if let (Some(why), true) = (not_labels, r.is_supervised()) {
            return Err(format!("this view explains predictions of labels; {why}"));
        }
        match r {
            InsightRequest::Saliency {
                sample,
                class,
                method,
            } => {
                let (x, view) = self.sample(*sample, *class)?;
                let attribution = saliency(&self.model, &x, view.class, method, *sample as u64)
                    .map_err(|e| e.to_string())?;
                Ok(InsightReply::Saliency {
                    sample: view,
                    method: method.clone(),
                    attribution,
                    elapsed_ms: ms(t0),
                })
            }
            InsightRequest::Explain {
                sample,
                class,
                method,
            } => {
                if self.data.is_tokens() {
                    return Err("explanations of token inputs are not supported yet".into());
                }
                let (x, view) = self.sample(*sample, *class)?;
                let input: Vec<f32> = x
                    .flatten_all()
                    .and_then(|t| t.to_vec1())
                    .map_err(|e| e.to_string())?;
                let dims = view.dims.clone();
                let explanation = match method {
                    ExplainMethod::Lime {
                        segmentation,
                        settings,
                    } => {
                        let baseline = vec![0f32; input.len()];
                        lime(
                            &self.model,
                            &input,
                            &dims,
                            view.class,
                            segmentation,
                            &baseline,
                            settings,
                        )
                    }
                    ExplainMethod::KernelShap {
                        segmentation,
                        background,
                        settings,
                    } => {
                        let picks: Vec<usize> = self
                            .data
                            .train
                            .iter()
                            .copied()
                            .take((*background).max(1))
                            .collect();
                        let mut rows = Vec::new();
                        self.data.gather_features(&picks, &mut rows);
                        let bg: Vec<Vec<f32>> =
                            rows.chunks(input.len()).map(<[f32]>::to_vec).collect();
                        kernel_shap(
                            &self.model,
                            &input,
                            &dims,
                            view.class,
                            segmentation,
                            &bg,
                            settings,
                        )
                    }
                }
                .map_err(|e| e.to_string())?;
                Ok(InsightReply::Explain {
                    sample: view,
                    method: method.clone(),
                    explanation,
                    elapsed_ms: ms(t0),
                })
            }
            InsightRequest::Maximize { target, settings } => {
                if self.data.is_tokens() {
                    return Err("activation maximisation needs numeric inputs".into());
                }
                let dims = self.data.sample_shape.clone();
                let (image, history) = maximize(
                    &self.model,
                    &dims,
                    target,
                    settings,
                    &mut |step, img, obj| {
                        send(InsightReply::MaximizeProgress {
                            step,
                            dims: dims.clone(),
                            image: img.to_vec(),
                            objective: obj,
                        })
                    },
                )
                .map_err(|e| e.to_string())?;
                Ok(InsightReply::MaximizeDone {
                    dims,
                    image,
                    history,
                })
            }
            InsightRequest::Evaluate { split } => {
                let idx = match split {
                    Split::Validation => &self.data.val,
                    Split::Test => &self.data.test,
                };
                if self.data.target_dim().is_some() {
                    let evaluation = super::evaluate_regression(&self.model, &self.data, idx)
                        .map_err(|e| e.to_string())?
                        .ok_or("the split has no samples to evaluate")?;
                    return Ok(InsightReply::RegressionEvaluation {
                        split: *split,
                        evaluation,
                        baseline: super::least_squares_baseline(&self.data, idx),
                    });
                }
                if self.data.n_classes().is_none() {
                    return Err("evaluation views need class labels or numeric targets".into());
                }
                let evaluation = evaluate_split(&self.model, &self.data, idx, self.encoding)
                    .map_err(|e| e.to_string())?;
                Ok(InsightReply::Evaluation {
                    split: *split,
                    evaluation,
                })
            }
            InsightRequest::Baselines => {
                let majority = majority_baseline(&self.data, &self.data.test);
                let linear = linear_baseline(&self.project, self.data.clone(), &Control::default())
                    .map_err(|e| e.to_string())?;
                Ok(InsightReply::Baselines { majority, linear })
            }
            _ => self.answer_family(r, t0),
        }
    }
}
