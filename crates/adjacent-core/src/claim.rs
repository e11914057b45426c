//! The claim protocol: how a worker gets its next trial, written once for every storage (the
//! memory storage here, SQLite and PostgreSQL in adjacent-store). A storage gives the steps, each
//! one operation on the study's records inside the claim's one transaction; [`claim`] decides the
//! order: a finished study stops every worker; trials whose worker is lost go back to pending, or
//! fail after too many starts; the oldest pending trial runs first; only when none is pending is
//! the strategy asked for a new trial, which is stored and started at once.

use crate::error::CoreError;
use crate::study::Lease;

/// What the study decides, inside a claim, when no trial is waiting to be run.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked<T> {
    /// A new trial, to be stored and run by the claiming worker.
    New(T),
    /// Nothing to run until running trials end.
    Wait,
    /// The study is over: nothing runs and nothing more will be asked.
    Stop(String),
}

/// What a claim gives a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim<T> {
    /// A trial to run, marked running under the worker (with its attempt counted).
    Run(T),
    /// Nothing to run now; ask again later.
    Wait,
    /// The study is over, for this reason.
    Done(String),
}

/// A running trial whose worker has been silent for longer than the lease allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostTrial {
    pub id: u64,
    /// Times it has been started.
    pub attempts: u32,
}

/// The steps of a claim, as one storage takes them on one study, all inside one transaction.
pub trait ClaimSteps {
    /// A trial as the storage keeps it (what the strategy is shown, and what a claim returns).
    type Row;
    /// A new trial as the strategy proposes it.
    type New;

    /// Why the study finished, if it has.
    fn finished(&mut self) -> Result<Option<String>, CoreError>;
    /// The running trials with no heartbeat for more than `timeout` seconds, by id.
    fn lost(&mut self, timeout: f64) -> Result<Vec<LostTrial>, CoreError>;
    /// Fails a lost trial for good, with `reason`: the study's next event (a tell).
    fn fail(&mut self, id: u64, reason: &str) -> Result<(), CoreError>;
    /// Puts a lost trial back to pending.
    fn requeue(&mut self, id: u64) -> Result<(), CoreError>;
    /// The oldest pending trial.
    fn first_pending(&mut self) -> Result<Option<u64>, CoreError>;
    /// Every trial whose ask or tell came after event `since`, by id.
    fn changes(&mut self, since: u64) -> Result<Vec<Self::Row>, CoreError>;
    /// Stores a new trial as pending, its ask the study's next event; returns its id.
    fn insert(&mut self, new: Self::New) -> Result<u64, CoreError>;
    /// Marks trial `id` running under `worker`, counts the attempt and starts its heartbeat.
    fn start(&mut self, id: u64, worker: &str) -> Result<Self::Row, CoreError>;
    /// Marks the study finished, for `reason`.
    fn finish_study(&mut self, reason: &str) -> Result<(), CoreError>;
}

/// What a claim calls to decide on a new trial: the trials changed since the worker's last event
/// in, the decision out.
pub type AskSteps<'a, S> =
    dyn FnMut(&[<S as ClaimSteps>::Row]) -> Result<Asked<<S as ClaimSteps>::New>, CoreError> + 'a;

/// Claims work for `worker` through `steps` (see the module's summary); `ask` is called with the
/// trials that changed since event `since` when nothing is pending.
pub fn claim<S: ClaimSteps + ?Sized>(
    steps: &mut S,
    worker: &str,
    lease: Lease,
    since: u64,
    ask: &mut AskSteps<'_, S>,
) -> Result<Claim<S::Row>, CoreError> {
    if let Some(reason) = steps.finished()? {
        return Ok(Claim::Done(reason));
    }
    for lost in steps.lost(lease.timeout)? {
        match lost.attempts >= lease.max_attempts {
            true => steps.fail(lost.id, &lost_reason(lost.attempts, lease))?,
            false => steps.requeue(lost.id)?,
        }
    }
    let id = match steps.first_pending()? {
        Some(id) => id,
        None => {
            let changes = steps.changes(since)?;
            match ask(&changes)? {
                Asked::New(new) => steps.insert(new)?,
                Asked::Wait => return Ok(Claim::Wait),
                Asked::Stop(reason) => {
                    steps.finish_study(&reason)?;
                    return Ok(Claim::Done(reason));
                }
            }
        }
    };
    Ok(Claim::Run(steps.start(id, worker)?))
}

/// Why a trial failed whose worker was lost `attempts` times.
pub fn lost_reason(attempts: u32, lease: Lease) -> String {
    format!(
        "its worker was lost {attempts} times (no heartbeat for {} s)",
        lease.timeout
    )
}
