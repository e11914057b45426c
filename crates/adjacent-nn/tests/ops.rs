//! Each operation's forward pass against a direct reference implementation, and its backward pass
//! against central finite differences.

mod common;

use adjacent_core::spaces::nb201::{Cell, Op};
use adjacent_nn::net::{CellModule, Edge, Reduction, ReluConvBn};
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use common::seeded;

const SHAPE: [usize; 4] = [2, 3, 5, 5];

fn device() -> Device {
    let d = Device::flex().autodiff();
    d.seed(7);
    d
}

fn values(t: &Tensor<4>) -> Vec<f32> {
    t.to_data().try_to_vec::<f32>().unwrap()
}

/// Checks d(sum(weights * f(x)))/dx from autodiff against central differences at every input
/// coordinate. A composite function has ReLU kinks, where a finite difference that straddles one
/// is wrong; so a few coordinates (at most 10%) may miss, and only where a ten times smaller step
/// agrees better: the mark of a kink, where a wrong gradient would stay wrong.
fn check_input_gradient(name: &str, f: &dyn Fn(Tensor<4>) -> Tensor<4>, device: &Device) {
    let x = Tensor::<4>::random(SHAPE, Distribution::Normal(0.0, 1.0), device).require_grad();
    let out_shape = f(x.clone()).shape();
    let weights = Tensor::<4>::random(out_shape, Distribution::Normal(0.0, 1.0), device);
    let objective = |x: Tensor<4>| (f(x) * weights.clone()).sum();
    let grads = objective(x.clone()).backward();
    let analytic: Vec<f32> = x
        .grad(&grads)
        .expect("x has a gradient")
        .to_data()
        .try_to_vec()
        .unwrap();
    let base = values(&x);
    let error_at = |i: usize, eps: f32| {
        let at = |delta: f32| {
            let mut v = base.clone();
            v[i] += delta;
            let xi = Tensor::<4>::from_data(TensorData::new(v, SHAPE), device);
            objective(xi).into_scalar::<f32>()
        };
        let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
        (numeric - analytic[i]).abs() / (1.0 + numeric.abs())
    };
    let misses: Vec<(usize, f32)> = (0..base.len())
        .map(|i| (i, error_at(i, 1e-3)))
        .filter(|&(_, e)| e > 2e-2)
        .collect();
    assert!(
        misses.len() * 10 <= base.len(),
        "{name}: {} of {} coordinates miss: {misses:?}",
        misses.len(),
        base.len()
    );
    for (i, e) in misses {
        let smaller = error_at(i, 1e-4);
        assert!(
            smaller < e,
            "{name}: coordinate {i} misses by {e}, and by {smaller} with a smaller step"
        );
    }
}

#[test]
fn every_cell_operation_passes_the_gradient_check() {
    let _seeded = seeded();
    let device = device();
    for op in [
        Op::SkipConnect,
        Op::NorConv1x1,
        Op::NorConv3x3,
        Op::AvgPool3x3,
    ] {
        let edge = Edge::new(op, 3, &device);
        check_input_gradient(op.name(), &|x| edge.forward(x).expect("not none"), &device);
    }
    assert!(
        Edge::new(Op::None, 3, &device)
            .forward(Tensor::zeros(SHAPE, &device))
            .is_none()
    );
}

#[test]
fn a_whole_cell_and_a_reduction_block_pass_the_gradient_check() {
    let _seeded = seeded();
    let device = device();
    let cell: Cell =
        "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
    let module = CellModule::new(&cell, 3, &device);
    check_input_gradient("cell", &|x| module.forward(x), &device);
    let reduction = Reduction::new(3, 4, &device);
    check_input_gradient("reduction", &|x| reduction.forward(x), &device);
}

#[test]
fn conv_weight_gradient_matches_finite_differences() {
    let _seeded = seeded();
    let device = device();
    let op = ReluConvBn::new(3, 3, 3, 1, &device);
    let x = Tensor::<4>::random(SHAPE, Distribution::Normal(0.0, 1.0), &device);
    let weights = Tensor::<4>::random(SHAPE, Distribution::Normal(0.0, 1.0), &device);
    let grads = (op.forward(x.clone()) * weights.clone()).sum().backward();
    let w = op.conv.weight.val();
    let analytic: Vec<f32> = w.grad(&grads).unwrap().to_data().try_to_vec().unwrap();
    let base: Vec<f32> = w.to_data().try_to_vec().unwrap();
    let shape = w.shape();
    let eps = 1e-2;
    for i in (0..base.len()).step_by(7) {
        let at = |delta: f32| {
            let mut v = base.clone();
            v[i] += delta;
            let mut changed = op.clone();
            changed.conv.weight = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(v, shape.clone()),
                &device,
            ));
            (changed.forward(x.clone()) * weights.clone())
                .sum()
                .into_scalar::<f32>()
        };
        let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
        assert!(
            (numeric - analytic[i]).abs() / (1.0 + numeric.abs()) < 2e-2,
            "weight {i}: {numeric} vs {}",
            analytic[i]
        );
    }
}

/// Direct 2-D convolution, stride 1, zero padding k/2, no bias.
fn reference_conv(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    cout: usize,
    k: usize,
) -> Vec<f32> {
    let pad = (k / 2) as i64;
    let mut out = vec![0f32; n * cout * h * w];
    for b in 0..n {
        for o in 0..cout {
            for y in 0..h {
                for xx in 0..w {
                    let mut s = 0f32;
                    for i in 0..c {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (sy, sx) =
                                    (y as i64 + ky as i64 - pad, xx as i64 + kx as i64 - pad);
                                if sy >= 0 && sy < h as i64 && sx >= 0 && sx < w as i64 {
                                    s += x[((b * c + i) * h + sy as usize) * w + sx as usize]
                                        * weight[((o * c + i) * k + ky) * k + kx];
                                }
                            }
                        }
                    }
                    out[((b * cout + o) * h + y) * w + xx] = s;
                }
            }
        }
    }
    out
}

#[test]
fn relu_conv_bn_forward_matches_a_direct_implementation() {
    let _seeded = seeded();
    let device = Device::flex();
    for k in [1, 3] {
        let op = ReluConvBn::new(3, 4, k, 1, &device).valid();
        let x = Tensor::<4>::random(SHAPE, Distribution::Normal(0.0, 1.0), &device);
        let got = values(&op.forward(x.clone()));
        let relu: Vec<f32> = values(&x).iter().map(|v| v.max(0.0)).collect();
        let weight: Vec<f32> = op.conv.weight.val().to_data().try_to_vec().unwrap();
        // A fresh batch norm in evaluation mode: running mean 0, variance 1, gamma 1, beta 0.
        let expected: Vec<f32> = reference_conv(&relu, SHAPE, &weight, 4, k)
            .iter()
            .map(|v| v / (1.0f32 + 1e-5).sqrt())
            .collect();
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "k={k}: {worst}");
    }
}

#[test]
fn average_pooling_does_not_count_padding() {
    let _seeded = seeded();
    let device = Device::flex();
    let edge = Edge::new(Op::AvgPool3x3, 1, &device);
    let x = Tensor::<4>::from_data(
        TensorData::new((0..9).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 3, 3]),
        &device,
    );
    let got = values(&edge.forward(x).unwrap());
    // Corner (0,0) averages the 4 real neighbours 0, 1, 3, 4; the centre averages all 9.
    assert!((got[0] - 2.0).abs() < 1e-6, "{got:?}");
    assert!((got[4] - 4.0).abs() < 1e-6, "{got:?}");
    assert!((got[1] - 2.5).abs() < 1e-6, "{got:?}");
}

#[test]
fn a_cell_without_a_path_outputs_zeros() {
    let _seeded = seeded();
    let device = Device::flex();
    let cell: Cell = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
        .parse()
        .unwrap();
    let module = CellModule::new(&cell, 3, &device);
    let out = module.forward(Tensor::random(
        SHAPE,
        Distribution::Normal(0.0, 1.0),
        &device,
    ));
    assert_eq!(out.dims(), SHAPE);
    assert!(values(&out).iter().all(|v| *v == 0.0));
}
