//! The trained evaluator: trains a proposal (from scratch, from its parent's weights through a
//! network morphism, or continuing its parent's weights unchanged), validates it, keeps its weights,
//! and records what it cost.

use std::time::Instant;

use adjacent_core::compute;
use adjacent_core::error::BoxError;
use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::schedule::Schedule;
use adjacent_core::space::{ProposalOf, TrialOf};
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::strategy::derive_seed;
use adjacent_core::study::{self, Cost, Evaluation};
use adjacent_core::trial::{Mutation, Outcome, Proposal, TrialState};
use serde::{Deserialize, Serialize};

use crate::error::SearchError;
use adjacent_data::{ImageSet, Normalization};
use adjacent_nn::net::Network;
use adjacent_nn::train::{self, Devices, Event, RunEnd, TrainConfig};
use adjacent_nn::transfer::morph;
use adjacent_nn::weights::WeightStore;

/// How every trial trains: SGD with a cosine learning rate over the trial, so that a trial that
/// starts from trained weights begins with a warm restart (one SGDR cycle per trial).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrialRecipe {
    /// Training of a network trained from scratch when its strategy does not say, in epochs of the
    /// training set (the fidelity of `random` and `evolution`).
    pub scratch_epochs: f64,
    pub batch: usize,
    /// Peak learning rate of a network trained from scratch.
    pub lr: f64,
    /// Peak learning rate of a trial that starts from trained weights (its warm restart).
    pub child_lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub clip_norm: Option<f64>,
    pub label_smoothing: f64,
    /// Random crop and flip; by default on for colour images.
    pub augment: Option<bool>,
}

impl Default for TrialRecipe {
    fn default() -> Self {
        TrialRecipe {
            scratch_epochs: 1.0,
            batch: 128,
            lr: 0.1,
            child_lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            clip_norm: Some(5.0),
            label_smoothing: 0.0,
            augment: None,
        }
    }
}

impl TrialRecipe {
    /// Checks every field, naming the one out of range.
    pub fn validate(&self) -> Result<(), SearchError> {
        if !(self.scratch_epochs > 0.0 && self.scratch_epochs.is_finite()) {
            return Err(SearchError::InvalidSetting {
                field: "scratch_epochs".into(),
                reason: format!("must be a positive number, got {}", self.scratch_epochs),
            });
        }
        if !(self.child_lr > 0.0 && self.child_lr.is_finite()) {
            return Err(SearchError::InvalidSetting {
                field: "child_lr".into(),
                reason: format!("must be a positive number, got {}", self.child_lr),
            });
        }
        Ok(self
            .train_config(1, self.lr, [0.0, 1.0], 0, false)
            .validate()?)
    }

    /// The peak learning rate of a training run: `lr` from scratch or along one schedule shared
    /// through the search (`span`), `child_lr` for a warm restart of trained weights.
    pub fn peak_lr(&self, span: Option<[f64; 2]>, trained_start: bool) -> f64 {
        match (span, trained_start) {
            (None, true) => self.child_lr,
            _ => self.lr,
        }
    }

    /// Training on `images` images through `span` of a cosine schedule whose peak is `lr`.
    pub(crate) fn train_config(
        &self,
        images: usize,
        lr: f64,
        span: [f64; 2],
        seed: u64,
        colour: bool,
    ) -> TrainConfig {
        TrainConfig {
            epochs: 1,
            images: Some(images),
            span,
            batch: self.batch,
            lr,
            schedule: Schedule::Cosine,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            clip_norm: self.clip_norm,
            label_smoothing: self.label_smoothing,
            augment: self.augment.unwrap_or(colour),
            seed,
        }
    }
}

/// The images a search trains and validates on.
pub struct SearchData {
    pub train: ImageSet,
    pub valid: ImageSet,
    pub norm: Normalization,
    /// The order in which probes take the validation images they are scored on: seeded and
    /// random, because the validation set keeps the data's order, and an image folder's is class
    /// by class (its first 512 images would be one class, in batches of one class).
    score_order: Vec<usize>,
}

impl SearchData {
    /// The search's images; `seed` orders the validation images probes are scored on.
    pub fn new(train: ImageSet, valid: ImageSet, norm: Normalization, seed: u64) -> SearchData {
        let score_order = valid.random_order(derive_seed(seed, 0x0005_C04E));
        SearchData {
            train,
            valid,
            norm,
            score_order,
        }
    }

    /// The `n` validation images (at most all of them) that every probe asking for `n` is scored
    /// on: the same images for each, a random sample of the classes.
    pub fn scoring_set(&self, n: usize) -> ImageSet {
        self.valid
            .select(&self.score_order[..n.min(self.score_order.len())])
    }

    /// Forward-pass FLOPs of `arch` on one image of this data.
    pub fn forward_flops(&self, arch: &NetworkArch) -> u64 {
        arch.cost(self.train.height).flops
    }

    /// FLOPs of training `proposal`'s network on `images` images, and of validating and scoring it
    /// as it asks.
    pub fn trial_flops(&self, proposal: &ProposalOf<GrownSpace>, images: usize) -> u64 {
        let forward = self.forward_flops(&proposal.genotype);
        let validation = match proposal.validate {
            true => compute::eval_flops(forward, self.valid.len() as u64),
            false => 0,
        };
        let score = compute::eval_flops(forward, self.score_images(proposal) as u64);
        compute::training_flops(forward, images as u64) + validation + score
    }

    /// Validation images a proposal is scored on: as many as it asks, at most all of them.
    pub fn score_images(&self, proposal: &ProposalOf<GrownSpace>) -> usize {
        proposal
            .score
            .map_or(0, |n| (n as usize).min(self.valid.len()))
    }
}

/// Steps of training whose losses make a trial's `last_loss`.
const LAST_STEPS: usize = 10;

/// What one training run of the evaluator did.
pub(crate) struct Trained {
    pub model: Network,
    pub images: usize,
    pub losses: Vec<f64>,
    pub end: RunEnd,
}

impl Trained {
    pub fn first_loss(&self) -> Option<f64> {
        self.losses.first().copied()
    }

    pub fn last_loss(&self) -> Option<f64> {
        let tail = &self.losses[self.losses.len().saturating_sub(LAST_STEPS)..];
        (!tail.is_empty()).then(|| tail.iter().sum::<f64>() / tail.len() as f64)
    }

    /// Mean loss of the last quarter of the steps (at least one).
    pub fn tail_loss(&self) -> Option<f64> {
        let tail = &self.losses[self.losses.len() - self.losses.len().div_ceil(4)..];
        (!tail.is_empty()).then(|| tail.iter().sum::<f64>() / tail.len() as f64)
    }

    pub fn mean_loss(&self) -> Option<f64> {
        let finite: Vec<f64> = self
            .losses
            .iter()
            .copied()
            .filter(|l| l.is_finite())
            .collect();
        (!finite.is_empty()).then(|| finite.iter().sum::<f64>() / finite.len() as f64)
    }
}

/// Trains proposals and keeps their weights.
pub struct TrainingEvaluator<'a> {
    /// The space whose moves turn a parent into its children.
    pub space: &'a GrownSpace,
    pub data: &'a SearchData,
    pub recipe: TrialRecipe,
    pub store: &'a dyn WeightStore,
    pub devices: Devices,
    pub seed: u64,
}

impl TrainingEvaluator<'_> {
    /// Training images a proposal asks for (its own budget, or `scratch_epochs` of the training
    /// set), at least one.
    pub fn images_asked<G, M>(&self, proposal: &Proposal<G, M>) -> usize {
        let images = match proposal.budget.images {
            Some(images) => images as usize,
            None => (self.recipe.scratch_epochs * self.data.train.len() as f64).round() as usize,
        };
        images.max(1)
    }

    /// The starting network of a trial: its parent's (as the parent's record names it), continued
    /// or carried over by the morphism the strategy chose, or a fresh one. Also says whether it
    /// starts with its parent's function.
    fn start(&self, trial: &TrialOf<GrownSpace>) -> Result<(Network, Option<bool>), String> {
        let device = &self.devices.train;
        let proposal = trial.proposal();
        let parent = match (&proposal.origin, proposal.parent) {
            (Some(origin), _) => format!("its origin {}", origin.from),
            (None, Some(parent)) => format!("parent {parent}"),
            (None, None) => String::new(),
        };
        if !proposal.inherit || parent.is_empty() {
            let index = proposal.init.unwrap_or(trial.id.0);
            return Ok((self.fresh(&proposal.genotype, index), None));
        }
        let Some(hash) = &trial.start_weights else {
            return Err(format!(
                "cannot load the weights of {parent}: its record names no kept network"
            ));
        };
        let (model, arch) = self
            .store
            .get(hash, device)
            .map_err(|e| format!("cannot load the weights of {parent}: {e}"))?;
        let (model, preserving) = match &proposal.mutation {
            Some(Mutation::Move(morphism)) => {
                // The new units a morphism draws come from the trial's own seed, so that a study
                // resumed after a kill draws the same ones (not whatever the device drew last).
                device.seed(derive_seed(self.seed, trial.id.0));
                let (child, _) = morph(&model, &arch, morphism, device)
                    .map_err(|e| format!("cannot carry the weights of {parent}: {e}"))?;
                (child, morphism.preserves_function())
            }
            Some(Mutation::Continue) | None => (model, true),
        };
        let built = model_arch(&arch, &proposal.mutation);
        if built.as_ref() != Ok(&proposal.genotype) {
            return Err(format!(
                "the move from {parent} does not make this network ({})",
                match built {
                    Ok(other) => format!("it makes {} parameters", other.params()),
                    Err(e) => e,
                }
            ));
        }
        Ok((model, Some(preserving)))
    }

    /// A network with fresh weights, seeded by the search's seed and `index`.
    pub(crate) fn fresh(&self, arch: &NetworkArch, index: u64) -> Network {
        self.devices.train.seed(derive_seed(self.seed, index));
        Network::new(arch, &self.devices.train)
    }

    /// Trains `model` on `images` images of the training set through `span` of a cosine schedule
    /// that peaks at `lr`.
    pub(crate) fn train(
        &self,
        model: Network,
        images: usize,
        lr: f64,
        span: [f64; 2],
        seed: u64,
        observe: &mut dyn FnMut(usize, usize),
    ) -> Result<Trained, SearchError> {
        let set = &self.data.train;
        let config = self
            .recipe
            .train_config(images, lr, span, seed, set.channels == 3);
        let mut losses = Vec::new();
        let (model, reports, end) = train::train(
            model,
            set,
            None,
            &self.data.norm,
            &config,
            &self.devices,
            &mut |event| {
                if let Event::Step { loss, trained, .. } = event {
                    losses.push(loss);
                    observe(trained, images);
                }
            },
        )?;
        let images = match end {
            RunEnd::Completed => reports.iter().map(|r| r.images).sum(),
            // The images of the steps taken still count against the budget.
            RunEnd::Diverged { .. } => losses.len() * config.batch,
        };
        Ok(Trained {
            model,
            images,
            losses,
            end,
        })
    }

    /// Validation accuracy (%) of `model`.
    pub(crate) fn validate(&self, model: &Network) -> f64 {
        train::evaluate(
            model,
            &self.data.valid,
            &self.data.norm,
            self.recipe.batch.max(256),
            &self.devices,
        )
    }

    /// Trains and validates one trial, keeping its weights in the store. A trial that cannot
    /// start or whose training diverges is returned as failed, with the reason.
    pub fn train_trial(
        &self,
        trial: &TrialOf<GrownSpace>,
        observe: &mut dyn FnMut(usize, usize),
    ) -> Result<Evaluation, SearchError> {
        let started = Instant::now();
        let proposal = trial.proposal();
        let n = self.data.train.len();
        let images = self.images_asked(&proposal);
        // A trial that follows one schedule through the search has its position in it; any
        // other trial runs a cycle of its own, from the child's peak when it starts trained.
        let lr = self.recipe.peak_lr(proposal.span, proposal.inherit) * proposal.lr_scale;
        let mut outcome = Outcome {
            lr: Some(lr),
            params: Some(proposal.genotype.params()),
            ..Outcome::default()
        };
        let failed = |outcome: Outcome, reason: String| Evaluation {
            state: TrialState::Failed,
            outcome: Outcome {
                seconds: started.elapsed().as_secs_f64(),
                ..outcome
            },
            reason: Some(reason),
        };
        let model = match self.start(trial) {
            Ok((model, preserving)) => {
                outcome.function_preserving = preserving;
                model
            }
            Err(reason) => return Ok(failed(outcome, reason)),
        };
        // The order of the training images: a trial's own, except that trials through the same
        // part of one schedule (the probes of one decision) see the same batches, so that they
        // differ only by their networks (common random numbers).
        let order = match proposal.span {
            Some([from, _]) => from.to_bits(),
            None => trial.id.0,
        };
        let seed = derive_seed(self.seed ^ 0x7261_696E, order);
        let span = proposal.span.unwrap_or([0.0, 1.0]);
        let trained = self.train(model, images, lr, span, seed, observe)?;
        outcome.images = trained.images as u64;
        outcome.epochs = trained.images as f64 / n as f64;
        outcome.first_loss = trained.first_loss();
        outcome.last_loss = trained.last_loss();
        outcome.train_loss = trained.mean_loss();
        outcome.tail_loss = trained.tail_loss();
        let forward = self.data.forward_flops(&proposal.genotype);
        outcome.flops = compute::training_flops(forward, trained.images as u64);
        if let end @ RunEnd::Diverged { .. } = trained.end {
            return Ok(failed(outcome, format!("training {end}")));
        }
        if proposal.validate {
            outcome.valid_acc = Some(self.validate(&trained.model));
            outcome.flops += compute::eval_flops(forward, self.data.valid.len() as u64);
        }
        outcome.weights = Some(self.store.put(&trained.model, &proposal.genotype)?);
        // Scored after it is saved: scoring moves batch norm's running statistics.
        let score = self.data.score_images(&proposal);
        if score > 0 {
            let set = self.data.scoring_set(score);
            outcome.score_loss = Some(train::batch_loss(
                &trained.model,
                &set,
                &self.data.norm,
                self.recipe.batch,
                &self.devices,
            ));
            outcome.flops += compute::eval_flops(forward, score as u64);
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        Ok(Evaluation {
            state: TrialState::Complete,
            outcome,
            reason: None,
        })
    }
}

impl study::Evaluator<GrownSpace> for TrainingEvaluator<'_> {
    fn cost(&self, proposal: &ProposalOf<GrownSpace>) -> Cost {
        let images = self.images_asked(proposal);
        Cost {
            images: images as u64,
            flops: self.data.trial_flops(proposal, images),
        }
    }

    fn evaluate(
        &self,
        trial: &TrialOf<GrownSpace>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Evaluation, BoxError> {
        Ok(self.train_trial(trial, progress)?)
    }

    fn seconds_per_flop(&self, genotype: &NetworkArch) -> f64 {
        self.probe_seconds_per_flop(genotype)
    }
}

/// The architecture a mutation makes of `parent`.
fn model_arch(
    parent: &NetworkArch,
    mutation: &Option<Mutation<Morphism>>,
) -> Result<NetworkArch, String> {
    match mutation {
        Some(Mutation::Move(m)) => m.apply(parent).map_err(|e| e.to_string()),
        Some(Mutation::Continue) | None => Ok(parent.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 6 classes of 100 tiny images each, stored class by class as an image folder is; every
    /// pixel of an image is its label, so an image can be checked against its label.
    fn class_ordered() -> ImageSet {
        let labels: Vec<u16> = (0..600).map(|i| i / 100).collect();
        ImageSet {
            pixels: labels.iter().flat_map(|&l| [l as u8; 4]).collect(),
            labels,
            channels: 1,
            height: 2,
            width: 2,
            class_names: (0..6).map(|c| format!("class{c}")).collect(),
        }
    }

    #[test]
    fn probes_are_scored_on_every_class_of_a_class_ordered_validation_set() {
        let valid = class_ordered();
        let norm = Normalization::of(&valid);
        let data = SearchData::new(valid.clone(), valid, norm, 3);
        let set = data.scoring_set(120);
        let mut counts = [0usize; 6];
        for i in 0..set.len() {
            assert!(set.image(i).iter().all(|&p| p as u16 == set.labels[i]));
            counts[set.labels[i] as usize] += 1;
        }
        assert_eq!(set.len(), 120);
        // 20 expected a class; the first 120 images in stored order would be class 0 only.
        assert!(counts.iter().all(|&c| (8..=32).contains(&c)), "{counts:?}");
        // Every probe asking for as many images gets the same ones (paired scores).
        assert_eq!(data.scoring_set(120).labels, set.labels);
        assert_eq!(data.scoring_set(10_000).len(), 600);
        let other = SearchData::new(class_ordered(), class_ordered(), data.norm.clone(), 4);
        assert_ne!(other.scoring_set(120).labels, set.labels);
    }
}
