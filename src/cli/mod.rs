//! The headless command line: train, check, eval, generate, sample, export, predict, bench.

mod datamap;
mod deploy;
mod embed;
mod experiments;
mod landscape;
mod new;
mod sample;
mod seeds;
mod train;

pub use train::TrainOptions;

use crate::data::Dataset;
use crate::graph::analyze;
use crate::model::{generate, Model, SampleOptions, Weights};
use crate::project::Project;
use crate::train::{mode_step, Control, EvalMetrics};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "glassbox",
    version,
    about = "Build, train and look inside neural networks"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Project to open in the studio.
    #[arg(global = false)]
    pub project: Option<PathBuf>,
    /// Threads for tensor maths, 1 to 1024 (default: all cores).
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a project and report per-epoch and test metrics.
    Train {
        project: PathBuf,
        #[command(flatten)]
        opts: TrainOptions,
    },
    /// Print every node's output shape and parameter count, or the graph's errors.
    Check {
        project: PathBuf,
        /// Make the changes the check suggests to fit the data (Input shape, vocabulary, the
        /// last layer's width) and save the project.
        #[arg(long)]
        fit: bool,
    },
    /// List the ready-made projects and say where they and the shipped data were found.
    Presets,
    /// Start a project from your own data (a CSV table, a folder of images, a text file): a
    /// network chosen by the kind of data, its ends fitted to it.
    New(new::NewOptions),
    /// Train a classifier keeping the data map: each training sample's confidence in its own
    /// label and its variability over the epochs, written to a CSV with the sample's place in
    /// your file; names the samples most likely mislabelled.
    Datamap(datamap::DatamapOptions),
    /// The training loss around trained weights: a 2-D slice along two filter-normalised
    /// random directions (Li et al. 2018), written as x,y,loss per cell.
    Landscape(landscape::LandscapeOptions),
    /// A node's activations on the test samples projected to 2-D (PCA), written as
    /// index,label,x,y, with the plane's nearest-neighbour accuracy beside the layer's.
    Embed(embed::EmbedOptions),
    /// Train the project once per seed (1..N) into its runs folder as one group, and give the
    /// test figure's mean with its 95 % interval.
    Repeat(seeds::RepeatOptions),
    /// Whether two groups (or runs) differ: mean ± 95 % interval each, Welch's t-test, and for
    /// classifiers McNemar's exact test on paired test predictions.
    Compare(seeds::CompareOptions),
    /// Evaluate saved weights on the project's validation and test data. Several --weights
    /// (repeat the flag) are measured one by one and as an averaged ensemble.
    Eval {
        project: PathBuf,
        #[arg(long, required = true)]
        weights: Vec<PathBuf>,
    },
    /// Generate text from a trained character language model.
    Generate {
        project: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        /// Text to start from (every character must occur in the training text).
        #[arg(long, default_value = "The ")]
        prompt: String,
        /// Below 1: safer, more repetitive text; above 1: more surprising.
        #[arg(long, default_value_t = 0.8)]
        temperature: f32,
        /// Characters to generate after the prompt.
        #[arg(long, default_value_t = 300)]
        length: usize,
        /// Draw only among the k likeliest characters (0 = all).
        #[arg(long, default_value_t = 0)]
        top_k: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Draw new samples from a trained GAN, VAE or autoencoder into a PNG grid.
    Sample {
        project: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        /// The PNG to write.
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A trained classifier project (e.g. presets/cnn-mnist.json) to judge the samples.
        #[arg(long, requires = "classifier_weights")]
        classifier: Option<PathBuf>,
        #[arg(long)]
        classifier_weights: Option<PathBuf>,
    },
    /// Write a trained model as ONNX, PyTorch code or safetensors.
    Export {
        project: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        #[arg(long, value_enum)]
        format: deploy::ExportFormat,
        /// The file to write (for pytorch, the weights go beside it as .safetensors).
        #[arg(short, long)]
        output: PathBuf,
        /// For pytorch: also write the training split as <output>.data.safetensors.
        #[arg(long)]
        with_data: bool,
    },
    /// Predict for the rows of a CSV file, an image, or the lines of a text file (or --text).
    /// Several --weights (repeat the flag) make an ensemble: their probabilities are averaged.
    Predict {
        project: PathBuf,
        #[arg(long, required = true)]
        weights: Vec<PathBuf>,
        input: Option<PathBuf>,
        #[arg(long)]
        text: Option<String>,
        /// One JSON object per input.
        #[arg(long)]
        json: bool,
    },
    /// Open an ONNX file as a project (its weights are written beside it).
    ImportOnnx {
        file: PathBuf,
        /// The project file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Serve predictions over HTTP: POST /predict with {"inputs": [...]}, GET /health.
    Serve {
        project: PathBuf,
        /// Repeat for an ensemble (probabilities averaged).
        #[arg(long, required = true)]
        weights: Vec<PathBuf>,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on; the default is reachable only from this machine.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Largest request body accepted (bigger ones get 400).
        #[arg(long, default_value_t = crate::deploy::serve::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
        /// Append one JSON line per request here (see `glassbox import-log`).
        #[arg(long)]
        log: Option<PathBuf>,
        /// Log the inputs themselves (false: a hash of each instead).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        log_inputs: bool,
        /// Move the log to <log>.1 and start a new one from this size.
        #[arg(long, default_value_t = 64)]
        log_max_mb: u64,
    },
    /// Turn a request log's inputs into a CSV data set: one row per input, the model's feature
    /// columns and a label column holding the model's answer, to correct before training.
    ImportLog {
        log: PathBuf,
        /// The served project (for its feature names).
        #[arg(long)]
        project: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// List the project's recorded runs (its `<name>.runs` folder), newest first.
    Runs {
        project: PathBuf,
        #[arg(long)]
        json: bool,
        /// Runs folder to read instead of the one beside the project.
        #[arg(long)]
        runs_dir: Option<PathBuf>,
    },
    /// Run a grid, random or successive-halving search (a JSON spec) into run folders.
    Sweep {
        project: PathBuf,
        #[arg(long)]
        spec: PathBuf,
        #[arg(long)]
        runs_dir: Option<PathBuf>,
    },
    /// Learning-rate range test: ramp the rate up and suggest where the loss falls fastest.
    LrFind {
        project: PathBuf,
        #[arg(long, default_value_t = 1e-6)]
        min_lr: f64,
        #[arg(long, default_value_t = 1.0)]
        max_lr: f64,
        #[arg(long, default_value_t = 100)]
        steps: usize,
        /// Write the loss-vs-rate chart to <PLOT>.png and <PLOT>.csv.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Save the suggested rate into the project file.
        #[arg(long)]
        apply: bool,
    },
    /// Write a run folder's charts (loss, accuracy, rate, metrics) as PNG and CSV.
    Plot {
        /// A run folder (inside <project>.runs).
        run: PathBuf,
        /// Folder to write into (default: the run folder).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "step")]
        x: PlotAxis,
    },
    /// Measure training throughput (see `glassbox bench --help`).
    Bench(crate::bench::BenchArgs),
}

pub fn run(cmd: Command) -> ExitCode {
    let result = match cmd {
        Command::Train { project, opts } => train::train(&project, &opts),
        Command::Check { project, fit } => check(&project, fit),
        Command::Presets => list_presets(),
        Command::New(opts) => new::new_project(&opts),
        Command::Datamap(opts) => datamap::datamap(&opts),
        Command::Landscape(opts) => landscape::landscape(&opts),
        Command::Embed(opts) => embed::embed(&opts),
        Command::Repeat(opts) => seeds::repeat(&opts),
        Command::Compare(opts) => seeds::compare(&opts),
        Command::Eval { project, weights } => match &weights[..] {
            [one] => eval(&project, one),
            many => deploy::eval_ensemble(&project, many),
        },
        Command::Generate {
            project,
            weights,
            prompt,
            temperature,
            length,
            top_k,
            seed,
        } => generate_text(
            &project,
            &weights,
            &prompt,
            &SampleOptions {
                temperature,
                top_k,
                length,
                seed,
                carry_state: false,
            },
        ),
        Command::Sample {
            project,
            weights,
            output,
            count,
            seed,
            classifier,
            classifier_weights,
        } => sample::sample(
            &project,
            &weights,
            &output,
            count,
            seed,
            classifier.as_deref().zip(classifier_weights.as_deref()),
        ),
        Command::Export {
            project,
            weights,
            format,
            output,
            with_data,
        } => deploy::export(&project, &weights, format, &output, with_data),
        Command::Predict {
            project,
            weights,
            input,
            text,
            json,
        } => deploy::predict(&project, &weights, input.as_deref(), text.as_deref(), json),
        Command::ImportOnnx { file, output } => deploy::import_onnx(&file, &output),
        Command::Serve {
            project,
            weights,
            port,
            host,
            max_body_bytes,
            log,
            log_inputs,
            log_max_mb,
        } => deploy::serve(
            &project,
            &weights,
            (host, port),
            max_body_bytes,
            log.map(|path| crate::deploy::request_log::LogSettings {
                path,
                inputs: log_inputs,
                max_bytes: log_max_mb.saturating_mul(1 << 20),
            }),
        ),
        Command::ImportLog {
            log,
            project,
            output,
        } => deploy::import_log(&log, &project, &output),
        Command::Runs {
            project,
            json,
            runs_dir,
        } => experiments::runs(&project, json, runs_dir.as_deref()),
        Command::Sweep {
            project,
            spec,
            runs_dir,
        } => experiments::sweep(&project, &spec, runs_dir.as_deref()),
        Command::LrFind {
            project,
            min_lr,
            max_lr,
            steps,
            plot,
            apply,
        } => experiments::lr_find(
            &project,
            &crate::runs::lr_finder::LrFinderOptions {
                min_lr,
                max_lr,
                steps,
                ..Default::default()
            },
            plot.as_deref(),
            apply,
        ),
        Command::Plot { run, output, x } => experiments::plot(&run, output.as_deref(), x.into()),
        Command::Bench(args) => crate::bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum PlotAxis {
    Step,
    Epoch,
    Wall,
}

impl From<PlotAxis> for crate::runs::XAxis {
    fn from(a: PlotAxis) -> Self {
        match a {
            PlotAxis::Step => Self::Step,
            PlotAxis::Epoch => Self::Epoch,
            PlotAxis::Wall => Self::WallTime,
        }
    }
}

pub(super) fn load_project(path: &Path) -> Result<Project> {
    let (project, unknown) = Project::load_reporting(path)?;
    if let Some(note) = Project::unknown_keys_note(path, &unknown) {
        eprintln!("warning: {note}");
    }
    Ok(project)
}

fn fmt_acc(a: Option<f32>) -> String {
    a.map_or("   -   ".into(), |a| format!("{:6.2}%", a * 100.0))
}

fn fmt_eval(m: &Option<EvalMetrics>) -> String {
    match m {
        Some(m) => match &m.regression {
            Some(r) => format!("loss {:.4} {}", m.loss, r.line()),
            None => match m.accuracy {
                Some(_) => format!("loss {:.4} acc {}", m.loss, fmt_acc(m.accuracy)),
                None => format!("loss {:.4}", m.loss),
            },
        },
        None => "(no samples)".into(),
    }
}

fn check(path: &Path, fit: bool) -> Result<()> {
    let project = load_project(path)?;
    let g = &project.graph;
    let a = analyze(g);
    let width = g
        .nodes
        .iter()
        .map(|n| n.label().len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:<22}  {:>10}",
        "node", "output shape", "params"
    );
    for &i in &a.order {
        let node = &g.nodes[i];
        let shapes = &a.nodes[i];
        let out = match (&shapes.output, node.layer.output_count()) {
            (Some(s), _) => s.to_string(),
            (None, 0) => match shapes.inputs.first() {
                Some(Some(s)) => format!("{s} (prediction)"),
                _ => "?".into(),
            },
            (None, _) => "?".into(),
        };
        println!(
            "{:<width$}  {:<22}  {:>10}",
            node.label(),
            out,
            shapes.params
        );
    }
    println!("{:<width$}  {:<22}  {:>10}", "total", "", a.total_params());
    for w in &a.warnings {
        println!("warning: {w}");
    }
    if a.is_ok() {
        let needs = crate::graph::estimate(g, &a, project.training.batch_size);
        println!(
            "memory: about {} to train at batch size {}",
            crate::graph::memory::gib(needs.total_bytes()),
            needs.batch
        );
        if let Some(why) = crate::graph::available_bytes().and_then(|m| needs.refusal(m)) {
            anyhow::bail!("{why}");
        }
    }
    if a.is_ok() {
        data_fit(path, &project, fit)?;
    }
    if a.is_ok() {
        println!(
            "ok: {} nodes, {} parameters",
            g.nodes.len(),
            a.total_params()
        );
        Ok(())
    } else {
        for e in &a.errors {
            eprintln!("error: {e}");
        }
        bail!("{} has {} problem(s)", path.display(), a.errors.len())
    }
}

/// The graph against the project's own data: what the studio would change to make it fit;
/// with `fit`, those changes made and the project saved.
fn data_fit(path: &Path, project: &Project, fit: bool) -> Result<()> {
    let data = Dataset::load(&project.data, path.parent())
        .with_context(|| format!("the project's data ({})", project.data.source.label()))?;
    let shape = crate::data::DataSummary::of(&data).shape(&project.mode);
    let mut fitted = project.graph.clone();
    let changes = crate::graph::fit_to_data(&mut fitted, &shape);
    if !changes.is_empty() && fit {
        let mut fixed = project.clone();
        fixed.graph = fitted;
        fixed
            .save(path)
            .with_context(|| format!("cannot save {}", path.display()))?;
        println!(
            "fitted to {}: {}; saved {}",
            data.name,
            changes.join("; "),
            path.display()
        );
        return Ok(());
    }
    if !changes.is_empty() {
        bail!(
            "the network does not fit its data ({}): {} (the studio makes these changes when the data is chosen)",
            data.name,
            changes.join("; ")
        );
    }
    println!("data: {} fits the network", data.name);
    Ok(())
}

fn eval(path: &Path, weights_path: &Path) -> Result<()> {
    let project = load_project(path)?;
    let weights = Weights::load(weights_path)?;
    let data = std::sync::Arc::new(Dataset::load(&project.data, path.parent())?);
    let mode = mode_step(&project, data.clone(), Some(&weights))?;
    let control = Control::default();
    for (name, idx) in [("validation", &data.val), ("test", &data.test)] {
        let m = mode.evaluate(idx, &control)?.flatten();
        println!("{name:<10} {} on {} samples", fmt_eval(&m), idx.len());
    }
    print_regression_baseline(&data);
    Ok(())
}

/// For a regression, the linear least-squares baseline's test figures, to read beside the
/// model's.
pub(super) fn print_regression_baseline(data: &Dataset) {
    if data.target_dim().is_none() {
        return;
    }
    match crate::insight::least_squares_baseline(data, &data.test) {
        Some(b) => println!("linear least squares (baseline), test: {}", b.line()),
        None => println!("linear least squares (baseline): not computed for this data (token inputs, too many features or no test split)"),
    }
}

fn generate_text(
    path: &Path,
    weights_path: &Path,
    prompt: &str,
    opts: &SampleOptions,
) -> Result<()> {
    let project = load_project(path)?;
    let weights = Weights::load(weights_path)?;
    let data = Dataset::load(&project.data, path.parent())?;
    let Some(vocab) = data.vocab.as_ref().filter(|_| data.is_windows()) else {
        bail!(
            "{} trains on {}, not on a text file (next character): only language models generate text",
            path.display(),
            data.name
        );
    };
    let model = Model::build(&project.graph, project.training.seed)?;
    model.load_weights(&weights)?;
    let opts = SampleOptions {
        carry_state: project.data.source.carries_state(),
        ..opts.clone()
    };
    let text = generate(&model, vocab, prompt, &opts)?;
    println!("{text}");
    let known: std::collections::HashSet<String> =
        crate::data::words(&data.corpus_text().unwrap_or_default()).collect();
    let words: Vec<String> = crate::data::words(&text[prompt.len()..]).collect();
    let found = words.iter().filter(|w| known.contains(*w)).count();
    eprintln!(
        "{found} of {} generated words ({:.1} %) occur in the training text",
        words.len(),
        100.0 * found as f64 / words.len().max(1) as f64
    );
    Ok(())
}

/// `glassbox presets`: each preset's file stem and name, and the folders they came from.
fn list_presets() -> Result<()> {
    let dir = crate::fsutil::presets_dir();
    let files = crate::presets::list();
    if files.is_empty() {
        bail!(
            "no ready-made projects in {}: install the package, or set GLASSBOX_ASSETS to a copy of the assets folder with presets/ beside it",
            dir.display()
        );
    }
    println!("ready-made projects in {}:", dir.display());
    for f in &files {
        let stem = f.file_stem().unwrap_or_default().to_string_lossy();
        match crate::project::Project::load(f) {
            Ok(p) => println!("  {stem:28} {}", p.name),
            Err(e) => println!("  {stem:28} (cannot be read: {e})"),
        }
    }
    println!("shipped data in {}", crate::fsutil::assets_dir().display());
    if let Some(first) = files.first() {
        println!(
            "open one in the studio: glassbox {}   train it here: glassbox train {}",
            first.display(),
            first.display()
        );
    }
    Ok(())
}

/// Runs `work` with a 0–100 % bar on the terminal (fed through the callback it is handed),
/// cleared when the work ends.
pub(super) fn with_progress<T>(work: impl FnOnce(&mut dyn FnMut(f32)) -> T) -> T {
    let bar = indicatif::ProgressBar::new(100);
    let out = work(&mut |f| bar.set_position((f * 100.0) as u64));
    bar.finish_and_clear();
    out
}

/// An error and its causes on one line, each cause once: many engine errors already say their
/// cause in their own message ("cannot read F: No such file…"), which `{:#}` would repeat.
pub fn report(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod report_tests {
    #[test]
    fn a_cause_the_message_already_says_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(crate::model::WeightsError::Read {
            path: "w.safetensors".into(),
            source: io,
        })
        .context("loading the weights");
        assert_eq!(
            super::report(&e),
            "loading the weights: cannot read w.safetensors: No such file"
        );
    }
}
