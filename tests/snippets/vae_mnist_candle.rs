// Variational autoencoder on MNIST: the Glassbox project as candle code (inference), written by Glassbox.
// Load it with the weights Glassbox exports (File > Export model > Weights):
//     let vb = unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&["model.safetensors"], candle_core::DType::F32, &candle_core::Device::Cpu)? };
//     let model = Model::load(vb)?;
//     let y = model.forward(&x)?; // x: a batch shaped like the Input, batch first
// Needs candle-core and candle-nn (0.11).

use candle_core::{Result, Tensor};

pub struct Model {
    p_enc1_weight: Tensor,
    p_enc1_bias: Tensor,
    p_enc2_weight: Tensor,
    p_enc2_bias: Tensor,
    p_stats_weight: Tensor,
    p_stats_bias: Tensor,
    p_dec1_weight: Tensor,
    p_dec1_bias: Tensor,
    p_dec2_weight: Tensor,
    p_dec2_bias: Tensor,
    p_dec3_weight: Tensor,
    p_dec3_bias: Tensor,
}

impl Model {
    pub fn load(vb: candle_nn::VarBuilder) -> Result<Self> {
        Ok(Self {
            p_enc1_weight: vb.get((512, 784,), "enc1.weight")?,
            p_enc1_bias: vb.get((512,), "enc1.bias")?,
            p_enc2_weight: vb.get((128, 512,), "enc2.weight")?,
            p_enc2_bias: vb.get((128,), "enc2.bias")?,
            p_stats_weight: vb.get((4, 128,), "stats.weight")?,
            p_stats_bias: vb.get((4,), "stats.bias")?,
            p_dec1_weight: vb.get((128, 2,), "dec1.weight")?,
            p_dec1_bias: vb.get((128,), "dec1.bias")?,
            p_dec2_weight: vb.get((512, 128,), "dec2.weight")?,
            p_dec2_bias: vb.get((512,), "dec2.bias")?,
            p_dec3_weight: vb.get((784, 512,), "dec3.weight")?,
            p_dec3_bias: vb.get((784,), "dec3.bias")?,
        })
    }

    #[allow(clippy::let_and_return)]
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let v0 = x.clone(); // input
        let v1 = v0.flatten_from(1)?; // flatten
        let v2 = v1.broadcast_matmul(&self.p_enc1_weight.t()?)?.broadcast_add(&self.p_enc1_bias)?; // enc1
        let v3 = v2.relu()?; // enc_relu1
        let v4 = v3.broadcast_matmul(&self.p_enc2_weight.t()?)?.broadcast_add(&self.p_enc2_bias)?; // enc2
        let v5 = v4.relu()?; // enc_relu2
        let v6 = v5.broadcast_matmul(&self.p_stats_weight.t()?)?.broadcast_add(&self.p_stats_bias)?; // stats
        let v7 = v6.narrow(1, 0, 2)?; // latent
        let v8 = v7.broadcast_matmul(&self.p_dec1_weight.t()?)?.broadcast_add(&self.p_dec1_bias)?; // dec1
        let v9 = v8.relu()?; // dec_relu1
        let v10 = v9.broadcast_matmul(&self.p_dec2_weight.t()?)?.broadcast_add(&self.p_dec2_bias)?; // dec2
        let v11 = v10.relu()?; // dec_relu2
        let v12 = v11.broadcast_matmul(&self.p_dec3_weight.t()?)?.broadcast_add(&self.p_dec3_bias)?; // dec3
        let v13 = candle_nn::ops::sigmoid(&v12)?; // pixels
        Ok(v13)
    }
}
