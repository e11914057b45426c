//! GDAS (Dong and Yang, 2019), this project's remedy for DARTS's collapse: each step samples one
//! operation per edge from the Gumbel-softmax of alpha and runs only that one, so parameter-free
//! operations cannot win by training faster inside a weighted sum (on NAS-Bench-201 DARTS returns
//! the all-skip cell, GDAS 93.61% cells in the benchmark paper). The sample's straight-through
//! weights (one-hot forward, softmax gradient) carry alpha's gradient. The temperature falls
//! linearly from 10 to 0.1 over the search; the returned cell is alpha's argmax.

use adjacent_core::spaces::nb201::{Cell, EDGE_COUNT};
use adjacent_core::strategy::derive_seed;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::darts::arch_optimizer;
use super::{
    ArchParams, Choice, Context, EpochStats, Method, OPS, OneShotConfig, Supernet,
    WeightsOptimizer, cross_entropy,
};
use adjacent_nn::NnError;

const TAU_MAX: f64 = 10.0;
const TAU_MIN: f64 = 0.1;

pub(crate) struct Gdas {
    arch: ArchParams,
    optim: ModuleOptimizer,
    arch_lr: f64,
    epochs: usize,
    seed: u64,
}

impl Gdas {
    pub fn new(config: &OneShotConfig, device: &Device) -> Self {
        Gdas {
            arch: ArchParams::new(1e-3, device),
            optim: arch_optimizer(config),
            arch_lr: config.arch_lr,
            epochs: config.epochs,
            seed: config.seed,
        }
    }

    /// The temperature of `epoch` (1-based).
    fn tau(&self, epoch: usize) -> f64 {
        let progress = match self.epochs {
            1 => 1.0,
            n => (epoch - 1) as f64 / (n - 1) as f64,
        };
        TAU_MAX - (TAU_MAX - TAU_MIN) * progress
    }
}

/// One Gumbel-softmax sample of every edge's operation at temperature `tau`: the cell, and its
/// straight-through weights `hard - soft.detach() + soft` (`[6, 5]`).
pub fn sample(arch: &ArchParams, tau: f64, rng: &mut ChaCha8Rng) -> (Cell, Tensor<2>) {
    let alpha = arch.alpha.val();
    let device = alpha.device();
    let shape = [EDGE_COUNT, OPS.len()];
    let gumbel: Vec<f32> = (0..EDGE_COUNT * OPS.len())
        .map(|_| {
            let u: f64 = rng.random_range(1e-10..1.0);
            -(-u.ln()).ln() as f32
        })
        .collect();
    let gumbel = Tensor::<2>::from_data(TensorData::new(gumbel, shape), &device);
    let soft = softmax((log_softmax(alpha, 1) + gumbel).div_scalar(tau), 1);
    let values: Vec<f32> = soft
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 values");
    let chosen: [usize; EDGE_COUNT] = std::array::from_fn(|e| {
        let row = &values[e * OPS.len()..(e + 1) * OPS.len()];
        (0..OPS.len())
            .reduce(|a, b| if row[b] > row[a] { b } else { a })
            .expect("five ops")
    });
    let hard: Vec<f32> = (0..EDGE_COUNT * OPS.len())
        .map(|i| f32::from(chosen[i / OPS.len()] == i % OPS.len()))
        .collect();
    let hard = Tensor::<2>::from_data(TensorData::new(hard, shape), &device);
    let weights = hard - soft.clone().detach() + soft;
    (Cell::new(chosen.map(|o| OPS[o])), weights)
}

impl Method for Gdas {
    fn epoch(
        &mut self,
        mut net: Supernet,
        ctx: &Context,
        epoch: usize,
        weights: &mut WeightsOptimizer,
    ) -> Result<(Supernet, EpochStats), NnError> {
        let tau = self.tau(epoch);
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, 1000 + epoch as u64));
        let (mut train_sum, mut arch_sum, mut steps) = (0.0, 0.0, 0usize);
        ctx.for_each_pair(epoch, |_, train, valid| {
            // alpha's step on the architecture half, through a sampled path.
            let (cell, w) = sample(&self.arch, tau, &mut rng);
            let loss = cross_entropy(
                net.forward(valid.images, &Choice::Sampled(cell, w)),
                valid.labels,
            );
            arch_sum += loss.clone().into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &self.arch);
            self.arch = self.optim.step(self.arch_lr, self.arch.clone(), grads);
            // The weights' step on another sample's path (its weights are one in value).
            let (cell, _) = sample(&self.arch, tau, &mut rng);
            let value;
            (net, value) = weights.step_on(net.clone(), &Choice::Path(cell), train, epoch)?;
            train_sum += value;
            steps += 1;
            Ok(())
        })?;
        let n = steps.max(1) as f64;
        Ok((
            net,
            EpochStats {
                train_loss: train_sum / n,
                arch_loss: Some(arch_sum / n),
                tau: Some(tau),
                ..EpochStats::default()
            },
        ))
    }

    fn probabilities(&self) -> Option<Vec<[f64; 5]>> {
        Some(self.arch.probabilities())
    }
}
