//! Shape rules of every layer and every graph error, each naming its node.

use glassbox::graph::{
    analyze, DType, Edge, Graph, GraphError, Layer, LayerKind, Loss, Node, Target, TensorShape,
};

fn out(loss: Loss) -> Layer {
    Layer::Output {
        loss,
        target: Target::Label,
    }
}

fn input(shape: &[usize]) -> Node {
    Node::new(
        "in",
        Layer::Input {
            shape: shape.to_vec(),
            dtype: DType::F32,
        },
    )
}

/// Input(shape) → layer → Output(MSE): returns the layer's (output shape, params) or its error text.
fn through(shape: &[usize], layer: Layer) -> Result<(TensorShape, usize), String> {
    let g = Graph::chain(vec![
        input(shape),
        Node::new("x", layer),
        Node::new("out", out(Loss::Mse)),
    ]);
    let a = analyze(&g);
    if let Some(e) = a.errors.first() {
        return Err(e.to_string());
    }
    let n = a.node("x").unwrap();
    Ok((n.output.clone().unwrap(), n.params))
}

fn dims(r: Result<(TensorShape, usize), String>) -> (Vec<usize>, usize) {
    let (s, p) = r.expect("layer should accept its input");
    (s.dims, p)
}

#[test]
fn dense_maps_last_axis_and_counts_weights_and_bias() {
    assert_eq!(
        dims(through(
            &[784],
            Layer::Dense {
                units: 128,
                bias: true
            }
        )),
        (vec![128], 784 * 128 + 128)
    );
    assert_eq!(
        dims(through(
            &[10],
            Layer::Dense {
                units: 3,
                bias: false
            }
        )),
        (vec![3], 30)
    );
    // token-wise on sequences [T, F]
    assert_eq!(
        dims(through(
            &[5, 8],
            Layer::Dense {
                units: 4,
                bias: true
            }
        )),
        (vec![5, 4], 36)
    );
}

#[test]
fn dense_on_an_image_asks_for_flatten_and_names_the_node() {
    let g = Graph::chain(vec![
        input(&[32, 7, 7]),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 10,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    let a = analyze(&g);
    assert_eq!(a.errors.len(), 1);
    let msg = a.errors[0].to_string();
    assert_eq!(a.errors[0].node(), Some("fc1"));
    assert!(msg.contains("Dense 'fc1'"), "{msg}");
    assert!(msg.contains("[B, 32, 7, 7]"), "{msg}");
    assert!(msg.contains("add a Flatten before it"), "{msg}");
    // the Output after it has no shape, and no error of its own (the cause is upstream)
    assert!(a.node("out").unwrap().output.is_none());
}

#[test]
fn upsample2d_multiplies_height_and_width_and_refuses_what_is_not_an_image() {
    use glassbox::graph::UpsampleMode;
    for mode in UpsampleMode::ALL {
        let up = |scale| Layer::Upsample2d { scale, mode };
        assert_eq!(dims(through(&[3, 7, 5], up(2))), (vec![3, 14, 10], 0));
        assert_eq!(dims(through(&[1, 4, 4], up(1))), (vec![1, 4, 4], 0));
        let e = through(&[3, 7, 5], up(0)).unwrap_err();
        assert!(e.contains("scale 0") && e.contains("1 to 16"), "{e}");
        assert!(through(&[3, 7, 5], up(17)).is_err());
        let e = through(&[784], up(2)).unwrap_err();
        assert!(e.contains("Reshape to [1, 28, 28]"), "{e}");
    }
}

#[test]
fn conv2d_output_size_and_params() {
    let conv = |filters, kernel, stride, padding| Layer::Conv2d {
        filters,
        kernel,
        stride,
        padding,
        bias: true,
    };
    assert_eq!(
        dims(through(&[1, 28, 28], conv(32, 3, 1, 1))),
        (vec![32, 28, 28], 32 * 9 + 32)
    );
    assert_eq!(
        dims(through(&[3, 32, 32], conv(16, 5, 1, 0))),
        (vec![16, 28, 28], 3 * 16 * 25 + 16)
    );
    assert_eq!(
        dims(through(&[1, 28, 28], conv(8, 3, 2, 1))),
        (vec![8, 14, 14], 80)
    );
    let e = through(&[1, 3, 3], conv(8, 5, 1, 0)).unwrap_err();
    assert!(e.contains("5×5 kernel") && e.contains("larger"), "{e}");
    let e = through(&[784], conv(8, 3, 1, 1)).unwrap_err();
    assert!(e.contains("Reshape to [1, 28, 28]"), "{e}");
}

#[test]
fn pooling_halves_floors_and_overlaps() {
    assert_eq!(
        dims(through(
            &[32, 28, 28],
            Layer::MaxPool2d {
                kernel: 2,
                stride: 2
            }
        )),
        (vec![32, 14, 14], 0)
    );
    assert_eq!(
        dims(through(
            &[64, 7, 7],
            Layer::AvgPool2d {
                kernel: 2,
                stride: 2
            }
        )),
        (vec![64, 3, 3], 0)
    );
    assert_eq!(
        dims(through(
            &[1, 8, 8],
            Layer::MaxPool2d {
                kernel: 3,
                stride: 2
            }
        )),
        (vec![1, 3, 3], 0)
    );
    let e = through(
        &[1, 2, 2],
        Layer::MaxPool2d {
            kernel: 3,
            stride: 3,
        },
    )
    .unwrap_err();
    assert!(e.contains("larger than its input"), "{e}");
    let e = through(
        &[10],
        Layer::MaxPool2d {
            kernel: 2,
            stride: 2,
        },
    )
    .unwrap_err();
    assert!(e.contains("expects an image"), "{e}");
}

#[test]
fn flatten_and_reshape() {
    assert_eq!(dims(through(&[64, 7, 7], Layer::Flatten)), (vec![3136], 0));
    assert_eq!(
        dims(through(
            &[784],
            Layer::Reshape {
                shape: vec![1, 28, 28]
            }
        )),
        (vec![1, 28, 28], 0)
    );
    assert_eq!(
        dims(through(&[784], Layer::Reshape { shape: vec![4, -1] })),
        (vec![4, 196], 0)
    );
    let e = through(&[784], Layer::Reshape { shape: vec![3, 3] }).unwrap_err();
    assert!(
        e.contains("784 values") && e.contains("counts must match"),
        "{e}"
    );
    let e = through(
        &[784],
        Layer::Reshape {
            shape: vec![-1, -1],
        },
    )
    .unwrap_err();
    assert!(e.contains("more than one -1"), "{e}");
    let e = through(&[10], Layer::Reshape { shape: vec![3, -1] }).unwrap_err();
    assert!(e.contains("not divisible"), "{e}");
}

#[test]
fn elementwise_layers_keep_the_shape() {
    for layer in [
        Layer::ReLU,
        Layer::LeakyReLU { slope: 0.1 },
        Layer::Sigmoid,
        Layer::Tanh,
        Layer::GELU,
        Layer::Softmax,
        Layer::Dropout { p: 0.3 },
    ] {
        assert_eq!(
            dims(through(&[3, 5, 5], layer.clone())),
            (vec![3, 5, 5], 0),
            "{layer:?}"
        );
    }
    let e = through(&[4], Layer::Dropout { p: 1.0 }).unwrap_err();
    assert!(e.contains("below 1"), "{e}");
}

#[test]
fn normalisation_layers_count_scale_and_shift() {
    assert_eq!(
        dims(through(
            &[16, 8, 8],
            Layer::BatchNorm {
                momentum: 0.1,
                eps: 1e-5
            }
        )),
        (vec![16, 8, 8], 32)
    );
    assert_eq!(
        dims(through(
            &[20],
            Layer::BatchNorm {
                momentum: 0.1,
                eps: 1e-5
            }
        )),
        (vec![20], 40)
    );
    assert!(through(
        &[4, 5],
        Layer::BatchNorm {
            momentum: 0.1,
            eps: 1e-5
        }
    )
    .is_err());
    assert_eq!(
        dims(through(&[6, 32], Layer::LayerNorm { eps: 1e-5 })),
        (vec![6, 32], 64)
    );
    let e = through(&[4], Layer::LayerNorm { eps: 0.0 }).unwrap_err();
    assert!(e.contains("eps"), "{e}");
}

fn two_branch(merge: Layer, a_units: usize, b_units: usize) -> Graph {
    Graph {
        nodes: vec![
            input(&[8]),
            Node::new(
                "a",
                Layer::Dense {
                    units: a_units,
                    bias: true,
                },
            ),
            Node::new(
                "b",
                Layer::Dense {
                    units: b_units,
                    bias: true,
                },
            ),
            Node::new("m", merge),
            Node::new("out", out(Loss::Mse)),
        ],
        edges: vec![
            Edge::new("in", "a"),
            Edge::new("in", "b"),
            Edge::new("a", "m"),
            Edge::new("b", "m").to_port(1),
            Edge::new("m", "out"),
        ],
    }
}

#[test]
fn add_needs_equal_shapes_concat_joins_an_axis() {
    let a = analyze(&two_branch(Layer::Add { inputs: 2 }, 5, 5));
    assert!(a.is_ok(), "{:?}", a.errors);
    assert_eq!(a.node("m").unwrap().output.as_ref().unwrap().dims, vec![5]);

    let a = analyze(&two_branch(Layer::Add { inputs: 2 }, 5, 6));
    let msg = a.errors[0].to_string();
    assert!(
        msg.starts_with("Add 'm'") && msg.contains("[B, 5]") && msg.contains("[B, 6]"),
        "{msg}"
    );

    let a = analyze(&two_branch(
        Layer::Concat {
            inputs: 2,
            axis: -1,
        },
        5,
        6,
    ));
    assert!(a.is_ok(), "{:?}", a.errors);
    assert_eq!(a.node("m").unwrap().output.as_ref().unwrap().dims, vec![11]);

    let a = analyze(&two_branch(Layer::Concat { inputs: 2, axis: 1 }, 5, 6));
    assert!(a.errors[0].to_string().contains("axis 1"), "{:?}", a.errors);
}

#[test]
fn output_checks_the_loss_against_the_prediction() {
    let g = Graph::chain(vec![
        input(&[3, 4, 4]),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    let e = analyze(&g).errors[0].to_string();
    assert!(
        e.starts_with("Output 'out'") && e.contains("one score per class"),
        "{e}"
    );
    let g = Graph::chain(vec![input(&[1]), Node::new("out", out(Loss::CrossEntropy))]);
    assert!(!analyze(&g).is_ok());
    // Scores per step [B, T, classes] are fine for next-token prediction.
    let g = Graph::chain(vec![
        input(&[8, 5]),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    assert!(analyze(&g).is_ok());
    let g = Graph::chain(vec![
        input(&[1]),
        Node::new("out", out(Loss::BinaryCrossEntropy)),
    ]);
    assert!(analyze(&g).is_ok());
}

#[test]
fn a_cycle_is_named_with_its_path() {
    let mut g = Graph::chain(vec![
        input(&[4]),
        Node::new("fc1", Layer::Add { inputs: 2 }),
        Node::new(
            "fc2",
            Layer::Dense {
                units: 4,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::Mse)),
    ]);
    g.edges.push(Edge::new("fc2", "fc1").to_port(1));
    let a = analyze(&g);
    let cycle = a
        .errors
        .iter()
        .find(|e| matches!(e, GraphError::Cycle { .. }))
        .expect("cycle reported");
    let msg = cycle.to_string();
    assert!(
        msg.contains("fc1 → fc2 → fc1") || msg.contains("fc2 → fc1 → fc2"),
        "{msg}"
    );
    assert!(cycle.node().is_some());
}

#[test]
fn a_dangling_input_and_missing_input_or_output_are_errors() {
    let g = Graph {
        nodes: vec![
            input(&[4]),
            Node::new(
                "fc1",
                Layer::Dense {
                    units: 3,
                    bias: true,
                },
            ),
            Node::new("out", out(Loss::CrossEntropy)),
        ],
        edges: vec![Edge::new("fc1", "out")],
    };
    let a = analyze(&g);
    let msg = a
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        msg.contains("Dense 'fc1' has nothing connected to input 0"),
        "{msg}"
    );
    assert_eq!(a.errors[0].node(), Some("fc1"));

    let g = Graph::chain(vec![
        Node::new(
            "fc1",
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    assert!(analyze(&g).errors.contains(&GraphError::NoInput));
    let g = Graph::chain(vec![
        input(&[4]),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ),
    ]);
    assert!(analyze(&g).errors.contains(&GraphError::NoOutput));
}

#[test]
fn wiring_mistakes_name_the_node() {
    let mut g = Graph::chain(vec![
        input(&[4]),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    g.edges.push(Edge::new("in", "fc1"));
    let a = analyze(&g);
    assert!(
        matches!(&a.errors[0], GraphError::MultipleWires { node, count: 2, .. } if node == "fc1"),
        "{:?}",
        a.errors
    );

    let mut g = Graph::chain(vec![
        input(&[4]),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    g.edges.push(Edge::new("ghost", "fc1"));
    assert!(analyze(&g)
        .errors
        .iter()
        .any(|e| e.to_string().contains("'ghost'")));

    let mut g = Graph::chain(vec![
        input(&[4]),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    g.edges.push(Edge::new("in", "fc1").to_port(3));
    let a = analyze(&g);
    assert!(a
        .errors
        .iter()
        .any(|e| matches!(e, GraphError::BadPort { node, port: 3, .. } if node == "fc1")));

    let mut g = Graph::chain(vec![
        input(&[4]),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    g.nodes[1].id = "in".into();
    assert!(analyze(&g)
        .errors
        .iter()
        .any(|e| matches!(e, GraphError::DuplicateId { node } if node == "in")));

    let mut g = Graph::chain(vec![
        input(&[4]),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 0,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::Mse)),
    ]);
    g.layout_left_to_right();
    let e = analyze(&g).errors[0].to_string();
    assert!(e.contains("Dense 'fc1'") && e.contains("units 0"), "{e}");
}

#[test]
fn token_ids_need_an_embedding() {
    let g = Graph::chain(vec![
        Node::new(
            "in",
            Layer::Input {
                shape: vec![16],
                dtype: DType::TokenId,
            },
        ),
        Node::new(
            "fc",
            Layer::Dense {
                units: 4,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::Mse)),
    ]);
    let e = analyze(&g).errors[0].to_string();
    assert!(e.contains("Embedding"), "{e}");
}

#[test]
fn unused_branches_are_warned_about_and_params_total() {
    let mut g = Graph::chain(vec![
        input(&[4]),
        Node::new(
            "fc1",
            Layer::Dense {
                units: 3,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    g.nodes.push(Node::new(
        "spare",
        Layer::Dense {
            units: 2,
            bias: true,
        },
    ));
    g.edges.push(Edge::new("in", "spare"));
    let a = analyze(&g);
    assert!(a.is_ok());
    assert!(
        a.warnings.iter().any(|w| w.contains("'spare'")),
        "{:?}",
        a.warnings
    );
    assert_eq!(a.total_params(), 15 + 10);
}

#[test]
fn every_kind_has_a_default_that_passes_its_own_checks_and_a_tooltip() {
    // Inputs a freshly dropped layer may meet: a vector, a sequence, an image, token ids.
    let candidates = [
        TensorShape::f32([12]),
        TensorShape::f32([6, 8]),
        TensorShape::f32([3, 16, 16]),
        TensorShape {
            dims: vec![10],
            dtype: DType::TokenId,
        },
    ];
    for kind in LayerKind::ALL {
        let layer = kind.default_layer();
        assert_eq!(layer.kind(), kind);
        assert!(kind.description().ends_with('.'), "{kind}");
        let fresh = Graph::default().fresh_id(kind);
        assert!(fresh.ends_with('1'));
        // The default's own settings pass its checks on at least one of those inputs.
        let errors: Vec<String> = candidates
            .iter()
            .map(|x| {
                let inputs = vec![x; layer.input_count()];
                glassbox::graph::layer_output(&layer, &inputs).map(|_| ())
            })
            .filter_map(Result::err)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.len() < candidates.len(),
            "{kind}'s default fits no input: {errors:?}"
        );
    }
    // And the checks do refuse: a Dense of 0 units fits none of them.
    let zero = Layer::Dense {
        units: 0,
        bias: true,
    };
    assert!(candidates
        .iter()
        .all(|x| glassbox::graph::layer_output(&zero, &[x]).is_err()));
}

#[test]
fn the_memory_estimate_counts_parameters_and_activations_and_names_the_largest() {
    use glassbox::graph::estimate;
    let g = Graph::chain(vec![
        input(&[100]),
        Node::new(
            "big",
            Layer::Dense {
                units: 1000,
                bias: true,
            },
        ),
        Node::new(
            "small",
            Layer::Dense {
                units: 10,
                bias: true,
            },
        ),
        Node::new("out", out(Loss::CrossEntropy)),
    ]);
    let a = analyze(&g);
    assert!(a.is_ok(), "{:?}", a.errors);
    let e = estimate(&g, &a, 32);
    // 101,000 + 10,010 parameters, 16 bytes each; per sample the Input's 100, the layers'
    // 1000 and 10 and the Output's 10 values, 8 bytes each (value and gradient).
    assert_eq!(e.params_bytes, (101_000 + 10_010) * 16);
    assert_eq!(e.activations_bytes, (100 + 1000 + 10 + 10) * 32 * 8);
    assert_eq!(e.largest.as_ref().unwrap().0, "Dense 'big'");
    assert!(e.refusal(1 << 30).is_none());
    let why = e.refusal(1 << 20).expect("1 MiB is too little");
    assert!(
        why.contains("batch size 32")
            && why.contains("Dense 'big'")
            && why.contains("1 MiB available"),
        "{why}"
    );
}

#[test]
fn the_layout_snakes_so_no_wire_runs_back_across_the_canvas() {
    let mut nodes = vec![input(&[4])];
    for i in 0..11 {
        nodes.push(Node::new(format!("a{i}"), Layer::ReLU));
    }
    nodes.push(Node::new("out", out(Loss::Mse)));
    let mut g = Graph::chain(nodes);
    g.layout_left_to_right();
    let xs: Vec<f32> = g.nodes.iter().map(|n| n.pos[0]).collect();
    let width =
        xs.iter().cloned().fold(f32::MIN, f32::max) - xs.iter().cloned().fold(f32::MAX, f32::min);
    assert!(width > 0.0);
    for w in g.nodes.windows(2) {
        let dx = (w[1].pos[0] - w[0].pos[0]).abs();
        // One column step along a band, or straight down between bands: never the full width.
        assert!(
            dx < width * 0.5,
            "{} → {}: dx {dx} of {width}",
            w[0].id,
            w[1].id
        );
    }
    // It wrapped: 13 nodes do not fit one band.
    let ys: std::collections::BTreeSet<i64> = g.nodes.iter().map(|n| n.pos[1] as i64).collect();
    assert!(ys.len() >= 3, "{ys:?}");
}
