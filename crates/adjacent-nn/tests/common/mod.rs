// Shared by the nn tests.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};

use adjacent_nn::net::Network;
use burn::module::Module;
use burn::tensor::Tensor;

/// Burn's random generator is shared by the tests of one binary, which run in parallel; a test that
/// seeds it holds this lock so that its seeded draws (inputs, weight initialization) are its own
/// and the test is reproducible.
static SEEDED: Mutex<()> = Mutex::new(());

pub fn seeded() -> MutexGuard<'static, ()> {
    SEEDED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The network's logits for `x`, in evaluation mode.
pub fn logits(model: &Network, x: &Tensor<4>) -> Vec<f32> {
    model
        .valid()
        .forward(x.clone())
        .to_data()
        .try_to_vec()
        .unwrap()
}
