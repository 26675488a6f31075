//! The sequence layers' ONNX patterns: recurrent layers as ONNX's LSTM/GRU/RNN with their
//! gates re-stacked, and self-attention from MatMul, Softmax and reshapes.

use super::builder::Attr::{Int, Ints};
use super::export::LayerExport;
use super::OnnxError;
use crate::graph::{Layer, LayerKind};
use crate::model::WeightTensor;

impl LayerExport<'_> {
    /// LSTM, GRU or RNN over [B, T, F]: ONNX's own recurrent ops read [T, B, F] and order the
    /// gates differently (LSTM i, o, f, c; GRU z, r, h) from Glassbox and PyTorch (i, f, g, o;
    /// r, z, n), so the weights are re-stacked.
    pub(super) fn recurrent(
        &mut self,
        layer: &Layer,
        x: &str,
        f: usize,
        h: usize,
        sequences: bool,
    ) -> Result<(), OnnxError> {
        let (op, gates, order): (&str, usize, &[usize]) = match layer.kind() {
            LayerKind::Lstm => ("LSTM", 4, &[0, 3, 1, 2]),
            LayerKind::Gru => ("GRU", 3, &[1, 0, 2]),
            _ => ("RNN", 1, &[0]),
        };
        let restack = |t: &WeightTensor, cols: usize| -> Vec<f32> {
            order
                .iter()
                .flat_map(|&g| t.data[g * h * cols..(g + 1) * h * cols].iter().copied())
                .collect()
        };
        let wx = restack(self.weight("weight_ih", &[gates * h, f])?, f);
        let wh = restack(self.weight("weight_hh", &[gates * h, h])?, h);
        let bias: Vec<f32> = match layer.kind() {
            LayerKind::Gru => {
                let bx = restack(self.weight("bias_ih", &[gates * h])?, 1);
                let bh = restack(self.weight("bias_hh", &[gates * h])?, 1);
                bx.into_iter().chain(bh).collect()
            }
            _ => {
                let b = restack(self.weight("bias", &[gates * h])?, 1);
                let zeros = vec![0.0; b.len()];
                b.into_iter().chain(zeros).collect()
            }
        };
        let id = self.id;
        let w = self.b.floats(format!("{id}/W"), &[1, gates * h, f], &wx);
        let r = self.b.floats(format!("{id}/R"), &[1, gates * h, h], &wh);
        let bn = self.b.floats(format!("{id}/B"), &[1, 2 * gates * h], &bias);
        let xt = self.op("Transpose", &[x], vec![("perm", Ints(vec![1, 0, 2]))]);
        let (y, y_h) = (self.b.fresh(id, "Y"), self.b.fresh(id, "Y_h"));
        let mut attrs = vec![("hidden_size", Int(h as i64))];
        if layer.kind() == LayerKind::Gru {
            attrs.push(("linear_before_reset", Int(1)));
        }
        self.b.op_multi(
            op,
            id,
            &[&xt, &w, &r, &bn],
            attrs,
            &[y.clone(), y_h.clone()],
        );
        if sequences {
            // Y [T, 1, B, H] → [B, T, H].
            let axes = self.ints("axes", &[1]);
            let ys = self.op("Squeeze", &[&y, &axes], vec![]);
            self.last("Transpose", &[&ys], vec![("perm", Ints(vec![1, 0, 2]))]);
        } else {
            // Y_h [1, B, H] → [B, H].
            let axes = self.ints("axes", &[0]);
            self.last("Squeeze", &[&y_h, &axes], vec![]);
        }
        Ok(())
    }

    /// Multi-head self-attention over [B, T, D] from MatMul, Softmax and reshapes, with the
    /// packed q/k/v projection Glassbox trains (q, k, v one after another, heads contiguous).
    pub(super) fn attention(
        &mut self,
        x: &str,
        t: usize,
        d: usize,
        heads: usize,
        causal: bool,
    ) -> Result<(), OnnxError> {
        let hd = d / heads;
        let wqkv = self.init("qkv_weight", &[3 * d, d])?;
        let bqkv = self.init("qkv_bias", &[3 * d])?;
        let wo = self.init("out_weight", &[d, d])?;
        let bo = self.init("out_bias", &[d])?;
        let qkv = self.linear(x, &wqkv, Some(&bqkv), false);
        let split = self.ints("shape", &[-1, t as i64, 3, heads as i64, hd as i64]);
        let qkv = self.op("Reshape", &[&qkv, &split], vec![]);
        let parts = self.op(
            "Transpose",
            &[&qkv],
            vec![("perm", Ints(vec![2, 0, 3, 1, 4]))],
        );
        let mut pick = |what: &str, index: i64| {
            let idx = self.b.ints(self.id, what, &[], &[index]);
            self.op("Gather", &[&parts, &idx], vec![("axis", Int(0))])
        };
        let (q, k, v) = (pick("q", 0), pick("k", 1), pick("v", 2));
        let kt = self.op("Transpose", &[&k], vec![("perm", Ints(vec![0, 1, 3, 2]))]);
        let scores = self.op("MatMul", &[&q, &kt], vec![]);
        let scale = self.b.scalar(self.id, "scale", 1.0 / (hd as f32).sqrt());
        let mut scores = self.op("Mul", &[&scores, &scale], vec![]);
        if causal {
            let mask: Vec<f32> = (0..t * t)
                .map(|p| {
                    if p % t > p / t {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
                .collect();
            let name = self.b.fresh(self.id, "causal_mask");
            let mask = self.b.floats(name, &[t, t], &mask);
            scores = self.op("Add", &[&scores, &mask], vec![]);
        }
        let p = self.op("Softmax", &[&scores], vec![("axis", Int(-1))]);
        let y = self.op("MatMul", &[&p, &v], vec![]);
        let y = self.op("Transpose", &[&y], vec![("perm", Ints(vec![0, 2, 1, 3]))]);
        let merged = self.ints("shape", &[-1, t as i64, d as i64]);
        let y = self.op("Reshape", &[&y, &merged], vec![]);
        self.linear(&y, &wo, Some(&bo), true);
        Ok(())
    }
}
