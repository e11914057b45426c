//! Batch norm in training, as one operation on `Autodiff<flex>` with its own backward pass. burn
//! computes it from generic tensor operations: each statistic transposes the activation to
//! `[channels, batch * pixels]` (a copy), and the backward pass does so twice more and runs a
//! dozen element-wise passes. Here every pass reads the NCHW activation in place, plane by plane.
//! Elsewhere (inference, other backends, other dtypes) burn's batch norm runs.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::BatchNorm;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use crate::conv::{enabled, f32s, filled, flex, to_contiguous};

type AdTensor = <Autodiff<Flex> as burn::backend::BackendTypes>::FloatTensorPrimitive;

/// An activation `[n, c, pixels]` (NCHW with the pixels of a plane flattened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Planes {
    n: usize,
    c: usize,
    pixels: usize,
}

impl Planes {
    /// The planes of channel `c`, image by image.
    fn of<'a>(&self, data: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        let (stride, pixels) = (self.c * self.pixels, self.pixels);
        (0..self.n).map(move |b| &data[b * stride + c * pixels..b * stride + (c + 1) * pixels])
    }

    fn count(&self) -> f64 {
        (self.n * self.pixels) as f64
    }
}

/// Independent accumulators of [`plane_sum`]: enough to keep the adds from waiting on each
/// other and to let them vectorize.
const LANES: usize = 16;

/// The sum of `f(a[i], b[i])` over one plane: in f32 over `LANES` accumulators (each sums a
/// sixteenth of the plane, a few dozen values), then in f64. A single running f64 sum costs an
/// add's latency per element, which made these sums the slowest part of a small network's step.
fn plane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f64 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(&a, &b)| f(a, b) as f64)
        .sum();
    for (a, b) in a_chunks.zip(b_chunks) {
        for ((lane, &a), &b) in lanes.iter_mut().zip(a).zip(b) {
            *lane += f(a, b);
        }
    }
    lanes.iter().map(|&v| v as f64).sum::<f64>() + rest
}

/// Per channel: the mean and the biased variance of `x` (summed plane by plane in f64).
fn statistics(p: Planes, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    (0..p.c)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = p.of(x, c).map(|pl| plane_sum(pl, pl, |v, _| v)).sum();
            let mean = sum / p.count();
            let m = mean as f32;
            let squares: f64 = p
                .of(x, c)
                .map(|pl| plane_sum(pl, pl, |v, _| (v - m) * (v - m)))
                .sum();
            (m, (squares / p.count()) as f32)
        })
        .unzip()
}

fn inverse_std(variance: &[f32], epsilon: f64) -> Vec<f32> {
    variance
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect()
}

/// `y = (x - mean) * inv_std * gamma + beta`, channel by channel.
fn normalize(
    p: Planes,
    x: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    beta: &[f32],
) -> Vec<f32> {
    // Written, not zeroed first: zeroing ran on one thread (1% of a two-thread step, perf).
    filled(x.len(), |y| {
        y.par_chunks_mut(p.pixels)
            .zip(x.par_chunks(p.pixels))
            .enumerate()
            .for_each(|(plane, (yp, xp))| {
                let c = plane % p.c;
                let scale = inv_std[c] * gamma[c];
                let shift = beta[c] - mean[c] * scale;
                for (y, &x) in yp.iter_mut().zip(xp) {
                    y.write(x * scale + shift);
                }
            })
    })
}

/// The gradients of x, gamma and beta given the output's gradient `dy`.
fn backward(
    p: Planes,
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    // Per channel: the sum of dy (beta's gradient) and of dy * x_hat (gamma's).
    let (dbeta, dgamma): (Vec<f32>, Vec<f32>) = (0..p.c)
        .into_par_iter()
        .map(|c| {
            let (mut sum, mut dot) = (0.0f64, 0.0f64);
            for (xp, dyp) in p.of(x, c).zip(p.of(dy, c)) {
                sum += plane_sum(dyp, dyp, |d, _| d);
                dot += plane_sum(xp, dyp, |x, d| d * (x - mean[c]));
            }
            (sum as f32, (dot * inv_std[c] as f64) as f32)
        })
        .unzip();
    // dx = gamma * inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat))
    let count = p.count() as f32;
    let dx = filled(x.len(), |dx| {
        dx.par_chunks_mut(p.pixels)
            .zip(x.par_chunks(p.pixels).zip(dy.par_chunks(p.pixels)))
            .enumerate()
            .for_each(|(plane, (dxp, (xp, dyp)))| {
                let c = plane % p.c;
                let scale = gamma[c] * inv_std[c];
                let (mean_dy, mean_dot) = (dbeta[c] / count, dgamma[c] / count);
                for ((dx, &x), &d) in dxp.iter_mut().zip(xp).zip(dyp) {
                    let x_hat = (x - mean[c]) * inv_std[c];
                    dx.write(scale * (d - mean_dy - x_hat * mean_dot));
                }
            })
    });
    (dx, dgamma, dbeta)
}

/// `bn` applied to `x`: in training on `Autodiff<flex>`, one fused operation that also updates the
/// running statistics as burn does; otherwise burn's batch norm.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    if !(training && enabled() && x.dtype() == DType::F32) {
        return bn.forward(x);
    }
    let [n, c, h, w] = x.dims();
    let device = x.device();
    let (Ok(xa), Ok(ga), Ok(ba)) = (
        x.clone().try_into_primitive::<Autodiff<Flex>>(),
        bn.gamma.val().try_into_primitive::<Autodiff<Flex>>(),
        bn.beta.val().try_into_primitive::<Autodiff<Flex>>(),
    ) else {
        return bn.forward(x);
    };
    let planes = Planes {
        n,
        c,
        pixels: h * w,
    };
    let (out, mean, variance) = BatchNormBackward {
        planes,
        shape: [n, c, h, w],
        epsilon: bn.epsilon,
    }
    .record(xa, ga, ba);
    let stat = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [c]), &device);
    let momentum = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean.update(
        running_mean
            .mul_scalar(1.0 - momentum)
            .add(stat(mean).mul_scalar(momentum))
            .detach(),
    );
    bn.running_var.update(
        running_var
            .mul_scalar(1.0 - momentum)
            .add(stat(variance).mul_scalar(momentum))
            .detach(),
    );
    Tensor::from_primitive::<Autodiff<Flex>>(out)
}

/// The autodiff operation; its state keeps the statistics the backward pass needs.
#[derive(Debug)]
struct BatchNormBackward {
    planes: Planes,
    shape: [usize; 4],
    epsilon: f64,
}

impl BatchNormBackward {
    /// The output, and the batch's mean and biased variance per channel.
    fn record(
        self,
        x: AdTensor,
        gamma: AdTensor,
        beta: AdTensor,
    ) -> (AdTensor, Vec<f32>, Vec<f32>) {
        let p = self.planes;
        let xf = to_contiguous(x.primitive().clone());
        let (gf, bf) = (
            to_contiguous(gamma.primitive().clone()),
            to_contiguous(beta.primitive().clone()),
        );
        let (mean, variance) = statistics(p, f32s(&xf));
        let inv_std = inverse_std(&variance, self.epsilon);
        let y = flex(
            normalize(p, f32s(&xf), &mean, &inv_std, f32s(&gf), f32s(&bf)),
            &self.shape,
        );
        let out = match self
            .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                prep.finish((x_state, gamma_state, mean.clone(), inv_std), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (out, mean, variance)
    }
}

impl Backward<Flex, 3> for BatchNormBackward {
    type State = (NodeId, NodeId, Vec<f32>, Vec<f32>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let p = self.planes;
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy: FlexTensor = to_contiguous(grads.consume::<Flex>(&ops.node));
        let (x_state, gamma_state, mean, inv_std) = ops.state;
        let x = to_contiguous(checkpointer.retrieve_node_output::<FlexTensor>(x_state));
        let gamma = to_contiguous(checkpointer.retrieve_node_output::<FlexTensor>(gamma_state));
        let (dx, dgamma, dbeta) = backward(p, f32s(&x), f32s(&dy), &mean, &inv_std, f32s(&gamma));
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex(dx, &self.shape));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex(dgamma, &[p.c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex(dbeta, &[p.c]));
        }
    }
}
