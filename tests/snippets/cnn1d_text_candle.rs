// 1-D CNN on first names: the Glassbox project as candle code (inference), written by Glassbox.
// Load it with the weights Glassbox exports (File > Export model > Weights):
//     let vb = unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&["model.safetensors"], candle_core::DType::F32, &candle_core::Device::Cpu)? };
//     let model = Model::load(vb)?;
//     let y = model.forward(&x)?; // x: a batch shaped like the Input, batch first
// Needs candle-core and candle-nn (0.11).

use candle_core::{Result, Tensor};

pub struct Model {
    p_embed_weight: Tensor,
    p_conv1_weight: Tensor,
    p_conv1_bias: Tensor,
    p_conv2_weight: Tensor,
    p_conv2_bias: Tensor,
    p_head_weight: Tensor,
    p_head_bias: Tensor,
}

impl Model {
    pub fn load(vb: candle_nn::VarBuilder) -> Result<Self> {
        Ok(Self {
            p_embed_weight: vb.get((56, 16,), "embed.weight")?,
            p_conv1_weight: vb.get((64, 16, 3,), "conv1.weight")?,
            p_conv1_bias: vb.get((64,), "conv1.bias")?,
            p_conv2_weight: vb.get((64, 64, 3,), "conv2.weight")?,
            p_conv2_bias: vb.get((64,), "conv2.bias")?,
            p_head_weight: vb.get((2, 64,), "head.weight")?,
            p_head_bias: vb.get((2,), "head.bias")?,
        })
    }

    #[allow(clippy::let_and_return)]
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let v0 = x.clone(); // input
        let v1 = self.p_embed_weight.index_select(&v0.flatten_all()?, 0)?.reshape((v0.dim(0)?, v0.dim(1)?, 16))?; // embed
        let v2 = v1.transpose(1, 2)?.contiguous()?.conv1d(&self.p_conv1_weight, 1, 1, 1, 1)?.broadcast_add(&self.p_conv1_bias.reshape((1, 64, 1))?)?.transpose(1, 2)?.contiguous()?; // conv1
        let v3 = v2.relu()?; // relu1
        let v4 = v3.transpose(1, 2)?.contiguous()?.conv1d(&self.p_conv2_weight, 1, 1, 1, 1)?.broadcast_add(&self.p_conv2_bias.reshape((1, 64, 1))?)?.transpose(1, 2)?.contiguous()?; // conv2
        let v5 = v4.relu()?; // relu2
        let v6 = v5.max(1)?; // pool
        let v7 = v6.clone(); // drop
        let v8 = v7.broadcast_matmul(&self.p_head_weight.t()?)?.broadcast_add(&self.p_head_bias)?; // head
        Ok(v8)
    }
}
