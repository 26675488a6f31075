//! What a running server has been doing, for a live view (the studio's serving panel): requests,
//! errors and latency percentiles per second, the last requests with a summary of their input
//! and answer, the drift table and its plain-word messages, and the class distribution of recent
//! predictions beside the training split's. Written by the server's threads, read by copying a
//! snapshot; the reader never waits for a writer (`try_snapshot`).

use super::drift::FeatureDrift;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

/// Requests listed, newest first.
pub const RECENT_REQUESTS: usize = 50;
/// Seconds of per-second figures kept.
pub const SECONDS_KEPT: usize = 300;
/// Drift messages kept.
const MESSAGES_KEPT: usize = 20;
/// Latency buckets: 10 µs × 1.25^k, k < 64 (up to about 16 s); a percentile is read to within
/// one bucket (±12 %).
const LATENCY_BUCKETS: usize = 64;
const LATENCY_FIRST_S: f64 = 1e-5;
const LATENCY_RATIO: f64 = 1.25;

/// One request, as the panel lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    /// Seconds since the server started.
    pub at_s: f64,
    pub status: u16,
    /// e.g. "[5.1, 3.5, 1.4, 0.2]", "784 values, mean 33.3", "\"a short text…\"", "+2 more".
    pub input: String,
    /// The first prediction ("virginica", "23.41"), or the error's message.
    pub answer: String,
    pub latency_ms: f64,
}

/// One second of traffic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SecondStats {
    /// Seconds since the server started (this second's start).
    pub second: u64,
    pub requests: u32,
    /// Answers with a status of 400 or above.
    pub errors: u32,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A copy of everything the panel shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivitySnapshot {
    pub uptime_s: f64,
    pub requests: u64,
    pub errors: u64,
    /// Oldest first; the last one is the second in progress.
    pub seconds: Vec<SecondStats>,
    /// Newest first.
    pub recent: Vec<RequestRecord>,
    /// Per input feature (empty until the window holds enough inputs).
    pub drift: Vec<FeatureDrift>,
    pub drift_window: usize,
    pub prediction_psi: Option<f64>,
    /// Class names, the training split's share of each, and the recent predictions' share.
    pub classes: Vec<String>,
    pub training_shares: Vec<f64>,
    pub recent_shares: Vec<f64>,
    /// Drift crossings in words, newest last.
    pub messages: Vec<String>,
}

struct Second {
    second: u64,
    requests: u32,
    errors: u32,
    latency: [u32; LATENCY_BUCKETS],
}

impl Second {
    fn new(second: u64) -> Self {
        Self {
            second,
            requests: 0,
            errors: 0,
            latency: [0; LATENCY_BUCKETS],
        }
    }

    fn stats(&self) -> SecondStats {
        SecondStats {
            second: self.second,
            requests: self.requests,
            errors: self.errors,
            p50_ms: percentile_ms(&self.latency, 0.50),
            p99_ms: percentile_ms(&self.latency, 0.99),
        }
    }
}

fn bucket_of(seconds: f64) -> usize {
    if seconds <= LATENCY_FIRST_S {
        return 0;
    }
    let k = (seconds / LATENCY_FIRST_S).ln() / LATENCY_RATIO.ln();
    (k as usize).min(LATENCY_BUCKETS - 1)
}

/// The `q` quantile of a bucketed latency, in ms, as its bucket's geometric middle (0: none).
fn percentile_ms(counts: &[u32; LATENCY_BUCKETS], q: f64) -> f64 {
    let total: u64 = counts.iter().map(|&c| c as u64).sum();
    if total == 0 {
        return 0.0;
    }
    let want = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0u64;
    for (k, &c) in counts.iter().enumerate() {
        seen += c as u64;
        if seen >= want {
            return LATENCY_FIRST_S * LATENCY_RATIO.powf(k as f64 + 0.5) * 1e3;
        }
    }
    0.0
}

#[derive(Default)]
struct Inner {
    requests: u64,
    errors: u64,
    seconds: VecDeque<Second>,
    recent: VecDeque<RequestRecord>,
    drift: Vec<FeatureDrift>,
    drift_window: usize,
    prediction_psi: Option<f64>,
    classes: Vec<String>,
    training_shares: Vec<f64>,
    recent_shares: Vec<f64>,
    messages: VecDeque<String>,
}

/// Shared by the server's threads and whoever watches it.
pub struct Activity {
    started: Instant,
    inner: Mutex<Inner>,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn with(&self, f: impl FnOnce(&mut Inner)) {
        // A panic elsewhere while holding the lock leaves figures, not invariants: keep going.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner);
    }

    /// One answered request.
    pub fn request(&self, status: u16, latency_s: f64, input: String, answer: String) {
        let at_s = self.started.elapsed().as_secs_f64();
        let second = at_s as u64;
        let error = status >= 400;
        self.with(|inner| {
            inner.requests += 1;
            inner.errors += u64::from(error);
            if inner.seconds.back().is_none_or(|s| s.second < second) {
                if inner.seconds.len() == SECONDS_KEPT {
                    inner.seconds.pop_front();
                }
                inner.seconds.push_back(Second::new(second));
            }
            // A request finishing late may belong to the second before: counted in the newest.
            if let Some(s) = inner.seconds.back_mut() {
                s.requests += 1;
                s.errors += u32::from(error);
                s.latency[bucket_of(latency_s)] += 1;
            }
            if inner.recent.len() == RECENT_REQUESTS {
                inner.recent.pop_back();
            }
            inner.recent.push_front(RequestRecord {
                at_s,
                status,
                input,
                answer,
                latency_ms: latency_s * 1e3,
            });
        });
    }

    /// The class names and the training split's share of each (set once, at start).
    pub fn set_classes(&self, classes: Vec<String>, training_shares: Vec<f64>) {
        self.with(|inner| {
            inner.classes = classes;
            inner.training_shares = training_shares;
        });
    }

    /// The drift measured now.
    pub fn set_drift(
        &self,
        features: Vec<FeatureDrift>,
        window: usize,
        prediction_psi: Option<f64>,
        recent_shares: Vec<f64>,
    ) {
        self.with(|inner| {
            inner.drift = features;
            inner.drift_window = window;
            inner.prediction_psi = prediction_psi;
            inner.recent_shares = recent_shares;
        });
    }

    /// A drift crossing, in words.
    pub fn message(&self, text: String) {
        self.with(|inner| {
            if inner.messages.len() == MESSAGES_KEPT {
                inner.messages.pop_front();
            }
            inner.messages.push_back(text);
        });
    }

    /// A copy of everything, or None while a writer holds the lock (try again next frame).
    pub fn try_snapshot(&self) -> Option<ActivitySnapshot> {
        let inner = match self.inner.try_lock() {
            Ok(i) => i,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let now = self.started.elapsed().as_secs_f64();
        let mut seconds: Vec<SecondStats> = inner.seconds.iter().map(Second::stats).collect();
        // Seconds without a request are zeros on a chart, not gaps that join their neighbours.
        seconds = fill_quiet_seconds(seconds, now as u64);
        Some(ActivitySnapshot {
            uptime_s: now,
            requests: inner.requests,
            errors: inner.errors,
            seconds,
            recent: inner.recent.iter().cloned().collect(),
            drift: inner.drift.clone(),
            drift_window: inner.drift_window,
            prediction_psi: inner.prediction_psi,
            classes: inner.classes.clone(),
            training_shares: inner.training_shares.clone(),
            recent_shares: inner.recent_shares.clone(),
            messages: inner.messages.iter().cloned().collect(),
        })
    }
}

/// The kept seconds up to `now`, with a zero row for each second nothing arrived in.
fn fill_quiet_seconds(seconds: Vec<SecondStats>, now: u64) -> Vec<SecondStats> {
    let first = now.saturating_sub(SECONDS_KEPT as u64 - 1);
    let mut out = Vec::with_capacity(SECONDS_KEPT);
    let mut it = seconds.into_iter().filter(|s| s.second >= first).peekable();
    let start = it.peek().map_or(now, |s| s.second);
    for second in start..=now {
        match it.next_if(|s| s.second == second) {
            Some(s) => out.push(s),
            None => out.push(SecondStats {
                second,
                ..Default::default()
            }),
        }
    }
    out
}

/// A short summary of a request's inputs for the list: the first input, and how many more.
pub fn summarise_inputs(inputs: &[super::predict::PredictInput]) -> String {
    use super::predict::PredictInput;
    let Some(first) = inputs.first() else {
        return "no inputs".into();
    };
    let head = match first {
        PredictInput::Values(v) if v.len() <= 6 => format!(
            "[{}]",
            v.iter()
                .map(|x| format!("{x:.4}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PredictInput::Values(v) => format!(
            "{} values, mean {:.3}",
            v.len(),
            v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64
        ),
        PredictInput::Text(t) => {
            let short: String = t.chars().take(40).collect();
            let more = if t.chars().count() > 40 { "…" } else { "" };
            format!("\"{short}{more}\"")
        }
    };
    match inputs.len() {
        1 => head,
        n => format!("{head} +{} more", n - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::predict::PredictInput;

    #[test]
    fn percentiles_come_from_the_latencies_recorded() {
        let a = Activity::new();
        // 98 fast requests (1 ms), 2 slow ones (100 ms): p50 near 1 ms, p99 near 100 ms.
        for i in 0..100 {
            let s = if i < 98 { 1e-3 } else { 0.1 };
            a.request(200, s, "x".into(), "y".into());
        }
        a.request(400, 1e-3, "bad".into(), "not JSON".into());
        let snap = a.try_snapshot().unwrap();
        assert_eq!((snap.requests, snap.errors), (101, 1));
        let last = snap.seconds.last().unwrap();
        assert_eq!(last.requests, 101);
        assert!((0.88..1.13).contains(&last.p50_ms), "{last:?}");
        assert!((88.0..113.0).contains(&last.p99_ms), "{last:?}");
        assert_eq!(snap.recent.len(), RECENT_REQUESTS);
        assert_eq!(snap.recent[0].answer, "not JSON", "newest first");
    }

    #[test]
    fn quiet_seconds_are_zeros_between_busy_ones() {
        let mk = |second, requests| SecondStats {
            second,
            requests,
            ..Default::default()
        };
        let filled = fill_quiet_seconds(vec![mk(3, 5), mk(6, 2)], 8);
        let counts: Vec<(u64, u32)> = filled.iter().map(|s| (s.second, s.requests)).collect();
        assert_eq!(counts, vec![(3, 5), (4, 0), (5, 0), (6, 2), (7, 0), (8, 0)]);
    }

    #[test]
    fn inputs_are_summarised_short() {
        let iris = PredictInput::Values(vec![5.1, 3.5, 1.4, 0.2]);
        assert_eq!(
            summarise_inputs(std::slice::from_ref(&iris)),
            "[5.1, 3.5, 1.4, 0.2]"
        );
        let image = PredictInput::Values(vec![2.0; 784]);
        assert_eq!(
            summarise_inputs(&[image, iris]),
            "784 values, mean 2.000 +1 more"
        );
        let text = PredictInput::Text("x".repeat(50));
        assert_eq!(
            summarise_inputs(&[text]),
            format!("\"{}…\"", "x".repeat(40))
        );
    }
}
