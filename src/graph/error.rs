use thiserror::Error;

/// Something wrong with a graph, in words a user can act on. Every variant that concerns one node
/// names it ("Dense 'fc1' …"), so the editor can outline that node.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum GraphError {
    #[error("the graph has no Input node: add one and wire it to the first layer")]
    NoInput,
    #[error("the graph has no Output node: add one after the last layer to choose the loss")]
    NoOutput,
    #[error("the graph has {count} {kind} nodes ({names}); supervised training needs exactly one")]
    TooMany {
        kind: &'static str,
        count: usize,
        names: String,
        /// The first extra node, so the editor has something to outline.
        node: String,
    },
    #[error("two nodes are called '{node}': node names must be unique")]
    DuplicateId { node: String },
    #[error("a node needs a name")]
    EmptyId,
    #[error("a wire goes {direction} '{missing}', which is not in the graph")]
    UnknownNode {
        missing: String,
        direction: &'static str,
    },
    #[error("{label} has no {side} port {port} (it has {count})")]
    BadPort {
        node: String,
        label: String,
        side: &'static str,
        port: usize,
        count: usize,
    },
    #[error("{label} has nothing connected to input {port}: wire a layer into it")]
    Dangling {
        node: String,
        label: String,
        port: usize,
    },
    #[error("{label} has {count} wires into input {port}; an input takes one wire: merge them with Add or Concat first")]
    MultipleWires {
        node: String,
        label: String,
        port: usize,
        count: usize,
    },
    #[error("the graph has a cycle: {}; data must flow one way, remove one of these wires", path.join(" → "))]
    Cycle { node: String, path: Vec<String> },
    #[error("{label} {message}")]
    Layer {
        node: String,
        label: String,
        message: String,
    },
}

impl GraphError {
    /// The node this error is about, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            GraphError::NoInput | GraphError::NoOutput | GraphError::EmptyId => None,
            GraphError::UnknownNode { .. } => None,
            GraphError::TooMany { node, .. }
            | GraphError::DuplicateId { node }
            | GraphError::BadPort { node, .. }
            | GraphError::Dangling { node, .. }
            | GraphError::MultipleWires { node, .. }
            | GraphError::Cycle { node, .. }
            | GraphError::Layer { node, .. } => Some(node),
        }
    }
}
