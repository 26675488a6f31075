//! Comparing runs: their figures as series on a shared x axis, the settings that differ, and
//! what changed between their graphs.

use super::folder::{RunsError, SCALARS_FILE};
use crate::graph::Graph;
use crate::project::Project;
use std::collections::BTreeMap;
use std::path::Path;

/// One row of `scalars.csv`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScalarPoint {
    pub wall_s: f64,
    pub step: f64,
    pub epoch: f64,
    pub value: f64,
}

/// A run's figures by tag (`train/loss`, `val/accuracy`, …).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scalars {
    pub tags: BTreeMap<String, Vec<ScalarPoint>>,
    /// Lines that did not parse (a run killed mid-line leaves one).
    pub bad_lines: usize,
}

/// What the x axis of a comparison counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum XAxis {
    Step,
    /// The default: runs with different batch sizes line up by epoch, not by step.
    #[default]
    Epoch,
    WallTime,
}

impl XAxis {
    pub const ALL: [XAxis; 3] = [XAxis::Step, XAxis::Epoch, XAxis::WallTime];

    pub fn name(&self) -> &'static str {
        match self {
            XAxis::Step => "step",
            XAxis::Epoch => "epoch",
            XAxis::WallTime => "wall time (s)",
        }
    }
}

impl Scalars {
    pub fn load(dir: &Path) -> Result<Self, RunsError> {
        let path = dir.join(SCALARS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| RunsError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(Self::parse(&text))
    }

    pub fn parse(text: &str) -> Self {
        let mut out = Scalars::default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let parsed = (f.len() == 5)
                .then(|| {
                    Some((
                        f[3],
                        ScalarPoint {
                            wall_s: f[0].parse().ok()?,
                            step: f[1].parse().ok()?,
                            epoch: f[2].parse().ok()?,
                            value: f[4].parse().ok()?,
                        },
                    ))
                })
                .flatten();
            match parsed {
                Some((tag, p)) => out.tags.entry(tag.to_string()).or_default().push(p),
                None => out.bad_lines += 1,
            }
        }
        out
    }

    /// (x, value) points of `tag` on `axis`.
    pub fn series(&self, tag: &str, axis: XAxis) -> Vec<[f64; 2]> {
        self.tags.get(tag).map_or_else(Vec::new, |pts| {
            pts.iter()
                .map(|p| {
                    let x = match axis {
                        XAxis::Step => p.step,
                        XAxis::Epoch => p.epoch,
                        XAxis::WallTime => p.wall_s,
                    };
                    [x, p.value]
                })
                .collect()
        })
    }
}

/// Flattens a JSON value into `a.b.c = value` pairs.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The settings (training, data, mode) as flat `key = value` pairs.
pub fn flat_settings(project: &Project) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let v = serde_json::json!({
        "training": project.training,
        "data": project.data,
        "mode": project.mode,
    });
    flatten("", &v, &mut out);
    out
}

/// Keys whose values are not the same in every project, with each project's value ("—" where
/// a project lacks the key).
pub fn settings_diff(projects: &[&Project]) -> Vec<(String, Vec<String>)> {
    let flat: Vec<BTreeMap<String, String>> = projects.iter().map(|p| flat_settings(p)).collect();
    let mut keys: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let vals: Vec<String> = flat
                .iter()
                .map(|m| m.get(k).cloned().unwrap_or_else(|| "—".into()))
                .collect();
            vals.windows(2)
                .any(|w| w[0] != w[1])
                .then(|| (k.clone(), vals))
        })
        .collect()
}

/// What changed from graph `a` to graph `b`, by node id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// (node id, old layer, new layer) where the layer or its settings changed.
    pub changed: Vec<(String, String, String)>,
    pub wires_added: Vec<String>,
    pub wires_removed: Vec<String>,
}

impl GraphDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.wires_added.is_empty()
            && self.wires_removed.is_empty()
    }

    /// One line per change, for tables and the CLI.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.added.iter().map(|n| format!("+ node {n}")));
        out.extend(self.removed.iter().map(|n| format!("- node {n}")));
        out.extend(
            self.changed
                .iter()
                .map(|(n, a, b)| format!("~ {n}: {a} → {b}")),
        );
        out.extend(self.wires_added.iter().map(|w| format!("+ wire {w}")));
        out.extend(self.wires_removed.iter().map(|w| format!("- wire {w}")));
        out
    }
}

fn layer_json(n: &crate::graph::Node) -> serde_json::Value {
    let mut v = serde_json::to_value(&n.layer).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("frozen".into(), n.frozen.into());
    }
    v
}

/// (before, after) of what differs between two layers: `units 256` → `units 512`, or the
/// layer types when the kind changed.
fn layer_change(a: &crate::graph::Node, b: &crate::graph::Node) -> Option<(String, String)> {
    let (x, y) = (layer_json(a), layer_json(b));
    if x == y {
        return None;
    }
    if x["type"] != y["type"] {
        let t = |v: &serde_json::Value| v["type"].as_str().unwrap_or("?").to_string();
        return Some((t(&x), t(&y)));
    }
    let (ox, oy) = (x.as_object()?, y.as_object()?);
    let mut keys: Vec<&String> = ox.keys().chain(oy.keys()).collect();
    keys.sort();
    keys.dedup();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for k in keys {
        let (u, v) = (ox.get(k), oy.get(k));
        if u != v {
            let show =
                |w: Option<&serde_json::Value>| w.map_or("—".to_string(), |w| w.to_string());
            before.push(format!("{k} {}", show(u)));
            after.push(format!("{k} {}", show(v)));
        }
    }
    Some((before.join(", "), after.join(", ")))
}

pub fn graph_diff(a: &Graph, b: &Graph) -> GraphDiff {
    let mut d = GraphDiff::default();
    for n in &b.nodes {
        match a.node(&n.id) {
            None => d.added.push(n.id.clone()),
            Some(old) => {
                if let Some((x, y)) = layer_change(old, n) {
                    d.changed.push((n.id.clone(), x, y));
                }
            }
        }
    }
    d.removed = a
        .nodes
        .iter()
        .filter(|n| b.node(&n.id).is_none())
        .map(|n| n.id.clone())
        .collect();
    let wire =
        |e: &crate::graph::Edge| format!("{}:{} → {}:{}", e.from, e.from_port, e.to, e.to_port);
    let wa: Vec<String> = a.edges.iter().map(wire).collect();
    let wb: Vec<String> = b.edges.iter().map(wire).collect();
    d.wires_added = wb.iter().filter(|w| !wa.contains(w)).cloned().collect();
    d.wires_removed = wa.iter().filter(|w| !wb.contains(w)).cloned().collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_parse_and_count_a_torn_last_line() {
        let s = Scalars::parse(
            "wall_s,step,epoch,tag,value\n0.1,1,0.5,train/loss,2.3\n0.2,2,1,train/loss,2.1\n0.2,2,1,val/lo",
        );
        assert_eq!(
            s.series("train/loss", XAxis::Epoch),
            vec![[0.5, 2.3], [1.0, 2.1]]
        );
        assert_eq!(s.bad_lines, 1);
    }

    #[test]
    fn diffs_name_what_changed() {
        let a = crate::presets::load("mlp-mnist").unwrap();
        let mut b = a.clone();
        b.training.lr = 0.01;
        let diff = settings_diff(&[&a, &b]);
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert_eq!(diff[0].0, "training.lr");
        b.graph.nodes.retain(|n| n.id != "relu2");
        b.graph
            .edges
            .retain(|e| e.from != "relu2" && e.to != "relu2");
        if let crate::graph::Layer::Dense { units, .. } =
            &mut b.graph.node_mut("fc1").unwrap().layer
        {
            *units = 64;
        }
        let g = graph_diff(&a.graph, &b.graph);
        assert_eq!(g.removed, vec!["relu2".to_string()]);
        assert_eq!(
            g.changed,
            vec![(
                "fc1".to_string(),
                "units 256".to_string(),
                "units 64".to_string()
            )]
        );
        assert!(!g.wires_removed.is_empty());
    }
}
