use std::time::Instant;

use adjacent_core::network::NetworkArch;
use adjacent_nn::net::Network;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig, momentum::MomentumConfig};
use burn::prelude::*;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (c, n, ch, hw, batch) = (args[0], args[1], args[2], args[3], args[4]);
    let cell = adjacent_core::cell::DEFAULT_CELL.parse().unwrap();
    let arch = NetworkArch::uniform(cell, c, n, ch, 10);
    let device = Device::flex().autodiff();
    let mut model = Network::new(&arch, &device);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let x = Tensor::<4>::random(
        [batch, ch, hw, hw],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let y = Tensor::<1, Int>::from_data(
        TensorData::new(
            (0..batch as i64).map(|i| i % 10).collect::<Vec<_>>(),
            [batch],
        ),
        &device,
    );
    for step in 0..6 {
        let t = Instant::now();
        let logits = model.forward(x.clone());
        let loss = loss_fn.forward(logits, y.clone());
        let grads = loss.backward();
        let grads = GradientsParams::from_grads(grads, &model);
        model = optim.step(0.01, model, grads);
        let l: f32 = loss.into_scalar::<f32>();
        let dt = t.elapsed().as_secs_f64();
        println!(
            "step {step}: loss {l:.4} {:.3}s {:.1} img/s",
            dt,
            batch as f64 / dt
        );
    }
}
