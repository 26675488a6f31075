//! How much memory training a graph takes at a batch size, against what the machine has: so
//! a network that cannot fit is refused with numbers before anything is allocated, naming the
//! node that takes the most.

use super::spec::Graph;
use super::validate::Analysis;

/// Bytes per f32 value.
const F32: u64 = 4;
/// A parameter is held as the weight, its gradient and Adam's two moments.
const PER_PARAM: u64 = 4 * F32;
/// An activation is held as its value and its gradient (kernels keep a little more; this is
/// the floor, not a promise).
const PER_ACTIVATION: u64 = 2 * F32;

#[derive(Clone, Debug, PartialEq)]
pub struct MemoryEstimate {
    pub batch: usize,
    pub params_bytes: u64,
    pub activations_bytes: u64,
    /// The node whose output takes the most, and its bytes (values and gradients).
    pub largest: Option<(String, u64)>,
}

impl MemoryEstimate {
    pub fn total_bytes(&self) -> u64 {
        self.params_bytes.saturating_add(self.activations_bytes)
    }

    /// Why training cannot fit in `available` bytes, or None when it can.
    pub fn refusal(&self, available: u64) -> Option<String> {
        let total = self.total_bytes();
        if fits(total, available) {
            return None;
        }
        let largest = self.largest.as_ref().map_or(String::new(), |(label, b)| {
            format!(", most of it at {label} ({})", gib(*b))
        });
        Some(format!(
            "training needs about {} at batch size {} (parameters with gradients and optimiser state {}; activations {}{largest}), but this machine has {} available: use a smaller batch size or fewer units",
            gib(total),
            self.batch,
            gib(self.params_bytes),
            gib(self.activations_bytes),
            gib(available)
        ))
    }
}

/// Whether `bytes` fit in `available` with room left for the data, the studio and the rest of
/// the system (a fifth).
pub fn fits(bytes: u64, available: u64) -> bool {
    bytes <= available / 10 * 8
}

pub fn gib(bytes: u64) -> String {
    let g = bytes as f64 / (1u64 << 30) as f64;
    if g >= 0.1 {
        format!("{g:.1} GiB")
    } else {
        format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

/// The estimate for training `graph` (already analysed) at `batch` samples per step.
pub fn estimate(graph: &Graph, analysis: &Analysis, batch: usize) -> MemoryEstimate {
    let params = analysis.total_params() as u64;
    let mut activations = 0u64;
    let mut largest: Option<(String, u64)> = None;
    for (node, shapes) in graph.nodes.iter().zip(&analysis.nodes) {
        let Some(out) = &shapes.output else { continue };
        let per_sample = out
            .dims
            .iter()
            .fold(1u64, |n, &d| n.saturating_mul(d as u64));
        let bytes = per_sample
            .saturating_mul(batch as u64)
            .saturating_mul(PER_ACTIVATION);
        activations = activations.saturating_add(bytes);
        if largest.as_ref().is_none_or(|(_, b)| bytes > *b) {
            largest = Some((node.label(), bytes));
        }
    }
    MemoryEstimate {
        batch,
        params_bytes: params.saturating_mul(PER_PARAM),
        activations_bytes: activations,
        largest,
    }
}

/// Memory the system can give without swapping (Linux `MemAvailable`), None where unknown.
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}
