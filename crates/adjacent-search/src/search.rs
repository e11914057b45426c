//! A search with real training: the study's loop drives a strategy within the search's part of
//! the budget, then the final phase trains the winner with what is left.

use std::time::Instant;

use adjacent_core::budget::{Budget, Spent, Stop};
use adjacent_core::compute;
use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::space::TrialOf;
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::study::{Lease, MakeStrategy, Storage, Stored, Study, StudyEvent};
use adjacent_core::trial::{Origin, TrialId, TrialState, fittest};
use adjacent_nn::net::Network;
use adjacent_nn::train::{self, Event, TrainConfig};

use crate::error::SearchError;
use crate::evaluator::TrainingEvaluator;
use crate::final_phase::{FinalStart, FinalTrial, Winner, train_final};

/// What a search reports as it goes; `spent` is what the whole search has spent (its seconds:
/// wall time).
pub enum SearchEvent<'a> {
    /// The study's events (trials started and ended by this worker, training steps).
    Study(StudyEvent<'a, NetworkArch, Morphism>),
    /// The final phase starts: `arch` (the trial `winner`'s network, or `fixed`'s) trains on
    /// `images` images.
    FinalStarted {
        arch: &'a NetworkArch,
        winner: Option<TrialId>,
        start: FinalStart,
        images: usize,
        spent: Spent,
    },
    /// The final phase has trained on `done` of its `of` images.
    FinalStep {
        done: usize,
        of: usize,
        spent: Spent,
    },
    /// The final phase ended.
    FinalDone {
        record: &'a FinalTrial,
        spent: Spent,
    },
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

    /// What the trials spent (their seconds: their own).
    pub fn spent(&self) -> Spent {
        Spent {
            trials: self.records.len() as u64,
            images: self.records.iter().map(|r| r.outcome.images).sum(),
            flops: self.records.iter().map(|r| r.outcome.flops).sum(),
            seconds: self.records.iter().map(|r| r.outcome.seconds).sum(),
        }
    }
}

/// How one worker takes part in a study.
#[derive(Debug, Clone, Copy)]
pub struct Participation<'a> {
    /// What the study's trials may spend.
    pub stop: Stop,
    /// The worker's name (host and process).
    pub worker: &'a str,
    pub lease: Lease,
}

/// Runs the strategy `make` builds until `worker.stop`, as one worker of the study kept in
/// `storage` (new, or unfinished: a resumed study replays what was recorded), evaluating each
/// proposal with `evaluator`; returns the study's trials and the strategy's incumbent.
///
/// A budget that cannot fit the first trial is an error; failed trials are recorded and the search
/// goes on; a strategy with nothing left to propose ends the search early.
pub fn run(
    make: MakeStrategy<'_, GrownSpace>,
    evaluator: &TrainingEvaluator,
    worker: Participation,
    storage: &mut dyn Storage<NetworkArch, Morphism>,
    observe: &mut dyn FnMut(SearchEvent),
) -> Result<(SearchRun, Option<TrialId>), SearchError> {
    let mut study = Study::new(evaluator.space, make, evaluator, worker.stop, worker.worker)?
        .with_lease(worker.lease);
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
    /// No search: this network trained with the whole budget (the control every search must
    /// beat), from scratch, or from the weights of an outside network it was adapted from
    /// (`fixed --from`: fine-tuning, transfer without search).
    Fixed(NetworkArch, Option<Origin>),
}

/// A finished search: its trials and its final phase.
pub struct SearchOutcome {
    pub run: SearchRun,
    /// The trial the search chose (the strategy's incumbent, or its best validated trial); none
    /// for `fixed` or when no trial completed.
    pub winner: Option<TrialId>,
    /// The final phase's record and model (none when the final share is 0 or nothing completed).
    pub final_trial: Option<FinalTrial>,
    pub final_model: Option<Network>,
    /// Why there was no final phase, when there was none.
    pub final_skipped: Option<String>,
}

impl SearchOutcome {
    /// The trial the search chose, as it was recorded.
    pub fn winner_record(&self) -> Option<&TrialOf<GrownSpace>> {
        self.winner
            .and_then(|id| self.run.records.iter().find(|r| r.id == id))
    }

    /// What the whole search spent, final phase included (seconds: the trials' and the final
    /// phase's own).
    pub fn spent(&self) -> Spent {
        let run = self.run.spent();
        match &self.final_trial {
            Some(f) => run.plus(Spent {
                trials: 0,
                images: f.outcome.images,
                flops: f.outcome.flops,
                seconds: f.outcome.seconds,
            }),
            None => run,
        }
    }
}

/// Checks, before any training, that the final phase's part of `budget` can train a network like
/// `reference` for at least one batch (budgets counted in trials are checked after the search).
pub fn check_final_budget(
    evaluator: &TrainingEvaluator,
    budget: &Budget,
    reference: &NetworkArch,
) -> Result<(), SearchError> {
    if budget.final_share == 0.0 {
        return Ok(());
    }
    let (forward, validation) = evaluator.final_costs(reference);
    let Some(images) = budget.planned_final_images(forward, validation, || {
        evaluator.probe_seconds_per_flop(reference)
    }) else {
        return Ok(());
    };
    let batch = evaluator.recipe.batch as u64;
    if images < batch {
        return Err(SearchError::invalid(
            budget.total.flag(),
            format!(
                "the final phase's share ({}) of the budget cannot train a {}-parameter network for one batch of {batch} images (it fits {images}); give a larger budget or a larger final share",
                budget.final_share,
                reference.params()
            ),
        ));
    }
    Ok(())
}

/// Runs a whole search: the strategy's trials within the search's part of `budget`, then the
/// final phase, which trains the best trial's network with what is left (or, for `Fixed`, the one
/// network with all of it: give it [`Budget::whole`]). `start` says where the final phase of a
/// search starts.
pub fn search(
    searcher: Searcher,
    evaluator: &TrainingEvaluator,
    budget: Budget,
    start: FinalStart,
    observe: &mut dyn FnMut(SearchEvent),
) -> Result<SearchOutcome, SearchError> {
    let started = Instant::now();
    let mut origin = None;
    let (run, winner, start) = match searcher {
        Searcher::Strategy {
            make,
            storage,
            worker,
            lease,
        } => {
            let worker = Participation {
                stop: budget.search_part(),
                worker,
                lease,
            };
            let (run, incumbent) = run(make, evaluator, worker, storage, observe)?;
            // The strategy's own choice, or the best validated trial.
            let winner = match incumbent {
                Some(id) => run
                    .records
                    .iter()
                    .find(|r| r.id == id && r.state == TrialState::Complete),
                None => run.best(),
            }
            .map(|b| {
                let winner = Winner {
                    id: b.id,
                    weights: b.outcome.weights,
                    lr_scale: b.lr_scale,
                };
                (b.genotype.clone(), Some(winner), b.span)
            });
            (run, winner, start)
        }
        Searcher::Fixed(arch, from) => {
            origin = from;
            if let Stop::Trials(_) = budget.total {
                return Err(SearchError::invalid(
                    "trials",
                    "fixed trains one network: give it a compute, image or time budget",
                ));
            }
            let run = SearchRun {
                records: Vec::new(),
                stopped: "no search (fixed)".into(),
            };
            let start = match origin {
                Some(_) => FinalStart::Weights,
                None => FinalStart::Scratch,
            };
            (run, Some((arch, None, None)), start)
        }
    };
    let mut outcome = SearchOutcome {
        run,
        winner: winner.as_ref().and_then(|w| w.1.map(|t| t.id)),
        final_trial: None,
        final_model: None,
        final_skipped: None,
    };
    let Some((arch, winner, span)) = winner else {
        outcome.final_skipped = Some("no trial completed".into());
        return Ok(outcome);
    };
    if budget.final_share == 0.0 {
        outcome.final_skipped = Some("the final share is 0".into());
        return Ok(outcome);
    }
    let mut spent = outcome.run.spent();
    spent.seconds = started.elapsed().as_secs_f64();
    let records = &outcome.run.records;
    let per_flop = (!records.is_empty()).then(|| seconds_per_flop(records));
    let (forward, validation) = evaluator.final_costs(&arch);
    let images = budget.final_images(&spent, forward, validation, || {
        per_flop.unwrap_or_else(|| evaluator.probe_seconds_per_flop(&arch))
    }) as usize;
    if images < evaluator.recipe.batch {
        outcome.final_skipped = Some(format!(
            "the budget left ({images} images of the winner) cannot train one batch"
        ));
        return Ok(outcome);
    }
    observe(SearchEvent::FinalStarted {
        arch: &arch,
        winner: winner.map(|w| w.id),
        start,
        images,
        spent,
    });
    // A winner that followed one schedule through the search continues it to its end; any other
    // starts a schedule of its own.
    let span = match (start, span) {
        (FinalStart::Weights, Some([_, end])) if end < 1.0 => Some([end, 1.0]),
        _ => None,
    };
    let clock = Instant::now();
    let id = TrialId(outcome.run.records.len() as u64);
    let (model, record) = train_final(
        evaluator,
        id,
        &arch,
        winner,
        start,
        span,
        images,
        origin.as_ref(),
        &mut |done, of| {
            let part = (done as f64 / of.max(1) as f64).min(1.0);
            let spent = Spent {
                images: spent.images + (images as f64 * part) as u64,
                flops: spent.flops
                    + (compute::training_flops(forward, images as u64) as f64 * part) as u64,
                seconds: spent.seconds + clock.elapsed().as_secs_f64(),
                ..spent
            };
            observe(SearchEvent::FinalStep { done, of, spent })
        },
    )?;
    let spent = Spent {
        images: spent.images + record.outcome.images,
        flops: spent.flops + record.outcome.flops,
        seconds: spent.seconds + clock.elapsed().as_secs_f64(),
        ..spent
    };
    observe(SearchEvent::FinalDone {
        record: &record,
        spent,
    });
    outcome.final_trial = Some(record);
    outcome.final_model = model;
    Ok(outcome)
}

/// The compute `budget` stands for when it is not given in FLOPs, for strategies that plan in
/// compute: training images at `reference`'s cost, or minutes at the throughput measured for it
/// here (two timed steps). A budget of trials stands for no compute: `None`.
pub fn horizon_flops(
    evaluator: &TrainingEvaluator,
    budget: &Budget,
    reference: &NetworkArch,
) -> Option<u64> {
    let forward = evaluator.data.forward_flops(reference);
    budget.horizon(forward, || evaluator.probe_seconds_per_flop(reference))
}

/// Seconds per FLOP of the trials so far, validation included.
fn seconds_per_flop(records: &[TrialOf<GrownSpace>]) -> f64 {
    let seconds: f64 = records.iter().map(|r| r.outcome.seconds).sum();
    let flops: u64 = records.iter().map(|r| r.outcome.flops).sum();
    seconds / flops.max(1) as f64
}

impl TrainingEvaluator<'_> {
    /// A network's forward pass on one image, and one validation of it, in FLOPs: what the final
    /// phase pays beside its training.
    fn final_costs(&self, arch: &NetworkArch) -> (u64, u64) {
        let forward = self.data.forward_flops(arch);
        (
            forward,
            compute::eval_flops(forward, self.data.valid.len() as u64),
        )
    }

    /// Estimated seconds per FLOP of training `arch` here: two timed training steps of a throwaway
    /// network.
    pub fn probe_seconds_per_flop(&self, arch: &NetworkArch) -> f64 {
        let set = &self.data.train;
        let batch = self.recipe.batch.min(set.len());
        let probe = set.select(&(0..batch * 2).map(|i| i % set.len()).collect::<Vec<_>>());
        let config = TrainConfig {
            epochs: 1,
            images: None,
            ..self
                .recipe
                .train_config(batch * 2, self.recipe.lr, [0.0, 1.0], 0, false)
        };
        let mut step_started = Instant::now();
        let mut step_seconds = f64::INFINITY;
        let _ = train::train(
            Network::new(arch, &self.devices.train),
            &probe,
            None,
            &self.data.norm,
            &config,
            &self.devices,
            &mut |event| {
                if let Event::Step { step, .. } = event {
                    if step == 2 {
                        step_seconds = step_started.elapsed().as_secs_f64();
                    }
                    step_started = Instant::now();
                }
            },
        );
        let flops = compute::training_flops(self.data.forward_flops(arch), batch as u64);
        step_seconds / flops.max(1) as f64
    }
}
