//! Whole-graph checks (names, wires, cycles, Input/Output) and shape inference in one pass.

use super::error::GraphError;
use super::shape::{layer_output, LayerShapeError};
use super::spec::{Edge, Graph, LayerKind, TensorShape};
use std::collections::HashMap;

/// What shape inference found for one node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeShapes {
    /// Shape arriving at each input port (None where unknown).
    pub inputs: Vec<Option<TensorShape>>,
    /// Shape the node produces (None if it or something before it is broken).
    pub output: Option<TensorShape>,
    /// Trainable parameters.
    pub params: usize,
}

/// The result of checking a graph: shapes where they can be known, and every error found.
/// Indexes follow `graph.nodes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    pub nodes: Vec<NodeShapes>,
    /// For each node and input port, the index of the node wired into it.
    pub sources: Vec<Vec<Option<usize>>>,
    /// Topological order of the nodes that are not on a cycle.
    pub order: Vec<usize>,
    pub errors: Vec<GraphError>,
    /// Things that will not stop training but a user should know ("'fc9' does not lead to the Output").
    pub warnings: Vec<String>,
    id_index: HashMap<String, usize>,
}

impl Analysis {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn total_params(&self) -> usize {
        self.nodes.iter().map(|n| n.params).sum()
    }

    pub fn node(&self, id: &str) -> Option<&NodeShapes> {
        self.id_index.get(id).map(|&i| &self.nodes[i])
    }

    /// The shape carried by a wire: the output of its source node.
    pub fn edge_shape(&self, edge: &Edge) -> Option<&TensorShape> {
        self.node(&edge.from)?.output.as_ref()
    }

    /// Errors about one node.
    pub fn errors_for<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a GraphError> + 'a {
        self.errors.iter().filter(move |e| e.node() == Some(id))
    }

    /// Index of the single node of `kind`, when there is exactly one.
    pub fn single(&self, graph: &Graph, kind: LayerKind) -> Option<usize> {
        let mut it = graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.layer.kind() == kind);
        let first = it.next()?.0;
        it.next().is_none().then_some(first)
    }

    /// Nodes the Output depends on (itself included), in topological order. Only these are built.
    pub fn needed_for(&self, output: usize) -> Vec<usize> {
        let mut needed = vec![false; self.nodes.len()];
        let mut stack = vec![output];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut needed[i], true) {
                continue;
            }
            stack.extend(self.sources[i].iter().flatten().copied());
        }
        self.order.iter().copied().filter(|&i| needed[i]).collect()
    }
}

/// Checks the graph and infers every shape it can. Never fails: problems land in `errors`.
pub fn analyze(graph: &Graph) -> Analysis {
    let n = graph.nodes.len();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let mut id_index = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if node.id.trim().is_empty() {
            errors.push(GraphError::EmptyId);
        } else if id_index.insert(node.id.clone(), i).is_some() {
            errors.push(GraphError::DuplicateId {
                node: node.id.clone(),
            });
        }
    }

    // Wires: every endpoint must exist, every input port takes exactly one wire.
    let mut sources: Vec<Vec<Option<usize>>> = graph
        .nodes
        .iter()
        .map(|n| vec![None; n.layer.input_count()])
        .collect();
    let mut wire_count: HashMap<(usize, usize), usize> = HashMap::new();
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in &graph.edges {
        let (Some(&a), Some(&b)) = (id_index.get(&e.from), id_index.get(&e.to)) else {
            let (missing, direction) = if id_index.contains_key(&e.from) {
                (e.to.clone(), "into")
            } else {
                (e.from.clone(), "out of")
            };
            errors.push(GraphError::UnknownNode { missing, direction });
            continue;
        };
        let (from, to) = (&graph.nodes[a], &graph.nodes[b]);
        if e.from_port >= from.layer.output_count() {
            errors.push(GraphError::BadPort {
                node: from.id.clone(),
                label: from.label(),
                side: "output",
                port: e.from_port,
                count: from.layer.output_count(),
            });
            continue;
        }
        if e.to_port >= to.layer.input_count() {
            errors.push(GraphError::BadPort {
                node: to.id.clone(),
                label: to.label(),
                side: "input",
                port: e.to_port,
                count: to.layer.input_count(),
            });
            continue;
        }
        *wire_count.entry((b, e.to_port)).or_default() += 1;
        sources[b][e.to_port] = Some(a);
        succ[a].push(b);
    }
    let mut multi: Vec<_> = wire_count.into_iter().filter(|&(_, c)| c > 1).collect();
    multi.sort();
    for ((b, port), count) in multi {
        let node = &graph.nodes[b];
        errors.push(GraphError::MultipleWires {
            node: node.id.clone(),
            label: node.label(),
            port,
            count,
        });
    }
    for (b, ports) in sources.iter().enumerate() {
        for (port, src) in ports.iter().enumerate() {
            if src.is_none() {
                let node = &graph.nodes[b];
                errors.push(GraphError::Dangling {
                    node: node.id.clone(),
                    label: node.label(),
                    port,
                });
            }
        }
    }

    // Exactly one Input and one Output for supervised training.
    for (kind, missing) in [
        (LayerKind::Input, GraphError::NoInput),
        (LayerKind::Output, GraphError::NoOutput),
    ] {
        let named: Vec<&str> = graph
            .nodes
            .iter()
            .filter(|n| n.layer.kind() == kind)
            .map(|n| n.id.as_str())
            .collect();
        match named.len() {
            0 => errors.push(missing),
            1 => {}
            count => errors.push(GraphError::TooMany {
                kind: kind.name(),
                count,
                names: named.join(", "),
                node: named[1].to_string(),
            }),
        }
    }

    let order = topological_order(n, &succ);
    if order.len() < n {
        let on_cycle: Vec<bool> = {
            let mut placed = vec![false; n];
            order.iter().for_each(|&i| placed[i] = true);
            placed.iter().map(|p| !p).collect()
        };
        if let Some(path) = find_cycle(&succ, &on_cycle) {
            let names: Vec<String> = path.iter().map(|&i| graph.nodes[i].id.clone()).collect();
            errors.push(GraphError::Cycle {
                node: names[0].clone(),
                path: names,
            });
        }
    }

    // Shapes in topological order; a node whose inputs are unknown stays unknown quietly,
    // because the cause has its own error upstream.
    let mut nodes: Vec<NodeShapes> = graph
        .nodes
        .iter()
        .map(|n| NodeShapes {
            inputs: vec![None; n.layer.input_count()],
            ..Default::default()
        })
        .collect();
    for &i in &order {
        let inputs: Vec<Option<TensorShape>> = sources[i]
            .iter()
            .map(|src| src.and_then(|s| nodes[s].output.clone()))
            .collect();
        nodes[i].inputs = inputs.clone();
        let known: Option<Vec<&TensorShape>> = inputs.iter().map(|s| s.as_ref()).collect();
        let Some(known) = known else { continue };
        let node = &graph.nodes[i];
        match layer_output(&node.layer, &known) {
            Ok((shape, params)) => {
                nodes[i].output = Some(shape);
                nodes[i].params = params;
            }
            Err(LayerShapeError(message)) => errors.push(GraphError::Layer {
                node: node.id.clone(),
                label: node.label(),
                message,
            }),
        }
    }

    let mut analysis = Analysis {
        nodes,
        sources,
        order,
        errors: Vec::new(),
        warnings: Vec::new(),
        id_index,
    };
    if let Some(out) = analysis.single(graph, LayerKind::Output) {
        let needed = analysis.needed_for(out);
        let mut is_needed = vec![false; n];
        needed.iter().for_each(|&i| is_needed[i] = true);
        // A GAN's generator feeds no Output: it is trained through the discriminator.
        let generator: std::collections::HashSet<String> = super::gan::gan_parts(graph)
            .map(|p| p.generator.nodes.into_iter().map(|n| n.id).collect())
            .unwrap_or_default();
        for (i, node) in graph.nodes.iter().enumerate() {
            if !is_needed[i] && analysis.order.contains(&i) && !generator.contains(&node.id) {
                warnings.push(format!(
                    "{} does not lead to the Output, so it is not trained",
                    node.label()
                ));
            }
        }
    }
    analysis.errors = errors;
    analysis.warnings = warnings;
    analysis
}

/// Kahn's algorithm; nodes on or after a cycle are left out.
fn topological_order(n: usize, succ: &[Vec<usize>]) -> Vec<usize> {
    // Counted from the same wires the loop below walks, so a port wired twice (an error
    // reported elsewhere) cannot take a count below zero.
    let mut indegree = vec![0usize; n];
    for &j in succ.iter().flatten() {
        indegree[j] += 1;
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    ready.reverse();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        let mut next: Vec<usize> = Vec::new();
        for &j in &succ[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                next.push(j);
            }
        }
        next.sort_unstable();
        ready.extend(next.into_iter().rev());
    }
    order
}

/// A cycle among the nodes marked `candidate`, as a path that starts and ends at the same node.
fn find_cycle(succ: &[Vec<usize>], candidate: &[bool]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let n = succ.len();
    let mut mark = vec![Mark::New; n];
    for start in (0..n).filter(|&i| candidate[i]) {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative DFS keeping the current path.
        let mut path: Vec<usize> = vec![start];
        let mut next_child: Vec<usize> = vec![0];
        mark[start] = Mark::OnStack;
        while let Some(&node) = path.last() {
            let k = next_child.last_mut().expect("parallel stacks");
            if let Some(&child) = succ[node].get(*k) {
                *k += 1;
                if !candidate[child] {
                    continue;
                }
                match mark[child] {
                    Mark::OnStack => {
                        let from = path.iter().position(|&p| p == child).expect("on stack");
                        let mut cycle = path[from..].to_vec();
                        cycle.push(child);
                        return Some(cycle);
                    }
                    Mark::New => {
                        mark[child] = Mark::OnStack;
                        path.push(child);
                        next_child.push(0);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
                next_child.pop();
            }
        }
    }
    None
}
