//! Making a graph's ends match a data set: Input shape and dtype, an Embedding vocabulary too
//! small for the data, and the number of outputs of the last Dense layer.

use super::spec::{DType, Graph, Layer, Loss};

/// What the graph's ends must agree with.
#[derive(Clone, Debug, PartialEq)]
pub struct DataShape {
    pub sample_shape: Vec<usize>,
    pub tokens: bool,
    pub vocab: Option<usize>,
    /// Classes (or target values) the Output should predict.
    pub outputs: Option<usize>,
}

/// Adapts the graph to `data` and says what changed, in words. Leaves anything it cannot
/// identify for certain (two Inputs, no Dense before the Output) alone.
pub fn fit_to_data(graph: &mut Graph, data: &DataShape) -> Vec<String> {
    let mut changes = Vec::new();
    let inputs: Vec<usize> = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.layer, Layer::Input { .. }))
        .map(|(i, _)| i)
        .collect();
    if let [i] = inputs[..] {
        let id = graph.nodes[i].id.clone();
        if let Layer::Input { shape, dtype } = &mut graph.nodes[i].layer {
            let want = if data.tokens {
                DType::TokenId
            } else {
                DType::F32
            };
            if *shape != data.sample_shape || *dtype != want {
                *shape = data.sample_shape.clone();
                *dtype = want;
                changes.push(format!(
                    "Input '{id}' now takes {:?}{}",
                    data.sample_shape,
                    if data.tokens { " token ids" } else { "" }
                ));
            }
        }
        if let Some(vocab) = data.vocab {
            let fed: Vec<String> = graph
                .edges
                .iter()
                .filter(|e| e.from == id)
                .map(|e| e.to.clone())
                .collect();
            for target in fed {
                if let Some(n) = graph.node_mut(&target) {
                    // A larger table still takes every id the data has (its extra rows are
                    // never read), and shrinking it would orphan trained weights: only grow.
                    if let Layer::Embedding { vocab: v, .. } = &mut n.layer {
                        if *v < vocab {
                            *v = vocab;
                            changes.push(format!("Embedding '{target}' now has {vocab} tokens"));
                        }
                    }
                }
            }
        }
    }
    let Some(outputs) = data.outputs else {
        return changes;
    };
    let Some(out) = graph
        .nodes
        .iter()
        .find(|n| matches!(n.layer, Layer::Output { .. }))
    else {
        return changes;
    };
    let binary_ok = matches!(
        out.layer,
        Layer::Output {
            loss: Loss::BinaryCrossEntropy | Loss::Mse,
            ..
        }
    );
    // Walk back from the Output through layers that keep the width, to the Dense that sets it.
    let mut cursor = out.id.clone();
    for _ in 0..graph.nodes.len() {
        let Some(src) = graph
            .edges
            .iter()
            .find(|e| e.to == cursor)
            .map(|e| e.from.clone())
        else {
            break;
        };
        let Some(node) = graph.node_mut(&src) else {
            break;
        };
        match &mut node.layer {
            Layer::Dense { units, .. } => {
                let keep_single = binary_ok && *units == 1 && outputs == 2;
                if *units != outputs && !keep_single {
                    *units = outputs;
                    changes.push(format!("Dense '{src}' now has {outputs} outputs"));
                }
                break;
            }
            Layer::ReLU
            | Layer::LeakyReLU { .. }
            | Layer::Sigmoid
            | Layer::Tanh
            | Layer::GELU
            | Layer::Softmax
            | Layer::Dropout { .. }
            | Layer::BatchNorm { .. }
            | Layer::LayerNorm { .. } => cursor = src,
            _ => break,
        }
    }
    changes
}
