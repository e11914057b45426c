// Shared by the nn tests.
#![allow(dead_code)]

#[path = "../../../adjacent-kernels/tests/common/mod.rs"]
mod tensors;

use adjacent_nn::net::Network;
use burn::module::Module;
use burn::tensor::Tensor;
pub use tensors::*;

/// The network's logits for `x`, in evaluation mode.
pub fn logits(model: &Network, x: &Tensor<4>) -> Vec<f32> {
    model
        .valid()
        .forward(x.clone())
        .to_data()
        .try_to_vec()
        .unwrap()
}
