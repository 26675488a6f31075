//! Barnes-Hut t-SNE (van der Maaten, 2014) for projections too large for the exact method:
//! each point's affinities are kept only for its 3·perplexity nearest neighbours (a sparse P),
//! and the repulsion of far groups of points is taken from their centre of mass in a quadtree
//! of the plane whenever a cell looks smaller than `theta` from the point — O(n log n) per
//! iteration instead of O(n²).

use super::neighbours::Neighbours;
use rayon::prelude::*;

/// The symmetric joint probabilities, row by row (columns ascending).
#[derive(Clone, Debug)]
pub(super) struct SparseP {
    start: Vec<usize>,
    col: Vec<u32>,
    val: Vec<f64>,
}

impl SparseP {
    /// From each point's neighbours: the conditional rows (a Gaussian of the given perplexity
    /// over the neighbours alone), symmetrised as (p_j|i + p_i|j) / 2n so that all sum to 1.
    pub(super) fn from_neighbours(g: &Neighbours, perplexity: f64) -> Self {
        let n = g.len();
        let mut rows: Vec<Vec<(u32, f64)>> = vec![Vec::with_capacity(2 * g.k); n];
        let mut cond = vec![0f64; g.k];
        for i in 0..n {
            let (idx, dist) = g.row(i);
            let d2: Vec<f64> = dist.iter().map(|&d| (d as f64) * (d as f64)).collect();
            super::tsne::conditional_row(&d2, usize::MAX, perplexity, &mut cond);
            for (&j, &p) in idx.iter().zip(&cond) {
                rows[i].push((j, p));
                rows[j as usize].push((i as u32, p));
            }
        }
        let (mut start, mut col, mut val) = (vec![0], Vec::new(), Vec::new());
        let scale = 1.0 / (2.0 * n as f64);
        for mut row in rows {
            row.sort_by_key(|e| e.0);
            for (j, p) in row {
                if col.len() > *start.last().unwrap_or(&0) && col.last() == Some(&j) {
                    *val.last_mut().expect("a value per column") += p * scale;
                } else {
                    col.push(j);
                    val.push(p * scale);
                }
            }
            start.push(col.len());
        }
        Self { start, col, val }
    }

    #[cfg(test)]
    pub(super) fn total(&self) -> f64 {
        self.val.iter().sum()
    }

    fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let r = self.start[i]..self.start[i + 1];
        (&self.col[r.clone()], &self.val[r])
    }
}

/// A square of the plane: how many points it holds, their summed position, and its four
/// quarters (0 where none) or, for a leaf, its one point.
#[derive(Clone, Copy)]
struct Cell {
    centre: [f64; 2],
    half: f64,
    count: u32,
    sum: [f64; 2],
    children: [u32; 4],
    point: u32,
}

const NONE: u32 = u32::MAX;

impl Cell {
    fn new(centre: [f64; 2], half: f64) -> Self {
        Self {
            centre,
            half,
            count: 0,
            sum: [0.0; 2],
            children: [0; 4],
            point: NONE,
        }
    }

    fn is_leaf(&self) -> bool {
        self.children == [0; 4]
    }

    fn quarter(&self, p: [f64; 2]) -> usize {
        usize::from(p[0] > self.centre[0]) + 2 * usize::from(p[1] > self.centre[1])
    }
}

struct QuadTree {
    cells: Vec<Cell>,
}

impl QuadTree {
    fn build(y: &[[f64; 2]]) -> Self {
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in y {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        let half = ((hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0).max(1e-9) * (1.0 + 1e-6);
        let mut tree = Self {
            cells: vec![Cell::new(centre, half)],
        };
        for (i, &p) in y.iter().enumerate() {
            tree.insert(i as u32, p, y);
        }
        tree
    }

    fn insert(&mut self, i: u32, p: [f64; 2], y: &[[f64; 2]]) {
        let mut c = 0usize;
        loop {
            let cell = &mut self.cells[c];
            cell.count += 1;
            cell.sum[0] += p[0];
            cell.sum[1] += p[1];
            if cell.is_leaf() {
                if cell.count == 1 {
                    cell.point = i;
                    return;
                }
                // Points at (almost) one place share a leaf rather than splitting forever.
                if cell.half < 1e-10 {
                    return;
                }
                let old = cell.point;
                cell.point = NONE;
                self.split(c);
                if old != NONE {
                    self.push_down(c, old, y[old as usize]);
                }
            }
            let q = self.cells[c].quarter(p);
            c = self.cells[c].children[q] as usize;
        }
    }

    fn split(&mut self, c: usize) {
        let (centre, half) = (self.cells[c].centre, self.cells[c].half / 2.0);
        for q in 0..4 {
            let dx = if q & 1 == 1 { half } else { -half };
            let dy = if q & 2 == 2 { half } else { -half };
            self.cells[c].children[q] = self.cells.len() as u32;
            self.cells
                .push(Cell::new([centre[0] + dx, centre[1] + dy], half));
        }
    }

    /// Moves the point a leaf held into the quarter it belongs to (the parent counted it already).
    fn push_down(&mut self, c: usize, i: u32, p: [f64; 2]) {
        let q = self.cells[c].quarter(p);
        let id = self.cells[c].children[q] as usize;
        let child = &mut self.cells[id];
        child.count = 1;
        child.sum = p;
        child.point = i;
    }

    /// Σ w²·(y − centre) and Σ w over the other points (w = 1/(1+d²)), far cells as one body.
    fn repulsion(&self, i: u32, p: [f64; 2], theta: f64) -> [f64; 3] {
        let mut acc = [0f64; 3];
        let mut stack = vec![0u32];
        while let Some(c) = stack.pop() {
            let cell = &self.cells[c as usize];
            let mut count = cell.count as f64;
            if cell.is_leaf() && cell.point == i {
                count -= 1.0;
            }
            if count <= 0.0 {
                continue;
            }
            let com = [
                cell.sum[0] / cell.count as f64,
                cell.sum[1] / cell.count as f64,
            ];
            let (dx, dy) = (p[0] - com[0], p[1] - com[1]);
            let d2 = dx * dx + dy * dy;
            if cell.is_leaf() || (2.0 * cell.half) * (2.0 * cell.half) < theta * theta * d2 {
                let w = 1.0 / (1.0 + d2);
                acc[0] += count * w * w * dx;
                acc[1] += count * w * w * dy;
                acc[2] += count * w;
            } else {
                stack.extend(cell.children.iter().filter(|&&ch| ch != 0));
            }
        }
        acc
    }
}

/// Each point's gradient: the attraction over its sparse affinities exactly, the repulsion from
/// the quadtree, normalised by the tree's estimate of Z.
pub(super) fn gradient(
    p: &SparseP,
    y: &[[f64; 2]],
    exaggeration: f64,
    theta: f64,
    grad: &mut [[f64; 2]],
) {
    let tree = QuadTree::build(y);
    let parts: Vec<[f64; 5]> = (0..y.len())
        .into_par_iter()
        .map(|i| {
            let (cols, vals) = p.row(i);
            let mut a = [0f64; 2];
            for (&j, &pij) in cols.iter().zip(vals) {
                let (dx, dy) = (y[i][0] - y[j as usize][0], y[i][1] - y[j as usize][1]);
                let w = exaggeration * pij / (1.0 + dx * dx + dy * dy);
                a[0] += w * dx;
                a[1] += w * dy;
            }
            let r = tree.repulsion(i as u32, y[i], theta);
            [a[0], a[1], r[0], r[1], r[2]]
        })
        .collect();
    let z = parts.iter().map(|a| a[4]).sum::<f64>().max(1e-300);
    for (g, a) in grad.iter_mut().zip(&parts) {
        *g = [4.0 * (a[0] - a[2] / z), 4.0 * (a[1] - a[3] / z)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insight::neighbours::nearest_neighbours;
    use crate::train::Control;

    #[test]
    fn sparse_affinities_are_symmetric_and_sum_to_one() {
        let x: Vec<Vec<f32>> = (0..40)
            .map(|i| vec![(i * i % 17) as f32, i as f32])
            .collect();
        let g = nearest_neighbours(&x, 9, &Control::default(), &mut |_| {}).unwrap();
        let p = SparseP::from_neighbours(&g, 3.0);
        assert!((p.total() - 1.0).abs() < 1e-9, "{}", p.total());
        let at = |i: usize, j: u32| {
            let (c, v) = p.row(i);
            c.iter().position(|&k| k == j).map_or(0.0, |k| v[k])
        };
        for i in 0..40 {
            let (cols, vals) = p.row(i);
            assert!(cols.windows(2).all(|w| w[0] < w[1]), "row {i} {cols:?}");
            for (&j, &v) in cols.iter().zip(vals) {
                assert!((at(j as usize, i as u32) - v).abs() < 1e-15);
            }
        }
    }

    /// With θ = 0 every cell is opened down to its points, so the tree's repulsion is the exact
    /// sum; with θ = 0.5 it stays close.
    #[test]
    fn the_tree_repulsion_matches_the_exact_sum() {
        let y: Vec<[f64; 2]> = (0..300)
            .map(|i| {
                let t = i as f64 * 0.37;
                [t.sin() * (1.0 + i as f64 / 50.0), (t * 1.7).cos() * 3.0]
            })
            .collect();
        let tree = QuadTree::build(&y);
        for i in [0usize, 17, 299] {
            let mut exact = [0f64; 3];
            for (j, q) in y.iter().enumerate() {
                if j != i {
                    let (dx, dy) = (y[i][0] - q[0], y[i][1] - q[1]);
                    let w = 1.0 / (1.0 + dx * dx + dy * dy);
                    exact = [exact[0] + w * w * dx, exact[1] + w * w * dy, exact[2] + w];
                }
            }
            let full = tree.repulsion(i as u32, y[i], 0.0);
            for k in 0..3 {
                assert!((full[k] - exact[k]).abs() < 1e-9, "{full:?} {exact:?}");
            }
            let approx = tree.repulsion(i as u32, y[i], 0.5);
            assert!(
                (approx[2] - exact[2]).abs() / exact[2] < 0.02,
                "{approx:?} {exact:?}"
            );
        }
    }
}
