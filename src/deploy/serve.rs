//! A prediction server: `POST /predict` with JSON inputs → class probabilities or values,
//! `GET /health`. axum on a tokio runtime of its own thread; the model lives on one more
//! thread (candle models are not `Send`), which takes every request waiting and runs them as
//! one batch. Bound to 127.0.0.1 unless told otherwise; stops gracefully.

use super::activity::{summarise_inputs, Activity};
use super::drift::DriftMonitor;
use super::metrics::ServeMetrics;
use super::predict::{
    parse_request_body, PredictError, PredictInput, PredictOutput, Predictor, MAX_BATCH,
};
use crate::data::Dataset;
use crate::model::Weights;
use crate::project::Project;
use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use candle_core::Tensor;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use thiserror::Error;
use tokio::sync::oneshot;

/// Largest request body read (a batch of 64 MNIST images as JSON is about 300 kB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the model cannot be served: {0}")]
    Model(String),
    #[error("the server thread could not start: {0}")]
    Thread(String),
    #[error("cannot open the request log {path}: {source}")]
    Log {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub max_body_bytes: usize,
    /// Also stop on Ctrl-C (the command line's server).
    pub stop_on_ctrl_c: bool,
    /// Log every request there (see `request_log`).
    pub log: Option<super::request_log::LogSettings>,
}

impl ServeConfig {
    /// Loopback only, on `port` (0: any free port).
    pub fn local(port: u16) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            stop_on_ctrl_c: false,
            log: None,
        }
    }
}

type Reply = oneshot::Sender<Result<Vec<PredictOutput>, PredictError>>;

/// Requests waiting for the model thread before new ones are answered 503.
const MAX_QUEUED_JOBS: usize = 64;

struct Job {
    inputs: Vec<PredictInput>,
    reply: Reply,
}

struct AppState {
    jobs: std::sync::Mutex<mpsc::SyncSender<Job>>,
    health: Value,
    max_body_bytes: usize,
    metrics: Arc<ServeMetrics>,
    activity: Arc<Activity>,
    started: std::time::Instant,
    log: Option<std::sync::Mutex<super::request_log::RequestLog>>,
}

/// FNV-1a (64 bit) over the weights' names, shapes and values, in name order: which weights a
/// server answers with, as `/health` reports it.
pub fn weights_hash(weights: &[Weights]) -> String {
    let mut h = crate::fsutil::Fnv64::default();
    for w in weights {
        for (name, t) in &w.tensors {
            h.write(name.as_bytes());
            t.shape
                .iter()
                .for_each(|d| h.write(&(*d as u64).to_le_bytes()));
            t.data.iter().for_each(|v| h.write(&v.to_le_bytes()));
        }
    }
    h.hex()
}

/// A running server; dropping it (or `stop`) shuts it down.
pub struct Server {
    addr: SocketAddr,
    activity: Arc<Activity>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// The address it listens on (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it has been doing (for a live view; read with `try_snapshot`).
    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    /// Finishes the requests in flight, then stops.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Blocks until the server stops (it stops only when told to, or on a fatal error).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// Starts serving `project` with one weight file (several: an averaged ensemble).
pub fn start(
    project: Project,
    weights: Vec<Weights>,
    data: Arc<Dataset>,
    config: ServeConfig,
) -> Result<Server, ServeError> {
    // The model thread: builds the predictor (not Send) and answers jobs in batches.
    // Bounded: a flood of requests waits at most MAX_QUEUED_JOBS deep (4 MiB bodies each),
    // and the rest are told the server is busy rather than piling up in memory.
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(MAX_QUEUED_JOBS);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Value, String>>();
    let name = project.name.clone();
    let metrics = Arc::new(ServeMetrics::new());
    let model_metrics = metrics.clone();
    let activity = Arc::new(Activity::new());
    let model_activity = activity.clone();
    let hash = weights_hash(&weights);
    std::thread::Builder::new()
        .name("glassbox-serve-model".into())
        .spawn(move || {
            let loading = std::time::Instant::now();
            let drift = DriftMonitor::new(&data, project.serving.clone());
            let predictor = match Predictor::new(&project, &weights, data) {
                Ok(p) => p,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            model_metrics
                .model_load_seconds
                .set(loading.elapsed().as_secs_f64());
            let health = json!({
                "status": "ok",
                "model": name,
                "weights_hash": hash,
                "input_shape": predictor.input_shape(),
                "input": if predictor.takes_text() { "text" } else { "numbers" },
                "classes": predictor.class_names(),
                "members": predictor.members(),
                "drift_features": drift.feature_names(),
            });
            let _ = ready_tx.send(Ok(health));
            model_activity.set_classes(predictor.class_names().to_vec(), drift.label_shares());
            let watch = Watch {
                metrics: &model_metrics,
                activity: &model_activity,
                drift: project.serving.drift.then_some(drift),
            };
            model_loop(&predictor, &job_rx, watch);
        })
        .map_err(|e| ServeError::Thread(e.to_string()))?;
    let health = ready_rx
        .recv()
        .map_err(|_| ServeError::Thread("the model thread ended".into()))?
        .map_err(ServeError::Model)?;

    let log = match &config.log {
        Some(settings) => Some(std::sync::Mutex::new(
            super::request_log::RequestLog::open(settings.clone()).map_err(|source| {
                ServeError::Log {
                    path: settings.path.clone(),
                    source,
                }
            })?,
        )),
        None => None,
    };
    let state = Arc::new(AppState {
        jobs: std::sync::Mutex::new(job_tx),
        health,
        max_body_bytes: config.max_body_bytes,
        metrics,
        activity: activity.clone(),
        started: std::time::Instant::now(),
        log,
    });
    let app = Router::new()
        .route("/health", get(health_handler))
        .route("/metrics", get(metrics_handler))
        .route("/predict", post(predict_handler))
        .with_state(state);
    let (bound_tx, bound_rx) = mpsc::channel::<Result<SocketAddr, ServeError>>();
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let (addr, ctrl_c) = (config.addr, config.stop_on_ctrl_c);
    let thread = std::thread::Builder::new()
        .name("glassbox-serve-http".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = bound_tx.send(Err(ServeError::Thread(e.to_string())));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(source) => {
                        let _ = bound_tx.send(Err(ServeError::Bind { addr, source }));
                        return;
                    }
                };
                let local = listener.local_addr().unwrap_or(addr);
                let _ = bound_tx.send(Ok(local));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        if ctrl_c {
                            tokio::select! {
                                _ = shutdown_rx => {}
                                _ = tokio::signal::ctrl_c() => {}
                            }
                        } else {
                            let _ = shutdown_rx.await;
                        }
                    })
                    .await;
            });
        })
        .map_err(|e| ServeError::Thread(e.to_string()))?;
    let addr = bound_rx
        .recv()
        .map_err(|_| ServeError::Thread("the server thread ended".into()))??;
    Ok(Server {
        addr,
        activity,
        shutdown: Some(shutdown_tx),
        thread: Some(thread),
    })
}

/// What the model thread reports to: the metrics, the activity a live view reads, and the
/// drift monitor (None: the project's `serving.drift` is off).
struct Watch<'a> {
    metrics: &'a ServeMetrics,
    activity: &'a Activity,
    drift: Option<DriftMonitor>,
}

/// Takes a job, then every job already waiting (up to MAX_BATCH inputs), and answers them
/// from one forward pass; a job whose inputs are wrong gets its own error.
fn model_loop(predictor: &Predictor, jobs: &mpsc::Receiver<Job>, mut watch: Watch) {
    let mut said = DriftWatch::default();
    loop {
        let first = match jobs.recv_timeout(DRIFT_EVERY) {
            Ok(job) => job,
            // Quiet: what arrived since the last measure is measured now, not at the next request.
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(drift) = &watch.drift {
                    said.flush(watch.metrics, watch.activity, drift);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        let mut count = batch[0].inputs.len();
        while count < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => {
                    count += job.inputs.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        // Each job's inputs are checked and turned into a tensor once; the good ones run as
        // one forward pass.
        let mut good = Vec::new();
        for job in batch {
            match predictor.batch(&job.inputs) {
                Ok(x) => good.push((job, x)),
                Err(e) => {
                    if let Some(reason) = e.reason() {
                        watch.metrics.refuse(reason);
                    }
                    let _ = job.reply.send(Err(e));
                }
            }
        }
        if good.is_empty() {
            continue;
        }
        let xs: Vec<&Tensor> = good.iter().map(|(_, x)| x).collect();
        let all = Tensor::cat(&xs, 0).map_err(PredictError::from);
        match all.and_then(|x| predictor.predict_batch(&x)) {
            Ok(mut outputs) => {
                let inputs = good.iter().flat_map(|(job, _)| job.inputs.iter());
                record(predictor, &mut watch, inputs, &outputs);
                if let Some(drift) = &watch.drift {
                    said.update(watch.metrics, watch.activity, drift);
                }
                for (job, _) in good.into_iter().rev() {
                    let mine = outputs.split_off(outputs.len() - job.inputs.len());
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                for (job, _) in good {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Counts one batch's predictions and feeds its inputs to the drift monitor.
fn record<'a>(
    predictor: &Predictor,
    watch: &mut Watch,
    inputs: impl Iterator<Item = &'a PredictInput>,
    outputs: &[PredictOutput],
) {
    let metrics = watch.metrics;
    metrics.batch_size.observe(outputs.len() as f64);
    for (input, out) in inputs.zip(outputs) {
        match &out.label {
            Some(label) => {
                metrics
                    .predictions
                    .get_or_create(&super::metrics::Class {
                        class: label.clone(),
                    })
                    .inc();
            }
            None => {
                if let Some(v) = out.values.first() {
                    metrics.values.observe(*v as f64);
                }
            }
        }
        let Some(drift) = &mut watch.drift else {
            continue;
        };
        let class = out
            .probabilities
            .as_ref()
            .and_then(|p| (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])));
        match input {
            PredictInput::Values(raw) => drift.observe(raw, None, class),
            PredictInput::Text(t) => drift.observe(&[], predictor.token_count(t), class),
        }
    }
}

/// Drift is measured a few times a second, not per batch; a feature crossing the threshold
/// either way is said once, in plain words (on stderr and in the activity).
#[derive(Default)]
struct DriftWatch {
    last: Option<std::time::Instant>,
    /// Inputs arrived since the last measure.
    pending: bool,
    drifted: std::collections::HashSet<String>,
}

/// How often drift is measured while requests arrive.
const DRIFT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl DriftWatch {
    fn update(&mut self, metrics: &ServeMetrics, activity: &Activity, drift: &DriftMonitor) {
        self.pending = true;
        if self.last.is_some_and(|t| t.elapsed() < DRIFT_EVERY) {
            return;
        }
        self.flush(metrics, activity, drift);
    }

    /// Measures now if inputs arrived since the last measure.
    fn flush(&mut self, metrics: &ServeMetrics, activity: &Activity, drift: &DriftMonitor) {
        if !self.pending {
            return;
        }
        self.pending = false;
        self.last = Some(std::time::Instant::now());
        let features = drift.features();
        let prediction_psi = drift.prediction_psi();
        metrics.set_drift(&features, prediction_psi);
        for f in &features {
            let was = self.drifted.contains(&f.name);
            let said = if f.drifted && !was {
                self.drifted.insert(f.name.clone());
                format!(
                    "'{}' has drifted: PSI {:.2} over the last {} requests (KS p = {:.1e})",
                    f.name,
                    f.psi,
                    drift.window_len(),
                    f.ks_p
                )
            } else if !f.drifted && was {
                self.drifted.remove(&f.name);
                format!(
                    "'{}' is back near its training data: PSI {:.2}",
                    f.name, f.psi
                )
            } else {
                continue;
            };
            eprintln!("drift: {said}");
            activity.message(said);
        }
        activity.set_drift(
            features,
            drift.window_len(),
            prediction_psi,
            drift.recent_shares(),
        );
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn health_handler(State(state): State<Arc<AppState>>) -> Response {
    let t0 = std::time::Instant::now();
    let mut health = state.health.clone();
    health["uptime_s"] = json!(state.started.elapsed().as_secs_f64());
    state
        .metrics
        .request("/health", 200, t0.elapsed().as_secs_f64());
    Json(health).into_response()
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics.encode();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn predict_handler(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let t0 = std::time::Instant::now();
    let mut input = String::new();
    let (response, answer) = match predict(&state, body, t0, &mut input).await {
        Ok((value, first)) => (Json(value).into_response(), first),
        Err((status, message)) => (error(status, message.clone()), message),
    };
    let (status, seconds) = (response.status().as_u16(), t0.elapsed().as_secs_f64());
    state.metrics.request("/predict", status, seconds);
    state.activity.request(status, seconds, input, answer);
    response
}

type Refusal = (StatusCode, String);

/// Answers one request: its JSON reply and its first prediction in words, or a status and the
/// reason. `input` gets a summary of the inputs once they are read.
async fn predict(
    state: &AppState,
    body: Body,
    t0: std::time::Instant,
    input: &mut String,
) -> Result<(Value, String), Refusal> {
    let limit = state.max_body_bytes;
    let Ok(bytes) = to_bytes(body, limit).await else {
        state.metrics.refuse("too_large");
        return Err((
            StatusCode::BAD_REQUEST,
            format!("the body is larger than {limit} bytes: send fewer inputs per request"),
        ));
    };
    let inputs = parse_request_body(&bytes).map_err(|e| {
        state.metrics.refuse("invalid_request");
        (StatusCode::BAD_REQUEST, e)
    })?;
    *input = summarise_inputs(&inputs);
    // The inputs again for the log, only when logging.
    let logged = state.log.as_ref().map(|_| inputs.clone());
    let (reply, answer) = oneshot::channel();
    let stopped = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the model thread has stopped".to_string(),
        )
    };
    // Err(true): the queue is full; Err(false): the model thread is gone.
    let sent = match state.jobs.lock() {
        Ok(tx) => tx.try_send(Job { inputs, reply }).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => true,
            mpsc::TrySendError::Disconnected(_) => false,
        }),
        Err(_) => Err(false),
    };
    match sent {
        Ok(()) => {}
        Err(true) => {
            state.metrics.refuse("busy");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!("busy: {MAX_QUEUED_JOBS} requests are waiting; try again shortly"),
            ));
        }
        Err(false) => return Err(stopped()),
    }
    let outputs = match answer.await {
        Ok(Ok(outputs)) => outputs,
        Ok(Err(PredictError::Model(e))) => return Err((StatusCode::INTERNAL_SERVER_ERROR, e)),
        Ok(Err(e)) => return Err((StatusCode::BAD_REQUEST, e.to_string())),
        Err(_) => return Err(stopped()),
    };
    if let (Some(log), Some(inputs)) = (&state.log, &logged) {
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        // A full disk must not take the server down: the failure is said, the answer still
        // goes out.
        if let Err(e) = log
            .lock()
            .map_err(|_| std::io::Error::other("the log's lock was poisoned"))
            .and_then(|mut l| l.write(inputs, &outputs, ms))
        {
            eprintln!("warning: the request log could not be written: {e}");
        }
    }
    let first = outputs.first().map(answer_in_words).unwrap_or_default();
    let predictions: Vec<Value> = outputs
        .into_iter()
        .map(|o| json!({"label": o.label, "probabilities": o.probabilities, "output": o.values}))
        .collect();
    Ok((json!({ "predictions": predictions }), first))
}

/// "virginica (97 %)", or a regression's first value.
fn answer_in_words(out: &PredictOutput) -> String {
    match (&out.label, &out.probabilities) {
        (Some(label), Some(p)) => {
            let top = p.iter().cloned().fold(0.0f32, f32::max);
            format!("{label} ({:.0} %)", top * 100.0)
        }
        (Some(label), None) => label.clone(),
        _ => out
            .values
            .iter()
            .take(3)
            .map(|v| format!("{v:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
