//! A small writer of ONNX graphs: nodes with unique value names, attributes, and initializers
//! (the weights, embedded as raw little-endian floats).

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, NodeProto, TensorProto,
};

/// An attribute value of an ONNX node.
pub(crate) enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Str(&'static str),
}

#[derive(Default)]
pub(crate) struct GraphBuilder {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    counter: usize,
}

impl GraphBuilder {
    /// A value name not used before, readable as `<node id>/<what>`.
    pub fn fresh(&mut self, prefix: &str, what: &str) -> String {
        self.counter += 1;
        format!("{prefix}/{what}_{}", self.counter)
    }

    /// Adds a float initializer and returns its name.
    pub fn floats(&mut self, name: impl Into<String>, dims: &[usize], data: &[f32]) -> String {
        let name = name.into();
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// Adds an int64 initializer (shapes, axes, indices) and returns its name.
    pub fn ints(&mut self, prefix: &str, what: &str, dims: &[usize], data: &[i64]) -> String {
        let name = self.fresh(prefix, what);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// A 1-D int64 constant.
    pub fn int_list(&mut self, prefix: &str, what: &str, data: &[i64]) -> String {
        self.ints(prefix, what, &[data.len()], data)
    }

    /// A float scalar constant.
    pub fn scalar(&mut self, prefix: &str, what: &str, value: f32) -> String {
        let name = self.fresh(prefix, what);
        self.floats(name, &[], &[value])
    }

    /// Adds a node with one output, named fresh unless `output` is given; returns the output.
    pub fn op(
        &mut self,
        op_type: &str,
        prefix: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        output: Option<&str>,
    ) -> String {
        let out = output
            .map(str::to_string)
            .unwrap_or_else(|| self.fresh(prefix, &op_type.to_lowercase()));
        self.op_multi(op_type, prefix, inputs, attrs, std::slice::from_ref(&out));
        out
    }

    /// Adds a node with several outputs.
    pub fn op_multi(
        &mut self,
        op_type: &str,
        prefix: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        outputs: &[String],
    ) {
        let name = self.fresh(prefix, op_type);
        self.nodes.push(NodeProto {
            name,
            op_type: op_type.to_string(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.to_vec(),
            attribute: attrs.into_iter().map(|(n, a)| attribute(n, a)).collect(),
            ..Default::default()
        });
    }
}

fn attribute(name: &str, value: Attr) -> AttributeProto {
    let mut a = AttributeProto {
        name: name.to_string(),
        ..Default::default()
    };
    match value {
        Attr::Int(i) => {
            a.r#type = AttributeType::Int as i32;
            a.i = i;
        }
        Attr::Ints(v) => {
            a.r#type = AttributeType::Ints as i32;
            a.ints = v;
        }
        Attr::Float(f) => {
            a.r#type = AttributeType::Float as i32;
            a.f = f;
        }
        Attr::Str(s) => {
            a.r#type = AttributeType::String as i32;
            a.s = s.as_bytes().to_vec();
        }
    }
    a
}
