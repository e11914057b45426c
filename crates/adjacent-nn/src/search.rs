//! Architecture search with real training: the evaluator that trains a proposal (from scratch, or
//! from its parent's weights through a network morphism) and the loop that drives a strategy
//! within a budget of trials, training images or time.

use std::time::Instant;

use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::schedule::Schedule;
use adjacent_core::space::SearchSpace;
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::strategy::{Strategy, derive_seed};
use adjacent_core::trial::{Outcome, Proposal, Trial, TrialId, TrialState};
use serde::{Deserialize, Serialize};

use crate::data::{ImageSet, Normalization};
use crate::error::NnError;
use crate::net::Network;
use crate::train::{self, Devices, Event, RunEnd, TrainConfig};
use crate::transfer::morph;
use crate::weights::WeightStore;

/// How every trial trains: SGD with a cosine learning rate over the trial, so that a child's
/// training begins with a warm restart (one SGDR cycle per trial).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrialRecipe {
    /// Training images of a network trained from scratch (fewer than the training set: a random
    /// part of it, seeded by the trial; more: whole epochs, rounded).
    pub scratch_images: u64,
    pub batch: usize,
    /// Peak learning rate of a network trained from scratch.
    pub lr: f64,
    /// Peak learning rate of a child's cycle (its warm restart), since it starts trained.
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
            scratch_images: 16384,
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
    pub fn validate(&self) -> Result<(), NnError> {
        if self.scratch_images == 0 {
            return Err(NnError::InvalidSetting {
                field: "scratch_images".into(),
                reason: "must be at least 1".into(),
            });
        }
        if !(self.child_lr > 0.0 && self.child_lr.is_finite()) {
            return Err(NnError::InvalidSetting {
                field: "child_lr".into(),
                reason: format!("must be a positive number, got {}", self.child_lr),
            });
        }
        self.train_config(1, self.lr, 0, false).validate()
    }

    fn train_config(&self, epochs: usize, lr: f64, seed: u64, colour: bool) -> TrainConfig {
        TrainConfig {
            epochs,
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
}

/// One trial as it is recorded (a line of `trials.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub id: u64,
    pub parent: Option<u64>,
    /// Started from the parent's weights.
    pub inherit: bool,
    pub genotype: NetworkArch,
    /// The move that made it from its parent.
    pub mutation: Option<String>,
    /// For an inheriting child: whether its move keeps the parent's function (so that it starts
    /// exactly where the parent ended).
    pub function_preserving: Option<bool>,
    pub state: TrialState,
    /// Why a failed trial failed.
    pub reason: Option<String>,
    pub epochs: f64,
    /// Training images passed forward and backward.
    pub images: usize,
    pub seconds: f64,
    /// Loss of the first training step: near the parent's last loss for an inheriting child.
    pub first_loss: Option<f64>,
    /// Mean loss of the last steps of training.
    pub last_loss: Option<f64>,
    /// Mean training loss over the trial.
    pub train_loss: Option<f64>,
    pub valid_acc: Option<f64>,
    pub params: u64,
    /// Training images of all trials so far, this one included.
    pub images_total: usize,
    /// Seconds since the search began, at the end of this trial.
    pub elapsed: f64,
}

impl TrialRecord {
    fn to_trial(&self) -> Trial<NetworkArch> {
        Trial {
            id: TrialId(self.id),
            genotype: self.genotype.clone(),
            parent: self.parent.map(TrialId),
            mutation: self.mutation.clone(),
            state: self.state,
            outcome: self.valid_acc.map(|valid_acc| Outcome {
                valid_acc,
                epochs: self.epochs,
                seconds: self.seconds,
            }),
        }
    }
}

/// Steps of training whose losses make a trial's `last_loss`.
const LAST_STEPS: usize = 10;

/// Trains proposals and keeps their weights.
pub struct Evaluator<'a> {
    pub data: &'a SearchData,
    pub recipe: TrialRecipe,
    pub store: &'a dyn WeightStore,
    pub devices: Devices,
    pub seed: u64,
}

/// What a trial trains on: whole passes over the training set, or one pass over a random part.
struct Passes {
    epochs: usize,
    subset: Option<usize>,
}

impl Passes {
    /// Training images passed forward and backward, out of a training set of `n`.
    fn images(&self, n: usize) -> usize {
        self.subset.unwrap_or(n) * self.epochs
    }
}

impl Evaluator<'_> {
    /// Training images a proposal asks for.
    pub fn images_asked<G>(&self, proposal: &Proposal<G>) -> u64 {
        proposal.budget.images.unwrap_or(self.recipe.scratch_images)
    }

    fn passes(&self, images: u64) -> Passes {
        let n = self.data.train.len();
        let images = images.max(1) as usize;
        if images < n {
            Passes {
                epochs: 1,
                subset: Some(images),
            }
        } else {
            Passes {
                epochs: (images as f64 / n as f64).round() as usize,
                subset: None,
            }
        }
    }

    /// Training images a proposal that asks for `images` passes forward and backward.
    pub fn images_of(&self, images: u64) -> usize {
        self.passes(images).images(self.data.train.len())
    }

    /// The starting network of a proposal: its parent's, carried over by the morphism that makes
    /// the child, or a fresh one.
    fn start(
        &self,
        id: TrialId,
        proposal: &Proposal<NetworkArch>,
        space: &GrownSpace,
    ) -> Result<(Network, Option<Morphism>), String> {
        let device = &self.devices.train;
        match (proposal.inherit, proposal.parent) {
            (true, Some(parent)) => {
                let (model, arch) = self
                    .store
                    .get(parent, device)
                    .map_err(|e| format!("cannot load the weights of parent {parent}: {e}"))?;
                let morphism =
                    find_morphism(space, &arch, &proposal.genotype).ok_or_else(|| {
                        format!(
                            "no morphism of the search space turns trial {parent} into this network"
                        )
                    })?;
                let (child, _) = morph(&model, &arch, &morphism, device)
                    .map_err(|e| format!("cannot carry the weights of parent {parent}: {e}"))?;
                Ok((child, Some(morphism)))
            }
            _ => {
                device.seed(derive_seed(self.seed, id.0));
                Ok((Network::new(&proposal.genotype, device), None))
            }
        }
    }

    /// Trains and validates one proposal, keeping its weights in the store. A trial that cannot
    /// start or whose training diverges is returned as failed, with the reason.
    pub fn evaluate(
        &self,
        id: TrialId,
        proposal: &Proposal<NetworkArch>,
        space: &GrownSpace,
        observe: &mut dyn FnMut(usize, usize),
    ) -> Result<TrialRecord, NnError> {
        let started = Instant::now();
        let n = self.data.train.len();
        let passes = self.passes(self.images_asked(proposal));
        let epochs = passes.images(n) as f64 / n as f64;
        let mut record = TrialRecord {
            id: id.0,
            parent: proposal.parent.map(|p| p.0),
            inherit: proposal.inherit,
            genotype: proposal.genotype.clone(),
            mutation: proposal.mutation.clone(),
            function_preserving: None,
            state: TrialState::Failed,
            reason: None,
            epochs,
            images: 0,
            seconds: 0.0,
            first_loss: None,
            last_loss: None,
            train_loss: None,
            valid_acc: None,
            params: proposal.genotype.params(),
            images_total: 0,
            elapsed: 0.0,
        };
        let model = match self.start(id, proposal, space) {
            Ok((model, morphism)) => {
                record.function_preserving = morphism.map(|m| m.preserves_function());
                model
            }
            Err(reason) => {
                record.reason = Some(reason);
                record.seconds = started.elapsed().as_secs_f64();
                return Ok(record);
            }
        };
        let seed = derive_seed(self.seed ^ 0x7261_696E, id.0);
        let subset;
        let train_set = match passes.subset {
            Some(n) => {
                subset = self.data.train.select(&self.data.train.stratified(n, seed));
                &subset
            }
            None => &self.data.train,
        };
        let lr = match proposal.inherit {
            true => self.recipe.child_lr,
            false => self.recipe.lr,
        };
        let config = self
            .recipe
            .train_config(passes.epochs, lr, seed, train_set.channels == 3);
        let mut losses = Vec::new();
        let (model, reports, end) = train::train(
            model,
            train_set,
            None,
            &self.data.norm,
            &config,
            &self.devices,
            &mut |event| {
                if let Event::Step {
                    step, steps, loss, ..
                } = event
                {
                    losses.push(loss);
                    observe(step, steps);
                }
            },
        )?;
        record.images = reports.iter().map(|r| r.images).sum();
        record.first_loss = losses.first().copied();
        let tail = &losses[losses.len().saturating_sub(LAST_STEPS)..];
        record.last_loss = (!tail.is_empty()).then(|| tail.iter().sum::<f64>() / tail.len() as f64);
        let finite: Vec<f64> = losses.iter().copied().filter(|l| l.is_finite()).collect();
        record.train_loss =
            (!finite.is_empty()).then(|| finite.iter().sum::<f64>() / finite.len() as f64);
        match end {
            RunEnd::Completed => {
                let acc = train::evaluate(
                    &model,
                    &self.data.valid,
                    &self.data.norm,
                    self.recipe.batch.max(256),
                    &self.devices,
                );
                self.store.put(id, &model, &proposal.genotype)?;
                record.valid_acc = Some(acc);
                record.state = TrialState::Complete;
            }
            RunEnd::Diverged { .. } => {
                // The images of the steps taken still count against the budget.
                record.images = losses.len().saturating_sub(1) * config.batch;
                record.reason = Some(format!("training {end}"));
            }
        }
        record.seconds = started.elapsed().as_secs_f64();
        Ok(record)
    }
}

/// A morphism of the space that turns `parent` into `child`: a growth move or a pruning.
pub fn find_morphism(
    space: &GrownSpace,
    parent: &NetworkArch,
    child: &NetworkArch,
) -> Option<Morphism> {
    space
        .moves(parent)
        .into_iter()
        .chain(space.prunings(parent))
        .find(|m| m.apply(parent).is_ok_and(|c| &c == child))
}

/// When a search stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// After this many trials.
    Trials(usize),
    /// Before a trial would take the training images of all trials past this many.
    Images(usize),
    /// Before a trial would, by the throughput measured so far, end past this many seconds.
    Seconds(f64),
}

/// What the search loop reports as it goes.
pub enum SearchEvent<'a> {
    /// A trial starts; it will train on `images` images.
    Started {
        id: TrialId,
        proposal: &'a Proposal<NetworkArch>,
        images: usize,
    },
    /// A training step of the running trial.
    Step { step: usize, steps: usize },
    /// A trial ended (complete or failed).
    Done(&'a TrialRecord),
}

/// The trials of a finished search.
#[derive(Debug, Clone)]
pub struct SearchRun {
    pub records: Vec<TrialRecord>,
    /// Why the search stopped.
    pub stopped: String,
}

impl SearchRun {
    /// The complete trial with the highest validation accuracy (the earliest among equals).
    pub fn best(&self) -> Option<&TrialRecord> {
        self.records.iter().filter(|r| r.valid_acc.is_some()).fold(
            None,
            |best: Option<&TrialRecord>, r| match best {
                Some(b) if b.valid_acc >= r.valid_acc => Some(b),
                _ => Some(r),
            },
        )
    }
}

/// Runs `strategy` on `space` until `stop`, evaluating each proposal with `evaluator`.
///
/// A budget that cannot fit the first trial is an error; failed trials are recorded and the search
/// goes on; a strategy with nothing left to propose ends the search early.
pub fn run(
    strategy: &mut dyn Strategy<GrownSpace>,
    space: &GrownSpace,
    evaluator: &Evaluator,
    stop: Stop,
    observe: &mut dyn FnMut(SearchEvent),
) -> Result<SearchRun, NnError> {
    let started = Instant::now();
    let mut records: Vec<TrialRecord> = Vec::new();
    let mut images_total = 0usize;
    let stopped = loop {
        let id = TrialId(records.len() as u64);
        if let Stop::Trials(n) = stop
            && records.len() >= n
        {
            break format!("{n} trials done");
        }
        let proposal = match strategy.ask(space) {
            Ok(p) => p,
            Err(e) if records.is_empty() => return Err(e.into()),
            Err(e) => break format!("the strategy stopped: {e}"),
        };
        let images = evaluator.images_of(evaluator.images_asked(&proposal));
        match stop {
            Stop::Images(budget) if images_total + images > budget => {
                if records.is_empty() {
                    return Err(NnError::InvalidSetting {
                        field: "budget-images".into(),
                        reason: format!(
                            "{budget} images cannot fit one trial, which trains on {images}; give at least {images}"
                        ),
                    });
                }
                break format!("the budget of {budget} training images is spent");
            }
            Stop::Seconds(limit) => {
                let estimate = match records.is_empty() {
                    true => probe_seconds(evaluator, &proposal.genotype, images),
                    false => seconds_per_image(&records) * images as f64,
                };
                let elapsed = started.elapsed().as_secs_f64();
                if elapsed + estimate > limit {
                    if records.is_empty() {
                        return Err(NnError::InvalidSetting {
                            field: "budget-minutes".into(),
                            reason: format!(
                                "{:.2} minutes cannot fit one trial, which takes about {:.1} minutes here",
                                limit / 60.0,
                                estimate / 60.0
                            ),
                        });
                    }
                    break format!("the budget of {:.1} minutes is spent", limit / 60.0);
                }
            }
            _ => {}
        }
        observe(SearchEvent::Started {
            id,
            proposal: &proposal,
            images,
        });
        let mut record = evaluator.evaluate(id, &proposal, space, &mut |step, steps| {
            observe(SearchEvent::Step { step, steps })
        })?;
        images_total += record.images;
        record.images_total = images_total;
        record.elapsed = started.elapsed().as_secs_f64();
        strategy.tell(space, &record.to_trial());
        observe(SearchEvent::Done(&record));
        records.push(record);
    };
    Ok(SearchRun { records, stopped })
}

/// Seconds per training image of the trials so far, validation included.
fn seconds_per_image(records: &[TrialRecord]) -> f64 {
    let seconds: f64 = records.iter().map(|r| r.seconds).sum();
    let images: usize = records.iter().map(|r| r.images).sum();
    seconds / images.max(1) as f64
}

/// Estimated seconds of a first trial: two timed training steps of a throwaway network, scaled to
/// the trial's images, plus validation at about three times the training rate.
fn probe_seconds(evaluator: &Evaluator, arch: &NetworkArch, images: usize) -> f64 {
    let set = &evaluator.data.train;
    let batch = evaluator.recipe.batch.min(set.len());
    let probe = set.select(&(0..batch * 2).map(|i| i % set.len()).collect::<Vec<_>>());
    let config = evaluator
        .recipe
        .train_config(1, evaluator.recipe.lr, 0, false);
    let mut step_started = Instant::now();
    let mut step_seconds = f64::INFINITY;
    let _ = train::train(
        Network::new(arch, &evaluator.devices.train),
        &probe,
        None,
        &evaluator.data.norm,
        &TrainConfig { batch, ..config },
        &evaluator.devices,
        &mut |event| {
            if let Event::Step { step, .. } = event {
                if step == 2 {
                    step_seconds = step_started.elapsed().as_secs_f64();
                }
                step_started = Instant::now();
            }
        },
    );
    let per_image = step_seconds / batch as f64;
    per_image * (images as f64 + evaluator.data.valid.len() as f64 / 3.0)
}
