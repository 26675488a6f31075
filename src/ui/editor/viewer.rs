//! The node editor's viewer: how egui-snarl draws each node (title, ports with shapes, body,
//! error badge), which wires it accepts, and the right-click menus.

use super::*;

pub(super) struct Viewer<'a> {
    pub(super) analysis: &'a Analysis,
    pub(super) dark: bool,
    pub(super) selected: Option<&'a str>,
    pub(super) out: &'a mut CanvasOutput,
    pub(super) identity: bool,
    pub(super) fit: Option<Option<TSTransform>>,
    pub(super) to_global: &'a mut TSTransform,
    pub(super) menu_pos: Option<Pos2>,
    pub(super) pins: PinMap,
    pub(super) rects: RectMap,
}

impl Viewer<'_> {
    fn pin(&self, info: PinInfo, key: PinKey) -> RecordedPin {
        RecordedPin {
            info,
            key,
            sink: self.pins.clone(),
        }
    }
}

fn shape_text(shape: Option<&crate::graph::TensorShape>) -> String {
    shape.map_or_else(|| "?".to_string(), |s| s.to_string())
}

impl SnarlViewer<Node> for Viewer<'_> {
    fn title(&mut self, node: &Node) -> String {
        format!("{} {}", node.layer.kind(), node.id)
    }

    fn node_frame(
        &mut self,
        default: egui::Frame,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        snarl: &Snarl<Node>,
    ) -> egui::Frame {
        let Some(n) = snarl.get_node(node) else {
            return default;
        };
        if self.analysis.errors_for(&n.id).next().is_some() {
            default.stroke(Stroke::new(2.5, ERROR))
        } else if self.selected == Some(n.id.as_str()) {
            default.stroke(Stroke::new(2.5, Color32::from_rgb(250, 200, 60)))
        } else {
            default
        }
    }

    fn header_frame(
        &mut self,
        default: egui::Frame,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        snarl: &Snarl<Node>,
    ) -> egui::Frame {
        match snarl.get_node(node) {
            Some(n) => default.fill(family_color(n.layer.kind().family(), self.dark)),
            None => default,
        }
    }

    fn show_header(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<Node>,
    ) {
        let Some(n) = snarl.get_node(node) else {
            return;
        };
        let text_color = if self.dark {
            Color32::WHITE
        } else {
            Color32::from_gray(20)
        };
        let kind = n.layer.kind().name();
        // "Input input" reads badly: show the kind alone when the name only repeats it.
        let mut text = if n.id.eq_ignore_ascii_case(kind) {
            kind.to_string()
        } else {
            format!("{kind}  {}", n.id)
        };
        if n.frozen {
            text = format!("🔒 {text}");
        }
        let title = RichText::new(text).strong().color(text_color);
        let resp = ui
            .add(egui::Label::new(title).sense(Sense::click()))
            .on_hover_text(format!(
                "{}\nClick to inspect.",
                n.layer.kind().description()
            ));
        if resp.clicked() {
            self.out.clicked_node = Some(n.id.clone());
        }
    }

    fn inputs(&mut self, node: &Node) -> usize {
        node.layer.input_count()
    }

    fn outputs(&mut self, node: &Node) -> usize {
        node.layer.output_count()
    }

    #[allow(refining_impl_trait)]
    fn show_input(&mut self, pin: &InPin, ui: &mut Ui, snarl: &mut Snarl<Node>) -> RecordedPin {
        let Some(n) = snarl.get_node(pin.id.node) else {
            return self.pin(PinInfo::circle(), (String::new(), true, 0));
        };
        let key = (n.id.clone(), true, pin.id.input);
        let shape = self
            .analysis
            .node(&n.id)
            .and_then(|s| s.inputs.get(pin.id.input).cloned().flatten());
        let text = if pin.remotes.is_empty() {
            "not connected".to_string()
        } else {
            shape_text(shape.as_ref())
        };
        let color = if pin.remotes.is_empty() {
            ui.visuals().weak_text_color()
        } else {
            ui.visuals().text_color()
        };
        ui.label(RichText::new(text).monospace().color(color));
        let fill = match pin.remotes.first().and_then(|r| snarl.get_node(r.node)) {
            Some(src) => family_color(src.layer.kind().family(), true),
            None => Color32::GRAY,
        };
        self.pin(PinInfo::circle().with_fill(fill).with_wire_color(fill), key)
    }

    #[allow(refining_impl_trait)]
    fn show_output(&mut self, pin: &OutPin, ui: &mut Ui, snarl: &mut Snarl<Node>) -> RecordedPin {
        let Some(n) = snarl.get_node(pin.id.node) else {
            return self.pin(PinInfo::circle(), (String::new(), false, 0));
        };
        let key = (n.id.clone(), false, pin.id.output);
        let shape = self.analysis.node(&n.id).and_then(|s| s.output.clone());
        ui.label(RichText::new(shape_text(shape.as_ref())).monospace());
        let fill = family_color(n.layer.kind().family(), true);
        self.pin(PinInfo::circle().with_fill(fill).with_wire_color(fill), key)
    }

    fn has_body(&mut self, _node: &Node) -> bool {
        true
    }

    fn show_body(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<Node>,
    ) {
        let Some(n) = snarl.get_node(node) else {
            return;
        };
        ui.vertical(|ui| {
            ui.set_max_width(230.0);
            let summary = n.layer.summary();
            if !summary.is_empty() {
                ui.label(RichText::new(summary));
            }
            // Layers with weights always show their count (0 while a setting is wrong), so
            // the node does not shrink as its error appears.
            use crate::graph::Layer as L;
            let weighted = matches!(
                n.layer,
                L::Dense { .. }
                    | L::Embedding { .. }
                    | L::PositionalEmbedding { .. }
                    | L::Lstm { .. }
                    | L::Gru { .. }
                    | L::Rnn { .. }
                    | L::SelfAttention { .. }
                    | L::Conv2d { .. }
                    | L::ConvTranspose2d { .. }
                    | L::Conv1d { .. }
                    | L::BatchNorm { .. }
                    | L::LayerNorm { .. }
            );
            let params = self.analysis.node(&n.id).map_or(0, |s| s.params);
            if params > 0 || weighted {
                ui.label(RichText::new(format!("{} params", thousands(params))).weak());
            }
            // A badge of fixed size, present or not, so the node (and the ports a user aims
            // at) keeps its size as errors come and go; the words are in the tooltip, the
            // red outline and the inspector.
            let badge = RichText::new("⚠ why?").small();
            match self.analysis.errors_for(&n.id).next() {
                Some(e) => {
                    ui.label(badge.color(ERROR)).on_hover_text(format!(
                        "{}\n\n{}",
                        short_error(e),
                        e
                    ));
                }
                None => {
                    // The same height, and nothing for a screen reader to read.
                    ui.add_space(ui.text_style_height(&egui::TextStyle::Small));
                }
            }
        });
    }

    fn has_node_menu(&mut self, _node: &Node) -> bool {
        true
    }

    fn show_node_menu(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<Node>,
    ) {
        let Some(id) = snarl.get_node(node).map(|n| n.id.clone()) else {
            return;
        };
        if ui.button("Inspect").clicked() {
            self.out.clicked_node = Some(id.clone());
            ui.close();
        }
        if ui.button("Duplicate").clicked() {
            self.out.duplicate.push(id.clone());
            ui.close();
        }
        if ui.button("Delete").clicked() {
            self.out.delete.push(id);
            ui.close();
        }
    }

    fn has_graph_menu(&mut self, _pos: Pos2, _snarl: &mut Snarl<Node>) -> bool {
        true
    }

    fn show_graph_menu(&mut self, pos: Pos2, ui: &mut Ui, snarl: &mut Snarl<Node>) {
        let pos = self.menu_pos.unwrap_or(pos);
        ui.label(RichText::new("Add layer").strong());
        for kind in LayerKind::ALL {
            if ui
                .button(kind.name())
                .on_hover_text(kind.description())
                .clicked()
            {
                let graph = graph_from_snarl(snarl);
                let id = graph.fresh_id(kind);
                snarl.insert_node(pos, Node::new(id.clone(), kind.default_layer()));
                self.out.clicked_node = Some(id);
                ui.close();
            }
        }
    }

    fn connect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<Node>) {
        // Try the wire on a copy: refuse it if it makes a cycle or an error at its target.
        let mut graph = graph_from_snarl(snarl);
        let (Some(src), Some(dst)) = (snarl.get_node(from.id.node), snarl.get_node(to.id.node))
        else {
            return;
        };
        let (src_id, dst_id) = (src.id.clone(), dst.id.clone());
        graph
            .edges
            .retain(|e| !(e.to == dst_id && e.to_port == to.id.input));
        graph.edges.push(Edge {
            from: src_id,
            from_port: from.id.output,
            to: dst_id.clone(),
            to_port: to.id.input,
        });
        let trial = analyze(&graph);
        let blocking = trial.errors.iter().find(|e| {
            matches!(e, GraphError::Cycle { .. })
                || (e.node() == Some(dst_id.as_str()) && !matches!(e, GraphError::Dangling { .. }))
        });
        if let Some(err) = blocking {
            self.out.rejected = Some(err.to_string());
            return;
        }
        for r in &to.remotes {
            snarl.disconnect(*r, to.id);
        }
        snarl.connect(from.id, to.id);
    }

    fn final_node_rect(&mut self, node: NodeId, rect: Rect, _ui: &mut Ui, _s: &mut Snarl<Node>) {
        self.rects.borrow_mut().insert(node, rect);
    }

    fn draw_background(
        &mut self,
        background: Option<&egui_snarl::ui::BackgroundPattern>,
        viewport: &Rect,
        snarl_style: &SnarlStyle,
        style: &egui::Style,
        painter: &egui::Painter,
        snarl: &Snarl<Node>,
    ) {
        if let Some(bg) = background {
            bg.draw(viewport, snarl_style, style, painter);
        }
        crate::ui::groups::paint_group_frames(painter, snarl, &self.rects.borrow(), self.dark);
    }

    fn current_transform(&mut self, to_global: &mut TSTransform, _snarl: &mut Snarl<Node>) {
        if self.identity {
            *to_global = TSTransform::IDENTITY;
        } else if let Some(Some(fit)) = self.fit.take() {
            *to_global = fit;
        }
        *self.to_global = *to_global;
    }
}

fn short_error(e: &GraphError) -> String {
    let full = e.to_string();
    // Drop the "Kind 'id' " prefix: the node already shows it.
    let text = match e {
        GraphError::Layer { label, .. } => full
            .strip_prefix(label.as_str())
            .unwrap_or(&full)
            .trim()
            .to_string(),
        _ => full,
    };
    if text.chars().count() > 90 {
        format!("{}…", text.chars().take(88).collect::<String>())
    } else {
        text
    }
}
