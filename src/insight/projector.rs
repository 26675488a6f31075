//! The embedding projector: any node's activations on a set of samples laid on a plane (PCA,
//! or t-SNE started from it), with how faithful the plane is — each sample's class as its
//! nearest neighbours vote it, in the plane and in the layer's own space, and the plane's
//! trustworthiness — and each sample's nearest neighbours in the layer.

use super::latent::{planar_codes, principal_components};
use super::tsne::{trustworthiness, tsne, TsneSettings, MAX_POINTS};
use super::InsightError;
use crate::data::Dataset;
use crate::model::Model;
use crate::train::Control;

/// How the layer is laid on the plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The two directions of largest variance (instant; up to `MAX_PCA_POINTS`).
    Pca,
    /// t-SNE from the PCA plane (exact; up to `tsne::MAX_POINTS`).
    Tsne(TsneSettings),
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Pca => "PCA",
            Method::Tsne(_) => "t-SNE",
        }
    }

    /// Most samples it projects.
    pub fn max_points(&self) -> usize {
        match self {
            Method::Pca => MAX_PCA_POINTS,
            Method::Tsne(_) => MAX_POINTS,
        }
    }
}

/// Most samples PCA projects.
pub const MAX_PCA_POINTS: usize = 10_000;

/// Neighbours that vote in the kNN accuracy.
pub const KNN: usize = 5;
/// Neighbourhood size of the trustworthiness (k = 10, as in the literature's comparisons).
pub const TRUST_K: usize = 10;

#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub node: String,
    /// Values per sample at the node.
    pub dim: usize,
    /// Data-set index, place on the plane, class (classifiers) per sample.
    pub samples: Vec<usize>,
    pub points: Vec<[f32; 2]>,
    pub labels: Vec<Option<u32>>,
    /// The share of the layer's variance each axis explains.
    pub explained: [f64; 2],
    /// Leave-one-out 5-NN accuracy in the plane and in the layer (classifiers).
    pub knn_plane: Option<f64>,
    pub knn_layer: Option<f64>,
    pub method: Method,
    /// How far the plane's `TRUST_K` nearest neighbours are the layer's (None above `tsne::MAX_POINTS`
    /// samples, where it would take too long).
    pub trustworthiness: Option<f64>,
    /// Each sample's activations (for its neighbours in the layer).
    pub codes: Vec<Vec<f32>>,
}

impl Projection {
    /// The `k` samples nearest to sample number `i` (its place in `samples`) in the layer's
    /// own space, nearest first: (place in `samples`, Euclidean distance).
    pub fn neighbours(&self, i: usize, k: usize) -> Vec<(usize, f32)> {
        let Some(me) = self.codes.get(i) else {
            return Vec::new();
        };
        let mut near: Vec<(usize, f32)> = self
            .codes
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(j, c)| {
                let d: f32 = me.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
                (j, d.sqrt())
            })
            .collect();
        near.sort_by(|a, b| a.1.total_cmp(&b.1));
        near.truncate(k);
        near
    }
}

/// Leave-one-out k-nearest-neighbour accuracy of `labels` over `points` (squared distances).
fn knn_accuracy(points: &[Vec<f32>], labels: &[u32], k: usize) -> f64 {
    let n = points.len();
    let mut right = 0;
    for i in 0..n {
        let mut near: Vec<(f32, u32)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                let d: f32 = points[i]
                    .iter()
                    .zip(&points[j])
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                (d, labels[j])
            })
            .collect();
        let k = k.min(near.len());
        if k == 0 {
            continue;
        }
        near.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        let mut votes = std::collections::HashMap::new();
        for (_, l) in &near[..k] {
            *votes.entry(*l).or_insert(0) += 1;
        }
        let best = votes
            .iter()
            .max_by_key(|(l, c)| (**c, std::cmp::Reverse(**l)));
        right += usize::from(best.is_some_and(|(l, _)| *l == labels[i]));
    }
    right as f64 / n.max(1) as f64
}

/// The activations of `node` on the samples `idx`, laid on a plane by `method`; `progress`
/// gets the share done, `control.stop` ends a t-SNE early with `Stopped`.
pub fn project_node(
    model: &Model,
    data: &Dataset,
    node: &str,
    idx: &[usize],
    method: Method,
    control: &Control,
    progress: &mut dyn FnMut(f32),
) -> Result<Projection, InsightError> {
    let idx = &idx[..idx.len().min(method.max_points())];
    let codes = planar_codes(model, data, node, idx)?;
    let dim = codes[0].len();
    let pc = principal_components(&codes);
    let mut points: Vec<[f32; 2]> = codes.iter().map(|c| pc.project(c)).collect();
    if let Method::Tsne(settings) = method {
        points = tsne(&codes, &points, settings, control, progress)?;
    }
    let labels: Vec<Option<u32>> = idx.iter().map(|&i| data.label(i)).collect();
    let classes: Option<Vec<u32>> = labels.iter().copied().collect();
    let (knn_plane, knn_layer) = match &classes {
        Some(l) => {
            let plane: Vec<Vec<f32>> = points.iter().map(|p| p.to_vec()).collect();
            (
                Some(knn_accuracy(&plane, l, KNN)),
                Some(knn_accuracy(&codes, l, KNN)),
            )
        }
        None => (None, None),
    };
    let trustworthiness = (idx.len() <= MAX_POINTS)
        .then(|| trustworthiness(&codes, &points, TRUST_K))
        .filter(|t| t.is_finite());
    progress(1.0);
    Ok(Projection {
        node: node.to_string(),
        dim,
        samples: idx.to_vec(),
        points,
        labels,
        explained: pc.explained(),
        knn_plane,
        knn_layer,
        method,
        trustworthiness,
        codes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_accuracy_counts_neighbour_votes() {
        let pts: Vec<Vec<f32>> = vec![
            vec![0.0, 0.0],
            vec![0.1, 0.0],
            vec![0.3, 0.0],
            vec![5.0, 5.0],
            vec![5.1, 5.0],
            vec![5.3, 5.0],
        ];
        assert_eq!(knn_accuracy(&pts, &[0, 0, 0, 1, 1, 1], 1), 1.0);
        // Each point's nearest neighbour carries the other label.
        assert_eq!(knn_accuracy(&pts, &[0, 1, 0, 1, 0, 1], 1), 0.0);
        assert_eq!(knn_accuracy(&pts, &[0, 0, 0, 1, 1, 1], 2), 1.0);
    }
}

#[cfg(test)]
mod pca_tests {
    use super::super::latent::principal_components;

    #[test]
    fn explained_variance_is_exact_on_a_known_spread() {
        // Eight points ±3u ±2v ±1w along three orthonormal, tilted directions of a 5-D space:
        // mean 0, variances 9, 4 and 1 exactly, so the axes explain 9/14 and 4/14.
        let s = (0.5f32).sqrt();
        let u = [s, s, 0.0, 0.0, 0.0];
        let v = [0.0, 0.0, s, -s, 0.0];
        let w = [s * 0.0, 0.0, 0.0, 0.0, 1.0];
        let mut codes = Vec::new();
        for a in [-3.0f32, 3.0] {
            for b in [-2.0f32, 2.0] {
                for c in [-1.0f32, 1.0] {
                    codes.push(
                        (0..5)
                            .map(|i| a * u[i] + b * v[i] + c * w[i])
                            .collect::<Vec<f32>>(),
                    );
                }
            }
        }
        let pc = principal_components(&codes);
        let e = pc.explained();
        assert!((e[0] - 9.0 / 14.0).abs() < 1e-4, "{e:?}");
        assert!((e[1] - 4.0 / 14.0).abs() < 1e-4, "{e:?}");
        assert!((pc.total_variance - 14.0).abs() < 1e-4);
        let along_u: f32 = pc.axes[0].iter().zip(&u).map(|(a, b)| a * b).sum();
        assert!(
            (along_u.abs() - 1.0).abs() < 1e-4,
            "first axis {:?}",
            pc.axes[0]
        );
    }
}
