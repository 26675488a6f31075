//! Optimisers over a model's variables: SGD (momentum, Nesterov), Adam, AdamW, RMSprop.

use crate::model::kernels::{adam_update, AdamStep};
use crate::project::training::Optimizer;
use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};

enum State {
    Empty,
    /// Moments of the fused in-place Adam update (f32 parameters).
    AdamFused {
        m: Vec<f32>,
        v: Vec<f32>,
    },
    Momentum(Tensor),
    Adam {
        m: Tensor,
        v: Tensor,
    },
    Rms {
        sq: Tensor,
        buf: Option<Tensor>,
    },
}

pub struct Optim {
    kind: Optimizer,
    weight_decay: f64,
    params: Vec<(String, Var)>,
    state: Vec<State>,
    t: i32,
}

impl Optim {
    pub fn new(kind: Optimizer, weight_decay: f64, params: Vec<(String, Var)>) -> Self {
        let state = params.iter().map(|_| State::Empty).collect();
        Self {
            kind,
            weight_decay,
            params,
            state,
            t: 0,
        }
    }

    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// One update with learning rate `lr`. Parameters without a gradient are left alone.
    /// Returns the name of the first updated parameter that now holds NaN or infinite values
    /// (ReLU maps NaN to 0, so a poisoned weight can hide behind a finite loss).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<Option<String>> {
        self.t += 1;
        let t = self.t;
        let wd = self.weight_decay;
        let mut first_bad: Option<String> = None;
        for ((name, var), state) in self.params.iter().zip(self.state.iter_mut()) {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            if let (
                Optimizer::Adam { beta1, beta2, eps } | Optimizer::AdamW { beta1, beta2, eps },
                DType::F32,
            ) = (self.kind, var.dtype())
            {
                if matches!(state, State::Empty) {
                    *state = State::AdamFused {
                        m: Vec::new(),
                        v: Vec::new(),
                    };
                }
                if let State::AdamFused { m, v } = state {
                    let step = AdamStep {
                        lr: lr as f32,
                        beta1: beta1 as f32,
                        beta2: beta2 as f32,
                        eps: eps as f32,
                        weight_decay: wd as f32,
                        decoupled: matches!(self.kind, Optimizer::AdamW { .. }),
                        bias1: (1.0 - beta1.powi(t)) as f32,
                        bias2: (1.0 - beta2.powi(t)) as f32,
                    };
                    if adam_update(var.as_tensor(), g, m, v, step)? && first_bad.is_none() {
                        first_bad = Some(name.clone());
                    }
                    continue;
                }
            }
            // Detached copies: update arithmetic must not grow the autograd graph across steps.
            let mut g = g.detach();
            let w = var.as_tensor().detach();
            let decoupled = matches!(self.kind, Optimizer::AdamW { .. });
            if wd > 0.0 && !decoupled {
                g = (g + (&w * wd)?)?;
            }
            let next = match self.kind {
                Optimizer::Sgd { momentum, nesterov } => {
                    let dir = if momentum > 0.0 {
                        let buf = match state {
                            State::Momentum(b) => ((&*b * momentum)? + &g)?,
                            _ => g.clone(),
                        };
                        let dir = if nesterov {
                            (&g + (&buf * momentum)?)?
                        } else {
                            buf.clone()
                        };
                        *state = State::Momentum(buf);
                        dir
                    } else {
                        g
                    };
                    (w - (dir * lr)?)?
                }
                Optimizer::Adam { beta1, beta2, eps } | Optimizer::AdamW { beta1, beta2, eps } => {
                    let (m, v) = match state {
                        State::Adam { m, v } => (
                            ((&*m * beta1)? + (&g * (1.0 - beta1))?)?,
                            ((&*v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?,
                        ),
                        _ => ((&g * (1.0 - beta1))?, (g.sqr()? * (1.0 - beta2))?),
                    };
                    let m_hat = (&m / (1.0 - beta1.powi(t)))?;
                    let v_hat = (&v / (1.0 - beta2.powi(t)))?;
                    let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
                    *state = State::Adam { m, v };
                    let w = if decoupled && wd > 0.0 {
                        (w * (1.0 - lr * wd))?
                    } else {
                        w
                    };
                    (w - (update * lr)?)?
                }
                Optimizer::RmsProp {
                    alpha,
                    eps,
                    momentum,
                } => {
                    let (sq, buf) = match state {
                        State::Rms { sq, buf } => {
                            (((&*sq * alpha)? + (g.sqr()? * (1.0 - alpha))?)?, buf.take())
                        }
                        _ => ((g.sqr()? * (1.0 - alpha))?, None),
                    };
                    let step = (&g / (sq.sqrt()? + eps)?)?;
                    let (step, buf) = if momentum > 0.0 {
                        let b = match buf {
                            Some(b) => ((b * momentum)? + &step)?,
                            None => step,
                        };
                        (b.clone(), Some(b))
                    } else {
                        (step, None)
                    };
                    *state = State::Rms { sq, buf };
                    (w - (step * lr)?)?
                }
            };
            if first_bad.is_none() && !all_finite(&next)? {
                first_bad = Some(name.clone());
            }
            var.set(&next)?;
        }
        Ok(first_bad)
    }
}

/// Whether every value of `t` is finite: x·0 is 0 for every finite x and NaN otherwise, so the
/// sum cannot overflow.
pub(crate) fn all_finite(t: &Tensor) -> Result<bool> {
    let sum = t
        .affine(0.0, 0.0)?
        .sum_all()?
        .to_dtype(DType::F32)?
        .to_scalar::<f32>()?;
    Ok(sum.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// A weight the update makes NaN or infinite is named by the step that made it, for the
    /// fused Adam (checked inside its pass, split across threads) and the tensor-built SGD; a
    /// clean update names none.
    #[test]
    fn the_step_names_the_first_parameter_it_poisoned() {
        let n = 300_000;
        let ones = Tensor::ones(n, DType::F32, &Device::Cpu).unwrap();
        for kind in [
            Optimizer::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            Optimizer::Sgd {
                momentum: 0.0,
                nesterov: false,
            },
        ] {
            let (a, b) = (
                Var::ones(n, DType::F32, &Device::Cpu).unwrap(),
                Var::ones(n, DType::F32, &Device::Cpu).unwrap(),
            );
            let mut optim = Optim::new(
                kind,
                0.0,
                vec![("a".into(), a.clone()), ("b".into(), b.clone())],
            );
            let loss = (a.as_tensor() * &ones).unwrap().sum_all().unwrap();
            let loss = (loss + b.as_tensor().sum_all().unwrap()).unwrap();
            let grads = loss.backward().unwrap();
            assert_eq!(optim.step(&grads, 1e-3).unwrap(), None, "{kind:?}");
            // One element of b's gradient is infinite, late in the vector (the second thread's share).
            let mut poison = vec![1f32; n];
            poison[n - 7] = f32::INFINITY;
            let poison = Tensor::from_vec(poison, n, &Device::Cpu).unwrap();
            let loss = ((a.as_tensor() * &ones).unwrap().sum_all().unwrap()
                + (b.as_tensor() * &poison).unwrap().sum_all().unwrap())
            .unwrap();
            let grads = loss.backward().unwrap();
            assert_eq!(
                optim.step(&grads, 1e-3).unwrap().as_deref(),
                Some("b"),
                "{kind:?}"
            );
        }
    }
}
