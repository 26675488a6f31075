//! The graph canvas: an egui-snarl view over the project's graph, with shape labels on ports,
//! wire validation by shape inference, selection, clipboard and undo/redo by snapshots.

use super::theme::{family_color, ERROR};
use crate::graph::{analyze, Analysis, Edge, Graph, GraphError, LayerKind, Node};
use egui::emath::TSTransform;
use egui::{Color32, Id, Pos2, Rect, RichText, Sense, Stroke, Ui, Vec2};
use egui_snarl::ui::{
    get_selected_nodes, PinInfo, PinWireInfo, SnarlPin, SnarlStyle, SnarlViewer, SnarlWidget,
};
use egui_snarl::{InPin, InPinId, NodeId, OutPin, OutPinId, Snarl};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

mod viewer;
use viewer::Viewer;

pub const CANVAS_ID: &str = "glassbox-graph";
/// How long a refused-wire message stays on the canvas.
const REJECT_SHOW_SECS: f64 = 6.0;
/// Undo history depth.
const MAX_UNDO: usize = 200;

pub fn canvas_id() -> Id {
    Id::new(CANVAS_ID)
}

/// Builds a snarl whose NodeIds follow the graph's node order.
pub fn snarl_from_graph(graph: &Graph) -> Snarl<Node> {
    let mut snarl = Snarl::new();
    let mut ids = HashMap::new();
    for node in &graph.nodes {
        let id = snarl.insert_node(Pos2::new(node.pos[0], node.pos[1]), node.clone());
        ids.insert(node.id.clone(), id);
    }
    for e in &graph.edges {
        if let (Some(&a), Some(&b)) = (ids.get(&e.from), ids.get(&e.to)) {
            snarl.connect(
                OutPinId {
                    node: a,
                    output: e.from_port,
                },
                InPinId {
                    node: b,
                    input: e.to_port,
                },
            );
        }
    }
    snarl
}

/// The graph a snarl shows: nodes in NodeId order with their canvas positions, wires sorted.
pub fn graph_from_snarl(snarl: &Snarl<Node>) -> Graph {
    let mut nodes: Vec<(NodeId, Pos2, &Node)> = snarl.nodes_pos_ids().collect();
    nodes.sort_by_key(|(id, _, _)| *id);
    let names: HashMap<NodeId, &str> = nodes
        .iter()
        .map(|(id, _, n)| (*id, n.id.as_str()))
        .collect();
    let mut wires: Vec<(OutPinId, InPinId)> = snarl.wires().collect();
    wires.sort();
    let edges = wires
        .into_iter()
        .filter_map(|(o, i)| {
            Some(Edge {
                from: names.get(&o.node)?.to_string(),
                from_port: o.output,
                to: names.get(&i.node)?.to_string(),
                to_port: i.input,
            })
        })
        .collect();
    Graph {
        nodes: nodes
            .into_iter()
            .map(|(_, pos, n)| {
                let mut n = n.clone();
                n.pos = [pos.x, pos.y];
                n
            })
            .collect(),
        edges,
    }
}

/// Equal apart from node positions: what shape inference cares about.
pub fn same_structure(a: &Graph, b: &Graph) -> bool {
    a.edges == b.edges
        && a.nodes.len() == b.nodes.len()
        && a.nodes
            .iter()
            .zip(&b.nodes)
            .all(|(x, y)| x.id == y.id && x.layer == y.layer && x.group == y.group)
}

/// Which pin: node id, input (true) or output, port.
pub type PinKey = (String, bool, usize);
type PinMap = Rc<RefCell<HashMap<PinKey, Pos2>>>;
/// Each node's rect in graph coordinates, from the last frame (for group frames).
type RectMap = Rc<RefCell<HashMap<NodeId, Rect>>>;

/// A pin that remembers where snarl drew it (graph coordinates), so tests can drag wires and
/// overlays can find ports.
pub struct RecordedPin {
    info: PinInfo,
    key: PinKey,
    sink: PinMap,
}

impl SnarlPin for RecordedPin {
    fn draw(
        self,
        snarl_style: &SnarlStyle,
        style: &egui::Style,
        rect: Rect,
        painter: &egui::Painter,
    ) -> PinWireInfo {
        self.sink.borrow_mut().insert(self.key, rect.center());
        self.info.draw(snarl_style, style, rect, painter)
    }
}

/// What the canvas asks the studio to do after a frame.
#[derive(Default)]
pub struct CanvasOutput {
    /// A wire that shape inference refused, with the reason.
    pub rejected: Option<String>,
    /// The user clicked a node title.
    pub clicked_node: Option<String>,
    pub delete: Vec<String>,
    pub duplicate: Vec<String>,
}

pub struct Editor {
    pub snarl: Snarl<Node>,
    committed: Graph,
    undo: Vec<Graph>,
    redo: Vec<Graph>,
    clipboard: Option<Graph>,
    /// The node the inspector shows.
    pub selected: Option<String>,
    reject: Option<(String, Pos2, f64)>,
    /// Tests pin the view to identity so widget rects are screen rects.
    pub identity_transform: bool,
    fit_request: bool,
    canvas_rect: Rect,
    to_global: TSTransform,
    pins: PinMap,
    rects: RectMap,
    /// Where the canvas was right-clicked (graph coordinates): new layers from its menu go there.
    menu_pos: Option<Pos2>,
}

impl Editor {
    pub fn new(graph: &Graph) -> Self {
        Self {
            snarl: snarl_from_graph(graph),
            committed: graph.clone(),
            undo: Vec::new(),
            redo: Vec::new(),
            clipboard: None,
            selected: None,
            reject: None,
            identity_transform: false,
            fit_request: true,
            canvas_rect: Rect::NOTHING,
            to_global: TSTransform::IDENTITY,
            menu_pos: None,
            pins: PinMap::default(),
            rects: RectMap::default(),
        }
    }

    /// Replaces everything (New/Open): history starts afresh.
    pub fn load(&mut self, graph: &Graph) {
        let identity = self.identity_transform;
        *self = Self::new(graph);
        self.identity_transform = identity;
    }

    pub fn graph(&self) -> Graph {
        graph_from_snarl(&self.snarl)
    }

    /// Records the current graph as one undo step if it changed. Call when no drag or text edit
    /// is in progress, so one gesture makes one step.
    pub fn commit_if_changed(&mut self) -> bool {
        let now = self.graph();
        if now == self.committed {
            return false;
        }
        self.undo.push(std::mem::replace(&mut self.committed, now));
        if self.undo.len() > MAX_UNDO {
            self.undo.remove(0);
        }
        self.redo.clear();
        true
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty() || self.graph() != self.committed
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn undo(&mut self) -> bool {
        self.commit_if_changed();
        let Some(prev) = self.undo.pop() else {
            return false;
        };
        self.redo.push(std::mem::replace(&mut self.committed, prev));
        self.snarl = snarl_from_graph(&self.committed);
        true
    }

    pub fn redo(&mut self) -> bool {
        let Some(next) = self.redo.pop() else {
            return false;
        };
        self.undo.push(std::mem::replace(&mut self.committed, next));
        self.snarl = snarl_from_graph(&self.committed);
        true
    }

    /// Applies a whole-graph edit (tidy, paste) as one undo step.
    pub fn replace_graph(&mut self, graph: Graph) {
        self.commit_if_changed();
        self.snarl = snarl_from_graph(&graph);
        self.commit_if_changed();
    }

    fn snarl_id(&self, node_id: &str) -> Option<NodeId> {
        self.snarl
            .node_ids()
            .find(|(_, n)| n.id == node_id)
            .map(|(id, _)| id)
    }

    pub fn node_mut(&mut self, node_id: &str) -> Option<&mut Node> {
        let id = self.snarl_id(node_id)?;
        self.snarl.get_node_mut(id)
    }

    /// Adds a layer with a fresh name; at `pos` (canvas coordinates) or the middle of the view.
    pub fn add_node(&mut self, kind: LayerKind, pos: Option<Pos2>) -> String {
        let graph = self.graph();
        let id = graph.fresh_id(kind);
        let pos = pos.unwrap_or_else(|| self.view_center(&graph));
        self.snarl
            .insert_node(pos, Node::new(id.clone(), kind.default_layer()));
        self.selected = Some(id.clone());
        id
    }

    /// Middle of the visible canvas in graph coordinates (offset a little per node so repeated
    /// adds do not stack exactly).
    fn view_center(&self, graph: &Graph) -> Pos2 {
        let screen = if self.canvas_rect.is_positive() {
            self.canvas_rect.center()
        } else {
            Pos2::new(400.0, 300.0)
        };
        let p = self.to_global.inverse() * screen;
        p + Vec2::splat(20.0 * (graph.nodes.len() % 5) as f32) - Vec2::new(90.0, 40.0)
    }

    pub fn delete(&mut self, ids: &[String]) {
        for id in ids {
            if let Some(sid) = self.snarl_id(id) {
                self.snarl.remove_node(sid);
            }
            if self.selected.as_deref() == Some(id) {
                self.selected = None;
            }
        }
    }

    /// Nodes `ids` and the wires between them, as a stand-alone graph.
    fn subgraph(&self, ids: &[String]) -> Graph {
        let g = self.graph();
        Graph {
            nodes: g
                .nodes
                .iter()
                .filter(|n| ids.contains(&n.id))
                .cloned()
                .collect(),
            edges: g
                .edges
                .iter()
                .filter(|e| ids.contains(&e.from) && ids.contains(&e.to))
                .cloned()
                .collect(),
        }
    }

    pub fn copy(&mut self, ids: &[String]) {
        if !ids.is_empty() {
            self.clipboard = Some(self.subgraph(ids));
        }
    }

    pub fn has_clipboard(&self) -> bool {
        self.clipboard.is_some()
    }

    /// Pastes the clipboard with fresh names, offset so the copy is visible.
    pub fn paste(&mut self) -> Vec<String> {
        let Some(clip) = self.clipboard.clone() else {
            return Vec::new();
        };
        self.insert_copy(clip, Vec2::new(40.0, 40.0))
    }

    pub fn duplicate(&mut self, ids: &[String]) -> Vec<String> {
        let sub = self.subgraph(ids);
        self.insert_copy(sub, Vec2::new(30.0, 30.0))
    }

    fn insert_copy(&mut self, sub: Graph, offset: Vec2) -> Vec<String> {
        let mut graph = self.graph();
        let mut renamed = HashMap::new();
        for node in &sub.nodes {
            let fresh = graph.fresh_id(node.layer.kind());
            let mut copy = node.clone();
            copy.id = fresh.clone();
            copy.pos = [node.pos[0] + offset.x, node.pos[1] + offset.y];
            renamed.insert(node.id.clone(), fresh);
            graph.nodes.push(copy);
        }
        for e in &sub.edges {
            graph.edges.push(Edge {
                from: renamed[&e.from].clone(),
                from_port: e.from_port,
                to: renamed[&e.to].clone(),
                to_port: e.to_port,
            });
        }
        let new_ids: Vec<String> = sub.nodes.iter().map(|n| renamed[&n.id].clone()).collect();
        self.replace_graph(graph);
        if let Some(first) = new_ids.first() {
            self.selected = Some(first.clone());
        }
        new_ids
    }

    /// Lays the graph out left to right and frames it.
    pub fn tidy(&mut self) {
        let mut g = self.graph();
        g.layout_left_to_right();
        self.replace_graph(g);
        self.fit_request = true;
    }

    pub fn request_fit(&mut self) {
        self.fit_request = true;
    }

    /// Ids of the nodes selected on the canvas (shift-click, rect select), or the inspector's node.
    pub fn selection(&self, ctx: &egui::Context) -> Vec<String> {
        let mut ids: Vec<String> = get_selected_nodes(canvas_id(), ctx)
            .into_iter()
            .filter_map(|id| self.snarl.get_node(id).map(|n| n.id.clone()))
            .collect();
        if ids.is_empty() {
            ids.extend(self.selected.clone());
        }
        ids
    }

    /// Screen position of a graph position (for tests and overlays).
    pub fn to_screen(&self, p: Pos2) -> Pos2 {
        self.to_global * p
    }

    pub fn canvas_rect(&self) -> Rect {
        self.canvas_rect
    }

    /// Screen position of a pin as last drawn: `input` true for input ports.
    pub fn pin_pos(&self, node_id: &str, input: bool, port: usize) -> Option<Pos2> {
        let graph_pos = *self
            .pins
            .borrow()
            .get(&(node_id.to_string(), input, port))?;
        Some(self.to_global * graph_pos)
    }

    /// Draws the canvas. `analysis` is of the graph the snarl holds.
    pub fn ui(&mut self, ui: &mut Ui, analysis: &Analysis, dark: bool) -> CanvasOutput {
        let mut out = CanvasOutput::default();
        self.canvas_rect = ui.available_rect_before_wrap();
        // Labels inside nodes must not swallow drags, or nodes cannot be moved by their title.
        ui.style_mut().interaction.selectable_labels = false;
        let style = SnarlStyle {
            wire_width: Some(2.0),
            pin_size: Some(9.0),
            collapsible: Some(false),
            node_layout: Some(egui_snarl::ui::NodeLayout::sandwich()),
            ..SnarlStyle::new()
        };
        let fit = std::mem::take(&mut self.fit_request)
            .then(|| fit_transform(&self.snarl, self.canvas_rect));
        let mut viewer = Viewer {
            analysis,
            dark,
            selected: self.selected.as_deref(),
            out: &mut out,
            identity: self.identity_transform,
            fit,
            to_global: &mut self.to_global,
            menu_pos: self.menu_pos,
            pins: self.pins.clone(),
            rects: self.rects.clone(),
        };
        self.pins.borrow_mut().clear();
        let resp =
            SnarlWidget::new()
                .id(canvas_id())
                .style(style)
                .show(&mut self.snarl, &mut viewer, ui);

        if resp.secondary_clicked() {
            self.menu_pos = resp.interact_pointer_pos();
        }
        // A layer dropped from the palette lands with its top-left at the pointer.
        if let Some(kind) = resp.dnd_release_payload::<LayerKind>() {
            if let Some(screen) = ui.ctx().pointer_latest_pos() {
                let graph_pos = self.to_global.inverse() * screen;
                self.add_node(*kind, Some(graph_pos));
            }
        }
        if resp.dnd_hover_payload::<LayerKind>().is_some() {
            ui.painter().rect_stroke(
                self.canvas_rect.shrink(2.0),
                4.0,
                Stroke::new(2.0, ui.visuals().selection.stroke.color),
                egui::StrokeKind::Inside,
            );
        }
        if self.snarl.nodes().next().is_none() {
            let hint = RichText::new("Drag a layer here from the palette, or open a ready-made network from the File menu")
                .size(16.0)
                .color(ui.visuals().weak_text_color());
            let rect = Rect::from_center_size(
                self.canvas_rect.center(),
                Vec2::new(self.canvas_rect.width(), 30.0),
            );
            ui.put(rect, egui::Label::new(hint));
        }
        if let Some(msg) = &out.rejected {
            let at = ui
                .ctx()
                .pointer_latest_pos()
                .unwrap_or(self.canvas_rect.center());
            self.reject = Some((msg.clone(), at, ui.ctx().input(|i| i.time)));
        }
        self.reject_ui(ui);
        if let Some(id) = &out.clicked_node {
            self.selected = Some(id.clone());
        }
        out
    }

    /// Shows the last refused wire's reason near where it was dropped, for a few seconds.
    fn reject_ui(&mut self, ui: &mut Ui) {
        let Some((msg, at, since)) = &self.reject else {
            return;
        };
        let now = ui.ctx().input(|i| i.time);
        if now - since > REJECT_SHOW_SECS
            || ui.ctx().input(|i| i.pointer.any_pressed()) && now - since > 0.5
        {
            self.reject = None;
            return;
        }
        egui::Area::new(Id::new("wire-rejected"))
            .fixed_pos(*at + Vec2::new(12.0, 12.0))
            .order(egui::Order::Tooltip)
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width(360.0);
                    ui.colored_label(ERROR, format!("Wire refused: {msg}"));
                });
            });
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(500));
    }
}

/// A view transform that frames every node inside `canvas`.
fn fit_transform(snarl: &Snarl<Node>, canvas: Rect) -> Option<TSTransform> {
    if !canvas.is_positive() {
        return None;
    }
    let mut bounds = Rect::NOTHING;
    for (_, pos, _) in snarl.nodes_pos_ids() {
        bounds = bounds.union(Rect::from_min_size(pos, Vec2::new(200.0, 130.0)));
    }
    if !bounds.is_positive() {
        return None;
    }
    let bounds = bounds.expand(30.0);
    let scale = (canvas.width() / bounds.width())
        .min(canvas.height() / bounds.height())
        .clamp(0.35, 1.0);
    let translation = canvas.center().to_vec2() - bounds.center().to_vec2() * scale;
    Some(TSTransform::new(translation, scale))
}

/// 421642 → "421,642".
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
