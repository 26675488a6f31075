//! Keeps the training pool's other threads awake while steps run, as OpenMP's spin-wait does
//! for PyTorch. A rayon worker with nothing to do sleeps after a few dozen yields, and each of a
//! step's parallel regions (every split gemm, GELU, attention) then first waits for a futex
//! wake: on a VM an idle vCPU halts, and waking it goes through the host's scheduler. A
//! spinner instead polls the pool for work until none has come for `IDLE_MS`, so a pause or
//! the end of the run lets the core rest again.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How long a spinner keeps polling after the last work it ran or the last `keep_awake`.
const IDLE_MS: u64 = 20;

struct Spin {
    /// Spinners started and not yet finished.
    running: AtomicUsize,
    /// Milliseconds since `origin` of the last arming or the last job a spinner ran.
    last_busy_ms: AtomicU64,
    origin: Instant,
}

impl Spin {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        self.last_busy_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn idle(&self) -> bool {
        self.now_ms()
            .saturating_sub(self.last_busy_ms.load(Ordering::Relaxed))
            > IDLE_MS
    }

    /// Polls the pool for work until it has been idle for `IDLE_MS`.
    fn run(&self) {
        let mut polls = 0u32;
        while !self.idle() {
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => self.touch(),
                Some(rayon::Yield::Idle) => {
                    polls = polls.wrapping_add(1);
                    // Now and then let a runnable thread (the studio's UI) have the core.
                    if polls % 64 == 0 {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                None => break,
            }
        }
        self.running.fetch_sub(1, Ordering::AcqRel);
    }
}

thread_local! {
    /// Per arming thread: a training run executes on one worker of its own pool, so this is
    /// that pool's state.
    static SPIN: Arc<Spin> = Arc::new(Spin {
        running: AtomicUsize::new(0),
        last_busy_ms: AtomicU64::new(0),
        origin: Instant::now(),
    });
}

/// Called at the start of each training step from inside the math pool: the other workers
/// spin (polling for work) until the step's parallel regions have stopped coming. Does nothing
/// outside a pool or with one thread.
pub fn keep_awake() {
    let Some(me) = rayon::current_thread_index() else {
        return;
    };
    let others = rayon::current_num_threads().saturating_sub(1);
    if others == 0 {
        return;
    }
    SPIN.with(|spin| {
        spin.touch();
        // Only when none is running: a broadcast reaching a spinning worker would nest a
        // second spinner inside the first.
        if spin
            .running
            .compare_exchange(0, others, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let spin = spin.clone();
        // A worker that takes its copy while waiting inside a join of its own runs the spinner
        // there, above that join: the join resumes when the spinner stops, at most IDLE_MS after
        // the pool's work stops coming (its owner, waiting on it, makes no new work).
        rayon::spawn_broadcast(move |ctx| {
            // The arming thread's own copy returns at once: it runs inside one of this
            // thread's joins, which could not resume until a spinner there stopped.
            if ctx.index() != me {
                spin.run();
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// Armed inside a two-thread pool, a spinner starts on the other thread, the pool's
    /// parallel work gives the same result, and the spinner stops by itself once the work ends.
    #[test]
    fn spinners_run_work_and_stop_when_idle() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (sum, armed, running_after) = pool.install(|| {
            keep_awake();
            // Set when armed, cleared only by the spinner itself at least IDLE_MS later.
            let armed = SPIN.with(|s| s.running.load(Ordering::Acquire));
            let mut sum = 0u64;
            for step in 0..50u64 {
                keep_awake();
                sum += (0..10_000u64)
                    .into_par_iter()
                    .map(|i| i * step)
                    .sum::<u64>();
            }
            let spin = SPIN.with(|s| s.clone());
            let t = Instant::now();
            while spin.running.load(Ordering::Acquire) > 0 && t.elapsed().as_secs() < 5 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (sum, armed, spin.running.load(Ordering::Acquire))
        });
        let want: u64 = (0..50u64).map(|s| s * (0..10_000u64).sum::<u64>()).sum();
        assert_eq!(sum, want);
        assert_eq!(armed, 1, "no spinner started on the other thread");
        assert_eq!(
            running_after, 0,
            "a spinner did not stop after the work ended"
        );
    }
}
