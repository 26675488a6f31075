//! The embedding projector: any node's activations on a set of samples laid on a plane (PCA,
//! or t-SNE or UMAP started from it), with how faithful the plane is — each sample's class as its
//! nearest neighbours vote it, in the plane and in the layer's own space, and the plane's
//! trustworthiness — and each sample's nearest neighbours in the layer.

use super::latent::{planar_codes, principal_components};
use super::neighbours::{knn_accuracy, nearest_neighbours, plane_neighbours};
use super::tsne::{trustworthiness, tsne, TsneSettings};
use super::umap::{umap, UmapSettings};
use super::InsightError;
use crate::data::Dataset;
use crate::model::Model;
use crate::train::Control;

/// How the layer is laid on the plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The two directions of largest variance (instant; up to `MAX_PCA_POINTS`).
    Pca,
    /// t-SNE from the PCA plane (up to `tsne::MAX_POINTS`).
    Tsne(TsneSettings),
    /// UMAP from the PCA plane (up to `umap::MAX_POINTS`).
    Umap(UmapSettings),
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Pca => "PCA",
            Method::Tsne(_) => "t-SNE",
            Method::Umap(_) => "UMAP",
        }
    }

    /// Nearest neighbours in the layer it reads for `n` samples (0: none).
    fn neighbours_needed(&self, n: usize) -> usize {
        match self {
            Method::Pca => 0,
            Method::Tsne(settings) => super::tsne::neighbours_needed(*settings, n),
            Method::Umap(settings) => settings.neighbours.max(2),
        }
    }

    /// Most samples it projects.
    pub fn max_points(&self) -> usize {
        match self {
            Method::Pca => MAX_PCA_POINTS,
            Method::Tsne(_) => super::tsne::MAX_POINTS,
            Method::Umap(_) => super::umap::MAX_POINTS,
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
    /// Each sample's target (its first number, in its own units) where the data is a
    /// regression; None for classes.
    pub values: Vec<Option<f32>>,
    /// The share of the layer's variance each axis explains.
    pub explained: [f64; 2],
    /// Leave-one-out 5-NN accuracy in the plane and in the layer (classifiers).
    pub knn_plane: Option<f64>,
    pub knn_layer: Option<f64>,
    pub method: Method,
    /// How far the plane's `TRUST_K` nearest neighbours are the layer's (estimated from 2,000
    /// samples above `tsne::TRUST_EXACT_POINTS`).
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
                let d = super::neighbours::squared_distance(me, c);
                (j, d.sqrt())
            })
            .collect();
        near.sort_by(|a, b| a.1.total_cmp(&b.1));
        near.truncate(k);
        near
    }
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
    let labels: Vec<Option<u32>> = idx.iter().map(|&i| data.label(i)).collect();
    let classes: Option<Vec<u32>> = labels.iter().copied().collect();
    // One search of the layer's neighbours serves the method and the kNN accuracy.
    let wanted = method
        .neighbours_needed(codes.len())
        .max(if classes.is_some() { KNN } else { 0 });
    let layer = match wanted {
        0 => None,
        k => Some(nearest_neighbours(&codes, k, control, &mut |f| {
            progress(0.1 * f)
        })?),
    };
    let mut rest = |f: f32| progress(0.1 + 0.9 * f);
    let known = layer.as_ref();
    match method {
        Method::Pca => {}
        Method::Tsne(s) => points = tsne(&codes, known, &points, s, control, &mut rest)?,
        Method::Umap(s) => points = umap(&codes, known, &points, s, control, &mut rest)?,
    }
    let values: Vec<Option<f32>> = idx
        .iter()
        .map(|&i| match &data.targets {
            crate::data::Targets::Values { values, dim, .. } => values.get(i * dim).copied(),
            crate::data::Targets::Classes { .. } => None,
        })
        .collect();
    let (knn_plane, knn_layer) = match (&classes, &layer) {
        (Some(l), Some(layer)) => (
            Some(knn_accuracy(&plane_neighbours(&points, KNN)?, l, KNN)),
            Some(knn_accuracy(layer, l, KNN)),
        ),
        _ => (None, None),
    };
    let trustworthiness = Some(trustworthiness(&codes, &points, TRUST_K)).filter(|t| t.is_finite());
    progress(1.0);
    Ok(Projection {
        node: node.to_string(),
        dim,
        samples: idx.to_vec(),
        points,
        labels,
        values,
        explained: pc.explained(),
        knn_plane,
        knn_layer,
        method,
        trustworthiness,
        codes,
    })
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
