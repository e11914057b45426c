//! A whole network with adjacent's kernels against the same network with burn's convolution and
//! batch norm.

mod common;

use adjacent_kernels::conv;
use burn::prelude::*;
use burn::tensor::Distribution;
use common::{assert_close, seeded, values};

/// The loss and every gradient of a whole network, with the kernels and with burn's convolution.
#[test]
fn a_whole_network_trains_the_same_with_and_without_the_kernels() {
    use adjacent_core::network::NetworkArch;
    use adjacent_nn::net::Network;
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::nn::loss::CrossEntropyLossConfig;

    /// Every parameter's gradient, in the order the module visits them.
    struct Collect<'a> {
        grads: &'a burn::tensor::Gradients,
        out: Vec<Vec<f32>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = param.val().grad(self.grads) {
                self.out.push(values(g));
            }
        }
    }

    let _seeded = seeded();
    let device = Device::flex().autodiff();
    device.seed(11);
    // Every operation and both reductions (stride-2 3x3 convolutions, 1x1 shortcuts).
    let cell =
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|";
    let arch = NetworkArch::uniform(cell.parse().unwrap(), 4, 2, 3, 10);
    let model = Network::new(&arch, &device);
    let x = Tensor::<4>::random([6, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
    let labels =
        Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 3, 4, 5], [6]), &device);
    let run = || {
        let x = x.clone().require_grad();
        let loss = CrossEntropyLossConfig::new()
            .init(&device)
            .forward(model.forward(x.clone()), labels.clone());
        let value = values(loss.clone())[0];
        let grads = loss.backward();
        let mut collect = Collect {
            grads: &grads,
            out: vec![values(x.grad(&grads).unwrap())],
        };
        model.visit(&mut collect);
        (value, collect.out)
    };
    let (loss, grads) = run();
    let (loss_burn, grads_burn) = conv::with_burn_kernels(run);
    assert!(
        (loss - loss_burn).abs() < 1e-5,
        "{loss} against {loss_burn}"
    );
    assert_eq!(grads.len(), grads_burn.len());
    for (i, (a, b)) in grads.iter().zip(&grads_burn).enumerate() {
        assert_close(&format!("gradient {i}"), a, b, 1e-3);
    }
}
