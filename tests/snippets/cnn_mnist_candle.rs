// CNN on MNIST: the Glassbox project as candle code (inference), written by Glassbox.
// Load it with the weights Glassbox exports (File > Export model > Weights):
//     let vb = unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&["model.safetensors"], candle_core::DType::F32, &candle_core::Device::Cpu)? };
//     let model = Model::load(vb)?;
//     let y = model.forward(&x)?; // x: a batch shaped like the Input, batch first
// Needs candle-core and candle-nn (0.11).

use candle_core::{Result, Tensor};

pub struct Model {
    p_conv1_weight: Tensor,
    p_conv1_bias: Tensor,
    p_conv2_weight: Tensor,
    p_conv2_bias: Tensor,
    p_fc1_weight: Tensor,
    p_fc1_bias: Tensor,
    p_fc2_weight: Tensor,
    p_fc2_bias: Tensor,
}

impl Model {
    pub fn load(vb: candle_nn::VarBuilder) -> Result<Self> {
        Ok(Self {
            p_conv1_weight: vb.get((32, 1, 3, 3,), "conv1.weight")?,
            p_conv1_bias: vb.get((32,), "conv1.bias")?,
            p_conv2_weight: vb.get((64, 32, 3, 3,), "conv2.weight")?,
            p_conv2_bias: vb.get((64,), "conv2.bias")?,
            p_fc1_weight: vb.get((128, 3136,), "fc1.weight")?,
            p_fc1_bias: vb.get((128,), "fc1.bias")?,
            p_fc2_weight: vb.get((10, 128,), "fc2.weight")?,
            p_fc2_bias: vb.get((10,), "fc2.bias")?,
        })
    }

    #[allow(clippy::let_and_return)]
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let v0 = x.clone(); // input
        let v1 = v0.conv2d(&self.p_conv1_weight, 1, 1, 1, 1)?.broadcast_add(&self.p_conv1_bias.reshape((1, 32, 1, 1))?)?; // conv1
        let v2 = v1.relu()?; // relu1
        let v3 = v2.max_pool2d_with_stride(2, 2)?; // pool1
        let v4 = v3.conv2d(&self.p_conv2_weight, 1, 1, 1, 1)?.broadcast_add(&self.p_conv2_bias.reshape((1, 64, 1, 1))?)?; // conv2
        let v5 = v4.relu()?; // relu2
        let v6 = v5.max_pool2d_with_stride(2, 2)?; // pool2
        let v7 = v6.flatten_from(1)?; // flatten
        let v8 = v7.broadcast_matmul(&self.p_fc1_weight.t()?)?.broadcast_add(&self.p_fc1_bias)?; // fc1
        let v9 = v8.relu()?; // relu3
        let v10 = v9.broadcast_matmul(&self.p_fc2_weight.t()?)?.broadcast_add(&self.p_fc2_bias)?; // fc2
        Ok(v10)
    }
}
