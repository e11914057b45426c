//! DARTS (Liu, Simonyan and Yang, 2019): every edge's operations weighted by the softmax of the
//! architecture weights alpha; the weights train on one half of the training split (SGD), alpha on
//! the other (Adam), in turn. First order takes alpha's gradient at the current weights; second
//! order at the weights after a virtual SGD step, with the finite-difference Hessian-vector
//! product of the paper. The returned cell is the argmax of every edge.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::{
    ArchParams, Choice, Context, EpochStats, Method, OneShotConfig, Supernet, Tensors,
    WeightsOptimizer, add_scaled, cross_entropy,
};
use adjacent_nn::NnError;
use adjacent_nn::train::grad_norm;

/// The optimizer of architecture weights in DARTS and GDAS: Adam with beta_1 = 0.5 and weight
/// decay, as in the DARTS paper.
pub(crate) fn arch_optimizer(config: &OneShotConfig) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(0.5)
        .with_beta_2(0.999)
        .with_weight_decay(
            (config.arch_weight_decay > 0.0)
                .then(|| WeightDecayConfig::new(config.arch_weight_decay as f32)),
        )
        .init()
}

pub(crate) struct Darts {
    arch: ArchParams,
    optim: ModuleOptimizer,
    arch_lr: f64,
    second_order: bool,
}

impl Darts {
    pub fn new(config: &OneShotConfig, device: &Device, second_order: bool) -> Self {
        Darts {
            arch: ArchParams::new(1e-3, device),
            optim: arch_optimizer(config),
            arch_lr: config.arch_lr,
            second_order,
        }
    }
}

fn loss_value(loss: &Tensor<1>) -> f64 {
    loss.clone().into_scalar::<f32>() as f64
}

/// alpha's first-order gradient, `d L_val(w, alpha) / d alpha`, and the loss.
pub fn first_order_grads(
    net: &Supernet,
    arch: &ArchParams,
    valid: &Tensors,
) -> (GradientsParams, f64) {
    let logits = net.forward(valid.images.clone(), &Choice::Mixed(arch.weights()));
    let loss = cross_entropy(logits, valid.labels.clone());
    let value = loss_value(&loss);
    (GradientsParams::from_grads(loss.backward(), arch), value)
}

/// alpha's second-order gradient (DARTS, equations 7 and 8) and the validation loss:
/// `dL_val(w', a)/da - xi * (dL_train(w+, a)/da - dL_train(w-, a)/da) / (2 eps)`, where
/// `w' = w - xi * dL_train(w, a)/dw` is one virtual SGD step, `w+- = w +- eps * dL_val(w', a)/dw'`
/// and `eps = 0.01 / |dL_val(w', a)/dw'|`.
pub fn second_order_grads(
    net: &Supernet,
    arch: &ArchParams,
    train: &Tensors,
    valid: &Tensors,
    xi: f64,
) -> (GradientsParams, f64) {
    let fixed = || Choice::Mixed(arch.weights().detach());
    let train_loss = |w: &Supernet, choice: &Choice| {
        cross_entropy(
            w.forward(train.images.clone(), choice),
            train.labels.clone(),
        )
    };
    // The virtual step.
    let g_train = GradientsParams::from_grads(train_loss(net, &fixed()).backward(), net);
    let unrolled = add_scaled(net.clone(), &g_train, -xi);
    // Both gradients of the validation loss at the unrolled weights.
    let valid_loss = cross_entropy(
        unrolled.forward(valid.images.clone(), &Choice::Mixed(arch.weights())),
        valid.labels.clone(),
    );
    let value = loss_value(&valid_loss);
    let mut grads = valid_loss.backward();
    let d_alpha = GradientsParams::from_module(&mut grads, arch);
    let d_weights = GradientsParams::from_module(&mut grads, &unrolled);
    // The Hessian-vector product by central differences around w.
    let norm = grad_norm(&unrolled, &d_weights);
    let eps = 0.01 / norm.max(1e-12);
    let alpha_grad_at = |scale: f64| {
        let probe = add_scaled(net.clone(), &d_weights, scale);
        let loss = train_loss(&probe, &Choice::Mixed(arch.weights()));
        GradientsParams::from_grads(loss.backward(), arch)
            .get::<2>(arch.alpha.id)
            .expect("alpha has a gradient")
    };
    let hessian = (alpha_grad_at(eps) - alpha_grad_at(-eps)).div_scalar(2.0 * eps);
    let direct = d_alpha
        .get::<2>(arch.alpha.id)
        .expect("alpha has a gradient");
    let mut out = GradientsParams::new();
    out.register(arch.alpha.id, direct - hessian.mul_scalar(xi));
    (out, value)
}

impl Method for Darts {
    fn epoch(
        &mut self,
        mut net: Supernet,
        ctx: &Context,
        epoch: usize,
        weights: &mut WeightsOptimizer,
    ) -> Result<(Supernet, EpochStats), NnError> {
        let (mut train_sum, mut arch_sum, mut steps) = (0.0, 0.0, 0usize);
        ctx.for_each_pair(epoch, |_, train, valid| {
            // alpha's step on the architecture half.
            let (grads, arch_loss) = match self.second_order {
                true => second_order_grads(&net, &self.arch, &train, &valid, weights.lr()),
                false => first_order_grads(&net, &self.arch, &valid),
            };
            self.arch = self.optim.step(self.arch_lr, self.arch.clone(), grads);
            // The weights' step on the weights' half, alpha fixed.
            let choice = Choice::Mixed(self.arch.weights().detach());
            let value;
            (net, value) = weights.step_on(net.clone(), &choice, train, epoch)?;
            train_sum += value;
            arch_sum += arch_loss;
            steps += 1;
            Ok(())
        })?;
        let n = steps.max(1) as f64;
        Ok((
            net,
            EpochStats {
                train_loss: train_sum / n,
                arch_loss: Some(arch_sum / n),
                ..EpochStats::default()
            },
        ))
    }

    fn probabilities(&self) -> Option<Vec<[f64; 5]>> {
        Some(self.arch.probabilities())
    }
}
