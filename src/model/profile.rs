//! Where a training step's time goes, for `glassbox bench --profile`: each layer kind's
//! forward, each hand-written kernel's backward, and the step's phases (loss, the whole
//! backward pass, the optimiser). Off by default: a disabled scope is one relaxed load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// One layer kind's forward pass (summed over the nodes of that kind).
    Forward,
    /// One hand-written kernel's backward pass (inside the whole backward pass).
    Backward,
    /// One hand-written kernel's own forward computation (inside a layer's forward, or inside
    /// another kernel's backward): a finer view, not added to the totals.
    Kernel,
    /// A phase of the whole step: loss, backward (all), optimiser, ….
    Step,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Forward => "forward",
            Phase::Backward => "backward",
            Phase::Kernel => "kernel",
            Phase::Step => "step",
        }
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
type Table = BTreeMap<(Phase, &'static str), (Duration, u64)>;
static TABLE: Mutex<Table> = Mutex::new(BTreeMap::new());

/// Turns recording on or off (and clears what was recorded when turning it on).
pub fn enable(on: bool) {
    if on {
        reset();
    }
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn reset() {
    TABLE.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// Times what happens until the returned guard is dropped.
#[must_use = "the time is recorded when the guard is dropped"]
pub fn scope(phase: Phase, name: &'static str) -> Scope {
    Scope {
        started: enabled().then(Instant::now),
        phase,
        name,
    }
}

/// `scope(Phase::Kernel, name)`: a hand-written kernel's own forward computation.
pub fn kernel(name: &'static str) -> Scope {
    scope(Phase::Kernel, name)
}

/// `scope(Phase::Backward, name)`: a hand-written kernel's backward pass.
pub fn backward(name: &'static str) -> Scope {
    scope(Phase::Backward, name)
}

pub struct Scope {
    started: Option<Instant>,
    phase: Phase,
    name: &'static str,
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(t) = self.started {
            let spent = t.elapsed();
            let mut table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
            let e = table.entry((self.phase, self.name)).or_default();
            e.0 += spent;
            e.1 += 1;
        }
    }
}

/// One row of the profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub phase: Phase,
    pub name: &'static str,
    pub total: Duration,
    pub calls: u64,
}

/// What was recorded since `enable(true)` or `reset()`, longest first.
pub fn entries() -> Vec<Entry> {
    let table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    let mut v: Vec<Entry> = table
        .iter()
        .map(|(&(phase, name), &(total, calls))| Entry {
            phase,
            name,
            total,
            calls,
        })
        .collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.total));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_while_enabled() {
        // One test owns the global table, so the two states are checked in sequence.
        enable(false);
        drop(scope(Phase::Step, "test-off"));
        assert!(entries().iter().all(|e| e.name != "test-off"));
        enable(true);
        {
            let _s = scope(Phase::Forward, "test-on");
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(scope(Phase::Forward, "test-on"));
        let e = entries().into_iter().find(|e| e.name == "test-on").unwrap();
        assert_eq!(e.calls, 2);
        assert!(e.total >= Duration::from_millis(2));
        enable(false);
    }
}
