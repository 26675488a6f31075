//! What every exporter walks: the nodes the Output depends on, in topological order, each with
//! its input shapes, output shape and the nodes wired into it — the graph checked once.

use crate::graph::{analyze, Graph, LayerKind, TensorShape};

pub struct PlanStep {
    /// The node's index in the graph.
    pub index: usize,
    pub inputs: Vec<TensorShape>,
    pub output: TensorShape,
    /// Indices of the nodes wired into it, port by port.
    pub sources: Vec<usize>,
}

impl PlanStep {
    /// The first input's dims (empty for a node without inputs).
    pub fn first_dims(&self) -> &[usize] {
        self.inputs.first().map_or(&[], |s| &s.dims)
    }
}

pub struct Plan {
    pub steps: Vec<PlanStep>,
    /// The Input node's index and one sample's shape.
    pub input: usize,
    pub input_shape: TensorShape,
    /// The Output node's index and the prediction's shape (the Output's input).
    pub output: usize,
    pub prediction_shape: TensorShape,
}

/// The plan of a valid graph with one Input and one Output, or its problems in words.
pub fn plan(graph: &Graph) -> Result<Plan, super::DeployError> {
    use super::DeployError;
    let analysis = analyze(graph);
    if !analysis.is_ok() {
        return Err(DeployError::Graph(analysis.errors));
    }
    let output = analysis
        .single(graph, LayerKind::Output)
        .ok_or(DeployError::Needs("Output"))?;
    let input = analysis
        .single(graph, LayerKind::Input)
        .ok_or(DeployError::Needs("Input"))?;
    let shape_of = |s: &Option<TensorShape>| s.clone().expect("a valid graph has every shape");
    let steps = analysis
        .needed_for(output)
        .into_iter()
        .map(|i| PlanStep {
            index: i,
            inputs: analysis.nodes[i].inputs.iter().flatten().cloned().collect(),
            output: shape_of(&analysis.nodes[i].output),
            sources: analysis.sources[i].iter().flatten().copied().collect(),
        })
        .collect();
    Ok(Plan {
        steps,
        input,
        input_shape: shape_of(&analysis.nodes[input].output),
        output,
        prediction_shape: shape_of(&analysis.nodes[output].inputs[0]),
    })
}
