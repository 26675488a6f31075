//! A GAN project is one graph with two parts, found from its wiring: the generator is what the
//! Noise node feeds, the discriminator is what the Output depends on (from the data's Input).
//! Each part becomes a graph of its own that the ordinary model builder takes.

use super::spec::{DType, Edge, Graph, Layer, LayerKind, Loss, Node, Target};
use std::collections::{BTreeSet, HashMap};

/// Id of the Output node added after the generator's last layer (its loss is never used).
pub const GENERATED: &str = "__generated";

/// Group names the editor frames and the inspector names.
pub const GENERATOR_GROUP: &str = "generator";
pub const DISCRIMINATOR_GROUP: &str = "discriminator";

#[derive(Clone, Debug, PartialEq)]
pub struct GanParts {
    /// Noise (as an Input of its own shape) → … → the generator's last layer → GENERATED.
    pub generator: Graph,
    /// Input → … → Output.
    pub discriminator: Graph,
    /// Id of the generator's last layer, whose output is a sample.
    pub sample_node: String,
    pub noise_dim: usize,
}

/// What keeps a graph from being split into a generator and a discriminator, in words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GanError {
    #[error("a GAN needs a generator: add a Noise node and the layers that turn it into a sample")]
    NoNoise,
    #[error("a GAN has one generator: keep a single Noise node")]
    SeveralNoise,
    #[error("a GAN needs its discriminator: one Input (the real samples) leading to layers that end in one score and an Output with binary cross-entropy")]
    NoDiscriminator,
    #[error("'{node}' is in both the generator and the discriminator: the generator's last layer gives the samples, it must not be wired into the discriminator")]
    Shared { node: String },
    #[error("the Output does not depend on the Input '{input}': the discriminator must read the real samples")]
    Unread { input: String },
    #[error("the Noise node leads nowhere: add the generator's layers after it")]
    NoGenerator,
    #[error("the generator ends in {} layers ({}): it must end in one, whose output is a sample", .ends.len(), .ends.join(", "))]
    SeveralEnds { ends: Vec<String> },
}

/// Splits a GAN graph, or says in words what is missing.
pub fn gan_parts(graph: &Graph) -> Result<GanParts, GanError> {
    let of_kind = |k: LayerKind| -> Vec<&Node> {
        graph.nodes.iter().filter(|n| n.layer.kind() == k).collect()
    };
    let noise = match of_kind(LayerKind::Noise)[..] {
        [n] => n,
        [] => return Err(GanError::NoNoise),
        _ => return Err(GanError::SeveralNoise),
    };
    let Layer::Noise { dim } = noise.layer else {
        unreachable!("filtered on the Noise kind")
    };
    let (input, output) = match (
        &of_kind(LayerKind::Input)[..],
        &of_kind(LayerKind::Output)[..],
    ) {
        ([i], [o]) => (*i, *o),
        _ => return Err(GanError::NoDiscriminator),
    };
    let succ = |id: &str| -> Vec<String> {
        graph
            .edges
            .iter()
            .filter(|e| e.from == id)
            .map(|e| e.to.clone())
            .collect()
    };
    let pred = |id: &str| -> Vec<String> {
        graph
            .edges
            .iter()
            .filter(|e| e.to == id)
            .map(|e| e.from.clone())
            .collect()
    };
    let reach = |start: &str, next: &dyn Fn(&str) -> Vec<String>| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.to_string()];
        while let Some(id) = stack.pop() {
            if seen.insert(id.clone()) {
                stack.extend(next(&id));
            }
        }
        seen
    };
    let generator = reach(&noise.id, &succ);
    let discriminator = reach(&output.id, &pred);
    if let Some(shared) = generator.intersection(&discriminator).next() {
        return Err(GanError::Shared {
            node: shared.clone(),
        });
    }
    if !discriminator.contains(&input.id) {
        return Err(GanError::Unread {
            input: input.id.clone(),
        });
    }
    let sinks: Vec<&String> = generator.iter().filter(|id| succ(id).is_empty()).collect();
    let sample_node = match sinks[..] {
        [one] if *one != noise.id => one.clone(),
        [_] => return Err(GanError::NoGenerator),
        _ => {
            return Err(GanError::SeveralEnds {
                ends: sinks.iter().map(|s| s.to_string()).collect(),
            });
        }
    };
    let part = |ids: &BTreeSet<String>| -> Graph {
        let index: HashMap<&str, usize> = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        // Wires naming a node that does not exist have their own error; skip them here.
        let mut at: Vec<usize> = ids
            .iter()
            .filter_map(|id| index.get(id.as_str()).copied())
            .collect();
        at.sort_unstable();
        let nodes: Vec<Node> = at.into_iter().map(|i| graph.nodes[i].clone()).collect();
        Graph {
            nodes,
            edges: graph
                .edges
                .iter()
                .filter(|e| ids.contains(&e.from) && ids.contains(&e.to))
                .cloned()
                .collect(),
        }
    };
    let mut g = part(&generator);
    for n in &mut g.nodes {
        if n.id == noise.id {
            n.layer = Layer::Input {
                shape: vec![dim],
                dtype: DType::F32,
            };
        }
    }
    g.nodes.push(Node::new(
        GENERATED,
        Layer::Output {
            loss: Loss::Mse,
            target: Target::Label,
        },
    ));
    g.edges.push(Edge::new(sample_node.clone(), GENERATED));
    Ok(GanParts {
        generator: g,
        discriminator: part(&discriminator),
        sample_node,
        noise_dim: dim,
    })
}
