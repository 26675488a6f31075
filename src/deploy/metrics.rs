//! What `glassbox serve` counts, exposed at `GET /metrics` in the OpenMetrics text format that
//! Prometheus scrapes (encoded by `prometheus-client`): requests by route and status, latency,
//! batch sizes, predictions per class (or a histogram of values), inputs refused by reason,
//! model load time, and the drift gauges of `drift`.

use super::drift::FeatureDrift;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Class {
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Feature {
    pub feature: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The server's metrics; shared by the HTTP handlers and the model thread.
pub struct ServeMetrics {
    registry: Registry,
    pub requests: Family<RouteStatus, Counter>,
    pub latency: Family<Route, Histogram, fn() -> Histogram>,
    pub batch_size: Histogram,
    pub predictions: Family<Class, Counter>,
    pub values: Histogram,
    pub refused: Family<Reason, Counter>,
    pub model_load_seconds: FloatGauge,
    pub drift_psi: Family<Feature, FloatGauge>,
    pub drift_ks_p: Family<Feature, FloatGauge>,
    pub drift_flag: Family<Feature, Gauge>,
    pub prediction_psi: FloatGauge,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(5e-5, 2.0, 16))
}

impl Default for ServeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ServeMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            predictions: Family::default(),
            values: Histogram::new(exponential_buckets(0.01, 2.0, 24)),
            refused: Family::default(),
            model_load_seconds: FloatGauge::default(),
            drift_psi: Family::default(),
            drift_ks_p: Family::default(),
            drift_flag: Family::default(),
            prediction_psi: FloatGauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "glassbox_requests",
            "Requests by route and HTTP status",
            m.requests.clone(),
        );
        registry.register(
            "glassbox_request_duration_seconds",
            "Time to answer a request",
            m.latency.clone(),
        );
        registry.register(
            "glassbox_batch_size",
            "Inputs run through the model together",
            m.batch_size.clone(),
        );
        registry.register(
            "glassbox_predictions",
            "Predictions by predicted class",
            m.predictions.clone(),
        );
        registry.register(
            "glassbox_prediction_value",
            "Predicted values of a regression (first output)",
            m.values.clone(),
        );
        registry.register(
            "glassbox_inputs_refused",
            "Requests refused, by reason",
            m.refused.clone(),
        );
        registry.register(
            "glassbox_model_load_seconds",
            "Time to build the model and load its weights",
            m.model_load_seconds.clone(),
        );
        registry.register(
            "glassbox_input_drift_psi",
            "Population stability index of recent inputs against the training split, per feature",
            m.drift_psi.clone(),
        );
        registry.register(
            "glassbox_input_drift_ks_p",
            "Kolmogorov-Smirnov p-value of recent inputs against the training split, per feature",
            m.drift_ks_p.clone(),
        );
        registry.register(
            "glassbox_input_drift_flag",
            "1 where a feature's PSI is at or above the project's threshold",
            m.drift_flag.clone(),
        );
        registry.register(
            "glassbox_prediction_drift_psi",
            "PSI of recent predicted classes against the training labels",
            m.prediction_psi.clone(),
        );
        Self { registry, ..m }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RouteStatus {
                route: route.into(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&Route {
                route: route.into(),
            })
            .observe(seconds);
    }

    pub fn refuse(&self, reason: &str) {
        self.refused
            .get_or_create(&Reason {
                reason: reason.into(),
            })
            .inc();
    }

    pub fn set_drift(&self, features: &[FeatureDrift], prediction_psi: Option<f64>) {
        for f in features {
            let key = Feature {
                feature: f.name.clone(),
            };
            self.drift_psi.get_or_create(&key).set(f.psi);
            self.drift_ks_p.get_or_create(&key).set(f.ks_p);
            self.drift_flag
                .get_or_create(&key)
                .set(i64::from(f.drifted));
        }
        if let Some(p) = prediction_psi {
            self.prediction_psi.set(p);
        }
    }
}
