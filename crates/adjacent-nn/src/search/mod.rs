//! Architecture search with real training: the evaluator that trains a proposal (from scratch, or
//! from its parent's weights through a network morphism), the loop that drives a strategy within a
//! budget of trials, training images, compute or time, and the final phase that trains the winner
//! with what is left of the budget.

mod config;
mod evaluator;
mod final_phase;
mod setup;

use std::time::Instant;

pub use adjacent_core::budget::Stop;
use adjacent_core::compute;
use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::space::TrialOf;
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::study::{Lease, MakeStrategy, Storage, Stored, Study, StudyEvent};
use adjacent_core::trial::{TrialId, TrialState, fittest};

pub use config::{DEFAULT_CELL, SearchConfig};
pub use evaluator::{Evaluator, SearchData, TrialRecipe};
pub use final_phase::{FinalPlan, FinalRecord, FinalStart, train_final};
pub use setup::{Delivered, Setup, Split, StartNetwork};

use crate::error::NnError;
use crate::net::Network;
use crate::train::{self, Event, TrainConfig};

/// What a search has spent so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spent {
    pub trials: usize,
    pub images: usize,
    pub flops: u64,
    pub seconds: f64,
}

/// What the search reports as it goes.
pub enum SearchEvent<'a> {
    /// The study's events (trials started and ended by this worker, training steps).
    Study(StudyEvent<'a, NetworkArch, Morphism>),
    /// A training step of the final phase.
    Step { step: usize, steps: usize },
    /// The final phase starts: `arch` trains on `images` images.
    FinalStarted {
        arch: &'a NetworkArch,
        trial: Option<TrialId>,
        start: FinalStart,
        images: usize,
    },
    /// The final phase ended.
    FinalDone(&'a FinalRecord),
}

/// The trials of a finished search, in the order they ended.
#[derive(Debug, Clone)]
pub struct SearchRun {
    pub records: Vec<TrialOf<GrownSpace>>,
    /// Why the search stopped.
    pub stopped: String,
}

impl SearchRun {
    /// The complete trial with the highest validation accuracy (the earliest among equals).
    pub fn best(&self) -> Option<&TrialOf<GrownSpace>> {
        fittest(&self.records)
    }

    /// What the trials spent.
    pub fn spent(&self) -> Spent {
        Spent {
            trials: self.records.len(),
            images: self.records.iter().map(|r| r.outcome.images as usize).sum(),
            flops: self.records.iter().map(|r| r.outcome.flops).sum(),
            seconds: self.records.iter().map(|r| r.outcome.seconds).sum(),
        }
    }
}

/// How one worker takes part in a study.
#[derive(Debug, Clone, Copy)]
pub struct StudySetup<'a> {
    /// The budget of the study's trials.
    pub stop: Stop,
    /// The worker's name (host and process).
    pub worker: &'a str,
    pub lease: Lease,
}

/// Runs the strategy `make` builds on `space` until `stop`, as one worker of the study kept in
/// `storage` (new, or unfinished: a resumed study replays what was recorded), evaluating each
/// proposal with `evaluator`; returns the study's trials.
///
/// A budget that cannot fit the first trial is an error; failed trials are recorded and the search
/// goes on; a strategy with nothing left to propose ends the search early.
pub fn run(
    make: MakeStrategy<'_, GrownSpace>,
    evaluator: &Evaluator,
    setup: StudySetup,
    storage: &mut dyn Storage<NetworkArch, Morphism>,
    observe: &mut dyn FnMut(SearchEvent),
) -> Result<(SearchRun, Option<TrialId>), NnError> {
    let mut study = Study::new(evaluator.space, make, evaluator, setup.stop, setup.worker)?
        .with_lease(setup.lease);
    let stopped = study.run(storage, &mut |event| observe(SearchEvent::Study(event)))?;
    let incumbent = study.strategy().incumbent();
    let mut ended: Vec<Stored<NetworkArch, Morphism>> = storage
        .history()?
        .into_iter()
        .filter(|s| s.told_seq.is_some())
        .collect();
    ended.sort_by_key(|s| s.told_seq);
    let records = ended.into_iter().map(|s| s.trial).collect();
    Ok((SearchRun { records, stopped }, incumbent))
}

/// What a search strategy is: a strategy of the adjacent possible, or none at all.
pub enum Searcher<'a> {
    /// Trials proposed by the strategy `make` builds, as one worker of the study in `storage`,
    /// then the final phase on the best of them.
    Strategy {
        make: MakeStrategy<'a, GrownSpace>,
        storage: &'a mut dyn Storage<NetworkArch, Morphism>,
        worker: &'a str,
        lease: Lease,
    },
    /// No search: this network trained from scratch with the whole budget (the control every
    /// search must beat).
    Fixed(NetworkArch),
}

/// A finished search: its trials and its final phase.
pub struct Outcome {
    pub run: SearchRun,
    /// The trial the search chose (the strategy's incumbent, or its best validated trial); none
    /// for `fixed` or when no trial completed.
    pub winner: Option<TrialId>,
    /// The final phase's record and model (none when the final share is 0 or nothing completed).
    pub final_record: Option<FinalRecord>,
    pub final_model: Option<Network>,
    /// Why there was no final phase, when there was none.
    pub final_skipped: Option<String>,
}

impl Outcome {
    /// The trial the search chose, as it was recorded.
    pub fn winner_record(&self) -> Option<&TrialOf<GrownSpace>> {
        self.winner
            .and_then(|id| self.run.records.iter().find(|r| r.id == id))
    }

    /// Compute of the whole search, final phase included.
    pub fn flops(&self) -> u64 {
        self.run.spent().flops + self.final_record.as_ref().map_or(0, |f| f.flops)
    }

    /// Training images of the whole search, final phase included.
    pub fn images(&self) -> usize {
        self.run.spent().images + self.final_record.as_ref().map_or(0, |f| f.images)
    }
}

/// Checks, before any training, that the final phase's `share` of the budget (1 for `fixed`) can
/// train a network like `reference` for at least one batch (budgets counted in trials are checked
/// after the search).
pub fn check_final_budget(
    evaluator: &Evaluator,
    total: Stop,
    share: f64,
    reference: &NetworkArch,
) -> Result<(), NnError> {
    if share == 0.0 {
        return Ok(());
    }
    let part = match total {
        Stop::Images(b) => Stop::Images((b as f64 * share) as u64),
        Stop::Flops(b) => Stop::Flops((b as f64 * share) as u64),
        Stop::Seconds(s) => Stop::Seconds(s * share),
        Stop::Trials(_) => return Ok(()),
    };
    let images = final_images(evaluator, part, share, &Spent::default(), reference, None);
    let batch = evaluator.recipe.batch;
    if images < batch {
        return Err(NnError::InvalidSetting {
            field: total.flag().into(),
            reason: format!(
                "the final phase's share ({share}) of the budget cannot train a {}-parameter network for one batch of {batch} images (it fits {images}); give a larger budget or a larger final share",
                reference.params()
            ),
        });
    }
    Ok(())
}

/// Training images of the final phase for `arch` within what `total` leaves after `spent`.
fn final_images(
    evaluator: &Evaluator,
    total: Stop,
    share: f64,
    spent: &Spent,
    arch: &NetworkArch,
    seconds_per_flop: Option<f64>,
) -> usize {
    let data = evaluator.data;
    let forward = data.forward_flops(arch);
    let validation = compute::eval_flops(forward, data.valid.len() as u64);
    let within = |flops: u64| compute::images_within(flops.saturating_sub(validation), forward);
    let images = match total {
        Stop::Images(b) => b.saturating_sub(spent.images as u64),
        Stop::Flops(b) => within(b.saturating_sub(spent.flops)),
        Stop::Trials(_) => within((spent.flops as f64 * share / (1.0 - share)) as u64),
        Stop::Seconds(s) => {
            let per_flop =
                seconds_per_flop.unwrap_or_else(|| evaluator.probe_seconds_per_flop(arch));
            within(((s - spent.seconds).max(0.0) / per_flop) as u64)
        }
    };
    images as usize
}

/// Runs a whole search: the strategy's trials within the search's part of `total`, then the final
/// phase, which trains the best trial's network with what is left (or, for `Fixed`, the one
/// network with all of it; `plan` is then not used).
pub fn search(
    searcher: Searcher,
    evaluator: &Evaluator,
    total: Stop,
    plan: FinalPlan,
    observe: &mut dyn FnMut(SearchEvent),
) -> Result<Outcome, NnError> {
    let started = Instant::now();
    let (run, winner, start, share) = match searcher {
        Searcher::Strategy {
            make,
            storage,
            worker,
            lease,
        } => {
            plan.validate()?;
            let search_part = adjacent_core::budget::Budget {
                total,
                final_share: plan.share,
            }
            .search_part();
            let study = StudySetup {
                stop: search_part,
                worker,
                lease,
            };
            let (run, incumbent) = run(make, evaluator, study, storage, observe)?;
            // The strategy's own choice, or the best validated trial.
            let winner = match incumbent {
                Some(id) => run
                    .records
                    .iter()
                    .find(|r| r.id == id && r.state == TrialState::Complete),
                None => run.best(),
            }
            .map(|b| (b.genotype.clone(), Some((b.id, b.outcome.weights)), b.span));
            (run, winner, plan.start, plan.share)
        }
        Searcher::Fixed(arch) => {
            if let Stop::Trials(_) = total {
                return Err(NnError::InvalidSetting {
                    field: "trials".into(),
                    reason: "fixed trains one network: give it a compute, image or time budget"
                        .into(),
                });
            }
            let run = SearchRun {
                records: Vec::new(),
                stopped: "no search (fixed)".into(),
            };
            (run, Some((arch, None, None)), FinalStart::Scratch, 1.0)
        }
    };
    let mut outcome = Outcome {
        run,
        winner: winner.as_ref().and_then(|w| w.1.map(|t| t.0)),
        final_record: None,
        final_model: None,
        final_skipped: None,
    };
    let Some((arch, trial, span)) = winner else {
        outcome.final_skipped = Some("no trial completed".into());
        return Ok(outcome);
    };
    if share == 0.0 {
        outcome.final_skipped = Some("the final share is 0".into());
        return Ok(outcome);
    }
    let mut spent = outcome.run.spent();
    spent.seconds = started.elapsed().as_secs_f64();
    let per_flop =
        (!outcome.run.records.is_empty()).then(|| seconds_per_flop(&outcome.run.records));
    let images = final_images(evaluator, total, share, &spent, &arch, per_flop);
    if images < evaluator.recipe.batch {
        outcome.final_skipped = Some(format!(
            "the budget left ({images} images of the winner) cannot train one batch"
        ));
        return Ok(outcome);
    }
    observe(SearchEvent::FinalStarted {
        arch: &arch,
        trial: trial.map(|t| t.0),
        start,
        images,
    });
    // A winner that followed one schedule through the search continues it to its end; any other
    // starts a schedule of its own.
    let span = match (start, span) {
        (FinalStart::Weights, Some([_, end])) if end < 1.0 => Some([end, 1.0]),
        _ => None,
    };
    let (model, record) = train_final(
        evaluator,
        &arch,
        trial,
        start,
        span,
        images,
        &mut |step, steps| observe(SearchEvent::Step { step, steps }),
    )?;
    observe(SearchEvent::FinalDone(&record));
    outcome.final_record = Some(record);
    outcome.final_model = model;
    Ok(outcome)
}

/// The compute a budget stands for when it is not given in FLOPs, for strategies that plan in
/// compute: training images at `reference`'s cost, or minutes at the throughput measured for it
/// here (two timed steps). A budget of trials stands for no compute: `None`.
pub fn horizon_flops(evaluator: &Evaluator, total: Stop, reference: &NetworkArch) -> Option<u64> {
    let forward = evaluator.data.forward_flops(reference);
    match total {
        Stop::Flops(b) => Some(b),
        Stop::Images(b) => Some(compute::training_flops(forward, b)),
        Stop::Seconds(s) => Some((s / evaluator.probe_seconds_per_flop(reference)) as u64),
        Stop::Trials(_) => None,
    }
}

/// Seconds per FLOP of the trials so far, validation included.
fn seconds_per_flop(records: &[TrialOf<GrownSpace>]) -> f64 {
    let seconds: f64 = records.iter().map(|r| r.outcome.seconds).sum();
    let flops: u64 = records.iter().map(|r| r.outcome.flops).sum();
    seconds / flops.max(1) as f64
}

impl Evaluator<'_> {
    /// Estimated seconds per FLOP of training `arch` here: two timed training steps of a throwaway
    /// network.
    pub fn probe_seconds_per_flop(&self, arch: &NetworkArch) -> f64 {
        let evaluator = self;
        let set = &evaluator.data.train;
        let batch = evaluator.recipe.batch.min(set.len());
        let probe = set.select(&(0..batch * 2).map(|i| i % set.len()).collect::<Vec<_>>());
        let config = TrainConfig {
            epochs: 1,
            images: None,
            ..evaluator
                .recipe
                .train_config(batch * 2, evaluator.recipe.lr, [0.0, 1.0], 0, false)
        };
        let mut step_started = Instant::now();
        let mut step_seconds = f64::INFINITY;
        let _ = train::train(
            Network::new(arch, &evaluator.devices.train),
            &probe,
            None,
            &evaluator.data.norm,
            &config,
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
        let flops = compute::training_flops(evaluator.data.forward_flops(arch), batch as u64);
        step_seconds / flops.max(1) as f64
    }
}
