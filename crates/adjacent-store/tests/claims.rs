//! The claim protocol as every storage follows it (core's memory storage, SQLite, PostgreSQL):
//! claim order, lease expiry and retry, the most attempts, the study's end, what the strategy is
//! shown, and two workers claiming at once.
//!
//! The PostgreSQL cases need a server: `.ci/run` starts one and sets ADJACENT_TEST_POSTGRES.
//! Without it they fail under CI and say so elsewhere.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use adjacent_core::CoreError;
use adjacent_core::budget::Stop;
use adjacent_core::claim::{Asked, Claim};
use adjacent_core::error::BoxError;
use adjacent_core::space::{ProposalOf, TrialOf};
use adjacent_core::spaces::nb201::{Cell, EdgeChange, Nb201Space};
use adjacent_core::strategy::StrategyKind;
use adjacent_core::study::{Cost, Evaluation, Evaluator, Lease, MemoryStorage, Storage, Study};
use adjacent_core::trial::{Outcome, Proposal, Trial, TrialId, TrialState};
use adjacent_store::{DbStorage, StudySpec};
use common::{postgres, unique};

type T = Trial<u32, ()>;

/// The storages under test, each a new study: memory, SQLite and (when there is a server)
/// PostgreSQL.
fn storages(dir: &tempfile::TempDir, test: &str) -> Vec<(String, Box<dyn Storage<u32, ()>>)> {
    let mut storages: Vec<(String, Box<dyn Storage<u32, ()>>)> = vec![
        ("memory".into(), Box::new(MemoryStorage::default())),
        ("sqlite".into(), Box::new(db(&sqlite(dir), test))),
    ];
    if let Some(url) = postgres() {
        storages.push(("postgres".into(), Box::new(db(&url, &unique(test)))));
    }
    storages
}

fn sqlite(dir: &tempfile::TempDir) -> String {
    dir.path().join("study.db").display().to_string()
}

fn db<G, M>(url: &str, name: &str) -> DbStorage<G, M> {
    let mut database = adjacent_store::open(url).unwrap();
    let spec = StudySpec {
        name: name.into(),
        space: "test".into(),
        strategy: "test".into(),
        seed: 0,
        data: "test".into(),
        settings: "{}".into(),
    };
    let info = adjacent_store::open_study(&mut database, &spec, true).unwrap();
    DbStorage::new(database, &info)
}

const LEASE: Lease = Lease {
    timeout: 60.0,
    max_attempts: 3,
};

/// Claims for `worker`, asking (when asked) for trial `next` of genotype `next * 10`.
fn claim_new(
    storage: &mut dyn Storage<u32, ()>,
    worker: &str,
    lease: Lease,
    next: u64,
) -> Claim<Box<T>> {
    storage
        .claim(worker, lease, 0, &mut |_| {
            let proposal = Proposal::fresh(next as u32 * 10);
            Ok(Asked::New(Box::new(Trial::asked(TrialId(next), proposal))))
        })
        .unwrap()
}

/// Claims for `worker` where the strategy must not be asked (a pending trial is waiting).
fn claim_pending(storage: &mut dyn Storage<u32, ()>, worker: &str, lease: Lease) -> Claim<Box<T>> {
    storage
        .claim(worker, lease, 0, &mut |_| {
            panic!("the strategy was asked while a trial was pending")
        })
        .unwrap()
}

fn run(claim: Claim<Box<T>>) -> T {
    match claim {
        Claim::Run(trial) => *trial,
        other => panic!("expected a trial to run, got {other:?}"),
    }
}

fn complete(mut trial: T) -> T {
    trial.state = TrialState::Complete;
    trial.outcome.valid_acc = Some(50.0);
    trial
}

#[test]
fn a_new_trial_runs_under_its_worker_and_ends_once() {
    let dir = tempfile::tempdir().unwrap();
    for (name, mut storage) in storages(&dir, "new") {
        let trial = run(claim_new(storage.as_mut(), "a", LEASE, 0));
        assert_eq!(
            (trial.id, trial.genotype, trial.state, trial.attempts),
            (TrialId(0), 0, TrialState::Running, 1),
            "{name}"
        );
        assert_eq!(trial.worker.as_deref(), Some("a"), "{name}");
        assert!(storage.finish(&complete(trial.clone())).unwrap(), "{name}");
        assert!(
            !storage.finish(&complete(trial)).unwrap(),
            "{name}: a trial ends once"
        );
        let history = storage.history().unwrap();
        assert_eq!(history.len(), 1, "{name}");
        assert_eq!(history[0].trial.state, TrialState::Complete, "{name}");
        assert_eq!(
            (history[0].asked_seq, history[0].told_seq),
            (1, Some(2)),
            "{name}: the ask and the tell are the study's events 1 and 2"
        );
    }
}

#[test]
fn pending_trials_run_before_the_strategy_is_asked_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    for (name, mut storage) in storages(&dir, "order") {
        let first = run(claim_new(storage.as_mut(), "a", LEASE, 0));
        let second = run(claim_new(storage.as_mut(), "a", LEASE, 1));
        // The worker is known to be dead: its trials go back to pending.
        assert!(storage.release(second.id, "a").unwrap(), "{name}");
        assert!(storage.release(first.id, "a").unwrap(), "{name}");
        assert!(
            !storage.release(first.id, "a").unwrap(),
            "{name}: not running"
        );
        let again = run(claim_pending(storage.as_mut(), "b", LEASE));
        assert_eq!((again.id, again.attempts), (TrialId(0), 2), "{name}");
        assert_eq!(again.worker.as_deref(), Some("b"), "{name}");
        let then = run(claim_pending(storage.as_mut(), "b", LEASE));
        assert_eq!((then.id, then.attempts), (TrialId(1), 2), "{name}");
        // Nothing pending: the strategy is asked again.
        let third = run(claim_new(storage.as_mut(), "b", LEASE, 2));
        assert_eq!(third.id, TrialId(2), "{name}");
    }
}

#[test]
fn a_lost_worker_s_trial_runs_again_and_its_late_result_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // Margins of half a second either side of the timeout, so that a loaded machine (the server
    // and the test descheduled for a moment) cannot make a beating worker look lost.
    let lease = Lease {
        timeout: 1.5,
        max_attempts: 3,
    };
    for (name, mut storage) in storages(&dir, "lease") {
        let lost = run(claim_new(storage.as_mut(), "a", lease, 0));
        // A heartbeat keeps it: past the timeout since the claim, within it since the beat.
        std::thread::sleep(Duration::from_millis(900));
        storage.heartbeat(lost.id, "a").unwrap();
        std::thread::sleep(Duration::from_millis(900));
        let new = run(claim_new(storage.as_mut(), "b", lease, 1));
        assert_eq!(
            new.id,
            TrialId(1),
            "{name}: a beating worker keeps its trial"
        );
        // Silent past the timeout: worker a is lost, and b runs its trial again.
        std::thread::sleep(Duration::from_millis(1100));
        storage.heartbeat(new.id, "b").unwrap();
        let retry = run(claim_pending(storage.as_mut(), "b", lease));
        assert_eq!((retry.id, retry.attempts), (TrialId(0), 2), "{name}");
        assert!(
            !storage.finish(&complete(lost)).unwrap(),
            "{name}: the lost worker's result is dropped"
        );
        assert!(storage.finish(&complete(retry)).unwrap(), "{name}");
        let history = storage.history().unwrap();
        assert_eq!(history[0].trial.worker.as_deref(), Some("b"), "{name}");
        assert_eq!(history[0].trial.state, TrialState::Complete, "{name}");
    }
}

#[test]
fn a_trial_whose_workers_keep_getting_lost_fails_after_the_most_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let lease = Lease {
        timeout: 0.1,
        max_attempts: 2,
    };
    for (name, mut storage) in storages(&dir, "attempts") {
        run(claim_new(storage.as_mut(), "a", lease, 0));
        std::thread::sleep(Duration::from_millis(200));
        let second = run(claim_pending(storage.as_mut(), "b", lease));
        assert_eq!(second.attempts, 2, "{name}");
        std::thread::sleep(Duration::from_millis(200));
        // Its second start was its last: it fails (a tell), and the strategy is asked anew.
        let next = run(claim_new(storage.as_mut(), "c", lease, 1));
        assert_eq!(next.id, TrialId(1), "{name}");
        let history = storage.history().unwrap();
        let failed = &history[0];
        assert_eq!(failed.trial.state, TrialState::Failed, "{name}");
        let reason = failed.trial.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("lost 2 times"), "{name}: {reason}");
        assert!(failed.trial.finished_at.is_some(), "{name}");
        assert_eq!(
            (failed.asked_seq, failed.told_seq),
            (1, Some(2)),
            "{name}: the failure is the study's next event"
        );
        assert_eq!(history[1].asked_seq, 3, "{name}");
    }
}

#[test]
fn the_strategy_sees_the_trials_changed_since_the_worker_s_last_event() {
    let dir = tempfile::tempdir().unwrap();
    for (name, mut storage) in storages(&dir, "changes") {
        let first = run(claim_new(storage.as_mut(), "a", LEASE, 0));
        run(claim_new(storage.as_mut(), "a", LEASE, 1));
        storage.finish(&complete(first)).unwrap();
        // Events: 1 ask 0, 2 ask 1, 3 tell 0.
        for (since, expected) in [(0, vec![0, 1]), (1, vec![0, 1]), (2, vec![0]), (3, vec![])] {
            let mut seen = Vec::new();
            storage
                .claim("a", LEASE, since, &mut |changes| {
                    seen = changes.iter().map(|s| s.trial.id.0).collect();
                    Ok(Asked::Wait)
                })
                .unwrap();
            assert_eq!(seen, expected, "{name}: since event {since}");
        }
    }
}

#[test]
fn a_study_that_stopped_stops_every_worker() {
    let dir = tempfile::tempdir().unwrap();
    for (name, mut storage) in storages(&dir, "stop") {
        let stopped = storage
            .claim("a", LEASE, 0, &mut |_| Ok(Asked::Stop("done".into())))
            .unwrap();
        assert_eq!(stopped, Claim::Done("done".into()), "{name}");
        assert_eq!(
            storage.finished().unwrap().as_deref(),
            Some("done"),
            "{name}"
        );
        let again = storage
            .claim("b", LEASE, 0, &mut |_| {
                panic!("asked after the study stopped")
            })
            .unwrap();
        assert_eq!(again, Claim::Done("done".into()), "{name}");
    }
}

#[test]
fn a_failed_ask_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lease = Lease {
        timeout: 0.1,
        max_attempts: 3,
    };
    for (name, mut storage) in storages(&dir, "rollback") {
        if name == "memory" {
            // One process: nothing to roll back, and nothing another worker could see.
            continue;
        }
        run(claim_new(storage.as_mut(), "a", lease, 0));
        std::thread::sleep(Duration::from_millis(200));
        let retry = run(claim_pending(storage.as_mut(), "b", lease));
        storage.finish(&complete(retry)).unwrap();
        let failed = storage.claim("b", lease, 0, &mut |_| {
            Err(CoreError::Storage("the strategy broke".into()))
        });
        assert!(failed.is_err(), "{name}");
        assert_eq!(storage.history().unwrap().len(), 1, "{name}");
        assert_eq!(storage.finished().unwrap(), None, "{name}");
    }
}

/// Trials that take a few milliseconds and score their cell's index.
struct Sleepy;

impl Evaluator<Nb201Space> for Sleepy {
    fn cost(&self, _: &ProposalOf<Nb201Space>) -> Cost {
        Cost {
            images: 1,
            flops: 1,
        }
    }

    fn evaluate(
        &self,
        trial: &TrialOf<Nb201Space>,
        _: &mut dyn FnMut(usize, usize),
    ) -> Result<Evaluation, BoxError> {
        std::thread::sleep(Duration::from_millis(3));
        Ok(Evaluation {
            state: TrialState::Complete,
            outcome: Outcome {
                valid_acc: Some(trial.genotype.index() as f64 / 156.25),
                ..Outcome::default()
            },
            reason: None,
        })
    }
}

/// Two workers, each on a connection of its own, run one study of `trials` trials at once.
fn two_workers(url: &str, name: &str, trials: u64) {
    // The study exists before its workers start (as `adjacent worker --wait` expects).
    drop(db::<Cell, EdgeChange>(url, name));
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (url, name) = (url.to_string(), name.to_string());
            std::thread::spawn(move || {
                let space = Nb201Space::default();
                let mut storage: DbStorage<Cell, EdgeChange> = db(&url, &name);
                Study::new(
                    &space,
                    Box::new(|| StrategyKind::Evolution.build(7)),
                    &Sleepy,
                    Stop::Trials(trials),
                    format!("worker-{w}"),
                )
                .unwrap()
                .with_poll(Duration::from_millis(5))
                .run(&mut storage, &mut |_| {})
                .unwrap()
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut storage: DbStorage<Cell, EdgeChange> = db(url, name);
    let history = storage.history().unwrap();
    assert_eq!(history.len() as u64, trials, "{url}");
    let ids: Vec<u64> = history.iter().map(|s| s.trial.id.0).collect();
    assert_eq!(ids, (0..trials).collect::<Vec<_>>(), "{url}: ids in order");
    assert!(
        history
            .iter()
            .all(|s| s.trial.state == TrialState::Complete)
    );
    // Every ask and every tell is one event of one sequence: no number twice, none missing.
    let mut events: Vec<u64> = history
        .iter()
        .flat_map(|s| [s.asked_seq, s.told_seq.expect("told")])
        .collect();
    events.sort_unstable();
    assert_eq!(events, (1..=2 * trials).collect::<Vec<_>>(), "{url}");
    let ran: HashSet<&str> = history
        .iter()
        .filter_map(|s| s.trial.worker.as_deref())
        .collect();
    assert_eq!(ran.len(), 2, "{url}: both workers ran trials");
    // Each worker replays the other's asks and tells into its strategy, which must propose the
    // recorded genotypes: a worker that saw the events in another order would have stopped.
    assert_eq!(
        storage.finished().unwrap().as_deref(),
        Some(&*format!("{trials} trials done"))
    );
}

#[test]
fn two_workers_claiming_at_once_share_one_sequence_of_events_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    two_workers(&sqlite(&dir), "two", 40);
}

#[test]
fn two_workers_claiming_at_once_share_one_sequence_of_events_postgres() {
    if let Some(url) = postgres() {
        two_workers(&url, &unique("two"), 40);
    }
}
