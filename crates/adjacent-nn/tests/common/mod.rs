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

/// A network of `arch` trained for one epoch (batches of 50) on `set`, seeded by `seed`, so that
/// its batch-norm statistics are its own; with the set's normalization and the devices.
pub fn trained_on(
    arch: &adjacent_core::network::NetworkArch,
    set: &adjacent_data::ImageSet,
    seed: u64,
) -> (
    Network,
    adjacent_data::Normalization,
    adjacent_nn::train::Devices,
) {
    use adjacent_nn::train::{self, Devices, TrainConfig};
    let norm = adjacent_data::Normalization::of(set);
    let devices = Devices::new(burn::tensor::Device::flex());
    devices.train.seed(seed);
    let config = TrainConfig {
        epochs: 1,
        batch: 50,
        ..TrainConfig::default()
    };
    let model = Network::new(arch, &devices.train);
    let (model, _, _) =
        train::train(model, set, None, &norm, &config, &devices, &mut |_| {}).unwrap();
    (model, norm, devices)
}
