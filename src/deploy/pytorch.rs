//! The project as one self-contained PyTorch file: an `nn.Module` of the same layers, a loader
//! for Glassbox's safetensors weights (and a writer back), and a training loop that also runs
//! under `torchrun` (DistributedDataParallel). The fixed parts live in `pytorch_template.py`.

use super::{deployable_graph, DeployError};
use crate::fsutil::write_atomic;
use crate::graph::{concat_axis_with_batch, DType, Layer, LayerKind, Loss, TrainingMode};
use crate::model::Weights;
use crate::project::Project;
use std::fmt::Write;
use std::path::{Path, PathBuf};

const TEMPLATE: &str = include_str!("pytorch_template.py");

/// `True`/`False` as Python spells them.
fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// Most layers' tensors keep their names in PyTorch: a weight, and a bias when there is one.
fn weight_and_bias(map: &mut impl FnMut(&str, &[&str]), bias: bool) {
    map("weight", &["weight"]);
    if bias {
        map("bias", &["bias"]);
    }
}

/// The generated file's text, or what stops the graph from being written.
pub fn pytorch_source(project: &Project, file_name: &str) -> Result<String, DeployError> {
    let graph = deployable_graph(project)?;
    let plan = super::plan::plan(&graph)?;
    let (mut init, mut forward) = (String::new(), String::new());
    let mut weight_map: Vec<(String, Vec<String>)> = Vec::new();
    let var = |i: usize| format!("v{i}");
    for step in &plan.steps {
        let (i, node) = (step.index, &graph.nodes[step.index]);
        let id = &node.id;
        let out = &step.output.dims;
        let xs: Vec<String> = step.sources.iter().map(|&s| var(s)).collect();
        let x = xs.first().cloned().unwrap_or_default();
        let s = step.first_dims();
        let key = |p: &str| format!("layers.{id}.{p}");
        let mut map = |gb: &str, torch: &[&str]| {
            weight_map.push((format!("{id}.{gb}"), torch.iter().map(|t| key(t)).collect()));
        };
        let mut module = |expr: String| {
            let _ = writeln!(init, "        self.layers[{id:?}] = {expr}");
        };
        let m = format!("m[{id:?}]");
        let expr = match &node.layer {
            Layer::Input { .. } => "x".to_string(),
            Layer::Noise { .. } => {
                return Err(DeployError::Unsupported {
                    node: id.to_string(),
                    reason: "a Noise node is a GAN generator's source; set the mode to GAN",
                })
            }
            Layer::Output { .. } => {
                let _ = writeln!(forward, "        return {x}");
                continue;
            }
            Layer::Dense { units, bias } => {
                module(format!(
                    "nn.Linear({}, {units}, bias={})",
                    s.last().expect("checked"),
                    py_bool(*bias)
                ));
                weight_and_bias(&mut map, *bias);
                format!("{m}({x})")
            }
            Layer::Embedding { vocab, dim } => {
                module(format!("nn.Embedding({vocab}, {dim})"));
                map("weight", &["weight"]);
                format!("{m}({x}.long())")
            }
            Layer::PositionalEmbedding { max_len } => {
                module(format!("PositionalEmbedding({max_len}, {})", s[1]));
                map("weight", &["weight"]);
                format!("{m}({x})")
            }
            Layer::Lstm { hidden, sequences }
            | Layer::Gru { hidden, sequences }
            | Layer::Rnn { hidden, sequences } => {
                let class = match node.layer.kind() {
                    LayerKind::Lstm => "LSTM",
                    LayerKind::Gru => "GRU",
                    _ => "RNN",
                };
                module(format!("nn.{class}({}, {hidden}, batch_first=True)", s[1]));
                map("weight_ih", &["weight_ih_l0"]);
                map("weight_hh", &["weight_hh_l0"]);
                if class == "GRU" {
                    map("bias_ih", &["bias_ih_l0"]);
                    map("bias_hh", &["bias_hh_l0"]);
                } else {
                    map("bias", &["bias_ih_l0", "bias_hh_l0"]);
                }
                if *sequences {
                    format!("{m}({x})[0]")
                } else {
                    format!("{m}({x})[0][:, -1]")
                }
            }
            Layer::SelfAttention { heads, causal } => {
                module(format!(
                    "SelfAttention({}, {heads}, {})",
                    s[1],
                    py_bool(*causal)
                ));
                for p in ["qkv_weight", "qkv_bias", "out_weight", "out_bias"] {
                    map(p, &[p]);
                }
                format!("{m}({x})")
            }
            Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                bias,
            } => {
                module(format!(
                    "nn.Conv2d({}, {filters}, {kernel}, stride={stride}, padding={padding}, bias={})",
                    s[0],
                    py_bool(*bias)
                ));
                weight_and_bias(&mut map, *bias);
                format!("{m}({x})")
            }
            Layer::ConvTranspose2d {
                filters,
                kernel,
                stride,
                padding,
                output_padding,
                bias,
            } => {
                module(format!(
                    "nn.ConvTranspose2d({}, {filters}, {kernel}, stride={stride}, padding={padding}, output_padding={output_padding}, bias={})",
                    s[0],
                    py_bool(*bias)
                ));
                weight_and_bias(&mut map, *bias);
                format!("{m}({x})")
            }
            Layer::Conv1d {
                filters,
                kernel,
                stride,
                padding,
                bias,
            } => {
                module(format!(
                    "nn.Conv1d({}, {filters}, {kernel}, stride={stride}, padding={padding}, bias={})",
                    s[1],
                    py_bool(*bias)
                ));
                weight_and_bias(&mut map, *bias);
                // Sequences stay channels last, as in Glassbox.
                format!("{m}({x}.transpose(1, 2)).transpose(1, 2)")
            }
            Layer::MaxPool2d { kernel, stride } => {
                module(format!("nn.MaxPool2d({kernel}, stride={stride})"));
                format!("{m}({x})")
            }
            Layer::Upsample2d { scale, mode } => {
                module(format!(
                    "nn.Upsample(scale_factor={scale}, mode=\"{}\")",
                    mode.label()
                ));
                format!("{m}({x})")
            }
            Layer::AvgPool2d { kernel, stride } => {
                module(format!("nn.AvgPool2d({kernel}, stride={stride})"));
                format!("{m}({x})")
            }
            Layer::GlobalAvgPool | Layer::GlobalMaxPool => {
                let f = if node.layer.kind() == LayerKind::GlobalAvgPool {
                    "mean"
                } else {
                    "amax"
                };
                let dims = if s.len() == 3 { "(2, 3)" } else { "1" };
                format!("{x}.{f}(dim={dims})")
            }
            Layer::Sampling { beta } => {
                module(format!("Sampling({beta})"));
                format!("{m}({x})")
            }
            Layer::Flatten => format!("torch.flatten({x}, 1)"),
            Layer::Reshape { .. } => {
                let dims: Vec<String> = out.iter().map(|d| d.to_string()).collect();
                format!("{x}.reshape({x}.shape[0], {})", dims.join(", "))
            }
            Layer::ReLU => format!("F.relu({x})"),
            Layer::LeakyReLU { slope } => format!("F.leaky_relu({x}, {slope})"),
            Layer::Sigmoid => format!("torch.sigmoid({x})"),
            Layer::Tanh => format!("torch.tanh({x})"),
            Layer::GELU => format!("F.gelu({x})"),
            Layer::Softmax => format!("torch.softmax({x}, -1)"),
            Layer::Dropout { p } => {
                module(format!("nn.Dropout({p})"));
                format!("{m}({x})")
            }
            Layer::BatchNorm { momentum, eps } => {
                let class = if s.len() == 1 {
                    "BatchNorm1d"
                } else {
                    "BatchNorm2d"
                };
                module(format!(
                    "nn.{class}({}, eps={eps}, momentum={momentum})",
                    s[0]
                ));
                for p in ["weight", "bias", "running_mean", "running_var"] {
                    map(p, &[p]);
                }
                format!("{m}({x})")
            }
            Layer::LayerNorm { eps } => {
                module(format!(
                    "nn.LayerNorm({}, eps={eps})",
                    s.last().expect("checked")
                ));
                weight_and_bias(&mut map, true);
                format!("{m}({x})")
            }
            Layer::Add { .. } => xs.join(" + "),
            Layer::Concat { axis, .. } => format!(
                "torch.cat([{}], dim={})",
                xs.join(", "),
                concat_axis_with_batch(*axis, s.len())
            ),
        };
        let _ = writeln!(forward, "        {} = {expr}  # {id}", var(i));
    }
    if init.is_empty() {
        init.push_str("        pass\n");
    }

    let in_shape = &plan.input_shape;
    let loss = match graph.nodes[plan.output].layer {
        Layer::Output { loss, .. } => loss,
        _ => Loss::CrossEntropy,
    };
    let vocab = graph
        .nodes
        .iter()
        .find_map(|n| match n.layer {
            Layer::Embedding { vocab, .. } => Some(vocab),
            _ => None,
        })
        .unwrap_or(2);
    let t = &project.training;
    let settings = format!(
        "{{\"epochs\": {}, \"batch_size\": {}, \"lr\": {}, \"seed\": {}}}",
        t.epochs, t.batch_size, t.lr, t.seed
    );
    let map_lines: Vec<String> = weight_map
        .iter()
        .map(|(gb, keys)| format!("    {gb:?}: {keys:?},"))
        .collect();
    let dims: Vec<String> = in_shape.dims.iter().map(|d| d.to_string()).collect();
    let in_shape_py = format!("({},)", dims.join(", "));
    Ok(TEMPLATE
        .replace("{{NAME}}", &project.name.replace('"', "'"))
        .replace("{{FILE}}", file_name)
        .replace("{{INPUT_SHAPE}}", &in_shape_py)
        .replace(
            "{{INPUT_IS_TOKENS}}",
            py_bool(in_shape.dtype == DType::TokenId),
        )
        .replace(
            "{{LOSS}}",
            match loss {
                Loss::CrossEntropy => "cross_entropy",
                Loss::Mse => "mse",
                Loss::BinaryCrossEntropy => "bce",
            },
        )
        .replace(
            "{{TARGET_IS_INPUT}}",
            py_bool(matches!(project.mode, TrainingMode::Autoencoder { .. })),
        )
        .replace("{{SETTINGS}}", &settings)
        .replace(
            "{{WEIGHT_MAP}}",
            &format!("{{\n{}\n}}", map_lines.join("\n")),
        )
        .replace("{{VOCAB}}", &vocab.to_string())
        .replace("{{INIT}}", init.trim_end_matches('\n'))
        .replace("{{FORWARD}}", forward.trim_end_matches('\n')))
}

/// What `write_pytorch` wrote.
pub struct PytorchFiles {
    pub module: PathBuf,
    pub weights: PathBuf,
    /// The candle snippet beside them, or why the graph has none.
    pub candle: Result<PathBuf, DeployError>,
}

/// Writes `path` (the .py), the weights beside it as .safetensors, and the candle snippet as
/// `<stem>_candle.rs` when the graph has one.
pub fn write_pytorch(
    project: &Project,
    weights: &Weights,
    path: &Path,
) -> Result<PytorchFiles, DeployError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.py".into());
    let source = pytorch_source(project, &name)?;
    let beside = path.with_extension("safetensors");
    weights.save(&beside)?;
    let write = |p: &Path, text: &str| {
        write_atomic(p, text.as_bytes()).map_err(|source| DeployError::Write {
            path: p.to_path_buf(),
            source,
        })
    };
    write(path, &source)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let candle = match super::candle_code::candle_source(project) {
        Ok(code) => {
            let file = path.with_file_name(format!("{stem}_candle.rs"));
            write(&file, &code)?;
            Ok(file)
        }
        Err(why) => Err(why),
    };
    Ok(PytorchFiles {
        module: path.to_path_buf(),
        weights: beside,
        candle,
    })
}
