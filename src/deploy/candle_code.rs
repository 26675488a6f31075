//! The project as a candle Rust snippet: a `Model` struct holding the weights (loaded from the
//! exported safetensors by their Glassbox names) and a `forward` for inference, in plain candle
//! tensor ops. Recurrent layers and self-attention are not written here yet (the PyTorch and
//! ONNX exports cover them); a graph using them gets an error naming the node.

use super::deployable_graph;
use crate::graph::{concat_axis_with_batch, Layer, LayerKind, UpsampleMode};
use crate::project::Project;
use std::fmt::Write;

/// A Rust identifier for a node's parameter.
fn field(id: &str, param: &str) -> String {
    let clean: String = format!("{id}_{param}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("p_{clean}")
}

/// The snippet's text, or which node it cannot express.
pub fn candle_source(project: &Project) -> Result<String, super::DeployError> {
    let graph = deployable_graph(project)?;
    let plan = super::plan::plan(&graph)?;
    let (mut fields, mut loads, mut body) = (String::new(), String::new(), String::new());
    let v = |i: usize| format!("v{i}");
    for step in &plan.steps {
        let (i, node) = (step.index, &graph.nodes[step.index]);
        let id = node.id.as_str();
        let out = &step.output.dims;
        let xs: Vec<String> = step.sources.iter().map(|&s| v(s)).collect();
        let x = xs.first().cloned().unwrap_or_default();
        let s = step.first_dims();
        let mut param = |p: &str, shape: &[usize]| -> String {
            let f = field(id, p);
            let _ = writeln!(fields, "    {f}: Tensor,");
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            let _ = writeln!(
                loads,
                "            {f}: vb.get(({},), \"{id}.{p}\")?,",
                dims.join(", ")
            );
            format!("self.{f}")
        };
        let expr = match &node.layer {
            Layer::Input { .. } => "x.clone()".to_string(),
            Layer::Output { .. } => {
                let _ = writeln!(body, "        Ok({x})");
                continue;
            }
            Layer::Dense { units, bias } => {
                let w = param("weight", &[*units, *s.last().unwrap_or(&0)]);
                let mut e = format!("{x}.broadcast_matmul(&{w}.t()?)?");
                if *bias {
                    let b = param("bias", &[*units]);
                    e = format!("{e}.broadcast_add(&{b})?");
                }
                e
            }
            Layer::Embedding { vocab, dim } => {
                let w = param("weight", &[*vocab, *dim]);
                format!("{w}.index_select(&{x}.flatten_all()?, 0)?.reshape(({x}.dim(0)?, {x}.dim(1)?, {dim}))?")
            }
            Layer::PositionalEmbedding { max_len } => {
                let w = param("weight", &[*max_len, s[1]]);
                format!("{x}.broadcast_add(&{w}.narrow(0, 0, {x}.dim(1)?)?)?")
            }
            Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                bias,
            } => {
                let w = param("weight", &[*filters, s[0], *kernel, *kernel]);
                let mut e = format!("{x}.conv2d(&{w}, {padding}, {stride}, 1, 1)?");
                if *bias {
                    let b = param("bias", &[*filters]);
                    e = format!("{e}.broadcast_add(&{b}.reshape((1, {filters}, 1, 1))?)?");
                }
                e
            }
            Layer::ConvTranspose2d {
                filters,
                kernel,
                stride,
                padding,
                output_padding,
                bias,
            } => {
                let w = param("weight", &[s[0], *filters, *kernel, *kernel]);
                let mut e = format!(
                    "{x}.conv_transpose2d(&{w}, {padding}, {output_padding}, {stride}, 1)?"
                );
                if *bias {
                    let b = param("bias", &[*filters]);
                    e = format!("{e}.broadcast_add(&{b}.reshape((1, {filters}, 1, 1))?)?");
                }
                e
            }
            Layer::Conv1d {
                filters,
                kernel,
                stride,
                padding,
                bias,
            } => {
                let w = param("weight", &[*filters, s[1], *kernel]);
                let mut e = format!(
                    "{x}.transpose(1, 2)?.contiguous()?.conv1d(&{w}, {padding}, {stride}, 1, 1)?"
                );
                if *bias {
                    let b = param("bias", &[*filters]);
                    e = format!("{e}.broadcast_add(&{b}.reshape((1, {filters}, 1))?)?");
                }
                format!("{e}.transpose(1, 2)?.contiguous()?")
            }
            Layer::MaxPool2d { kernel, stride } => {
                format!("{x}.max_pool2d_with_stride({kernel}, {stride})?")
            }
            Layer::Upsample2d {
                scale,
                mode: UpsampleMode::Nearest,
            } => {
                let (h, w) = (s[1], s[2]);
                format!("{x}.upsample_nearest2d({}, {})?", h * scale, w * scale)
            }
            Layer::AvgPool2d { kernel, stride } => {
                format!("{x}.avg_pool2d_with_stride({kernel}, {stride})?")
            }
            Layer::GlobalAvgPool | Layer::GlobalMaxPool => {
                let f = if node.layer.kind() == LayerKind::GlobalAvgPool {
                    "mean"
                } else {
                    "max"
                };
                if s.len() == 3 {
                    format!("{x}.flatten_from(2)?.{f}(2)?")
                } else {
                    format!("{x}.{f}(1)?")
                }
            }
            Layer::Sampling { .. } => format!("{x}.narrow(1, 0, {})?", out[0]),
            Layer::Flatten => format!("{x}.flatten_from(1)?"),
            Layer::Reshape { .. } => {
                let dims: Vec<String> = out.iter().map(|d| d.to_string()).collect();
                format!("{x}.reshape(vec![{x}.dim(0)?, {}])?", dims.join(", "))
            }
            Layer::ReLU => format!("{x}.relu()?"),
            Layer::LeakyReLU { slope } => format!("candle_nn::ops::leaky_relu(&{x}, {slope:?})?"),
            Layer::Sigmoid => format!("candle_nn::ops::sigmoid(&{x})?"),
            Layer::Tanh => format!("{x}.tanh()?"),
            Layer::GELU => format!("{x}.gelu_erf()?"),
            Layer::Softmax => format!("candle_nn::ops::softmax_last_dim(&{x})?"),
            Layer::Dropout { .. } => format!("{x}.clone()"),
            Layer::BatchNorm { eps, .. } => {
                let c = s[0];
                let shape = if s.len() == 1 {
                    format!("(1, {c})")
                } else {
                    format!("(1, {c}, 1, 1)")
                };
                let (g, b) = (param("weight", &[c]), param("bias", &[c]));
                let (m, var) = (param("running_mean", &[c]), param("running_var", &[c]));
                format!(
                    "{x}.broadcast_sub(&{m}.reshape({shape})?)?.broadcast_div(&({var}.reshape({shape})? + {eps:?})?.sqrt()?)?.broadcast_mul(&{g}.reshape({shape})?)?.broadcast_add(&{b}.reshape({shape})?)?"
                )
            }
            Layer::LayerNorm { eps } => {
                let f = *s.last().unwrap_or(&0);
                let (g, b) = (param("weight", &[f]), param("bias", &[f]));
                format!("candle_nn::ops::layer_norm(&{x}, &{g}, &{b}, {eps:?})?")
            }
            Layer::Add { .. } => {
                let mut e = xs[0].clone();
                for other in &xs[1..] {
                    e = format!("({e} + &{other})?");
                }
                e
            }
            Layer::Concat { axis, .. } => {
                let refs: Vec<String> = xs.iter().map(|x| format!("&{x}")).collect();
                format!(
                    "Tensor::cat(&[{}], {})?",
                    refs.join(", "),
                    concat_axis_with_batch(*axis, s.len())
                )
            }
            Layer::Noise { .. }
            | Layer::Upsample2d { .. }
            | Layer::Lstm { .. }
            | Layer::Gru { .. }
            | Layer::Rnn { .. }
            | Layer::SelfAttention { .. } => {
                return Err(super::DeployError::NotInCandle {
                    node: id.to_string(),
                    kind: node.layer.kind().name(),
                })
            }
        };
        let _ = writeln!(body, "        let {} = {expr}; // {id}", v(i));
    }
    let name = project.name.replace('\n', " ");
    Ok(format!(
        "// {name}: the Glassbox project as candle code (inference), written by Glassbox.\n\
         // Load it with the weights Glassbox exports (File > Export model > Weights):\n\
         //     let vb = unsafe {{ candle_nn::VarBuilder::from_mmaped_safetensors(&[\"model.safetensors\"], candle_core::DType::F32, &candle_core::Device::Cpu)? }};\n\
         //     let model = Model::load(vb)?;\n\
         //     let y = model.forward(&x)?; // x: a batch shaped like the Input, batch first\n\
         // Needs candle-core and candle-nn (0.11).\n\
         \n\
         use candle_core::{{Result, Tensor}};\n\
         \n\
         pub struct Model {{\n{fields}}}\n\
         \n\
         impl Model {{\n    \
             pub fn load(vb: candle_nn::VarBuilder) -> Result<Self> {{\n        \
                 Ok(Self {{\n{loads}        }})\n    \
             }}\n\
         \n    \
             #[allow(clippy::let_and_return)]\n    \
             pub fn forward(&self, x: &Tensor) -> Result<Tensor> {{\n{body}    }}\n\
         }}\n"
    ))
}
