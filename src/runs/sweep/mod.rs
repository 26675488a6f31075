//! Sweeps: grid, random and successive-halving search over a project's settings, run one after
//! another, each into its own run folder. A setting is named by its path in the project file
//! (`training.lr`, `training.batch_size`, `training.optimizer`, `node.fc1.units`,
//! `node.drop.p`), so anything a project holds can be swept and every value is checked by the
//! same parser that reads project files.

mod runner;

pub use runner::{best_of, run_sweep, SweepContext, SweepEvent, SweepReport, Trial};

use super::folder::RunsError;
use crate::project::Project;
use crate::train::Monitor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Most trials one sweep may ask for.
pub const MAX_TRIALS: usize = 1_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    Grid,
    #[default]
    Random,
    /// Successive halving: many configurations for few epochs, the best third for three times
    /// as many, and so on.
    Halving,
}

/// The values one setting may take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Range {
    /// Uniform in log space (learning rates, weight decay); a grid takes `steps` points.
    LogUniform {
        min: f64,
        max: f64,
        #[serde(default = "three")]
        steps: usize,
    },
    Uniform {
        min: f64,
        max: f64,
        #[serde(default = "three")]
        steps: usize,
    },
    /// Whole numbers from `min` to `max` inclusive (widths, batch sizes).
    Int {
        min: i64,
        max: i64,
    },
    Choice {
        values: Vec<Value>,
    },
}

fn three() -> usize {
    3
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub path: String,
    #[serde(flatten)]
    pub range: Range,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepSpec {
    pub name: String,
    pub method: Method,
    /// Random: how many configurations; halving: how many start.
    pub trials: usize,
    pub metric: Monitor,
    pub seed: u64,
    /// Override the project's epochs (halving: the most any rung gets).
    pub epochs: Option<usize>,
    /// Train each run on at most this many samples.
    pub max_train_samples: Option<usize>,
    /// Halving keeps 1 in `eta` each rung.
    pub eta: usize,
    pub params: Vec<Param>,
}

impl Default for SweepSpec {
    fn default() -> Self {
        Self {
            name: "sweep".into(),
            method: Method::Random,
            trials: 12,
            metric: Monitor::ValAccuracy,
            seed: 1,
            epochs: None,
            max_train_samples: None,
            eta: 3,
            params: Vec::new(),
        }
    }
}

fn spec_err(msg: impl Into<String>) -> RunsError {
    RunsError::Spec(msg.into())
}

impl SweepSpec {
    pub fn load(path: &Path) -> Result<Self, RunsError> {
        let bytes = std::fs::read(path).map_err(|source| RunsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| RunsError::Damaged {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
    }

    /// The configurations to try, each as (setting path, value) pairs.
    pub fn configurations(&self) -> Result<Vec<BTreeMap<String, Value>>, RunsError> {
        if self.params.is_empty() {
            return Err(spec_err(
                "the sweep names no settings to vary (\"params\" is empty)",
            ));
        }
        for p in &self.params {
            check_range(p)?;
        }
        let configs = match self.method {
            Method::Grid => {
                let mut out = vec![BTreeMap::new()];
                for p in &self.params {
                    let values = grid_values(&p.range);
                    if out.len().saturating_mul(values.len()) > MAX_TRIALS {
                        return Err(spec_err(format!(
                            "the grid has more than {MAX_TRIALS} configurations: use fewer values or a random sweep"
                        )));
                    }
                    out = out
                        .into_iter()
                        .flat_map(|c| {
                            values.iter().map(move |v| {
                                let mut c = c.clone();
                                c.insert(p.path.clone(), v.clone());
                                c
                            })
                        })
                        .collect();
                }
                out
            }
            Method::Random | Method::Halving => {
                if self.trials == 0 || self.trials > MAX_TRIALS {
                    return Err(spec_err(format!(
                        "trials is {}; it must be 1 to {MAX_TRIALS}",
                        self.trials
                    )));
                }
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                (0..self.trials)
                    .map(|_| {
                        self.params
                            .iter()
                            .map(|p| (p.path.clone(), sample(&p.range, &mut rng)))
                            .collect()
                    })
                    .collect()
            }
        };
        Ok(configs)
    }
}

/// A grid axis has 1 to MAX_TRIALS steps (its values are all built before the grid's size
/// is checked).
fn check_steps(steps: usize) -> Result<(), String> {
    if steps == 0 || steps > MAX_TRIALS {
        return Err(format!("steps is {steps}; it must be 1 to {MAX_TRIALS}"));
    }
    Ok(())
}

fn check_range(p: &Param) -> Result<(), RunsError> {
    let bad = |why: &str| spec_err(format!("setting {}: {why}", p.path));
    match &p.range {
        Range::LogUniform { min, max, steps } => {
            if !(*min > 0.0 && max >= min && max.is_finite()) {
                return Err(bad("a log range needs 0 < min ≤ max"));
            }
            check_steps(*steps).map_err(|why| bad(&why))?;
        }
        Range::Uniform { min, max, steps } => {
            if !((max - min).is_finite() && max >= min) {
                return Err(bad("a range needs finite min ≤ max, less than 1e308 apart"));
            }
            check_steps(*steps).map_err(|why| bad(&why))?;
        }
        Range::Int { min, max } => {
            if max < min {
                return Err(bad("a range needs min ≤ max"));
            }
        }
        Range::Choice { values } => {
            if values.is_empty() {
                return Err(bad("no values to choose from"));
            }
        }
    }
    Ok(())
}

fn number(x: f64) -> Value {
    // 4 significant digits, so run labels and tables stay readable ("0.0002433").
    let r: f64 = format!("{x:.3e}").parse().unwrap_or(x);
    serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number)
}

fn grid_values(r: &Range) -> Vec<Value> {
    let spread = |n: usize, f: &dyn Fn(f64) -> f64| -> Vec<Value> {
        (0..n)
            .map(|i| {
                number(f(if n == 1 {
                    0.5
                } else {
                    i as f64 / (n - 1) as f64
                }))
            })
            .collect()
    };
    match r {
        Range::LogUniform { min, max, steps } => {
            spread(*steps, &|t| (min.ln() + t * (max.ln() - min.ln())).exp())
        }
        Range::Uniform { min, max, steps } => spread(*steps, &|t| min + t * (max - min)),
        Range::Int { min, max } => (*min..=*max)
            .take(MAX_TRIALS + 1)
            .map(Value::from)
            .collect(),
        Range::Choice { values } => values.clone(),
    }
}

fn sample(r: &Range, rng: &mut ChaCha8Rng) -> Value {
    match r {
        Range::LogUniform { min, max, .. } => number(rng.random_range(min.ln()..=max.ln()).exp()),
        Range::Uniform { min, max, .. } => number(rng.random_range(*min..=*max)),
        Range::Int { min, max } => Value::from(rng.random_range(*min..=*max)),
        Range::Choice { values } => values[rng.random_range(0..values.len())].clone(),
    }
}

/// An optimiser named by a string ("adam", "sgd", "adamw", "rmsprop") becomes its settings.
fn optimizer_value(v: &Value) -> Value {
    let Some(name) = v.as_str() else {
        return v.clone();
    };
    use crate::train::Optimizer;
    let opt = match name.to_ascii_lowercase().as_str() {
        "adam" => Optimizer::adam(),
        "adamw" => Optimizer::adamw(),
        "sgd" => Optimizer::sgd(0.9, false),
        "rmsprop" => Optimizer::rmsprop(),
        _ => return v.clone(),
    };
    serde_json::to_value(opt).unwrap_or_else(|_| v.clone())
}

/// `project` with each setting of `config` applied; an error names a path that does not exist
/// or a value the project file would refuse.
pub fn apply(project: &Project, config: &BTreeMap<String, Value>) -> Result<Project, RunsError> {
    let mut doc = serde_json::to_value(project).expect("a project serialises");
    for (path, value) in config {
        let parts: Vec<&str> = path.split('.').collect();
        let slot = match parts.as_slice() {
            ["node", id, field @ ..] if !field.is_empty() => {
                let nodes = doc["graph"]["nodes"]
                    .as_array_mut()
                    .expect("nodes are a list");
                let node = nodes
                    .iter_mut()
                    .find(|n| n["id"] == *id)
                    .ok_or_else(|| spec_err(format!("setting {path}: there is no node {id}")))?;
                walk(&mut node["layer"], field, path)?
            }
            _ => walk(&mut doc, &parts, path)?,
        };
        *slot = if path == "training.optimizer" {
            optimizer_value(value)
        } else {
            value.clone()
        };
    }
    let text = serde_json::to_vec(&doc).expect("json serialises");
    let (out, _) = Project::parse(&text, Path::new("sweep")).map_err(|e| {
        spec_err(format!(
            "the sweep's settings {config:?} do not make a valid project: {e}"
        ))
    })?;
    out.training
        .validate()
        .map_err(|e| spec_err(format!("with {config:?}: {e}")))?;
    Ok(out)
}

fn walk<'a>(mut v: &'a mut Value, parts: &[&str], path: &str) -> Result<&'a mut Value, RunsError> {
    for (i, p) in parts.iter().enumerate() {
        let obj = v.as_object_mut().ok_or_else(|| {
            spec_err(format!(
                "setting {path}: {p} is not inside a group of settings"
            ))
        })?;
        // The last part may be new (an optional setting); the ones before must exist.
        if i + 1 < parts.len() && !obj.contains_key(*p) {
            return Err(spec_err(format!("setting {path}: there is no {p}")));
        }
        let optional_ok = path.starts_with("training.") || path.starts_with("data.");
        if i + 1 == parts.len() && !obj.contains_key(*p) && !optional_ok {
            return Err(spec_err(format!("setting {path}: there is no {p}")));
        }
        v = obj.entry(p.to_string()).or_insert(Value::Null);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: Method, params: Vec<Param>) -> SweepSpec {
        SweepSpec {
            method,
            params,
            ..Default::default()
        }
    }

    #[test]
    fn grid_is_the_product_and_random_stays_in_range() {
        let params = vec![
            Param {
                path: "training.lr".into(),
                range: Range::LogUniform {
                    min: 1e-4,
                    max: 1e-2,
                    steps: 3,
                },
            },
            Param {
                path: "training.batch_size".into(),
                range: Range::Choice {
                    values: vec![32.into(), 128.into()],
                },
            },
        ];
        let grid = spec(Method::Grid, params.clone()).configurations().unwrap();
        assert_eq!(grid.len(), 6);
        assert_eq!(grid[2]["training.lr"], serde_json::json!(0.001));
        let random = spec(Method::Random, params).configurations().unwrap();
        assert_eq!(random.len(), 12);
        for c in &random {
            let lr = c["training.lr"].as_f64().unwrap();
            assert!((1e-4..=1e-2).contains(&lr), "{lr}");
        }
        let distinct: std::collections::HashSet<String> = random
            .iter()
            .map(|c| c["training.lr"].to_string())
            .collect();
        assert!(distinct.len() > 6, "{distinct:?}");
    }

    #[test]
    fn apply_sets_training_and_node_settings_and_names_bad_paths() {
        let p = crate::presets::load("mlp-mnist").unwrap();
        let mut c = BTreeMap::new();
        c.insert("training.lr".to_string(), serde_json::json!(0.02));
        c.insert("training.optimizer".to_string(), serde_json::json!("sgd"));
        c.insert("node.fc1.units".to_string(), serde_json::json!(32));
        let q = apply(&p, &c).unwrap();
        assert_eq!(q.training.lr, 0.02);
        assert_eq!(q.training.optimizer.name(), "SGD");
        assert!(matches!(
            q.graph.node("fc1").unwrap().layer,
            crate::graph::Layer::Dense { units: 32, .. }
        ));
        let mut bad = BTreeMap::new();
        bad.insert("node.nope.units".to_string(), serde_json::json!(3));
        let e = apply(&p, &bad).unwrap_err().to_string();
        assert!(e.contains("no node nope"), "{e}");
        let mut bad = BTreeMap::new();
        bad.insert("training.batch_size".to_string(), serde_json::json!("big"));
        assert!(apply(&p, &bad).is_err());
    }

    #[test]
    fn halving_plans_shrinking_rungs() {
        let s = SweepSpec {
            method: Method::Halving,
            eta: 3,
            ..Default::default()
        };
        assert_eq!(runner::planned_runs(&s, 9), 9 + 3 + 1);
        assert_eq!(runner::planned_runs(&s, 12), 12 + 4 + 2 + 1);
    }
}
