//! `glassbox bench`: Glassbox beside PyTorch on the reference workloads, kernel micro-benchmarks,
//! and the studio's own costs (worker overhead, data loading, snapshots, explanations).

mod compare;
mod infer;
mod kernels;
mod profile;
mod serve;
mod training;

use crate::data::{epoch_batches, Dataset};
use crate::model::kernels::{pool2d, PoolKind};
use crate::model::Model;
use crate::presets;
use crate::train::{make_batch, TrainEvent, TrainHandle, TrainRequest};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Module, Optimizer, VarBuilder, VarMap};
use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// What to measure. Side by side with PyTorch (`--torch`): `mlp`, `cnn`, `lstm`,
    /// `transformer`, `saliency`, `autoencoder`, `gan`, `cnn1d` or `all` of them. Glassbox only:
    /// `kernels` (each hand-written kernel against candle's own ops), `gemm` (the matrix kernel
    /// at one thread and at all of them), `worker` (the cnn-mnist preset through the training
    /// worker vs a bare candle loop), `data` (loading MNIST), `snapshots` (training with and
    /// without insight snapshots), `saliency-methods` (time per explanation method), `infer`
    /// (prediction latency beside onnxruntime and PyTorch on Glassbox's own exports; --torch
    /// names the Python that has them), `serve` (served requests/s with the drift watch on and
    /// off, mlp-iris and cnn-mnist, 4 clients, --target-s seconds per side, --rounds turns).
    #[arg(default_value = "all")]
    pub workload: String,
    /// Python with torch installed: run `benches/torch_bench.py` (built in) after each
    /// workload, on the same shapes, and print the ratio.
    #[arg(long, value_name = "PYTHON")]
    pub torch: Option<std::path::PathBuf>,
    /// Thread counts to measure, e.g. `1,2` (default: the current count, see --threads).
    #[arg(long, value_name = "LIST")]
    pub thread_counts: Option<String>,
    /// Print JSON lines only.
    #[arg(long)]
    pub json: bool,
    /// Repetitions; the median is reported.
    #[arg(long, default_value_t = 7)]
    pub reps: usize,
    /// Side-by-side runs (`--torch`): each row is measured this many times, Glassbox and
    /// PyTorch taking turns, and each side reports the median of its rounds, so a slow spell
    /// of the machine (a busy neighbour on a VM) falls on both sides instead of on one.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Seconds per repetition (training workloads).
    #[arg(long, default_value_t = 1.0)]
    pub target_s: f64,
    /// Timed steps per measurement (`worker`, `snapshots`).
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    /// Instruction sets to run Glassbox's kernels at, side by side: `native` (the CPU's best),
    /// `avx2`, `baseline`, e.g. `native,avx2` (default: native). PyTorch gets the same cap
    /// through ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS and ONEDNN_MAX_CPU_ISA.
    #[arg(long, value_name = "LIST")]
    pub simd: Option<String>,
    /// Instead of timing against PyTorch: where a training workload's step time goes, per
    /// layer kind (forward), per hand-written kernel (backward) and per phase.
    #[arg(long)]
    pub profile: bool,
    /// Internal: measure one workload in this process and print its JSON line.
    #[arg(long, hide = true)]
    pub child: bool,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.reps == 0 {
        bail!("--reps 0 measures nothing: use at least 1");
    }
    match args.workload.as_str() {
        "infer" if args.profile => infer::profile(args),
        w if args.profile && (w == "all" || training::NAMES.contains(&w)) => profile::run(args),
        _ if args.profile => bail!(
            "--profile breaks down training steps or predictions: use one of {}, all or infer",
            training::NAMES.join(", ")
        ),
        w if args.child && compare::WORKLOADS.contains(&w) => compare::child(args),
        w if w == "all" || compare::WORKLOADS.contains(&w) => compare::compare(args),
        "kernels" => kernels::run(args),
        "gemm" => kernels::gemm_scaling(args),
        "worker" => worker_vs_bare(args),
        "data" => data_load(args),
        "snapshots" => snapshot_overhead(args),
        "saliency-methods" => saliency_methods(args),
        "infer" if args.child => infer::child(args),
        "infer" => infer::run(args, &compare::thread_counts(args)?),
        "serve" => serve::run(args),
        other => bail!(
            "unknown workload '{other}' (known: all, mlp, cnn, lstm, transformer, saliency, \
             autoencoder, gan, cnn1d, kernels, gemm, worker, data, snapshots, saliency-methods, \
             infer, serve)"
        ),
    }
}

/// The median, or NaN for no values.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// CNN training throughput with the studio's default insight snapshots on and off.
fn snapshot_overhead(args: &BenchArgs) -> Result<()> {
    let project = presets::load("cnn-mnist").context("loading the cnn-mnist preset")?;
    let data = Arc::new(Dataset::load(&project.data, None)?);
    let mut off = Vec::new();
    let mut on = Vec::new();
    for _ in 0..args.reps {
        off.push(worker_throughput_with(&project, &data, args, None)?);
        let opts = crate::train::InsightOptions::default();
        on.push(worker_throughput_with(&project, &data, args, Some(opts))?);
    }
    let (a, b) = (median(&mut off), median(&mut on));
    println!("snapshots off: {a:8.1} samples/s");
    println!(
        "snapshots on:  {b:8.1} samples/s (every 5 steps, at most 4 per second, with weights)"
    );
    println!("slowdown: {:.1} %", (1.0 - b / a) * 100.0);
    println!("{{\"workload\":\"snapshots\",\"off\":{a:.1},\"on\":{b:.1}}}");
    Ok(())
}

/// Time of one explanation of each method on the CNN preset (one 28×28 image).
fn saliency_methods(args: &BenchArgs) -> Result<()> {
    use crate::insight::{
        kernel_shap, lime, saliency, Baseline, LimeSettings, SaliencyMethod, Segmentation,
        ShapSettings,
    };
    let project = presets::load("cnn-mnist").context("loading the cnn-mnist preset")?;
    let data = Dataset::load(&project.data, None)?;
    let model = Model::build(&project.graph, 0)?;
    let enc = model.bind_data(&data)?;
    let (x, _, _) = make_batch(&data, &data.test[..1], enc, &model)?;
    let input: Vec<f32> = x.flatten_all()?.to_vec1()?;
    let background: Vec<Vec<f32>> = {
        let mut rows = Vec::new();
        data.gather_features(&data.train[..8], &mut rows);
        rows.chunks(784).map(<[f32]>::to_vec).collect()
    };
    type Run<'a> = Box<dyn Fn() -> Result<()> + 'a>;
    let methods: Vec<(&str, Run)> = vec![
        (
            "gradient",
            Box::new(|| {
                saliency(&model, &x, 3, &SaliencyMethod::Vanilla, 0)?;
                Ok(())
            }),
        ),
        (
            "gradient × input",
            Box::new(|| {
                saliency(&model, &x, 3, &SaliencyMethod::GradTimesInput, 0)?;
                Ok(())
            }),
        ),
        (
            "SmoothGrad (24 samples)",
            Box::new(|| {
                saliency(
                    &model,
                    &x,
                    3,
                    &SaliencyMethod::SmoothGrad {
                        samples: 24,
                        sigma: 0.1,
                    },
                    0,
                )?;
                Ok(())
            }),
        ),
        (
            "integrated gradients (50 steps)",
            Box::new(|| {
                saliency(
                    &model,
                    &x,
                    3,
                    &SaliencyMethod::IntegratedGradients {
                        steps: 50,
                        baseline: Baseline::Zero,
                    },
                    0,
                )?;
                Ok(())
            }),
        ),
        (
            "occlusion (4 px patch, stride 2)",
            Box::new(|| {
                saliency(
                    &model,
                    &x,
                    3,
                    &SaliencyMethod::Occlusion {
                        patch: 4,
                        stride: 2,
                    },
                    0,
                )?;
                Ok(())
            }),
        ),
        (
            "Grad-CAM (conv2)",
            Box::new(|| {
                saliency(
                    &model,
                    &x,
                    3,
                    &SaliencyMethod::GradCam {
                        node: "conv2".into(),
                    },
                    0,
                )?;
                Ok(())
            }),
        ),
        (
            "LIME (400 perturbations, 4 px grid)",
            Box::new(|| {
                lime(
                    &model,
                    &input,
                    &[1, 28, 28],
                    3,
                    &Segmentation::Grid { cell: 4 },
                    &vec![0.0; 784],
                    &LimeSettings {
                        samples: 400,
                        ..Default::default()
                    },
                )?;
                Ok(())
            }),
        ),
        (
            "KernelSHAP (400 coalitions × 8 background)",
            Box::new(|| {
                kernel_shap(
                    &model,
                    &input,
                    &[1, 28, 28],
                    3,
                    &Segmentation::Grid { cell: 4 },
                    &background,
                    &ShapSettings {
                        max_coalitions: 400,
                        seed: 0,
                    },
                )?;
                Ok(())
            }),
        ),
    ];
    println!(
        "one explanation of one MNIST test image by the cnn-mnist network, {} thread(s):",
        candle_core::utils::get_num_threads()
    );
    for (name, run) in &methods {
        run()?;
        let mut times = Vec::new();
        for _ in 0..args.reps.max(3) {
            let t = Instant::now();
            run()?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let ms = median(&mut times);
        println!("  {name:<44} {ms:9.2} ms");
        println!("{{\"workload\":\"saliency-method\",\"method\":\"{name}\",\"ms\":{ms:.3}}}");
    }
    Ok(())
}

/// Loading the 70,000 MNIST images from the IDX gz files: median time and bytes held.
fn data_load(args: &BenchArgs) -> Result<()> {
    let settings = crate::data::DataSettings::default();
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..args.reps.max(1) {
        let t = Instant::now();
        let ds = Dataset::load(&settings, None)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        bytes = ds.memory_bytes();
    }
    let raw = 70_000 * 28 * 28 + 70_000;
    let ms = median(&mut times);
    println!(
        "MNIST (70,000 images) loaded in {ms:.0} ms (median of {})",
        times.len()
    );
    println!(
        "in memory: {:.1} MB = {:.2}× the raw {:.1} MB of pixels and labels",
        bytes as f64 / 1e6,
        bytes as f64 / raw as f64,
        raw as f64 / 1e6
    );
    println!("{{\"workload\":\"data\",\"load_ms\":{ms:.1},\"bytes\":{bytes},\"raw_bytes\":{raw}}}");
    Ok(())
}

fn worker_vs_bare(args: &BenchArgs) -> Result<()> {
    let project = presets::load("cnn-mnist").context("loading the cnn-mnist preset")?;
    let data = Arc::new(Dataset::load(&project.data, None)?);
    let batch = project.training.batch_size;
    println!(
        "cnn-mnist, batch {batch}, {} warm-up + {} timed steps, {} repetitions, {} thread(s)",
        args.warmup,
        args.steps,
        args.reps,
        candle_core::utils::get_num_threads()
    );
    let mut worker = Vec::new();
    let mut bare = Vec::new();
    let mut candle = Vec::new();
    for _ in 0..args.reps {
        worker.push(worker_throughput(&project, &data, args)?);
        bare.push(bare_glassbox_throughput(&project, &data, args)?);
        candle.push(bare_throughput(&project, &data, args)?);
    }
    let (w, b, c) = (median(&mut worker), median(&mut bare), median(&mut candle));
    println!("worker (events on):           {w:8.1} samples/s");
    println!("bare loop, same model & ops:  {b:8.1} samples/s");
    println!("bare loop, candle_nn layers:  {c:8.1} samples/s");
    println!(
        "worker / bare: {:.3} (overhead {:+.1} %); Glassbox kernels / candle_nn: {:.2}×",
        w / b,
        (b / w - 1.0) * 100.0,
        b / c
    );
    println!(
        "{{\"workload\":\"worker_vs_bare\",\"worker_samples_per_s\":{w:.1},\"bare_samples_per_s\":{b:.1},\"candle_nn_samples_per_s\":{c:.1},\"ratio\":{:.4}}}",
        w / b
    );
    Ok(())
}

/// The preset's own model and optimiser stepped in a plain loop on pre-built batches: what the
/// worker would reach with no events, no batching on the fly and no bookkeeping. Runs in a
/// math pool like the worker, so the two differ only by the worker's own work.
fn bare_glassbox_throughput(
    project: &crate::project::Project,
    data: &Arc<Dataset>,
    args: &BenchArgs,
) -> Result<f64> {
    let run = || -> Result<f64> {
        let model = Model::build(&project.graph, project.training.seed)?;
        let encoding = model.bind_data(data)?;
        let mut optim = crate::train::Optim::new(
            project.training.optimizer,
            project.training.weight_decay,
            model.trainable(),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let batches: Vec<_> = epoch_batches(&data.train, project.training.batch_size, &mut rng)
            .into_iter()
            .take(16)
            .map(|idx| make_batch(data, &idx, encoding, &model))
            .collect::<candle_core::Result<_>>()?;
        let mut step = |i: usize| -> Result<usize> {
            let (x, t, _) = &batches[i % batches.len()];
            let mut ctx = crate::model::ForwardCtx::train(None);
            let pred = model.forward(x, &mut ctx)?;
            let loss = model.loss(&pred, t)?;
            let _ = loss.to_scalar::<f32>()?;
            optim.step(&loss.backward()?, project.training.lr)?;
            Ok(x.dim(0)?)
        };
        for i in 0..args.warmup {
            step(i)?;
        }
        let t = Instant::now();
        let mut samples = 0;
        for i in 0..args.steps {
            samples += step(args.warmup + i)?;
        }
        Ok(samples as f64 / t.elapsed().as_secs_f64())
    };
    match crate::train::math_pool() {
        Some(pool) => pool.install(run),
        None => run(),
    }
}

/// Samples/s of the timed steps, measured from the worker's own Step events.
fn worker_throughput(
    project: &crate::project::Project,
    data: &Arc<Dataset>,
    args: &BenchArgs,
) -> Result<f64> {
    worker_throughput_with(project, data, args, None)
}

fn worker_throughput_with(
    project: &crate::project::Project,
    data: &Arc<Dataset>,
    args: &BenchArgs,
    insight: Option<crate::train::InsightOptions>,
) -> Result<f64> {
    let mut req = TrainRequest::new(project.clone());
    req.insight = insight;
    req.dataset = Some(data.clone());
    req.max_steps = Some(args.warmup + args.steps);
    req.project.training.epochs = 1;
    let handle = TrainHandle::spawn(req)?;
    let mut t0 = None;
    let mut t1 = None;
    let mut s0 = 0;
    let mut s1 = 0;
    let terminal = handle.wait(|ev| {
        if let TrainEvent::Step {
            step,
            samples,
            elapsed_ms,
            ..
        } = ev
        {
            if *step == args.warmup {
                t0 = Some(*elapsed_ms);
                s0 = *samples;
            }
            if *step == args.warmup + args.steps {
                t1 = Some(*elapsed_ms);
                s1 = *samples;
            }
        }
    });
    match (terminal, t0, t1) {
        (Some(TrainEvent::Finished { .. }), Some(a), Some(b)) => {
            Ok((s1 - s0) as f64 / ((b - a) / 1e3))
        }
        (Some(TrainEvent::Failed { reason }), ..) => bail!("worker failed: {reason}"),
        (t, ..) => bail!("worker run ended unexpectedly: {t:?}"),
    }
}

/// The reference CNN written directly against candle_nn, trained with candle's AdamW on
/// pre-built batches: the lower bound on overhead. It uses Glassbox's max-pool kernel, because
/// candle's own max-pool backward is wrong (see model/kernels/pool.rs); everything else is candle.
fn bare_throughput(
    project: &crate::project::Project,
    data: &Arc<Dataset>,
    args: &BenchArgs,
) -> Result<f64> {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let conv_cfg = candle_nn::Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    let c1 = candle_nn::conv2d(1, 32, 3, conv_cfg, vb.pp("c1"))?;
    let c2 = candle_nn::conv2d(32, 64, 3, conv_cfg, vb.pp("c2"))?;
    let f1 = candle_nn::linear(3136, 128, vb.pp("f1"))?;
    let f2 = candle_nn::linear(128, 10, vb.pp("f2"))?;
    let bare_params: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    // Glassbox's model of the preset must be the same network, or the ratio means nothing.
    let model = Model::build(&project.graph, 0)?;
    if model.param_count() != bare_params {
        bail!(
            "the cnn-mnist preset ({} parameters) no longer matches the bare reference CNN ({bare_params})",
            model.param_count()
        );
    }
    let encoding = model.bind_data(data)?;
    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: project.training.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let batches: Vec<(Tensor, Tensor)> =
        epoch_batches(&data.train, project.training.batch_size, &mut rng)
            .into_iter()
            .take(16)
            .map(|idx| {
                let (x, t, _) = make_batch(data, &idx, encoding, &model)?;
                let y = match t {
                    crate::model::TargetBatch::Labels(y) => y,
                    crate::model::TargetBatch::Values(y) => y,
                };
                Ok((x, y))
            })
            .collect::<candle_core::Result<_>>()?;
    let step = |i: usize, opt: &mut candle_nn::AdamW| -> candle_core::Result<()> {
        let (x, y) = &batches[i % batches.len()];
        let h = pool2d(&c1.forward(x)?.relu()?, PoolKind::Max, 2, 2)?;
        let h = pool2d(&c2.forward(&h)?.relu()?, PoolKind::Max, 2, 2)?;
        let h = f1.forward(&h.flatten_from(1)?)?.relu()?;
        let logits = f2.forward(&h)?;
        let loss = candle_nn::loss::cross_entropy(&logits, y)?;
        let _ = loss.to_scalar::<f32>()?;
        let _ = logits.argmax(D::Minus1)?;
        opt.backward_step(&loss)
    };
    for i in 0..args.warmup {
        step(i, &mut opt)?;
    }
    let t = Instant::now();
    let mut samples = 0;
    for i in 0..args.steps {
        step(args.warmup + i, &mut opt)?;
        samples += batches[(args.warmup + i) % batches.len()].0.dim(0)?;
    }
    Ok(samples as f64 / t.elapsed().as_secs_f64())
}
