//! `glassbox bench [mlp|cnn|lstm|transformer|saliency|all]`: each workload measured in a child
//! process of its own (so its peak RSS is its own), then, with `--torch PYTHON`, the PyTorch
//! reference on the same shapes right after it, and the ratio of the two.

use super::{training, BenchArgs};
use crate::insight::{saliency, SaliencyMethod};
use crate::model::kernels::dispatch::{simd_level, SimdLevel, SIMD_ENV};
use crate::model::Model;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The reference script, carried inside the binary so the comparison needs no checkout.
const TORCH_BENCH: &str = include_str!("../../benches/torch_bench.py");

pub const WORKLOADS: [&str; 8] = [
    "mlp",
    "cnn",
    "lstm",
    "transformer",
    "saliency",
    "autoencoder",
    "gan",
    "cnn1d",
];

/// One measured result, as both frameworks print it (one JSON object per line).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Measured {
    pub fw: String,
    pub workload: String,
    pub threads: usize,
    pub unit: String,
    pub median: f64,
    pub min: f64,
    #[serde(default)]
    pub max: f64,
    #[serde(default)]
    pub variant: Option<String>,
    /// Peak resident memory of the process that measured it.
    #[serde(default)]
    pub peak_rss_mb: Option<f64>,
    /// The instruction set the kernels ran on (`avx512`, `avx2`, `baseline`; PyTorch's own
    /// name for its capability).
    #[serde(default)]
    pub simd: Option<String>,
}

impl Measured {
    /// Higher is better for rates, lower for times.
    fn lower_is_better(&self) -> bool {
        self.unit == "ms"
    }
}

/// Measures one workload in this process and prints its JSON line (the child's side).
pub fn child(args: &BenchArgs) -> Result<()> {
    let threads = crate::model::kernels::gemm::threads();
    let m = if args.workload == "saliency" {
        let (median, min, max) = saliency_ms(args.reps.max(7), args.target_s)?;
        Measured {
            fw: "glassbox".into(),
            workload: "saliency".into(),
            threads,
            unit: "ms".into(),
            median,
            min,
            max,
            variant: Some("input gradient".into()),
            peak_rss_mb: peak_rss_self_mb(),
            simd: Some(simd_level().name().into()),
        }
    } else {
        let work = training::workload(&args.workload)?;
        let r = training::measure(&work, args.warmup, args.reps.max(3), args.target_s)?;
        Measured {
            fw: "glassbox".into(),
            workload: work.name.into(),
            threads,
            unit: work.unit.into(),
            median: r.median,
            min: r.min,
            max: r.max,
            variant: None,
            peak_rss_mb: peak_rss_self_mb(),
            simd: Some(simd_level().name().into()),
        }
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

/// One input gradient of the CNN workload's network for one 28×28 image, as the reference
/// times it: median, min and max in ms over repetitions of about `target_s` / reps each.
fn saliency_ms(reps: usize, target_s: f64) -> Result<(f64, f64, f64)> {
    // The cnn workload's network, without building its training data.
    let model = Model::build(&crate::presets::load("cnn-mnist")?.graph, 0)?;
    let x = Tensor::randn(0f32, 1.0, (1, 1, 28, 28), &Device::Cpu)?;
    let once = || -> Result<()> {
        saliency(&model, &x, 3, &SaliencyMethod::Vanilla, 0)?;
        Ok(())
    };
    for _ in 0..5 {
        once()?;
    }
    let t = Instant::now();
    once()?;
    let per_ms = t.elapsed().as_secs_f64() * 1e3;
    let calls = ((target_s * 1e3 / reps as f64 / per_ms.max(1e-3)).ceil() as usize).max(3);
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        for _ in 0..calls {
            once()?;
        }
        times.push(t.elapsed().as_secs_f64() * 1e3 / calls as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times[0], times[times.len() - 1]))
}

/// VmHWM of this process (Linux), in MB.
fn peak_rss_self_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs a child to the end, returning its stdout and its peak RSS in MB (from the kernel's
/// accounting of that one child, so it is exact even for Python).
fn run_child(mut cmd: Command) -> Result<(String, Option<f64>)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    let (ok, rss) = wait_with_peak_rss(child)?;
    if !ok {
        bail!("{cmd:?} failed; its output was:\n{out}");
    }
    Ok((out, rss))
}

#[cfg(unix)]
fn wait_with_peak_rss(child: std::process::Child) -> Result<(bool, Option<f64>)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child, which std has not reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        bail!(
            "waiting for the benchmark process: {}",
            std::io::Error::last_os_error()
        );
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // ru_maxrss is in KiB on Linux.
    Ok((ok, Some(usage.ru_maxrss as f64 / 1024.0)))
}

#[cfg(not(unix))]
fn wait_with_peak_rss(mut child: std::process::Child) -> Result<(bool, Option<f64>)> {
    Ok((child.wait()?.success(), None))
}

fn glassbox_in_child(
    workload: &str,
    threads: usize,
    simd: Option<SimdLevel>,
    args: &BenchArgs,
) -> Result<Measured> {
    let exe = std::env::current_exe().context("finding the glassbox executable")?;
    let mut cmd = Command::new(exe);
    match simd {
        Some(level) => cmd.env(SIMD_ENV, level.name()),
        None => cmd.env_remove(SIMD_ENV),
    };
    cmd.args(["bench", workload, "--child", "--threads"])
        .arg(threads.to_string())
        .arg("--reps")
        .arg(args.reps.to_string())
        .arg("--warmup")
        .arg(args.warmup.to_string())
        .arg("--target-s")
        .arg(args.target_s.to_string());
    let (out, rss) = run_child(cmd)?;
    let mut m: Measured = out
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("no result from the {workload} child:\n{out}"))?;
    m.peak_rss_mb = rss.or(m.peak_rss_mb);
    Ok(m)
}

fn torch_reference(
    python: &Path,
    script: &Path,
    workload: &str,
    threads: usize,
    simd: Option<SimdLevel>,
    args: &BenchArgs,
) -> Result<Measured> {
    let mut cmd = Command::new(python);
    // The same cap for PyTorch's own kernels, MKL's and oneDNN's.
    let caps = match simd {
        Some(SimdLevel::Avx2) => Some(("avx2", "AVX2", "AVX2")),
        Some(SimdLevel::Baseline) => Some(("default", "SSE4_2", "SSE41")),
        Some(SimdLevel::Avx512) | None => None,
    };
    if let Some((aten, mkl, onednn)) = caps {
        cmd.env("ATEN_CPU_CAPABILITY", aten)
            .env("MKL_ENABLE_INSTRUCTIONS", mkl)
            .env("ONEDNN_MAX_CPU_ISA", onednn);
    }
    cmd.arg(script)
        .arg(workload)
        .arg("--threads")
        .arg(threads.to_string())
        .env("BENCH_REPS", args.reps.to_string())
        .env("BENCH_WARMUP", args.warmup.to_string())
        .env("BENCH_TARGET_S", args.target_s.to_string());
    let (out, rss) = run_child(cmd)?;
    // The reference prints two saliency variants; the input-only gradient is the like-for-like.
    let mut m: Measured = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Measured>(l).ok())
        .find(|m| {
            m.workload == workload
                && (workload != "saliency" || m.variant.as_deref() == Some("autograd_grad"))
        })
        .with_context(|| format!("no {workload} result from PyTorch:\n{out}"))?;
    m.peak_rss_mb = rss;
    Ok(m)
}

/// One side's rounds of a row as one result: the median round, with the extremes of all of
/// them and the largest peak RSS.
fn over_rounds(mut rounds: Vec<Measured>) -> Measured {
    let (min, max) = rounds
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), m| {
            (lo.min(m.min), hi.max(m.max))
        });
    let rss = rounds.iter().filter_map(|m| m.peak_rss_mb).reduce(f64::max);
    rounds.sort_by(|a, b| a.median.total_cmp(&b.median));
    let mut mid = rounds.swap_remove(rounds.len() / 2);
    mid.min = min;
    mid.max = max;
    mid.peak_rss_mb = rss;
    mid
}

/// Glassbox ÷ PyTorch in speed (>1: Glassbox is faster), for rates and times alike.
fn speed_ratio(ours: &Measured, theirs: &Measured) -> f64 {
    if ours.lower_is_better() {
        theirs.median / ours.median
    } else {
        ours.median / theirs.median
    }
}

fn fmt_value(m: &Measured) -> String {
    if m.lower_is_better() {
        format!("{:.3} ms (min {:.3})", m.median, m.min)
    } else {
        format!("{:.0} {} (min {:.0})", m.median, m.unit, m.min)
    }
}

fn fmt_rss(m: &Measured) -> String {
    m.peak_rss_mb
        .map(|v| format!("{v:.0} MB"))
        .unwrap_or_else(|| "?".into())
}

/// The side-by-side run: every workload × thread count, Glassbox then PyTorch, one at a time.
pub fn compare(args: &BenchArgs) -> Result<()> {
    let workloads: Vec<&str> = if args.workload == "all" {
        WORKLOADS.to_vec()
    } else {
        vec![args.workload.as_str()]
    };
    let counts = thread_counts(args)?;
    let levels = simd_levels(args)?;
    let script = match &args.torch {
        Some(_) => {
            let path = std::env::temp_dir()
                .join(format!("glassbox-torch-bench-{}.py", std::process::id()));
            crate::fsutil::write_atomic(&path, TORCH_BENCH.as_bytes())?;
            Some(path)
        }
        None => None,
    };
    if !args.json {
        println!("{}", machine_line());
        println!(
            "{:<12} {:>3} {:<8}  {:<34} {:<34} {:>6}  {:>8} {:>8} {:>6}",
            "workload", "thr", "simd", "glassbox", "pytorch", "ratio", "rss gb", "rss pt", "rss ÷"
        );
    }
    let result = (|| -> Result<()> {
        for &simd in &levels {
            for &threads in &counts {
                for &w in &workloads {
                    let mut ours = Vec::new();
                    let mut theirs = Vec::new();
                    for _ in 0..args.rounds.max(1) {
                        ours.push(glassbox_in_child(w, threads, simd, args)?);
                        if let (Some(py), Some(s)) = (&args.torch, &script) {
                            theirs.push(torch_reference(py, s, w, threads, simd, args)?);
                        }
                    }
                    let theirs = (!theirs.is_empty()).then(|| over_rounds(theirs));
                    report(&over_rounds(ours), theirs.as_ref(), args.json)?;
                }
            }
        }
        Ok(())
    })();
    if let Some(s) = script {
        let _ = std::fs::remove_file(s);
    }
    result
}

fn report(ours: &Measured, theirs: Option<&Measured>, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(ours)?);
        if let Some(t) = theirs {
            println!("{}", serde_json::to_string(t)?);
            let rss_ratio = ours.peak_rss_mb.zip(t.peak_rss_mb).map(|(a, b)| a / b);
            println!(
                "{}",
                serde_json::json!({
                    "workload": ours.workload,
                    "threads": ours.threads,
                    "simd": ours.simd,
                    "ratio": speed_ratio(ours, t),
                    "rss_ratio": rss_ratio,
                })
            );
        }
        return Ok(());
    }
    let (pt, ratio, rss_pt, rss_ratio) = match theirs {
        Some(t) => (
            fmt_value(t),
            format!("{:.2}", speed_ratio(ours, t)),
            fmt_rss(t),
            ours.peak_rss_mb
                .zip(t.peak_rss_mb)
                .map(|(a, b)| format!("{:.2}", a / b))
                .unwrap_or_else(|| "?".into()),
        ),
        None => ("(no --torch)".into(), "-".into(), "-".into(), "-".into()),
    };
    let simd = match theirs.and_then(|t| t.simd.as_deref()) {
        Some(t) => format!("{}/{t}", ours.simd.as_deref().unwrap_or("?")),
        None => ours.simd.clone().unwrap_or_else(|| "?".into()),
    };
    println!(
        "{:<12} {:>3} {:<8}  {:<34} {:<34} {:>6}  {:>8} {:>8} {:>6}",
        ours.workload,
        ours.threads,
        simd,
        fmt_value(ours),
        pt,
        ratio,
        fmt_rss(ours),
        rss_pt,
        rss_ratio
    );
    Ok(())
}

/// `--simd native,avx2`: the levels to run at (`None` = uncapped), each one the CPU has.
pub(super) fn simd_levels(args: &BenchArgs) -> Result<Vec<Option<SimdLevel>>> {
    let Some(list) = &args.simd else {
        return Ok(vec![None]);
    };
    let best = crate::model::kernels::dispatch::detected();
    list.split(',')
        .map(|s| match s.trim() {
            "native" => Ok(None),
            other => {
                let level = SimdLevel::parse(other).map_err(|e| anyhow::anyhow!("--simd: {e}"))?;
                if level > best {
                    bail!(
                        "--simd {other}: this CPU has only {} (see `glassbox bench` with no --simd)",
                        best.name()
                    );
                }
                Ok(Some(level))
            }
        })
        .collect()
}

/// CPU model and core count, for the record.
/// `--thread-counts 1,2`, or the current count.
pub(super) fn thread_counts(args: &BenchArgs) -> Result<Vec<usize>> {
    Ok(match &args.thread_counts {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("--thread-counts '{list}': expected e.g. 1,2"))?,
        None => vec![crate::model::kernels::gemm::threads()],
    })
}

fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let avx512 = {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    };
    format!(
        "machine: {cpu}, {cores} logical cores, AVX-512 {}; {}",
        if avx512 { "yes" } else { "no" },
        crate::model::kernels::dispatch::describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(median: f64, min: f64, max: f64, rss: f64) -> Measured {
        Measured {
            fw: "glassbox".into(),
            workload: "lstm".into(),
            threads: 2,
            unit: "tokens/s".into(),
            median,
            min,
            max,
            variant: None,
            peak_rss_mb: Some(rss),
            simd: None,
        }
    }

    #[test]
    fn rounds_report_the_median_round_and_the_extremes_of_all() {
        let m = over_rounds(vec![
            round(300.0, 290.0, 310.0, 70.0),
            round(100.0, 80.0, 120.0, 90.0),
            round(200.0, 150.0, 260.0, 60.0),
        ]);
        assert_eq!((m.median, m.min, m.max), (200.0, 80.0, 310.0));
        assert_eq!(m.peak_rss_mb, Some(90.0));
        let one = over_rounds(vec![round(5.0, 4.0, 6.0, 1.0)]);
        assert_eq!((one.median, one.min, one.max), (5.0, 4.0, 6.0));
    }
}
