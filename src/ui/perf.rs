//! How long each UI pass takes, and frames per second: the numbers behind "the UI never waits".

use std::collections::VecDeque;

const KEEP: usize = 300;

#[derive(Default)]
pub struct FrameStats {
    pass_ms: VecDeque<f32>,
    frame_times: VecDeque<f64>,
}

impl FrameStats {
    /// Records one UI pass that took `ms`, at time `now` (seconds).
    pub fn record(&mut self, ms: f32, now: f64) {
        self.pass_ms.push_back(ms);
        if self.pass_ms.len() > KEEP {
            self.pass_ms.pop_front();
        }
        self.frame_times.push_back(now);
        while self.frame_times.front().is_some_and(|&t| now - t > 2.0) {
            self.frame_times.pop_front();
        }
    }

    fn percentile(&self, q: f32) -> Option<f32> {
        if self.pass_ms.is_empty() {
            return None;
        }
        let mut v: Vec<f32> = self.pass_ms.iter().copied().collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let i = ((v.len() - 1) as f32 * q).round() as usize;
        Some(v[i])
    }

    pub fn p50_ms(&self) -> Option<f32> {
        self.percentile(0.5)
    }

    pub fn p95_ms(&self) -> Option<f32> {
        self.percentile(0.95)
    }

    pub fn samples(&self) -> usize {
        self.pass_ms.len()
    }

    /// Frames drawn per second over the last two seconds (an idle window draws none).
    pub fn fps(&self) -> f32 {
        self.frame_times.len() as f32 / 2.0
    }
}
