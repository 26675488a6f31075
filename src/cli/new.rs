//! `glassbox new`: a project that starts from a user's own data file, with a starting network
//! chosen by the kind of data and its ends fitted to the data by the same fitter the studio uses.

use crate::data::{DataSettings, DataSource, Dataset};
use crate::graph::{fit_to_data, Layer, Loss};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct NewOptions {
    /// A CSV/TSV table, a folder of images (one sub-folder per class) or a plain text file.
    #[arg(long)]
    data: PathBuf,
    /// The table's column to predict (default: a label-like name, else the one text column,
    /// else the last column).
    #[arg(long)]
    target: Option<String>,
    /// Start from this preset's network and settings instead of the one chosen by data kind.
    #[arg(long)]
    from: Option<String>,
    /// Where to write the project.
    #[arg(short, long)]
    output: PathBuf,
}

/// What kind of data a path holds, and so which network a project starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataKind {
    Table,
    Images,
    Text,
}

impl DataKind {
    fn of(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Ok(DataKind::Images);
        }
        if !path.is_file() {
            bail!("{} is neither a file nor a folder", path.display());
        }
        let name = path.to_string_lossy().to_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if [".csv", ".tsv", ".tab"].iter().any(|e| name.ends_with(e)) {
            Ok(DataKind::Table)
        } else if name.ends_with(".txt") || name.ends_with(".md") {
            Ok(DataKind::Text)
        } else {
            bail!(
                "{} is not a table (.csv, .tsv), a text file (.txt) or a folder of images",
                path.display()
            )
        }
    }

    /// The preset a project of this data starts from, and the network in words.
    fn preset(self) -> (&'static str, &'static str) {
        match self {
            DataKind::Table => ("mlp-iris", "a multilayer perceptron"),
            DataKind::Images => ("cnn-mnist", "a convolutional network"),
            DataKind::Text => ("lstm-moby-dick", "a character-level LSTM language model"),
        }
    }
}

pub fn new_project(opts: &NewOptions) -> Result<()> {
    let kind = DataKind::of(&opts.data)?;
    let (default_preset, network) = kind.preset();
    let preset = opts.from.as_deref().unwrap_or(default_preset);
    let mut project =
        crate::presets::load(preset).with_context(|| format!("the preset '{preset}'"))?;
    // The project names its data by an absolute path, so it opens from any folder.
    let data_path = std::path::absolute(&opts.data)
        .with_context(|| format!("cannot resolve {}", opts.data.display()))?;
    let data_str = data_path.to_string_lossy().into_owned();
    project.data = DataSettings {
        source: source_for(kind, &data_str, opts.target.as_deref())?,
        ..project.data
    };
    project.name = opts
        .data
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Untitled".into());
    project.description = format!("Started from {} by glassbox new", opts.data.display());
    let data = Dataset::load(&project.data, None)
        .with_context(|| format!("cannot read the data in {}", opts.data.display()))?;
    let mut changes = Vec::new();
    // Class targets are trained by cross-entropy, values by squared error.
    let loss = if data.n_classes().is_some() || data.is_windows() {
        Loss::CrossEntropy
    } else {
        Loss::Mse
    };
    for node in &mut project.graph.nodes {
        if let Layer::Output { loss: l, .. } = &mut node.layer {
            if *l != loss {
                *l = loss;
                changes.push(format!("Output '{}' now uses {loss:?}", node.id));
            }
        }
    }
    let shape = crate::data::DataSummary::of(&data).shape(&project.mode);
    changes.extend(fit_to_data(&mut project.graph, &shape));
    let analysis = crate::graph::analyze(&project.graph);
    if !analysis.is_ok() {
        // The model builder's own summary of a graph's errors.
        return Err(crate::model::ModelError::Graph(analysis.errors)).with_context(|| {
            format!(
                "the {preset} network does not fit {} after fitting its ends",
                data.name
            )
        });
    }
    project
        .save(&opts.output)
        .with_context(|| format!("cannot write {}", opts.output.display()))?;
    println!(
        "{}: {} ({} training samples) → {network}, from the preset {preset}",
        opts.output.display(),
        data.name,
        data.train.len()
    );
    for c in &changes {
        println!("  {c}");
    }
    if let DataSource::Csv { target, .. } = &project.data.source {
        let what = match data.n_classes() {
            Some(k) => format!("{k} classes"),
            None => "values (regression)".into(),
        };
        println!("  target column: {target} ({what})");
    }
    println!("train it with: glassbox train {}", opts.output.display());
    Ok(())
}

fn source_for(kind: DataKind, path: &str, target: Option<&str>) -> Result<DataSource> {
    Ok(match kind {
        DataKind::Table => {
            let target = match target {
                Some(t) => t.to_string(),
                None => crate::data::peek_target(Path::new(path))?
                    .context("the table has no columns")?,
            };
            DataSource::Csv {
                path: path.to_string(),
                target,
                task: Default::default(),
                options: Default::default(),
            }
        }
        DataKind::Images => DataSource::ImageFolder {
            path: path.to_string(),
            width: 28,
            height: 28,
            color: Default::default(),
        },
        DataKind::Text => DataSource::TextLm {
            path: path.to_string(),
            context: 64,
            stride: 64,
            carry_state: false,
            vocab_from: None,
        },
    })
}
