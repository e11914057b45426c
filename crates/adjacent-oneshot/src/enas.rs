//! ENAS (Pham et al., 2018) in the NAS-Bench-201 space: a policy samples the path each step of the
//! shared weights trains; between the epochs the policy learns by REINFORCE, its reward a sampled
//! path's accuracy on a batch of the architecture half, less a moving-average baseline, plus a
//! small entropy bonus. The policy is a logit per edge and operation (the benchmark's space has
//! six independent choices, so the paper's LSTM has nothing to carry between them). The returned
//! cell is the policy's most likely one.

use adjacent_core::spaces::nb201::{Cell, EDGE_COUNT};
use adjacent_core::strategy::derive_seed;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    ArchParams, Choice, Context, EpochStats, Method, OPS, OneShotConfig, Supernet,
    WeightsOptimizer, path_accuracy, weights_epoch,
};
use adjacent_nn::NnError;

/// The baseline's decay: `b <- DECAY * b + (1 - DECAY) * reward`.
const BASELINE_DECAY: f64 = 0.95;
/// Weight of the policy's entropy in its loss, against early collapse.
const ENTROPY: f64 = 1e-3;

pub(crate) struct Enas {
    policy: ArchParams,
    optim: ModuleOptimizer,
    lr: f64,
    steps: usize,
    seed: u64,
    baseline: Option<f64>,
}

impl Enas {
    pub fn new(config: &OneShotConfig, device: &Device) -> Self {
        Enas {
            policy: ArchParams::new(1e-3, device),
            optim: AdamConfig::new().init(),
            lr: config.policy_lr,
            steps: config.policy_steps,
            seed: config.seed,
            baseline: None,
        }
    }

    /// A cell drawn from the policy.
    fn sample(&self, rng: &mut ChaCha8Rng) -> Cell {
        let probabilities = self.policy.probabilities();
        Cell::new(std::array::from_fn(|e| {
            let u: f64 = rng.random_range(0.0..1.0);
            let mut total = 0.0;
            let row = probabilities[e];
            let pick = (0..OPS.len())
                .find(|&o| {
                    total += row[o];
                    u < total
                })
                .unwrap_or(OPS.len() - 1);
            OPS[pick]
        }))
    }
}

/// The policy's loss for one sampled `cell` with `advantage` (reward less baseline):
/// `-advantage * log p(cell) - ENTROPY * H(policy)`.
fn policy_loss(policy: &ArchParams, cell: &Cell, advantage: f64) -> Tensor<1> {
    let log_p = log_softmax(policy.alpha.val(), 1);
    let device = log_p.device();
    let chosen: Vec<f32> = (0..EDGE_COUNT * OPS.len())
        .map(|i| f32::from(cell.op(i / OPS.len()) == OPS[i % OPS.len()]))
        .collect();
    let mask = Tensor::<2>::from_data(TensorData::new(chosen, [EDGE_COUNT, OPS.len()]), &device);
    let log_prob = (log_p.clone() * mask).sum();
    let entropy = -(log_p.clone().exp() * log_p).sum();
    log_prob.mul_scalar(-advantage) - entropy.mul_scalar(ENTROPY)
}

impl Method for Enas {
    fn epoch(
        &mut self,
        net: Supernet,
        ctx: &Context,
        epoch: usize,
        weights: &mut WeightsOptimizer,
    ) -> Result<(Supernet, EpochStats), NnError> {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, 4000 + epoch as u64));
        // The shared weights, on paths the policy samples.
        let (net, train_loss) = weights_epoch(net, ctx, epoch, weights, || {
            Choice::Path(self.sample(&mut rng))
        })?;
        // The policy, by REINFORCE on the architecture half.
        let mut rewards = 0.0;
        for batch in ctx.arch_batches(epoch, self.steps) {
            let cell = self.sample(&mut rng);
            let reward = path_accuracy(&net, &cell, std::slice::from_ref(&batch)) / 100.0;
            let baseline = self.baseline.unwrap_or(reward);
            let loss = policy_loss(&self.policy, &cell, reward - baseline);
            let grads = GradientsParams::from_grads(loss.backward(), &self.policy);
            self.policy = self.optim.step(self.lr, self.policy.clone(), grads);
            self.baseline = Some(BASELINE_DECAY * baseline + (1.0 - BASELINE_DECAY) * reward);
            rewards += reward;
        }
        Ok((
            net,
            EpochStats {
                train_loss,
                reward: Some(100.0 * rewards / self.steps.max(1) as f64),
                ..EpochStats::default()
            },
        ))
    }

    fn probabilities(&self) -> Option<Vec<[f64; 5]>> {
        Some(self.policy.probabilities())
    }
}
