//! Graph + trained weights → an ONNX model (opset 17): one ONNX node or a short, fixed pattern of
//! them per layer, weights embedded as initializers named like the weight file's tensors, a
//! symbolic batch dimension, and `output` (the network's raw output) plus `probabilities` where
//! the loss defines them.

use super::builder::{Attr, GraphBuilder};
use super::proto::{
    tensor_proto::DataType, tensor_shape_proto, type_proto, GraphProto, ModelProto,
    OperatorSetIdProto, StringStringEntryProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::{OnnxError, BATCH_DIM, INPUT, IR_VERSION, OPSET, OUTPUT, PROBABILITIES};
use crate::graph::{
    concat_axis_with_batch, DType, Graph, Layer, LayerKind, Loss, TensorShape, UpsampleMode,
};
use crate::model::{WeightTensor, Weights};
use Attr::{Float, Int, Ints, Str};

/// The ONNX model of `graph` (Input → … → Output) with `weights`.
pub fn export_graph(graph: &Graph, weights: &Weights, name: &str) -> Result<ModelProto, OnnxError> {
    let plan = crate::deploy::plan::plan(graph).map_err(|e| OnnxError::Graph(e.to_string()))?;
    let mut b = GraphBuilder::default();
    let mut values: Vec<Option<String>> = vec![None; graph.nodes.len()];
    for step in &plan.steps {
        let node = &graph.nodes[step.index];
        let xs: Vec<String> = step
            .sources
            .iter()
            .map(|&s| {
                values[s]
                    .clone()
                    .expect("sources come first in topological order")
            })
            .collect();
        let value = match &node.layer {
            Layer::Input { .. } => INPUT.to_string(),
            Layer::Output { .. } => xs[0].clone(),
            layer => {
                let target = value_name(&node.id);
                let mut layer_export = LayerExport {
                    b: &mut b,
                    id: &node.id,
                    weights,
                    out: &target,
                };
                layer_export.emit(layer, &xs, &step.inputs, &step.output)?;
                target
            }
        };
        values[step.index] = Some(value);
    }

    let (in_layer, out_node) = (&graph.nodes[plan.input].layer, &graph.nodes[plan.output]);
    let (in_shape, pred_shape) = (&plan.input_shape, &plan.prediction_shape);
    let pred = values[plan.output]
        .clone()
        .expect("the Output is in its own order");
    b.op("Identity", OUTPUT, &[&pred], vec![], Some(OUTPUT));
    let mut outputs = vec![value_info(OUTPUT, DType::F32, &pred_shape.dims)];
    if let Layer::Output { loss, .. } = out_node.layer {
        let probs = match loss {
            Loss::CrossEntropy => Some("Softmax"),
            Loss::BinaryCrossEntropy => Some("Sigmoid"),
            Loss::Mse => None,
        };
        if let Some(op) = probs {
            let attrs = if op == "Softmax" {
                vec![("axis", Int(-1))]
            } else {
                vec![]
            };
            b.op(op, PROBABILITIES, &[OUTPUT], attrs, Some(PROBABILITIES));
            outputs.push(value_info(PROBABILITIES, DType::F32, &pred_shape.dims));
        }
    }
    let in_dtype = match in_layer {
        Layer::Input { dtype, .. } => *dtype,
        _ => DType::F32,
    };
    let graph_proto = GraphProto {
        name: name.to_string(),
        node: std::mem::take(&mut b.nodes),
        initializer: std::mem::take(&mut b.initializers),
        input: vec![value_info(INPUT, in_dtype, &in_shape.dims)],
        output: outputs,
        doc_string: "Exported by Glassbox. `output` is the network's raw output (logits for a \
                     cross-entropy or binary cross-entropy Output); inputs are the data as \
                     Glassbox feeds it (images scaled to [0, 1], table columns standardised, \
                     text as token ids)."
            .into(),
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "glassbox".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph_proto),
        metadata_props: vec![StringStringEntryProto {
            key: "glassbox.graph".into(),
            value: serde_json::to_string(graph).unwrap_or_default(),
        }],
        ..Default::default()
    })
}

/// A node's value is named by its id, unless that would clash with the graph's own names.
fn value_name(id: &str) -> String {
    if [INPUT, OUTPUT, PROBABILITIES].contains(&id) {
        format!("{id}:value")
    } else {
        id.to_string()
    }
}

fn value_info(name: &str, dtype: DType, dims: &[usize]) -> ValueInfoProto {
    let batch = tensor_shape_proto::Dimension {
        value: Some(tensor_shape_proto::dimension::Value::DimParam(
            BATCH_DIM.into(),
        )),
        ..Default::default()
    };
    let dim = std::iter::once(batch)
        .chain(dims.iter().map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d as i64)),
            ..Default::default()
        }))
        .collect();
    let elem_type = match dtype {
        DType::F32 => DataType::Float,
        DType::TokenId => DataType::Int64,
    };
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem_type as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One layer's ONNX nodes; the last one writes `out`.
pub(super) struct LayerExport<'a> {
    pub(super) b: &'a mut GraphBuilder,
    pub(super) id: &'a str,
    pub(super) weights: &'a Weights,
    pub(super) out: &'a str,
}

impl LayerExport<'_> {
    /// The weight `<id>.<param>`, checked against the shape the layer needs.
    pub(super) fn weight(&self, param: &str, dims: &[usize]) -> Result<&WeightTensor, OnnxError> {
        let name = format!("{}.{param}", self.id);
        let t = self
            .weights
            .tensors
            .get(&name)
            .ok_or_else(|| OnnxError::MissingWeight {
                node: self.id.to_string(),
                name: name.clone(),
            })?;
        if t.shape != dims {
            return Err(OnnxError::WeightShape {
                node: self.id.to_string(),
                name,
                found: t.shape.clone(),
                expected: dims.to_vec(),
            });
        }
        let expected: usize = dims.iter().product();
        if t.data.len() != expected {
            return Err(OnnxError::WeightLength {
                node: self.id.to_string(),
                name,
                values: t.data.len(),
                expected,
            });
        }
        Ok(t)
    }

    /// The weight as an initializer of the same name.
    pub(super) fn init(&mut self, param: &str, dims: &[usize]) -> Result<String, OnnxError> {
        let t = self.weight(param, dims)?;
        let (name, data) = (format!("{}.{param}", self.id), t.data.clone());
        Ok(self.b.floats(name, dims, &data))
    }

    fn optional_bias(&mut self, has: bool, n: usize) -> Result<Option<String>, OnnxError> {
        has.then(|| self.init("bias", &[n])).transpose()
    }

    pub(super) fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        self.b.op(op, self.id, inputs, attrs, None)
    }

    pub(super) fn last(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) {
        self.b.op(op, self.id, inputs, attrs, Some(self.out));
    }

    pub(super) fn ints(&mut self, what: &str, v: &[i64]) -> String {
        self.b.int_list(self.id, what, v)
    }

    /// x · wᵀ (+ b) over the last axis, for inputs of any rank.
    pub(super) fn linear(&mut self, x: &str, w: &str, b: Option<&str>, final_op: bool) -> String {
        let wt = self.op("Transpose", &[w], vec![("perm", Ints(vec![1, 0]))]);
        match b {
            Some(b) => {
                let y = self.op("MatMul", &[x, &wt], vec![]);
                self.finish("Add", &[&y, b], vec![], final_op)
            }
            None => self.finish("MatMul", &[x, &wt], vec![], final_op),
        }
    }

    fn finish(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        last: bool,
    ) -> String {
        if last {
            self.last(op, inputs, attrs);
            self.out.to_string()
        } else {
            self.op(op, inputs, attrs)
        }
    }

    fn emit(
        &mut self,
        layer: &Layer,
        xs: &[String],
        in_shapes: &[TensorShape],
        out_shape: &TensorShape,
    ) -> Result<(), OnnxError> {
        if let Layer::Noise { .. } = layer {
            return Err(OnnxError::Unsupported {
                node: self.id.to_string(),
                reason: "a Noise node is a GAN generator's source: set the project's mode to \
                         GAN (its generator becomes the exported model) or remove the node"
                    .into(),
            });
        }
        let (Some(x), Some(s)) = (xs.first(), in_shapes.first()) else {
            return Err(OnnxError::Unsupported {
                node: self.id.to_string(),
                reason: "it has no input wired".into(),
            });
        };
        let (x, s) = (x.as_str(), &s.dims);
        match layer {
            Layer::Input { .. } | Layer::Output { .. } | Layer::Noise { .. } => {
                unreachable!("handled above and by the caller")
            }
            Layer::Dense { units, bias } => {
                let fan_in = *s.last().expect("checked by shape inference");
                let w = self.init("weight", &[*units, fan_in])?;
                let b = self.optional_bias(*bias, *units)?;
                if s.len() == 1 {
                    let mut inputs = vec![x, w.as_str()];
                    inputs.extend(b.as_deref());
                    self.last("Gemm", &inputs, vec![("transB", Int(1))]);
                } else {
                    self.linear(x, &w, b.as_deref(), true);
                }
            }
            Layer::Embedding { vocab, dim } => {
                let w = self.init("weight", &[*vocab, *dim])?;
                self.last("Gather", &[&w, x], vec![("axis", Int(0))]);
            }
            Layer::PositionalEmbedding { max_len } => {
                let (t, d) = (s[0], s[1]);
                let table = self.init("weight", &[*max_len, d])?;
                let (starts, ends, axes) = (
                    self.ints("starts", &[0]),
                    self.ints("ends", &[t as i64]),
                    self.ints("axes", &[0]),
                );
                let rows = self.op("Slice", &[&table, &starts, &ends, &axes], vec![]);
                self.last("Add", &[x, &rows], vec![]);
            }
            Layer::Lstm { hidden, sequences }
            | Layer::Gru { hidden, sequences }
            | Layer::Rnn { hidden, sequences } => {
                self.recurrent(layer, x, s[1], *hidden, *sequences)?;
            }
            Layer::SelfAttention { heads, causal } => {
                self.attention(x, s[0], s[1], *heads, *causal)?;
            }
            Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                bias,
            } => {
                let w = self.init("weight", &[*filters, s[0], *kernel, *kernel])?;
                let b = self.optional_bias(*bias, *filters)?;
                let mut inputs = vec![x, w.as_str()];
                inputs.extend(b.as_deref());
                let (k, st, p) = (*kernel as i64, *stride as i64, *padding as i64);
                self.last(
                    "Conv",
                    &inputs,
                    vec![
                        ("kernel_shape", Ints(vec![k, k])),
                        ("strides", Ints(vec![st, st])),
                        ("pads", Ints(vec![p, p, p, p])),
                    ],
                );
            }
            Layer::ConvTranspose2d {
                filters,
                kernel,
                stride,
                padding,
                output_padding,
                bias,
            } => {
                let w = self.init("weight", &[s[0], *filters, *kernel, *kernel])?;
                let b = self.optional_bias(*bias, *filters)?;
                let mut inputs = vec![x, w.as_str()];
                inputs.extend(b.as_deref());
                let (k, st, p, op) = (
                    *kernel as i64,
                    *stride as i64,
                    *padding as i64,
                    *output_padding as i64,
                );
                self.last(
                    "ConvTranspose",
                    &inputs,
                    vec![
                        ("kernel_shape", Ints(vec![k, k])),
                        ("strides", Ints(vec![st, st])),
                        ("pads", Ints(vec![p, p, p, p])),
                        ("output_padding", Ints(vec![op, op])),
                    ],
                );
            }
            Layer::Conv1d {
                filters,
                kernel,
                stride,
                padding,
                bias,
            } => {
                // The graph keeps sequences channels last; ONNX convolves channels first.
                let w = self.init("weight", &[*filters, s[1], *kernel])?;
                let b = self.optional_bias(*bias, *filters)?;
                let xc = self.op("Transpose", &[x], vec![("perm", Ints(vec![0, 2, 1]))]);
                let mut inputs = vec![xc.as_str(), w.as_str()];
                inputs.extend(b.as_deref());
                let (k, st, p) = (*kernel as i64, *stride as i64, *padding as i64);
                let y = self.op(
                    "Conv",
                    &inputs,
                    vec![
                        ("kernel_shape", Ints(vec![k])),
                        ("strides", Ints(vec![st])),
                        ("pads", Ints(vec![p, p])),
                    ],
                );
                self.last("Transpose", &[&y], vec![("perm", Ints(vec![0, 2, 1]))]);
            }
            Layer::MaxPool2d { kernel, stride } | Layer::AvgPool2d { kernel, stride } => {
                let op = if layer.kind() == LayerKind::MaxPool2d {
                    "MaxPool"
                } else {
                    "AveragePool"
                };
                let (k, st) = (*kernel as i64, *stride as i64);
                self.last(
                    op,
                    &[x],
                    vec![
                        ("kernel_shape", Ints(vec![k, k])),
                        ("strides", Ints(vec![st, st])),
                    ],
                );
            }
            Layer::Upsample2d { scale, mode } => {
                // Resize as PyTorch's nn.Upsample exports it: nearest reads floor(i / s),
                // bilinear the half-pixel centres.
                let f = *scale as f32;
                let name = self.b.fresh(self.id, "scales");
                let scales = self.b.floats(name, &[4], &[1.0, 1.0, f, f]);
                let attrs = match mode {
                    UpsampleMode::Nearest => vec![
                        ("mode", Str("nearest")),
                        ("coordinate_transformation_mode", Str("asymmetric")),
                        ("nearest_mode", Str("floor")),
                    ],
                    UpsampleMode::Bilinear => vec![
                        ("mode", Str("linear")),
                        ("coordinate_transformation_mode", Str("half_pixel")),
                    ],
                };
                self.last("Resize", &[x, "", &scales], attrs);
            }
            Layer::GlobalAvgPool | Layer::GlobalMaxPool => {
                let avg = layer.kind() == LayerKind::GlobalAvgPool;
                if s.len() == 3 {
                    let op = if avg {
                        "GlobalAveragePool"
                    } else {
                        "GlobalMaxPool"
                    };
                    let y = self.op(op, &[x], vec![]);
                    self.last("Flatten", &[&y], vec![("axis", Int(1))]);
                } else {
                    let op = if avg { "ReduceMean" } else { "ReduceMax" };
                    self.last(
                        op,
                        &[x],
                        vec![("axes", Ints(vec![1])), ("keepdims", Int(0))],
                    );
                }
            }
            Layer::Sampling { .. } => {
                // Deployed, a VAE's latent is its mean: the first half of the input.
                let z = out_shape.dims[0] as i64;
                let (starts, ends, axes) = (
                    self.ints("starts", &[0]),
                    self.ints("ends", &[z]),
                    self.ints("axes", &[1]),
                );
                self.last("Slice", &[x, &starts, &ends, &axes], vec![]);
            }
            Layer::Flatten => self.last("Flatten", &[x], vec![("axis", Int(1))]),
            Layer::Reshape { .. } => {
                let dims: Vec<i64> = std::iter::once(-1)
                    .chain(out_shape.dims.iter().map(|&d| d as i64))
                    .collect();
                let shape = self.ints("shape", &dims);
                self.last("Reshape", &[x, &shape], vec![]);
            }
            Layer::ReLU => self.last("Relu", &[x], vec![]),
            Layer::LeakyReLU { slope } => {
                self.last("LeakyRelu", &[x], vec![("alpha", Float(*slope))])
            }
            Layer::Sigmoid => self.last("Sigmoid", &[x], vec![]),
            Layer::Tanh => self.last("Tanh", &[x], vec![]),
            Layer::GELU => {
                // Opset 17 has no Gelu: 0.5·x·(1 + erf(x/√2)), as Glassbox computes it.
                let inv_sqrt2 =
                    self.b
                        .scalar(self.id, "inv_sqrt2", std::f32::consts::FRAC_1_SQRT_2);
                let (one, half) = (
                    self.b.scalar(self.id, "one", 1.0),
                    self.b.scalar(self.id, "half", 0.5),
                );
                let scaled = self.op("Mul", &[x, &inv_sqrt2], vec![]);
                let erf = self.op("Erf", &[&scaled], vec![]);
                let plus = self.op("Add", &[&erf, &one], vec![]);
                let xh = self.op("Mul", &[x, &half], vec![]);
                self.last("Mul", &[&xh, &plus], vec![]);
            }
            Layer::Softmax => self.last("Softmax", &[x], vec![("axis", Int(-1))]),
            Layer::Dropout { .. } => self.last("Identity", &[x], vec![]),
            Layer::BatchNorm { momentum, eps } => {
                let c = s[0];
                let gamma = self.init("weight", &[c])?;
                let beta = self.init("bias", &[c])?;
                let mean = self.init("running_mean", &[c])?;
                let var = self.init("running_var", &[c])?;
                self.last(
                    "BatchNormalization",
                    &[x, &gamma, &beta, &mean, &var],
                    vec![
                        ("epsilon", Float(*eps)),
                        ("momentum", Float(1.0 - momentum)),
                    ],
                );
            }
            Layer::LayerNorm { eps } => {
                let f = *s.last().expect("checked by shape inference");
                let gamma = self.init("weight", &[f])?;
                let beta = self.init("bias", &[f])?;
                self.last(
                    "LayerNormalization",
                    &[x, &gamma, &beta],
                    vec![("axis", Int(-1)), ("epsilon", Float(*eps))],
                );
            }
            Layer::Add { .. } => {
                let mut acc = x.to_string();
                for (k, other) in xs.iter().enumerate().skip(1) {
                    let inputs = [acc.as_str(), other.as_str()];
                    acc = self.finish("Add", &inputs, vec![], k + 1 == xs.len());
                }
                if xs.len() == 1 {
                    self.last("Identity", &[x], vec![]);
                }
            }
            Layer::Concat { axis, .. } => {
                let ax = concat_axis_with_batch(*axis, s.len()) as i64;
                let inputs: Vec<&str> = xs.iter().map(String::as_str).collect();
                self.last("Concat", &inputs, vec![("axis", Int(ax))]);
            }
        }
        Ok(())
    }
}
