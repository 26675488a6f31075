//! ONNX → a Glassbox graph and its weights. A file Glassbox wrote carries its graph in the
//! metadata and comes back exactly; any other file is read op by op (Gemm/MatMul+Add, Conv,
//! ConvTranspose, pooling, activations, BatchNormalization, LayerNormalization, Gather, Add,
//! Concat, Flatten, Reshape, Dropout/Identity) and an op outside that set is named.

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, ModelProto, NodeProto, TensorProto,
};
use super::OnnxError;
use crate::graph::{Graph, Layer};
use crate::model::{WeightTensor, Weights};
use prost::Message;
use std::collections::HashMap;

/// Largest tensor accepted from a file (values), so a hostile header cannot exhaust memory.
const MAX_TENSOR_VALUES: usize = 1 << 28;

/// A graph and weights read from an ONNX file, and what the reader decided on the way.
pub struct Imported {
    pub graph: Graph,
    pub weights: Weights,
    pub notes: Vec<String>,
    /// The file's metadata, key → value.
    pub metadata: HashMap<String, String>,
}

pub(super) fn bad(reason: impl Into<String>) -> OnnxError {
    OnnxError::Import(reason.into())
}

pub(super) fn unsupported(node: &NodeProto, reason: impl Into<String>) -> OnnxError {
    let name = if node.name.is_empty() {
        node.op_type.clone()
    } else {
        node.name.clone()
    };
    OnnxError::NotImportable {
        node: name,
        reason: reason.into(),
    }
}

/// The float (or int64, as floats) values of an initializer.
fn tensor_values(t: &TensorProto) -> Result<(Vec<usize>, Vec<f32>), OnnxError> {
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| bad(format!("tensor {} has a negative size", t.name)))
        })
        .collect::<Result<_, _>>()?;
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let n = n.filter(|&n| n <= MAX_TENSOR_VALUES).ok_or_else(|| {
        bad(format!(
            "tensor {} has {dims:?} values: more than this reader takes",
            t.name
        ))
    })?;
    let values: Vec<f32> = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Ok(DataType::Float) => t.float_data.clone(),
        Ok(DataType::Int64) if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        Ok(DataType::Int64) => t.int64_data.iter().map(|&v| v as f32).collect(),
        _ => {
            return Err(bad(format!(
                "tensor {} has element type {}; only float32 and int64 are read",
                t.name, t.data_type
            )))
        }
    };
    if values.len() != n {
        return Err(bad(format!(
            "tensor {} holds {} values for its shape {dims:?}",
            t.name,
            values.len()
        )));
    }
    Ok((dims, values))
}

pub(super) fn attr_int(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute
        .iter()
        .find(|a| a.name == name && a.r#type == AttributeType::Int as i32)
        .map(|a| a.i)
}

pub(super) fn attr_ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    node.attribute
        .iter()
        .find(|a| a.name == name && a.r#type == AttributeType::Ints as i32)
        .map(|a| a.ints.clone())
}

pub(super) fn attr_str<'a>(node: &'a NodeProto, name: &str) -> Option<&'a str> {
    node.attribute
        .iter()
        .find(|a| a.name == name && a.r#type == AttributeType::String as i32)
        .and_then(|a| std::str::from_utf8(&a.s).ok())
}

pub(super) fn attr_float(node: &NodeProto, name: &str) -> Option<f32> {
    node.attribute
        .iter()
        .find(|a| a.name == name && a.r#type == AttributeType::Float as i32)
        .map(|a| a.f)
}

pub(super) fn transpose2(dims: &[usize], v: &[f32]) -> Vec<f32> {
    let (r, c) = (dims[0], dims[1]);
    let mut out = vec![0.0; v.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = v[i * c + j];
        }
    }
    out
}

/// Reads an ONNX file's bytes.
pub fn import_onnx(bytes: &[u8]) -> Result<Imported, OnnxError> {
    let model =
        ModelProto::decode(bytes).map_err(|e| bad(format!("not an ONNX model file: {e}")))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| bad("the file holds no graph"))?;
    let mut consts: HashMap<String, (Vec<usize>, Vec<f32>)> = HashMap::new();
    for t in &graph.initializer {
        consts.insert(t.name.clone(), tensor_values(t)?);
    }
    let metadata: HashMap<String, String> = model
        .metadata_props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    let mut imported = match metadata
        .get("glassbox.graph")
        .and_then(|g| serde_json::from_str::<Graph>(g).ok())
    {
        Some(g) => glassbox_file(g, &consts)?,
        None => super::reader::Reader::default().read(graph, consts)?,
    };
    imported.metadata = metadata;
    Ok(imported)
}

/// A file Glassbox wrote: its graph from the metadata, its weights from the initializers (the
/// recurrent layers' re-stacked W/R/B turned back into Glassbox's order).
fn glassbox_file(
    graph: Graph,
    consts: &HashMap<String, (Vec<usize>, Vec<f32>)>,
) -> Result<Imported, OnnxError> {
    // Every parameter of such a file is an initializer: a graph asking for more parameters
    // than the file holds values is refused before building allocates them all.
    let params = crate::graph::analyze(&graph).total_params();
    let values: usize = consts.values().map(|(_, v)| v.len()).sum();
    if params > values {
        return Err(bad(format!(
            "the graph in the file's metadata has {params} parameters, the file only {values} weight values"
        )));
    }
    let model = crate::model::Model::build(&graph, 0).map_err(|e| {
        bad(format!(
            "the graph in the file's metadata does not build: {e}"
        ))
    })?;
    let mut weights = Weights::default();
    for (name, var) in model.store().all() {
        let shape = var.dims().to_vec();
        let data = match consts.get(&name) {
            Some((_, v)) => v.clone(),
            None => recurrent_weight(&graph, &name, &shape, consts)
                .ok_or_else(|| bad(format!("the file has no tensor for {name}")))?,
        };
        if data.len() != shape.iter().product::<usize>() {
            return Err(bad(format!(
                "{name} has {} values for {shape:?}",
                data.len()
            )));
        }
        weights.tensors.insert(name, WeightTensor { shape, data });
    }
    Ok(Imported {
        graph,
        weights,
        notes: vec!["written by Glassbox: the graph comes back exactly".into()],
        metadata: HashMap::new(),
    })
}

/// Glassbox's `weight_ih`/`weight_hh`/`bias...` of a recurrent node from ONNX's W, R, B.
fn recurrent_weight(
    graph: &Graph,
    name: &str,
    shape: &[usize],
    consts: &HashMap<String, (Vec<usize>, Vec<f32>)>,
) -> Option<Vec<f32>> {
    let (id, param) = name.split_once('.')?;
    let node = graph.node(id)?;
    let order: &[usize] = match node.layer {
        Layer::Lstm { .. } => &[0, 3, 1, 2],
        Layer::Gru { .. } => &[1, 0, 2],
        Layer::Rnn { .. } => &[0],
        _ => return None,
    };
    let gates = order.len();
    let h = shape[0] / gates;
    let cols = if shape.len() == 2 { shape[1] } else { 1 };
    let (src, offset) = match param {
        "weight_ih" => (format!("{id}/W"), 0),
        "weight_hh" => (format!("{id}/R"), 0),
        "bias" | "bias_ih" => (format!("{id}/B"), 0),
        "bias_hh" => (format!("{id}/B"), gates * h),
        _ => return None,
    };
    let (_, v) = consts.get(&src)?;
    // ONNX block k holds Glassbox gate order[k]; undo that.
    let mut out = vec![0.0; gates * h * cols];
    for (k, &g) in order.iter().enumerate() {
        let from = offset + k * h * cols;
        out[g * h * cols..(g + 1) * h * cols].copy_from_slice(v.get(from..from + h * cols)?);
    }
    Some(out)
}
