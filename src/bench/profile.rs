//! `glassbox bench WORKLOAD --profile`: one training workload through the worker with the
//! per-op timers of `model::profile` on, printed as milliseconds per step and share of the step.

use super::{training, BenchArgs};
use crate::model::kernels::dispatch;
use crate::model::profile::{self, Entry, Phase};
use crate::train::{TrainEvent, TrainHandle, TrainRequest};
use anyhow::{bail, Result};
use std::time::Duration;

/// One profiled workload: the recorded rows and the wall time of the steps they cover.
pub struct Profile {
    pub workload: &'static str,
    pub steps: usize,
    pub step_ms: f64,
    pub rows: Vec<Row>,
}

/// A line of the breakdown.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub phase: &'static str,
    pub name: String,
    pub ms_per_step: f64,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let names: Vec<&str> = if args.workload == "all" {
        training::NAMES.to_vec()
    } else {
        vec![args.workload.as_str()]
    };
    for name in names {
        let p = measure(name, args)?;
        print(&p, args.json);
    }
    Ok(())
}

/// Trains `name` for `warmup` untimed steps, then records about `reps × target_s` seconds.
pub fn measure(name: &str, args: &BenchArgs) -> Result<Profile> {
    let w = training::workload(name)?;
    let mut req = TrainRequest::new(w.project.clone());
    req.dataset = Some(w.data.clone());
    let handle = TrainHandle::spawn(req)?;
    let warmup = args.warmup.max(3);
    let budget_ms = (args.reps.max(1) as f64 * args.target_s * 1e3).max(200.0);
    // (step, elapsed ms) where the timers were switched on and off.
    type Mark = Option<(usize, f64)>;
    let (mut start, mut end): (Mark, Mark) = (None, None);
    while end.is_none() {
        match handle.recv_timeout(Duration::from_secs(120)) {
            Some(TrainEvent::Step {
                step, elapsed_ms, ..
            }) => {
                // Timers run from the end of the warm-up step to the end of the last one; the
                // worker does not wait for this thread, so the edges may blur by a part of a step.
                if step == warmup {
                    profile::enable(true);
                    start = Some((step, elapsed_ms));
                } else if let Some((s0, t0)) = start {
                    if elapsed_ms - t0 >= budget_ms && step >= s0 + 3 {
                        profile::enable(false);
                        end = Some((step, elapsed_ms));
                    }
                }
            }
            Some(e) if e.is_terminal() => {
                profile::enable(false);
                bail!("the {name} run ended early: {e:?}")
            }
            Some(_) => {}
            None => {
                profile::enable(false);
                bail!("the {name} run stalled")
            }
        }
    }
    handle.stop_and_join();
    let ((s0, t0), (s1, t1)) = (start.expect("set first"), end.expect("loop exit"));
    let steps = s1 - s0;
    let step_ms = (t1 - t0) / steps as f64;
    Ok(Profile {
        workload: w.name,
        steps,
        step_ms,
        rows: rows(&profile::entries(), steps, step_ms),
    })
}

/// The recorded entries as rows per step, with the two remainders made explicit: backward time
/// outside the hand-written kernels (candle's own ops), and step time outside every timer.
fn rows(entries: &[Entry], steps: usize, step_ms: f64) -> Vec<Row> {
    let per = |e: &Entry| e.total.as_secs_f64() * 1e3 / steps as f64;
    let sum = |phase: Phase| -> f64 { entries.iter().filter(|e| e.phase == phase).map(per).sum() };
    let step_phase = |name: &str| {
        entries
            .iter()
            .find(|e| e.phase == Phase::Step && e.name == name)
            .map_or(0.0, per)
    };
    let mut rows: Vec<Row> = entries
        .iter()
        .filter(|e| !(e.phase == Phase::Step && e.name == "backward (all)"))
        .map(|e| Row {
            phase: e.phase.name(),
            name: e.name.trim_start_matches("glassbox-").to_string(),
            ms_per_step: per(e),
        })
        .collect();
    let backward_all = step_phase("backward (all)");
    rows.push(Row {
        phase: "backward",
        name: "candle's own ops and graph walk".into(),
        ms_per_step: (backward_all - sum(Phase::Backward)).max(0.0),
    });
    let timed = sum(Phase::Forward) + sum(Phase::Step);
    rows.push(Row {
        phase: "step",
        name: "rest: worker, events, metrics".into(),
        ms_per_step: (step_ms - timed).max(0.0),
    });
    // The kernels' own forward times go last: they are already inside the rows above.
    rows.sort_by(|a, b| {
        (a.phase == "kernel")
            .cmp(&(b.phase == "kernel"))
            .then(b.ms_per_step.total_cmp(&a.ms_per_step))
    });
    rows
}

fn print(p: &Profile, json: bool) {
    if json {
        for r in &p.rows {
            println!(
                "{}",
                serde_json::json!({
                    "workload": p.workload, "phase": r.phase, "op": r.name,
                    "ms_per_step": r.ms_per_step, "share": r.ms_per_step / p.step_ms,
                    "simd": dispatch::simd_level().name(),
                })
            );
        }
        return;
    }
    println!(
        "{}: {} steps of {:.2} ms, {} thread(s), {}",
        p.workload,
        p.steps,
        p.step_ms,
        crate::model::kernels::gemm::threads(),
        dispatch::describe()
    );
    println!(
        "  {:<9} {:<36} {:>9} {:>7}",
        "phase", "op", "ms/step", "share"
    );
    for r in &p.rows {
        println!(
            "  {:<9} {:<36} {:>9.3} {:>6.1} %",
            r.phase,
            r.name,
            r.ms_per_step,
            100.0 * r.ms_per_step / p.step_ms
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(phase: Phase, name: &'static str, ms: u64) -> Entry {
        Entry {
            phase,
            name,
            total: Duration::from_millis(ms),
            calls: 1,
        }
    }

    #[test]
    fn remainders_are_what_the_timers_miss() {
        let e = [
            entry(Phase::Forward, "Dense", 40),
            entry(Phase::Step, "backward (all)", 100),
            entry(Phase::Backward, "glassbox-linear", 70),
            entry(Phase::Step, "optimiser", 20),
        ];
        // 10 steps of 20 ms: 4 forward + 10 backward + 2 optimiser = 16, so 4 ms untimed.
        let r = rows(&e, 10, 20.0);
        let get = |n: &str| r.iter().find(|r| r.name == n).unwrap().ms_per_step;
        assert!((get("linear") - 7.0).abs() < 1e-9);
        assert!((get("candle's own ops and graph walk") - 3.0).abs() < 1e-9);
        assert!((get("rest: worker, events, metrics") - 4.0).abs() < 1e-9);
        assert!(r.iter().all(|r| r.name != "backward (all)"));
        assert_eq!(r[0].name, "linear");
    }
}
