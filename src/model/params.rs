//! Parameter storage: a candle `VarMap` filled through a `VarBuilder` whose initial values come
//! from a seeded generator. candle's own CPU initialisers draw from an unseeded thread RNG, so
//! "same seed, same curve" needs this backend.

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Book {
    /// Creation order, so optimisers and reports see parameters in graph order.
    order: Vec<String>,
    /// Names of non-trainable state (BatchNorm running statistics).
    buffers: Vec<String>,
}

/// All variables of one model.
#[derive(Clone)]
pub struct ParamStore {
    varmap: VarMap,
    dtype: DType,
    rng: Arc<Mutex<ChaCha8Rng>>,
    book: Arc<Mutex<Book>>,
}

impl ParamStore {
    /// Parameters in f32, the training type. f64 exists for exact gradient checks.
    pub fn new(seed: u64, dtype: DType) -> Self {
        Self {
            varmap: VarMap::new(),
            dtype,
            rng: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(seed))),
            book: Arc::new(Mutex::new(Book::default())),
        }
    }

    /// A VarBuilder that creates missing variables here with seeded initial values.
    pub fn var_builder(&self) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), self.dtype, Device::Cpu)
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Registers non-trainable state under `name` with `value`.
    pub fn buffer(&self, name: &str, value: Tensor) -> Result<Var> {
        let var = Var::from_tensor(&value)?;
        lock(self.varmap.data()).insert(name.to_string(), var.clone());
        let mut book = lock(&self.book);
        book.order.push(name.to_string());
        book.buffers.push(name.to_string());
        Ok(var)
    }

    /// Every variable, trainable or not, in creation order.
    pub fn all(&self) -> Vec<(String, Var)> {
        let data = lock(self.varmap.data());
        lock(&self.book)
            .order
            .iter()
            .filter_map(|n| data.get(n).map(|v| (n.clone(), v.clone())))
            .collect()
    }

    /// Trainable parameters in creation order.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        let buffers = lock(&self.book).buffers.clone();
        self.all()
            .into_iter()
            .filter(|(n, _)| !buffers.contains(n))
            .collect()
    }

    pub fn is_buffer(&self, name: &str) -> bool {
        lock(&self.book).buffers.iter().any(|b| b == name)
    }

    fn init_values(&self, shape: &Shape, init: Init) -> Result<Tensor> {
        let n = shape.elem_count();
        let mut rng = lock(&self.rng);
        let values: Vec<f32> = match init {
            Init::Const(c) => vec![c as f32; n],
            Init::Uniform { lo, up } => (0..n).map(|_| rng.random_range(lo..up) as f32).collect(),
            Init::Randn { mean, stdev } => normal(&mut rng, mean, stdev, n),
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let std = non_linearity.gain() / (fan.for_shape(shape).max(1) as f64).sqrt();
                match dist {
                    candle_nn::init::NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        (0..n)
                            .map(|_| rng.random_range(-bound..bound) as f32)
                            .collect()
                    }
                    candle_nn::init::NormalOrUniform::Normal => normal(&mut rng, 0.0, std, n),
                }
            }
        };
        Tensor::from_vec(values, shape.clone(), &Device::Cpu)?.to_dtype(self.dtype)
    }
}

fn normal(rng: &mut ChaCha8Rng, mean: f64, std: f64, n: usize) -> Vec<f32> {
    match Normal::new(mean, std.max(0.0)) {
        Ok(d) => (0..n).map(|_| d.sample(rng) as f32).collect(),
        Err(_) => vec![mean as f32; n],
    }
}

/// Poisoning only follows a panic elsewhere, which the worker already reports; keep going.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimpleBackend for ParamStore {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        if let Some(existing) = lock(self.varmap.data()).get(name) {
            let t = existing.as_tensor();
            if t.shape() != &s {
                candle_core::bail!(
                    "parameter {name} has shape {:?}, expected {:?}",
                    t.dims(),
                    s.dims()
                );
            }
            return t.to_dtype(dtype)?.to_device(dev);
        }
        let var = Var::from_tensor(&self.init_values(&s, h)?)?;
        lock(self.varmap.data()).insert(name.to_string(), var.clone());
        lock(&self.book).order.push(name.to_string());
        Ok(var.as_tensor().clone())
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        match lock(self.varmap.data()).get(name) {
            Some(v) => Ok(v.as_tensor().clone()),
            None => candle_core::bail!("no parameter called {name}"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        lock(self.varmap.data()).contains_key(name)
    }
}
