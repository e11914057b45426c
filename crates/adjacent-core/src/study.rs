//! Studies: the one loop that runs a strategy against an evaluator (ask, evaluate, tell, record,
//! stop on the budget), over a [`Storage`] that keeps the trial history. `adjacent bench` (the
//! tabular evaluator), `adjacent search` and `adjacent worker` (the trained or tabular evaluator),
//! and the tests all run it.
//!
//! A strategy's state is a function of its seed and of the order in which it was asked and told
//! (see [`Strategy`]). The storage numbers every ask and every tell of a study in one sequence,
//! under a lock (a transaction), so that any worker, on any machine, rebuilds the very state of the
//! strategy by replaying that sequence; a worker keeps its strategy between trials and replays only
//! what the others did since. That is also all that resuming a study needs.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::budget::{Spent, Stop};
use crate::claim::{self, Asked, Claim, ClaimSteps, LostTrial};
use crate::compute;
use crate::error::{BoxError, CoreError};
use crate::space::{ProposalOf, SearchSpace, TrialOf};
use crate::strategy::{Strategy, ask_as_recorded};
use crate::trial::{Outcome, Proposal, Trial, TrialId, TrialState};

/// What a trial costs, known before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    pub images: u64,
    pub flops: u64,
}

/// What an evaluator made of a trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `Complete` or `Failed`.
    pub state: TrialState,
    pub outcome: Outcome,
    /// Why a failed trial failed.
    pub reason: Option<String>,
}

/// Evaluates trials: a table lookup, or training a network.
pub trait Evaluator<S: SearchSpace>: Sync {
    /// What evaluating `proposal` will cost, for the budget.
    fn cost(&self, proposal: &ProposalOf<S>) -> Cost;

    /// Evaluates `trial` (a proposal, claimed by this worker), telling `progress` how much of it
    /// is done, as (done, of): training images, for a trained evaluator. A trial that cannot train
    /// (its parent's weights are missing, its training diverges) is a failed evaluation; an error
    /// is for what stops the worker (a full disk).
    fn evaluate(
        &self,
        trial: &TrialOf<S>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Evaluation, BoxError>;

    /// Seconds per FLOP of evaluating `genotype` here, measured without a trial: what a time
    /// budget plans its first trial with.
    fn seconds_per_flop(&self, _genotype: &S::Genotype) -> f64 {
        0.0
    }
}

/// A trial as its storage keeps it: with the places of its ask and its tell in the study's one
/// sequence of events.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<G, M> {
    pub trial: Trial<G, M>,
    pub asked_seq: u64,
    /// Set once the trial has ended (complete, or failed for good).
    pub told_seq: Option<u64>,
}

/// What a claim calls to decide on a new trial: the changes since the worker's last event in,
/// the decision out.
pub type Ask<'a, G, M> =
    dyn FnMut(&[Stored<G, M>]) -> Result<Asked<Box<Trial<G, M>>>, CoreError> + 'a;

/// How long a running trial's worker may stay silent, and how often a trial is tried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lease {
    /// Seconds without a heartbeat after which a running trial's worker counts as lost.
    pub timeout: f64,
    /// A lost trial goes back to pending until it has been started this many times; then it fails.
    pub max_attempts: u32,
}

impl Default for Lease {
    fn default() -> Self {
        Lease {
            timeout: 60.0,
            max_attempts: 3,
        }
    }
}

impl Lease {
    /// Seconds between a worker's heartbeats: a quarter of the timeout.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64((self.timeout / 4.0).max(0.01))
    }
}

/// Keeps a running trial's heartbeat going until dropped.
pub trait KeepAlive {}

/// The trial history of one study, kept where workers can share it. Every method is one
/// transaction.
pub trait Storage<G, M>: Send {
    /// Claims work for `worker`: first, running trials whose worker is lost (no heartbeat for
    /// `lease.timeout`) go back to pending, or fail after `lease.max_attempts` starts (a tell);
    /// then the oldest pending trial is claimed; when there is none, `ask` is called with every
    /// trial whose ask or tell came after event `since`, and a new trial it returns is stored as
    /// running (its ask the next event); a `Stop` marks the study finished.
    fn claim(
        &mut self,
        worker: &str,
        lease: Lease,
        since: u64,
        ask: &mut Ask<'_, G, M>,
    ) -> Result<Claim<Box<Trial<G, M>>>, CoreError>;

    /// Records that `worker` is still running `trial`.
    fn heartbeat(&mut self, trial: TrialId, worker: &str) -> Result<(), CoreError>;

    /// Heartbeats for `trial` every `interval` until the returned guard is dropped (on a
    /// connection of its own).
    fn keep_alive(
        &mut self,
        trial: TrialId,
        worker: &str,
        interval: Duration,
    ) -> Result<Box<dyn KeepAlive>, CoreError>;

    /// Records the end of `trial` (complete or failed; a tell), if it is still running under its
    /// worker and attempt; false when it is not (its worker was counted lost and another took it),
    /// and nothing is written.
    fn finish(&mut self, trial: &Trial<G, M>) -> Result<bool, CoreError>;

    /// Puts `trial` back to pending if it is running under `worker` (a worker known to be dead).
    fn release(&mut self, trial: TrialId, worker: &str) -> Result<bool, CoreError>;

    /// Every trial, by id.
    fn history(&mut self) -> Result<Vec<Stored<G, M>>, CoreError>;

    /// Why the study finished, if it has.
    fn finished(&mut self) -> Result<Option<String>, CoreError>;
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A study's history in memory: for one process (the tabular benchmark, tests).
pub struct MemoryStorage<G, M> {
    trials: Vec<Stored<G, M>>,
    heartbeats: Vec<f64>,
    /// The trial of each event, in order: event `n` (counting from 1) is `events[n - 1]`'s.
    events: Vec<usize>,
    /// Trials not ended, by index.
    open: Vec<usize>,
    finished: Option<String>,
}

impl<G, M> Default for MemoryStorage<G, M> {
    fn default() -> Self {
        MemoryStorage {
            trials: Vec::new(),
            heartbeats: Vec::new(),
            events: Vec::new(),
            open: Vec::new(),
            finished: None,
        }
    }
}

struct NoKeepAlive;
impl KeepAlive for NoKeepAlive {}

impl<G: Clone + Send, M: Clone + Send> MemoryStorage<G, M> {
    fn running(&self, id: TrialId, worker: &str) -> Option<usize> {
        let i = id.0 as usize;
        let t = &self.trials.get(i)?.trial;
        (t.state == TrialState::Running && t.worker.as_deref() == Some(worker)).then_some(i)
    }

    /// Records the next event, trial `i`'s; returns its number.
    fn event(&mut self, i: usize) -> u64 {
        self.events.push(i);
        self.events.len() as u64
    }

    fn tell(&mut self, i: usize) {
        let seq = self.event(i);
        self.trials[i].told_seq = Some(seq);
        self.open.retain(|&o| o != i);
    }
}

impl<G: Clone + Send, M: Clone + Send> ClaimSteps for MemoryStorage<G, M> {
    type Row = Stored<G, M>;
    type New = Box<Trial<G, M>>;

    fn finished(&mut self) -> Result<Option<String>, CoreError> {
        Ok(self.finished.clone())
    }

    fn lost(&mut self, timeout: f64) -> Result<Vec<LostTrial>, CoreError> {
        let time = now();
        Ok(self
            .open
            .iter()
            .map(|&i| (&self.trials[i].trial, self.heartbeats[i]))
            .filter(|(t, beat)| t.state == TrialState::Running && time - beat > timeout)
            .map(|(t, _)| LostTrial {
                id: t.id.0,
                attempts: t.attempts,
            })
            .collect())
    }

    fn fail(&mut self, id: u64, reason: &str) -> Result<(), CoreError> {
        let i = id as usize;
        let t = &mut self.trials[i].trial;
        t.state = TrialState::Failed;
        t.reason = Some(reason.to_string());
        t.finished_at = Some(now());
        self.tell(i);
        Ok(())
    }

    fn requeue(&mut self, id: u64) -> Result<(), CoreError> {
        self.trials[id as usize].trial.state = TrialState::Pending;
        Ok(())
    }

    fn first_pending(&mut self) -> Result<Option<u64>, CoreError> {
        Ok(self
            .open
            .iter()
            .map(|&i| &self.trials[i].trial)
            .find(|t| t.state == TrialState::Pending)
            .map(|t| t.id.0))
    }

    fn changes(&mut self, since: u64) -> Result<Vec<Stored<G, M>>, CoreError> {
        let mut changed: Vec<usize> = self.events[since as usize..].to_vec();
        changed.sort_unstable();
        changed.dedup();
        Ok(changed.iter().map(|&i| self.trials[i].clone()).collect())
    }

    fn insert(&mut self, trial: Box<Trial<G, M>>) -> Result<u64, CoreError> {
        let i = self.trials.len();
        if trial.id.0 != i as u64 {
            return Err(CoreError::Storage(
                format!("trial {} asked as the study's trial {i}", trial.id).into(),
            ));
        }
        let seq = self.event(i);
        self.trials.push(Stored {
            trial: *trial,
            asked_seq: seq,
            told_seq: None,
        });
        self.heartbeats.push(now());
        self.open.push(i);
        Ok(i as u64)
    }

    fn start(&mut self, id: u64, worker: &str) -> Result<Stored<G, M>, CoreError> {
        let i = id as usize;
        let t = &mut self.trials[i].trial;
        t.state = TrialState::Running;
        t.worker = Some(worker.to_string());
        t.attempts += 1;
        self.heartbeats[i] = now();
        Ok(self.trials[i].clone())
    }

    fn finish_study(&mut self, reason: &str) -> Result<(), CoreError> {
        self.finished = Some(reason.to_string());
        Ok(())
    }
}

impl<G: Clone + Send, M: Clone + Send> Storage<G, M> for MemoryStorage<G, M> {
    fn claim(
        &mut self,
        worker: &str,
        lease: Lease,
        since: u64,
        ask: &mut Ask<'_, G, M>,
    ) -> Result<Claim<Box<Trial<G, M>>>, CoreError> {
        Ok(match claim::claim(self, worker, lease, since, ask)? {
            Claim::Run(stored) => Claim::Run(Box::new(stored.trial)),
            Claim::Wait => Claim::Wait,
            Claim::Done(reason) => Claim::Done(reason),
        })
    }

    fn heartbeat(&mut self, trial: TrialId, worker: &str) -> Result<(), CoreError> {
        if let Some(i) = self.running(trial, worker) {
            self.heartbeats[i] = now();
        }
        Ok(())
    }

    fn keep_alive(
        &mut self,
        _trial: TrialId,
        _worker: &str,
        _interval: Duration,
    ) -> Result<Box<dyn KeepAlive>, CoreError> {
        // One process: its trials' worker cannot be lost while it runs.
        Ok(Box::new(NoKeepAlive))
    }

    fn finish(&mut self, trial: &Trial<G, M>) -> Result<bool, CoreError> {
        let worker = trial.worker.as_deref().unwrap_or_default();
        let Some(i) = self.running(trial.id, worker) else {
            return Ok(false);
        };
        if self.trials[i].trial.attempts != trial.attempts {
            return Ok(false);
        }
        self.trials[i].trial = trial.clone();
        self.tell(i);
        Ok(true)
    }

    fn release(&mut self, trial: TrialId, worker: &str) -> Result<bool, CoreError> {
        match self.running(trial, worker) {
            Some(i) => {
                self.trials[i].trial.state = TrialState::Pending;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn history(&mut self) -> Result<Vec<Stored<G, M>>, CoreError> {
        Ok(self.trials.clone())
    }

    fn finished(&mut self) -> Result<Option<String>, CoreError> {
        Ok(self.finished.clone())
    }
}

/// What a study reports as it goes.
pub enum StudyEvent<'a, G, M> {
    /// This worker starts a trial, which will cost `cost`.
    Started { trial: &'a Trial<G, M>, cost: Cost },
    /// The running trial's evaluation has done `done` of `of` (training images, for a trained
    /// evaluator); `spent`: what the study has spent, this trial's share of its cost included
    /// (its seconds: the study's wall time).
    Step {
        done: usize,
        of: usize,
        spent: Spent,
    },
    /// This worker ended a trial and recorded it; `spent`: what the study has spent, this trial
    /// included.
    Done {
        trial: &'a Trial<G, M>,
        spent: Spent,
    },
    /// This worker ended a trial that another worker had taken over (its heartbeat was late): the
    /// result is dropped.
    Lost(&'a Trial<G, M>),
    /// Nothing to run until other workers' trials end.
    Waiting,
}

/// What a study reports its events to.
pub type Observe<'a, S> =
    dyn FnMut(StudyEvent<<S as SearchSpace>::Genotype, <S as SearchSpace>::Move>) + 'a;

/// Builds a strategy afresh (a worker rebuilds its strategy when an ask was not used).
pub type MakeStrategy<'a, S> =
    Box<dyn Fn() -> Result<Box<dyn Strategy<S>>, CoreError> + Send + Sync + 'a>;

/// One worker's run of a study: its strategy, replayed from the storage's events, and its
/// evaluator.
pub struct Study<'a, S: SearchSpace> {
    space: &'a S,
    make: MakeStrategy<'a, S>,
    strategy: Box<dyn Strategy<S>>,
    evaluator: &'a dyn Evaluator<S>,
    stop: Stop,
    worker: String,
    lease: Lease,
    /// How long to sleep when there is nothing to run.
    poll: Duration,
    /// Every trial the strategy has been asked for, as last heard of, by id.
    trials: Vec<TrialOf<S>>,
    /// The last event the strategy has replayed.
    applied: u64,
    /// Every event replayed, in order (what a rebuilt strategy replays).
    log: Vec<Event>,
    /// The strategy was asked for a proposal that was not used: rebuild it before the next ask.
    stale: bool,
    started: Instant,
    /// Seconds of the study's trials that ended before this worker started (a resumed study's).
    seconds_before: Option<f64>,
}

impl<'a, S: SearchSpace> Study<'a, S> {
    /// A worker named `worker` running `make`'s strategy within `stop`.
    pub fn new(
        space: &'a S,
        make: MakeStrategy<'a, S>,
        evaluator: &'a dyn Evaluator<S>,
        stop: Stop,
        worker: impl Into<String>,
    ) -> Result<Self, CoreError> {
        let strategy = make()?;
        Ok(Study {
            space,
            make,
            strategy,
            evaluator,
            stop,
            worker: worker.into(),
            lease: Lease::default(),
            poll: Duration::from_millis(200),
            trials: Vec::new(),
            applied: 0,
            log: Vec::new(),
            stale: false,
            started: Instant::now(),
            seconds_before: None,
        })
    }

    /// The same study with this lease.
    pub fn with_lease(self, lease: Lease) -> Self {
        Study { lease, ..self }
    }

    /// The same study, polling this often when it waits.
    pub fn with_poll(self, poll: Duration) -> Self {
        Study { poll, ..self }
    }

    /// The strategy, caught up with the last claim.
    pub fn strategy(&self) -> &dyn Strategy<S> {
        self.strategy.as_ref()
    }

    /// Runs trials until the study is over; returns why it ended. Every trial this worker ends is
    /// recorded in `storage` before it is reported.
    pub fn run(
        &mut self,
        storage: &mut dyn Storage<S::Genotype, S::Move>,
        observe: &mut Observe<'_, S>,
    ) -> Result<String, CoreError> {
        loop {
            let (worker, lease, applied) = (self.worker.clone(), self.lease, self.applied);
            let claim =
                storage.claim(&worker, lease, applied, &mut |changes| self.decide(changes))?;
            let mut trial = match claim {
                Claim::Run(trial) => *trial,
                Claim::Wait => {
                    observe(StudyEvent::Waiting);
                    std::thread::sleep(self.poll);
                    continue;
                }
                Claim::Done(reason) => return Ok(reason),
            };
            let cost = self.evaluator.cost(&trial.proposal());
            observe(StudyEvent::Started {
                trial: &trial,
                cost,
            });
            let before = self.ended();
            let clock = (self.started, self.seconds_before.unwrap_or(0.0));
            let evaluation = {
                let _alive = storage.keep_alive(trial.id, &self.worker, self.lease.interval())?;
                self.evaluator
                    .evaluate(&trial, &mut |done, of| {
                        let part = (done as f64 / of.max(1) as f64).min(1.0);
                        let spent = Spent {
                            trials: before.trials,
                            images: before.images + (cost.images as f64 * part) as u64,
                            flops: before.flops + (cost.flops as f64 * part) as u64,
                            seconds: clock.1 + clock.0.elapsed().as_secs_f64(),
                        };
                        observe(StudyEvent::Step { done, of, spent })
                    })
                    .map_err(|source| CoreError::Evaluation {
                        trial: trial.id.0,
                        source,
                    })?
            };
            trial.state = evaluation.state;
            trial.outcome = evaluation.outcome;
            trial.reason = evaluation.reason;
            trial.finished_at = Some(now());
            match storage.finish(&trial)? {
                true => {
                    let spent = Spent {
                        trials: before.trials + 1,
                        images: before.images + trial.outcome.images,
                        flops: before.flops + trial.outcome.flops,
                        seconds: clock.1 + clock.0.elapsed().as_secs_f64(),
                    };
                    observe(StudyEvent::Done {
                        trial: &trial,
                        spent,
                    })
                }
                false => observe(StudyEvent::Lost(&trial)),
            }
        }
    }

    /// Replays the events in `changes` that came after the last one replayed, in order: an ask
    /// asks the strategy (which must propose the recorded genotype), a tell tells it the trial.
    fn catch_up(&mut self, changes: &[Stored<S::Genotype, S::Move>]) -> Result<(), CoreError> {
        if self.stale {
            self.stale = false;
            self.strategy = (self.make)()?;
            for event in self.log.clone() {
                self.apply(event)?;
            }
        }
        let mut changes: Vec<&Stored<S::Genotype, S::Move>> = changes.iter().collect();
        changes.sort_by_key(|s| s.trial.id);
        // Every trial in the mirror has had its ask applied (replayed, or asked here).
        let known = self.trials.len();
        let mut events: Vec<(u64, Event)> = Vec::new();
        for s in &changes {
            let i = s.trial.id.0 as usize;
            match i.cmp(&self.trials.len()) {
                std::cmp::Ordering::Less => self.trials[i] = s.trial.clone(),
                std::cmp::Ordering::Equal => self.trials.push(s.trial.clone()),
                std::cmp::Ordering::Greater => {
                    return Err(CoreError::Storage(
                        format!(
                            "the history skips from trial {} to trial {i}",
                            self.trials.len()
                        )
                        .into(),
                    ));
                }
            }
            if s.asked_seq > self.applied && i >= known {
                events.push((s.asked_seq, Event::Ask(i)));
            }
            if let Some(t) = s.told_seq.filter(|&t| t > self.applied) {
                events.push((t, Event::Tell(i)));
            }
        }
        events.sort_unstable_by_key(|e| e.0);
        for &(_, event) in &events {
            self.apply(event)?;
            self.log.push(event);
        }
        let last = changes_max_seq(&changes);
        self.applied = self.applied.max(last);
        if self.seconds_before.is_none() {
            self.seconds_before = Some(self.ended().seconds);
        }
        Ok(())
    }

    fn apply(&mut self, event: Event) -> Result<(), CoreError> {
        match event {
            Event::Ask(i) => {
                ask_as_recorded(self.strategy.as_mut(), self.space, &self.trials[i])?;
            }
            Event::Tell(i) => self.strategy.tell(self.space, &self.trials[i]),
        }
        Ok(())
    }

    /// What the study's ended trials have spent (their seconds: their own).
    fn ended(&self) -> Spent {
        let ended = self.trials.iter().filter(|t| t.is_finished());
        ended.fold(Spent::default(), |spent, t| {
            spent.plus(Spent {
                trials: 1,
                images: t.outcome.images,
                flops: t.outcome.flops,
                seconds: t.outcome.seconds,
            })
        })
    }

    /// What the study's trials have spent (ended ones) or will spend (the others, as estimated).
    fn committed(&self) -> Committed {
        let mut spent = Committed::default();
        for t in &self.trials {
            let (images, flops) = match t.is_finished() {
                true => (t.outcome.images, t.outcome.flops),
                false => {
                    let cost = self.evaluator.cost(&t.proposal());
                    (cost.images, cost.flops)
                }
            };
            spent.images += images;
            spent.flops += flops;
            if t.is_finished() {
                spent.seconds += t.outcome.seconds;
                spent.finished_flops += t.outcome.flops;
            }
        }
        spent
    }

    /// Inside a claim: catches up with the changes, then asks the strategy for the next trial
    /// within the budget.
    fn decide(
        &mut self,
        changes: &[Stored<S::Genotype, S::Move>],
    ) -> Result<Asked<Box<TrialOf<S>>>, CoreError> {
        self.catch_up(changes)?;
        let asked = self.trials.len() as u64;
        let trials = &self.trials;
        let wait_or_stop = |reason: String| match trials.iter().all(Trial::is_finished) {
            true => Ok(Asked::Stop(reason)),
            false => Ok(Asked::Wait),
        };
        if let Stop::Trials(n) = self.stop
            && asked >= n
        {
            return wait_or_stop(format!("{n} trials done"));
        }
        if self.strategy.waiting() {
            return wait_or_stop("the strategy waits for trials that will not end".into());
        }
        let proposal = self.strategy.ask(self.space);
        // From here on, the strategy has been asked: unless the proposal is stored, it is stale.
        self.stale = true;
        let mut proposal = match proposal {
            Ok(p) => p,
            Err(e) if asked == 0 => return Err(e),
            Err(e) => return wait_or_stop(format!("the strategy stopped: {e}")),
        };
        let cost = self.evaluator.cost(&proposal);
        let spent = match self.stop {
            Stop::Trials(_) => Committed::default(),
            _ => self.committed(),
        };
        let cannot_fit = |needs: String, budget: String| {
            Err(CoreError::InvalidSetting {
                field: self.stop.flag().into(),
                reason: format!(
                    "the search's part of the budget, {budget}, cannot fit its first trial, which needs {needs}; give a larger budget or a smaller final share"
                ),
            })
        };
        match self.stop {
            Stop::Images(budget) if spent.images + cost.images > budget => {
                if asked == 0 {
                    return cannot_fit(
                        format!("{} images", cost.images),
                        format!("{budget} images"),
                    );
                }
                return wait_or_stop(format!("the search's {budget} training images are spent"));
            }
            Stop::Flops(budget) if spent.flops + cost.flops > budget => {
                if asked == 0 {
                    return cannot_fit(
                        compute::format_flops(cost.flops),
                        compute::format_flops(budget),
                    );
                }
                return wait_or_stop(format!(
                    "the search's {} are spent",
                    compute::format_flops(budget)
                ));
            }
            Stop::Seconds(limit) => {
                let per_flop = match spent.finished_flops {
                    0 => self.evaluator.seconds_per_flop(&proposal.genotype),
                    flops => spent.seconds / flops as f64,
                };
                let estimate = per_flop * cost.flops as f64;
                let elapsed =
                    self.seconds_before.unwrap_or(0.0) + self.started.elapsed().as_secs_f64();
                if elapsed + estimate > limit {
                    if asked == 0 {
                        return cannot_fit(
                            format!("about {:.1} minutes here", estimate / 60.0),
                            format!("{:.2} minutes", limit / 60.0),
                        );
                    }
                    match cut_to_time(&proposal, (limit - elapsed) / estimate) {
                        Some(cut) => proposal = cut,
                        None => {
                            return wait_or_stop(format!(
                                "the search's {:.1} minutes are spent",
                                limit / 60.0
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        self.stale = false;
        let mut trial = Trial::asked(TrialId(asked), proposal);
        trial.asked_at = Some(now());
        if trial.inherit {
            trial.start_weights = match &trial.origin {
                Some(origin) => Some(origin.weights),
                None => trial
                    .parent
                    .and_then(|p| self.trials.get(p.0 as usize))
                    .and_then(|p| p.outcome.weights),
            };
        }
        self.trials.push(trial.clone());
        self.log.push(Event::Ask(asked as usize));
        Ok(Asked::New(Box::new(trial)))
    }
}

/// A segment of a lineage along one schedule (it inherits, trains through a span, on a number of
/// images) that only `fits` (a share) of the time left allows, cut to that share, so that a plan
/// made from an estimate of throughput keeps its shape (the growth it planned still happens,
/// shorter); none for any other proposal, or when less than a quarter of it fits. (A probe of
/// `adjacent`'s decisions is such a segment too: one cut short competes at a disadvantage, so
/// that at the end of the time the main line goes on unchanged.)
fn cut_to_time<G: Clone, M: Clone>(proposal: &Proposal<G, M>, fits: f64) -> Option<Proposal<G, M>> {
    let images = proposal.budget.images?;
    if !(proposal.inherit && proposal.span.is_some() && fits >= 0.25) {
        return None;
    }
    let cut = ((images as f64 * fits.min(1.0)).floor() as u64).max(1);
    Some(proposal.clone().with_images(cut))
}

/// The last event among `changes`.
fn changes_max_seq<G, M>(changes: &[&Stored<G, M>]) -> u64 {
    changes
        .iter()
        .map(|s| s.asked_seq.max(s.told_seq.unwrap_or(0)))
        .max()
        .unwrap_or(0)
}

/// An event of a study's one sequence: the ask or the tell of a trial (by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Ask(usize),
    Tell(usize),
}

/// What trials have spent or, for those still running, will spend.
#[derive(Debug, Clone, Copy, Default)]
struct Committed {
    images: u64,
    flops: u64,
    seconds: f64,
    finished_flops: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::{Cell, DEFAULT_CELL};
    use crate::trial::Mutation;

    type P = Proposal<Cell, ()>;

    #[test]
    fn a_segment_that_does_not_fit_the_time_left_is_cut_to_it_and_nothing_else_is() {
        let cell: Cell = DEFAULT_CELL.parse().unwrap();
        let segment: P = Proposal::child(cell, TrialId(3), Mutation::Continue)
            .inheriting()
            .with_images(1000)
            .within([0.2, 0.7]);
        let cut = cut_to_time(&segment, 0.5).expect("half of it fits");
        assert_eq!(cut.budget.images, Some(500));
        assert_eq!(
            (cut.span, cut.parent, cut.inherit),
            (segment.span, segment.parent, true)
        );
        assert!(
            cut_to_time(&segment, 0.2).is_none(),
            "under a quarter: not started"
        );
        // A probe or a trial with a schedule of its own is compared with others at its length.
        let fresh: P = Proposal::fresh(cell).with_images(1000).within([0.0, 0.1]);
        assert!(cut_to_time(&fresh, 0.5).is_none());
        let restart: P = Proposal::child(cell, TrialId(3), Mutation::Continue)
            .inheriting()
            .with_images(1000);
        assert!(cut_to_time(&restart, 0.5).is_none());
    }
}
