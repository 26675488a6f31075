//! The op-by-op reader of ONNX files from other tools: each supported op (or a MatMul and
//! the Add of its bias) becomes one Glassbox layer; anything else is named and refused.

use super::import::{
    attr_float, attr_int, attr_ints, attr_str, bad, transpose2, unsupported, Imported,
};
use super::proto::{tensor_proto::DataType, NodeProto};
use super::OnnxError;
use crate::graph::{DType, Edge, Graph, Layer, Loss, Node, Target};
use crate::model::{WeightTensor, Weights};
use std::collections::HashMap;

/// The op-by-op reader for files from other tools.
#[derive(Default)]
pub(super) struct Reader {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    weights: Weights,
    /// ONNX value → the Glassbox node that produces it.
    producer: HashMap<String, String>,
    /// Values that are constants (initializers and what is folded from them).
    consts: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// A global pool's [C, 1, 1] output, already [C] here: its Flatten is a no-op.
    flat: std::collections::HashSet<String>,
    counter: usize,
}

impl Reader {
    fn add(
        &mut self,
        prefix: &str,
        layer: Layer,
        inputs: &[&str],
        output: &str,
    ) -> Result<String, OnnxError> {
        self.counter += 1;
        let id = format!("{prefix}{}", self.counter);
        for (port, x) in inputs.iter().enumerate() {
            let from = self
                .producer
                .get(*x)
                .ok_or_else(|| bad(format!("value {x} is used before anything produces it")))?;
            self.edges
                .push(Edge::new(from.clone(), id.clone()).to_port(port));
        }
        self.nodes.push(Node::new(id.clone(), layer));
        self.producer.insert(output.to_string(), id.clone());
        Ok(id)
    }

    /// Stores a layer's parameter, refusing values that do not fill its shape (a foreign
    /// file whose bias is shorter than its weight's rows, say).
    fn weight(
        &mut self,
        node: &NodeProto,
        (id, param): (&str, &str),
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> Result<(), OnnxError> {
        let want: usize = shape.iter().product();
        if data.len() != want {
            return Err(unsupported(
                node,
                format!(
                    "its {param} has {} values where shape {shape:?} needs {want}",
                    data.len()
                ),
            ));
        }
        self.weights
            .tensors
            .insert(format!("{id}.{param}"), WeightTensor { shape, data });
        Ok(())
    }

    fn konst(&self, name: &str) -> Option<&(Vec<usize>, Vec<f32>)> {
        self.consts.get(name)
    }

    /// The node's input `k`, which must be a constant (`what` says what it should be).
    fn const_input(
        &self,
        node: &NodeProto,
        k: usize,
        what: &str,
    ) -> Result<(Vec<usize>, Vec<f32>), OnnxError> {
        node.input
            .get(k)
            .and_then(|n| self.konst(n).cloned())
            .ok_or_else(|| unsupported(node, format!("its input {} must be {what}", k + 1)))
    }

    pub(super) fn read(
        mut self,
        graph: &super::proto::GraphProto,
        consts: HashMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> Result<Imported, OnnxError> {
        self.consts = consts;
        let mut notes = Vec::new();
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !self.consts.contains_key(&i.name))
            .collect();
        let [input] = inputs[..] else {
            return Err(bad(format!(
                "the graph has {} inputs; Glassbox networks take one",
                inputs.len()
            )));
        };
        let (dims, dtype) = input_type(input)?;
        self.nodes
            .push(Node::new("input", Layer::Input { shape: dims, dtype }));
        self.producer.insert(input.name.clone(), "input".into());

        // An Add of a constant right after a MatMul is that Dense layer's bias.
        let mut skip = std::collections::HashSet::new();
        for (i, node) in graph.node.iter().enumerate() {
            if skip.contains(&i) {
                continue;
            }
            let x = node.input.first().cloned().unwrap_or_default();
            let out = node.output.first().cloned().unwrap_or_default();
            let all_const =
                !node.input.is_empty() && node.input.iter().all(|v| self.consts.contains_key(v));
            match node.op_type.as_str() {
                "Transpose" if all_const => {
                    let (d, v) = self.const_input(node, 0, "a constant")?;
                    let (r, c) = matrix(node, &d)?;
                    self.consts.insert(out, (vec![c, r], transpose2(&d, &v)));
                }
                "Gemm" => {
                    let (wd, wv) = self.const_input(node, 1, "a weight that is a constant")?;
                    let (rows, cols) = matrix(node, &wd)?;
                    if attr_int(node, "transA").unwrap_or(0) != 0
                        || attr_float(node, "alpha").unwrap_or(1.0) != 1.0
                        || attr_float(node, "beta").unwrap_or(1.0) != 1.0
                    {
                        return Err(unsupported(node, "Gemm with transA, alpha or beta"));
                    }
                    let (w, units) = if attr_int(node, "transB").unwrap_or(0) == 1 {
                        (wv, rows)
                    } else {
                        (transpose2(&wd, &wv), cols)
                    };
                    let fan_in = w.len() / units.max(1);
                    let bias = node
                        .input
                        .get(2)
                        .filter(|b| !b.is_empty())
                        .map(|_| self.const_input(node, 2, "a constant bias"))
                        .transpose()?;
                    let id = self.add(
                        "fc",
                        Layer::Dense {
                            units,
                            bias: bias.is_some(),
                        },
                        &[&x],
                        &out,
                    )?;
                    self.weight(node, (&id, "weight"), vec![units, fan_in], w)?;
                    if let Some((_, b)) = bias {
                        self.weight(node, (&id, "bias"), vec![units], b)?;
                    }
                }
                "MatMul" => {
                    let (wd, wv) = self.const_input(
                        node,
                        1,
                        "a constant second input (attention is read only from Glassbox's own files)",
                    )?;
                    let (fan_in, units) = matrix(node, &wd)?;
                    let next = graph.node.get(i + 1).filter(|n| {
                        n.op_type == "Add"
                            && n.input.first() == Some(&out)
                            && n.input.get(1).is_some_and(|b| self.consts.contains_key(b))
                            && !n.output.is_empty()
                    });
                    let (out, bias) = match next {
                        Some(add) => {
                            skip.insert(i + 1);
                            (add.output[0].clone(), Some(self.const_input(add, 1, "a bias")?))
                        }
                        None => (out, None),
                    };
                    let id = self.add(
                        "fc",
                        Layer::Dense {
                            units,
                            bias: bias.is_some(),
                        },
                        &[&x],
                        &out,
                    )?;
                    self.weight(node, (&id, "weight"), vec![units, fan_in], transpose2(&wd, &wv))?;
                    if let Some((_, b)) = bias {
                        self.weight(node, (&id, "bias"), vec![units], b)?;
                    }
                }
                "Conv" | "ConvTranspose" => self.conv(node, &x, &out)?,
                "MaxPool" | "AveragePool" => {
                    let k = attr_ints(node, "kernel_shape").unwrap_or_default();
                    let s = attr_ints(node, "strides").unwrap_or_else(|| vec![1, 1]);
                    let pads = attr_ints(node, "pads").unwrap_or_default();
                    if k.len() != 2
                        || k[0] != k[1]
                        || s.len() != 2
                        || s[0] != s[1]
                        || pads.iter().any(|&p| p != 0)
                    {
                        return Err(unsupported(
                            node,
                            "pooling other than a square window without padding",
                        ));
                    }
                    let (kernel, stride) = (k[0] as usize, s[0] as usize);
                    let layer = if node.op_type == "MaxPool" {
                        Layer::MaxPool2d { kernel, stride }
                    } else {
                        Layer::AvgPool2d { kernel, stride }
                    };
                    self.add("pool", layer, &[&x], &out)?;
                }
                "Resize" | "Upsample" => {
                    let layer = upsample_of(node, &self)?;
                    self.add("up", layer, &[&x], &out)?;
                }
                "GlobalAveragePool" | "GlobalMaxPool" => {
                    let layer = if node.op_type == "GlobalMaxPool" {
                        Layer::GlobalMaxPool
                    } else {
                        Layer::GlobalAvgPool
                    };
                    self.add("gpool", layer, &[&x], &out)?;
                    self.flat.insert(out);
                }
                "Flatten" if self.flat.contains(&x) => self.alias(&x, &out, node)?,
                "Flatten" => {
                    if attr_int(node, "axis").unwrap_or(1) != 1 {
                        return Err(unsupported(node, "Flatten other than from axis 1"));
                    }
                    self.add("flatten", Layer::Flatten, &[&x], &out)?;
                }
                "Reshape" => {
                    let (_, shape) = node
                        .input
                        .get(1)
                        .and_then(|s| self.konst(s).cloned())
                        .ok_or_else(|| {
                            unsupported(node, "Reshape to a shape that is not a constant")
                        })?;
                    let shape: Vec<i64> = shape.iter().skip(1).map(|&v| v as i64).collect();
                    self.add("reshape", Layer::Reshape { shape }, &[&x], &out)?;
                }
                "Relu" => drop(self.add("relu", Layer::ReLU, &[&x], &out)?),
                "LeakyRelu" => {
                    let slope = attr_float(node, "alpha").unwrap_or(0.01);
                    self.add("leaky", Layer::LeakyReLU { slope }, &[&x], &out)?;
                }
                "Sigmoid" => drop(self.add("sigmoid", Layer::Sigmoid, &[&x], &out)?),
                "Tanh" => drop(self.add("tanh", Layer::Tanh, &[&x], &out)?),
                "Gelu" => drop(self.add("gelu", Layer::GELU, &[&x], &out)?),
                "Softmax" => {
                    if attr_int(node, "axis").is_some_and(|a| a != -1 && a != 1) {
                        return Err(unsupported(
                            node,
                            "Softmax over an axis other than the last",
                        ));
                    }
                    self.add("softmax", Layer::Softmax, &[&x], &out)?;
                }
                "Dropout" | "Identity" => self.alias(&x, &out, node)?,
                "BatchNormalization" => {
                    let get = |k: usize| node.input.get(k).and_then(|n| self.konst(n).cloned());
                    let (Some(g), Some(b), Some(m), Some(v)) = (get(1), get(2), get(3), get(4))
                    else {
                        return Err(unsupported(
                            node,
                            "BatchNormalization whose statistics are not constants",
                        ));
                    };
                    let eps = attr_float(node, "epsilon").unwrap_or(1e-5);
                    let momentum = 1.0 - attr_float(node, "momentum").unwrap_or(0.9);
                    let id = self.add("bn", Layer::BatchNorm { momentum, eps }, &[&x], &out)?;
                    let c = g.1.len();
                    for (p, t) in [
                        ("weight", g),
                        ("bias", b),
                        ("running_mean", m),
                        ("running_var", v),
                    ] {
                        self.weight(node, (&id, p), vec![c], t.1)?;
                    }
                }
                "LayerNormalization" => {
                    if attr_int(node, "axis").is_some_and(|a| a != -1) {
                        return Err(unsupported(
                            node,
                            "LayerNormalization over other than the last axis",
                        ));
                    }
                    let get = |k: usize| node.input.get(k).and_then(|n| self.konst(n).cloned());
                    let (Some(g), Some(b)) = (get(1), get(2)) else {
                        return Err(unsupported(
                            node,
                            "LayerNormalization without constant scale and bias",
                        ));
                    };
                    let eps = attr_float(node, "epsilon").unwrap_or(1e-5);
                    let id = self.add("ln", Layer::LayerNorm { eps }, &[&x], &out)?;
                    let f = g.1.len();
                    self.weight(node, (&id, "weight"), vec![f], g.1)?;
                    self.weight(node, (&id, "bias"), vec![f], b.1)?;
                }
                "Gather" if self.consts.contains_key(&x) => {
                    let (d, v) = self.const_input(node, 0, "a constant table")?;
                    let (vocab, dim) = matrix(node, &d)?;
                    let ids = node.input.get(1).cloned().unwrap_or_default();
                    let id = self.add(
                        "embed",
                        Layer::Embedding { vocab, dim },
                        &[&ids],
                        &out,
                    )?;
                    self.weight(node, (&id, "weight"), d, v)?;
                }
                "Add" if node.input.iter().all(|v| self.producer.contains_key(v)) => {
                    let ins: Vec<&str> = node.input.iter().map(String::as_str).collect();
                    self.add("add", Layer::Add { inputs: ins.len() }, &ins, &out)?;
                }
                "Concat" => {
                    let axis = attr_int(node, "axis").unwrap_or(1);
                    if axis == 0 {
                        return Err(unsupported(node, "Concat along the batch axis"));
                    }
                    let ins: Vec<&str> = node.input.iter().map(String::as_str).collect();
                    let axis = if axis > 0 { axis - 1 } else { axis };
                    self.add(
                        "concat",
                        Layer::Concat {
                            inputs: ins.len(),
                            axis,
                        },
                        &ins,
                        &out,
                    )?;
                }
                op => {
                    return Err(unsupported(
                        node,
                        format!("op {op} with these inputs is not one Glassbox reads from other tools' files"),
                    ))
                }
            }
        }

        let out_name = &graph
            .output
            .first()
            .ok_or_else(|| bad("the graph has no output"))?
            .name;
        let mut last = self
            .producer
            .get(out_name)
            .cloned()
            .ok_or_else(|| bad(format!("nothing produces the output {out_name}")))?;
        // A classifier that ends in Softmax is trained on its logits: the Output applies it.
        // Logits beside a Softmax/Sigmoid of them (Glassbox's "probabilities") say the same.
        let mut loss = graph
            .node
            .iter()
            .find(|n| n.input.first() == Some(out_name))
            .map_or(Loss::Mse, |n| match n.op_type.as_str() {
                "Softmax" => Loss::CrossEntropy,
                "Sigmoid" => Loss::BinaryCrossEntropy,
                _ => Loss::Mse,
            });
        if let Some(pos) = self
            .nodes
            .iter()
            .position(|n| n.id == last && n.layer == Layer::Softmax)
        {
            let edge = self
                .edges
                .iter()
                .position(|e| e.to == last)
                .ok_or_else(|| bad(format!("the final Softmax {last} has no input")))?;
            let before = self.edges.remove(edge).from;
            self.nodes.remove(pos);
            notes.push("the final Softmax became a cross-entropy Output".into());
            last = before;
            loss = Loss::CrossEntropy;
        }
        self.nodes.push(Node::new(
            "output",
            Layer::Output {
                loss,
                target: Target::Label,
            },
        ));
        self.edges.push(Edge::new(last, "output"));
        let mut g = Graph {
            nodes: self.nodes,
            edges: self.edges,
        };
        g.layout_left_to_right();
        notes.push(format!(
            "read op by op: {} layers; the Output's loss is {} (change it in the inspector)",
            g.nodes.len(),
            loss.label()
        ));
        Ok(Imported {
            graph: g,
            weights: self.weights,
            notes,
            metadata: HashMap::new(),
        })
    }

    fn alias(&mut self, from: &str, to: &str, node: &NodeProto) -> Result<(), OnnxError> {
        let p = self
            .producer
            .get(from)
            .cloned()
            .ok_or_else(|| unsupported(node, format!("its input {from} is not computed")))?;
        if self.flat.contains(from) {
            self.flat.insert(to.to_string());
        }
        self.producer.insert(to.to_string(), p);
        Ok(())
    }

    fn conv(&mut self, node: &NodeProto, x: &str, out: &str) -> Result<(), OnnxError> {
        let (wd, wv) = node
            .input
            .get(1)
            .and_then(|w| self.konst(w).cloned())
            .ok_or_else(|| unsupported(node, "a convolution whose filters are not constants"))?;
        if wd.len() != 4 {
            return Err(unsupported(
                node,
                "only 2-D convolutions are read from other tools' files",
            ));
        }
        let k = attr_ints(node, "kernel_shape").unwrap_or_else(|| vec![wd[2] as i64, wd[3] as i64]);
        let s = attr_ints(node, "strides").unwrap_or_else(|| vec![1, 1]);
        let p = attr_ints(node, "pads").unwrap_or_else(|| vec![0; 4]);
        let square = k.len() == 2 && k[0] == k[1] && s.len() == 2 && s[0] == s[1];
        let even_pads = p.len() == 4 && p.iter().all(|&v| v == p[0]);
        let plain = attr_int(node, "group").unwrap_or(1) == 1
            && attr_ints(node, "dilations").is_none_or(|d| d.iter().all(|&v| v == 1))
            && node
                .attribute
                .iter()
                .all(|a| a.name != "auto_pad" || a.s == b"NOTSET");
        if !(square && even_pads && plain) {
            return Err(unsupported(
                node,
                "a convolution with a non-square window, uneven padding, groups or dilation",
            ));
        }
        let (kernel, stride, padding) = (k[0] as usize, s[0] as usize, p[0] as usize);
        let bias = node
            .input
            .get(2)
            .filter(|b| !b.is_empty())
            .map(|_| self.const_input(node, 2, "a constant bias"))
            .transpose()?;
        let has_bias = bias.is_some();
        let (layer, filters) = if node.op_type == "Conv" {
            (
                Layer::Conv2d {
                    filters: wd[0],
                    kernel,
                    stride,
                    padding,
                    bias: has_bias,
                },
                wd[0],
            )
        } else {
            let op = attr_ints(node, "output_padding")
                .map_or(0, |v| v.first().copied().unwrap_or(0) as usize);
            (
                Layer::ConvTranspose2d {
                    filters: wd[1],
                    kernel,
                    stride,
                    padding,
                    output_padding: op,
                    bias: has_bias,
                },
                wd[1],
            )
        };
        let id = self.add("conv", layer, &[x], out)?;
        self.weight(node, (&id, "weight"), wd, wv)?;
        if let Some((_, b)) = bias {
            self.weight(node, (&id, "bias"), vec![filters], b)?;
        }
        Ok(())
    }
}

/// The two sizes of a constant that must be a matrix (a weight or a table).
fn matrix(node: &NodeProto, dims: &[usize]) -> Result<(usize, usize), OnnxError> {
    match dims {
        [r, c] => Ok((*r, *c)),
        _ => Err(unsupported(
            node,
            format!("its weight has shape {dims:?}, not a matrix"),
        )),
    }
}

/// One sample's dims (the first, batch dimension dropped) and dtype of the graph input.
fn input_type(input: &super::proto::ValueInfoProto) -> Result<(Vec<usize>, DType), OnnxError> {
    use super::proto::{tensor_shape_proto::dimension::Value as Dim, type_proto::Value};
    let Some(Value::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(bad(format!("the input {} is not a tensor", input.name)));
    };
    let dtype = match DataType::try_from(t.elem_type) {
        Ok(DataType::Float) => DType::F32,
        Ok(DataType::Int64 | DataType::Int32) => DType::TokenId,
        _ => {
            return Err(bad(format!(
                "the input {} has element type {}",
                input.name, t.elem_type
            )))
        }
    };
    let dims = t
        .shape
        .as_ref()
        .map(|s| s.dim.iter().skip(1).map(|d| match d.value {
            Some(Dim::DimValue(v)) if v > 0 => Ok(v as usize),
            _ => Err(bad(format!("the input {} has a dimension that is not a fixed size: give the sample's sizes", input.name))),
        }).collect::<Result<Vec<_>, _>>())
        .transpose()?
        .unwrap_or_default();
    if dims.is_empty() {
        return Err(bad(format!(
            "the input {} has no sample dimensions",
            input.name
        )));
    }
    Ok((dims, dtype))
}

/// A Resize (or opset 9's Upsample) that doubles, triples… height and width as PyTorch's
/// `nn.Upsample` exports it: nearest (asymmetric, floor) or linear (half-pixel centres).
fn upsample_of(node: &NodeProto, reader: &Reader) -> Result<Layer, OnnxError> {
    use crate::graph::UpsampleMode;
    let scales_at = if node.op_type == "Upsample" { 1 } else { 2 };
    let scales = node
        .input
        .get(scales_at)
        .filter(|s| !s.is_empty())
        .and_then(|s| reader.konst(s))
        .map(|(_, v)| v.clone())
        .ok_or_else(|| unsupported(node, "a Resize to sizes rather than constant scales"))?;
    let whole = |v: f32| v >= 1.0 && v.fract() == 0.0;
    let scale = match scales[..] {
        [n, c, h, w] if n == 1.0 && c == 1.0 && h == w && whole(h) => h as usize,
        _ => {
            return Err(unsupported(
                node,
                "a Resize other than one whole factor on height and width",
            ))
        }
    };
    let mode = attr_str(node, "mode").unwrap_or("nearest");
    let coordinates = attr_str(node, "coordinate_transformation_mode").unwrap_or("half_pixel");
    let mode = match (mode, coordinates) {
        ("nearest", "asymmetric") if attr_str(node, "nearest_mode") == Some("floor") => {
            UpsampleMode::Nearest
        }
        ("linear", "half_pixel" | "pytorch_half_pixel") => UpsampleMode::Bilinear,
        _ => {
            return Err(unsupported(
                node,
                "a Resize other than nearest (asymmetric, floor) or bilinear (half-pixel)",
            ))
        }
    };
    Ok(Layer::Upsample2d { scale, mode })
}
