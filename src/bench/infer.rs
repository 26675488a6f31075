//! `glassbox bench infer`: prediction latency of the CNN and the character transformer at batch
//! 1 and 64, beside onnxruntime running Glassbox's own ONNX export of the same model and
//! PyTorch running its own PyTorch export (`benches/infer_bench.py`), one invocation.

use super::{median, BenchArgs};
use crate::model::{ForwardCtx, Model};
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const INFER_BENCH: &str = include_str!("../../benches/infer_bench.py");
const PRESETS: [&str; 2] = ["cnn-mnist", "transformer-moby-dick"];
const BATCHES: [usize; 2] = [1, 64];

/// A random input of `batch` samples for `model` (token ids below the vocabulary, or N(0, 1)).
fn input(model: &Model, project: &crate::project::Project, batch: usize) -> Result<Tensor> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(batch as u64);
    let shape = model.input_shape().with_batch(batch);
    let n: usize = shape.iter().product();
    let vocab = project.graph.nodes.iter().find_map(|n| match n.layer {
        crate::graph::Layer::Embedding { vocab, .. } => Some(vocab as u32),
        _ => None,
    });
    Ok(match vocab {
        Some(v) => Tensor::from_vec(
            (0..n).map(|_| rng.random_range(0..v)).collect::<Vec<u32>>(),
            shape,
            &Device::Cpu,
        )?,
        None => Tensor::from_vec(
            (0..n)
                .map(|_| rng.sample(rand_distr::StandardNormal))
                .collect::<Vec<f32>>(),
            shape,
            &Device::Cpu,
        )?,
    })
}

fn timed_ms(mut f: impl FnMut() -> Result<()>, reps: usize, target_s: f64) -> Result<(f64, f64)> {
    for _ in 0..3 {
        f()?;
    }
    let mut per_rep = Vec::with_capacity(reps);
    for _ in 0..reps {
        let (mut n, t0) = (0usize, Instant::now());
        loop {
            f()?;
            n += 1;
            if t0.elapsed().as_secs_f64() >= target_s / reps as f64 {
                break;
            }
        }
        per_rep.push(t0.elapsed().as_secs_f64() * 1e3 / n as f64);
    }
    let min = per_rep.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((median(&mut per_rep), min))
}

/// In the child (one thread count): Glassbox's latency for every case, as JSON lines.
pub fn child(args: &BenchArgs) -> Result<()> {
    let threads = crate::model::kernels::gemm::threads();
    let pool = crate::train::math_pool();
    for name in PRESETS {
        let project = crate::presets::load(name)?;
        let model = Model::build(&project.graph, 1)?;
        for batch in BATCHES {
            let x = input(&model, &project, batch)?;
            let run = || -> Result<()> {
                model.forward(&x, &mut ForwardCtx::eval())?;
                Ok(())
            };
            let (med, min) = match &pool {
                Some(p) => p.install(|| timed_ms(run, args.reps, args.target_s))?,
                None => timed_ms(run, args.reps, args.target_s)?,
            };
            println!(
                "{}",
                serde_json::json!({"fw": "glassbox", "workload": name, "batch": batch,
                    "threads": threads, "median_ms": med, "min_ms": min})
            );
        }
    }
    Ok(())
}

/// `bench infer --profile`: where one prediction call's time goes, per layer kind and per
/// hand-written kernel, for each model and batch size, at this process's thread count.
pub fn profile(args: &BenchArgs) -> Result<()> {
    use crate::model::profile::{self, Phase};
    let threads = crate::model::kernels::gemm::threads();
    let pool = crate::train::math_pool();
    for name in PRESETS {
        let project = crate::presets::load(name)?;
        let model = Model::build(&project.graph, 1)?;
        for batch in BATCHES {
            let x = input(&model, &project, batch)?;
            let run = || -> Result<(usize, f64)> {
                let budget_s = (args.reps.max(1) as f64 * args.target_s).max(0.2);
                for _ in 0..3 {
                    model.forward(&x, &mut ForwardCtx::eval())?;
                }
                profile::enable(true);
                let (mut calls, t0) = (0usize, Instant::now());
                while t0.elapsed().as_secs_f64() < budget_s {
                    model.forward(&x, &mut ForwardCtx::eval())?;
                    calls += 1;
                }
                let wall_ms = t0.elapsed().as_secs_f64() * 1e3;
                profile::enable(false);
                Ok((calls, wall_ms))
            };
            let (calls, wall_ms) = match &pool {
                Some(p) => p.install(run)?,
                None => run()?,
            };
            let entries = profile::entries();
            let per = |d: std::time::Duration| d.as_secs_f64() * 1e3 / calls as f64;
            let layers: f64 = entries
                .iter()
                .filter(|e| e.phase == Phase::Forward)
                .map(|e| per(e.total))
                .sum();
            let call_ms = wall_ms / calls as f64;
            println!(
                "{name}, batch {batch}: {call_ms:.3} ms per call, {threads} thread(s), {}",
                crate::model::kernels::dispatch::describe()
            );
            println!(
                "  {:<9} {:<28} {:>9} {:>7}",
                "phase", "op", "ms/call", "share"
            );
            for e in &entries {
                let ms = per(e.total);
                println!(
                    "  {:<9} {:<28} {:>9.4} {:>6.1} %",
                    e.phase.name(),
                    e.name.trim_start_matches("glassbox-"),
                    ms,
                    100.0 * ms / call_ms
                );
            }
            let rest = (call_ms - layers).max(0.0);
            println!(
                "  {:<9} {:<28} {:>9.4} {:>6.1} %",
                "call",
                "rest: outside the layers",
                rest,
                100.0 * rest / call_ms
            );
        }
    }
    Ok(())
}

/// The exports and inputs the Python side times, written once.
fn write_cases(dir: &Path) -> Result<std::path::PathBuf> {
    let mut cases = Vec::new();
    for name in PRESETS {
        let project = crate::presets::load(name)?;
        let model = Model::build(&project.graph, 1)?;
        let weights = model.weights()?;
        let onnx = dir.join(format!("{name}.onnx"));
        crate::deploy::onnx::write_onnx(&project, &weights, &onnx)?;
        let py = dir.join(format!("{name}.py"));
        let source = crate::deploy::pytorch::pytorch_source(&project, &format!("{name}.py"))
            .map_err(anyhow::Error::msg)?;
        std::fs::write(&py, source)?;
        let w = dir.join(format!("{name}.safetensors"));
        weights.save(&w)?;
        for batch in BATCHES {
            let x = input(&model, &project, batch)?;
            let file = dir.join(format!("{name}-{batch}.input"));
            let dtype = crate::deploy::write_raw_batch(&x, &file)?;
            cases.push(
                serde_json::json!({"workload": name, "batch": batch, "onnx": onnx,
                "torch_model": py, "weights": w,
                "input": {"file": file, "shape": x.dims(), "dtype": dtype}}),
            );
        }
    }
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, serde_json::to_vec(&cases)?)?;
    Ok(manifest)
}

pub fn run(args: &BenchArgs, counts: &[usize]) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("glassbox-infer-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let manifest = write_cases(&dir)?;
    let script = dir.join("infer_bench.py");
    std::fs::write(&script, INFER_BENCH)?;
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for &threads in counts {
        let exe = std::env::current_exe().context("finding the glassbox executable")?;
        let out = Command::new(exe)
            .args([
                "bench",
                "infer",
                "--child",
                "--threads",
                &threads.to_string(),
            ])
            .args([
                "--reps",
                &args.reps.to_string(),
                "--target-s",
                &args.target_s.to_string(),
            ])
            .output()
            .context("running the Glassbox side")?;
        if !out.status.success() {
            anyhow::bail!(
                "the Glassbox side failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut lines = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Some(py) = &args.torch {
            let o = Command::new(py)
                .arg(&script)
                .arg(&manifest)
                .args([
                    "--threads",
                    &threads.to_string(),
                    "--reps",
                    &args.reps.to_string(),
                ])
                .args(["--target-s", &args.target_s.to_string()])
                .output()
                .with_context(|| format!("running {}", py.display()))?;
            if !o.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&o.stderr));
            }
            lines.push_str(&String::from_utf8_lossy(&o.stdout));
        }
        rows.extend(lines.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    if args.json {
        rows.iter().for_each(|r| println!("{r}"));
        return Ok(());
    }
    for r in rows.iter().filter(|r| r.get("skipped").is_some()) {
        println!(
            "{}: skipped ({})",
            r["fw"].as_str().unwrap_or("?"),
            r["skipped"].as_str().unwrap_or("")
        );
    }
    println!(
        "{:<22} {:>5} {:>3}  {:<24} {:>9} {:>9}",
        "workload", "batch", "thr", "framework", "median ms", "÷ glassbox"
    );
    for r in rows.iter().filter(|r| r.get("median_ms").is_some()) {
        let ours = rows.iter().find(|o| {
            o["fw"] == "glassbox"
                && o["workload"] == r["workload"]
                && o["batch"] == r["batch"]
                && o["threads"] == r["threads"]
        });
        let ratio = ours
            .and_then(|o| o["median_ms"].as_f64())
            .zip(r["median_ms"].as_f64())
            .map_or("-".into(), |(g, t)| format!("{:.2}", t / g));
        println!(
            "{:<22} {:>5} {:>3}  {:<24} {:>9.3} {:>9}",
            r["workload"].as_str().unwrap_or(""),
            r["batch"],
            r["threads"],
            r["fw"].as_str().unwrap_or(""),
            r["median_ms"].as_f64().unwrap_or(f64::NAN),
            ratio
        );
    }
    println!("(÷ glassbox above 1: that framework is slower than Glassbox)");
    Ok(())
}
