//! adjacent-store: where studies live. SQLite (embedded: a file, no server; the default, `study.db`
//! in a search's output folder) and PostgreSQL (one server, many workers on many machines), behind
//! one [`Backend`] interface, and [`DbStorage`], which gives core's [`Storage`] to a study.
//!
//! Both keep one schema (versioned; a database from a newer version is refused): `studies` (name,
//! space, strategy, seed, data, settings; the study's event counter; why it finished) and `trials`
//! (state, worker, heartbeat, attempts, the places of the trial's ask and tell in the study's
//! sequence of events, and the whole trial record as JSON). Claiming work is one transaction: an
//! immediate transaction on SQLite, a row lock on the study (and `FOR UPDATE SKIP LOCKED` for
//! pending trials) on PostgreSQL.

mod postgres_backend;
mod sqlite_backend;

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use adjacent_core::CoreError;
use adjacent_core::study::{Ask, Asked, Claim, KeepAlive, Lease, Storage, Stored};
use adjacent_core::trial::{Trial, TrialId, TrialState, WeightsHash};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub use postgres_backend::PostgresBackend;
pub use sqlite_backend::SqliteBackend;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 3;

/// Errors of the study storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or opened.
    #[error("cannot open {url}: {reason}")]
    Open { url: String, reason: String },

    /// A query failed.
    #[error("{url}: {what}: {reason}")]
    Query {
        url: String,
        what: String,
        reason: String,
    },

    /// The database was written by a newer adjacent.
    #[error(
        "{url}: the database has schema version {found}; this adjacent reads up to version {SCHEMA_VERSION} (upgrade adjacent)"
    )]
    NewerSchema { url: String, found: i64 },

    /// No study of that name.
    #[error("{url}: no study named {name:?}; studies there: {available}")]
    NoStudy {
        url: String,
        name: String,
        available: String,
    },

    /// A study of that name exists with other settings.
    #[error(
        "{url}: study {name:?} was created with {field} {recorded:?}, not {asked:?}; give the same settings, or another study name"
    )]
    Mismatch {
        url: String,
        name: String,
        field: String,
        recorded: String,
        asked: String,
    },

    /// A stored record that cannot be read.
    #[error("{url}: study {study}, trial {trial}: damaged record: {reason}")]
    BadRecord {
        url: String,
        study: String,
        trial: u64,
        reason: String,
    },

    /// A storage address that is neither a file nor a PostgreSQL URL.
    #[error(
        "invalid storage {0:?}: give a SQLite file (study.db, sqlite:///path/study.db) or postgres://user:password@host/database"
    )]
    BadUrl(String),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        CoreError::Storage(Box::new(e))
    }
}

/// What identifies a study: a run of one strategy with one seed on one space and data set. A study
/// opened again must ask for the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySpec {
    pub name: String,
    /// The search space (`nb201`, `grown`).
    pub space: String,
    pub strategy: String,
    pub seed: u64,
    /// The data set (a path, `builtin`, or a table and its data set).
    pub data: String,
    /// Everything else a worker needs to run the study (JSON): budget, settings, evaluator.
    pub settings: String,
}

/// A study as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyInfo {
    #[serde(skip)]
    pub id: i64,
    #[serde(flatten)]
    pub spec: StudySpec,
    /// Why the study finished (none while it runs).
    pub finished: Option<String>,
    /// Trials by state.
    pub pending: u64,
    pub running: u64,
    pub complete: u64,
    pub failed: u64,
    pub created_at: f64,
}

/// A trial row: the columns the storage decides on, and the record as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: u64,
    pub state: TrialState,
    pub worker: Option<String>,
    pub attempts: u32,
    pub asked_seq: u64,
    pub told_seq: Option<u64>,
    pub record: String,
}

/// What `ask` decides, as rows.
pub enum AskedRow {
    New { id: u64, record: String },
    Wait,
    Stop(String),
}

/// What a claim gives, as rows.
pub enum ClaimedRow {
    Run(Row),
    Wait,
    Done(String),
}

/// One database holding studies. Every method is one transaction.
pub trait Backend: Send {
    /// The address, for messages (no password).
    fn url(&self) -> &str;
    /// A second connection to the same database (for heartbeats).
    fn reopen(&self) -> Result<Box<dyn Backend>, StoreError>;
    /// Whether workers on other machines can reach it (a server, not a file).
    fn shares_machines(&self) -> bool;
    fn create_study(&mut self, spec: &StudySpec) -> Result<i64, StoreError>;
    /// Every study, by name.
    fn studies(&mut self) -> Result<Vec<StudyInfo>, StoreError>;
    /// See [`Storage::claim`].
    fn claim(
        &mut self,
        study: i64,
        worker: &str,
        lease: Lease,
        since: u64,
        ask: &mut dyn FnMut(&[Row]) -> Result<AskedRow, CoreError>,
    ) -> Result<ClaimedRow, CoreError>;
    fn heartbeat(&mut self, study: i64, trial: u64, worker: &str) -> Result<(), StoreError>;
    /// Ends a trial running under `worker` in its `attempts`-th start; false if it is not.
    fn finish(&mut self, study: i64, row: &Row) -> Result<bool, StoreError>;
    fn release(&mut self, study: i64, trial: u64, worker: &str) -> Result<bool, StoreError>;
    fn trials(&mut self, study: i64) -> Result<Vec<Row>, StoreError>;
    fn finished(&mut self, study: i64) -> Result<Option<String>, StoreError>;
    /// Keeps a trained network under its content hash (for workers on other machines); keeping
    /// it again changes nothing.
    fn put_weights(
        &mut self,
        study: i64,
        hash: &WeightsHash,
        weights: &Weights,
    ) -> Result<(), StoreError>;
    /// The network kept under `hash`, if any (not checked: the reader checks it against the hash).
    fn get_weights(
        &mut self,
        study: i64,
        hash: &WeightsHash,
    ) -> Result<Option<Weights>, StoreError>;
}

/// A trained network as the database keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// The safetensors file's bytes.
    pub data: Vec<u8>,
    /// The architecture (JSON).
    pub arch: String,
}

/// Opens the database at `url`: a PostgreSQL URL (`postgres://...`, `postgresql://...`), or a
/// SQLite file (`sqlite://PATH` or a plain path), created with its schema if new.
pub fn open(url: &str) -> Result<Box<dyn Backend>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Box::new(PostgresBackend::connect(url)?));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    if path.is_empty() || path.contains("://") {
        return Err(StoreError::BadUrl(url.to_string()));
    }
    Ok(Box::new(SqliteBackend::open(std::path::Path::new(path))?))
}

/// The study named `spec.name`: created if there is none and `create` is set; otherwise it must
/// exist and have been created with the same space, strategy, seed and data.
pub fn open_study(
    backend: &mut dyn Backend,
    spec: &StudySpec,
    create: bool,
) -> Result<StudyInfo, StoreError> {
    let studies = backend.studies()?;
    match studies.iter().find(|s| s.spec.name == spec.name) {
        Some(info) => {
            check_same(backend.url(), &info.spec, spec)?;
            Ok(info.clone())
        }
        None if create => {
            backend.create_study(spec)?;
            let info = backend
                .studies()?
                .into_iter()
                .find(|s| s.spec.name == spec.name)
                .ok_or_else(|| StoreError::Query {
                    url: backend.url().into(),
                    what: "create study".into(),
                    reason: "the new study is not there".into(),
                })?;
            Ok(info)
        }
        None => Err(no_study(backend.url(), &spec.name, &studies)),
    }
}

/// The study named `name`, as it was created (for workers, which take its settings).
pub fn find_study(backend: &mut dyn Backend, name: &str) -> Result<StudyInfo, StoreError> {
    let studies = backend.studies()?;
    studies
        .iter()
        .find(|s| s.spec.name == name)
        .cloned()
        .ok_or_else(|| no_study(backend.url(), name, &studies))
}

fn no_study(url: &str, name: &str, studies: &[StudyInfo]) -> StoreError {
    StoreError::NoStudy {
        url: url.into(),
        name: name.into(),
        available: match studies.is_empty() {
            true => "none".into(),
            false => studies
                .iter()
                .map(|s| s.spec.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        },
    }
}

fn check_same(url: &str, recorded: &StudySpec, asked: &StudySpec) -> Result<(), StoreError> {
    let fields = [
        ("space", &recorded.space, &asked.space),
        ("strategy", &recorded.strategy, &asked.strategy),
        ("data", &recorded.data, &asked.data),
    ];
    let seeds = (recorded.seed.to_string(), asked.seed.to_string());
    for (field, r, a) in fields.into_iter().chain([("seed", &seeds.0, &seeds.1)]) {
        if r != a {
            return Err(StoreError::Mismatch {
                url: url.into(),
                name: recorded.name.clone(),
                field: field.into(),
                recorded: r.clone(),
                asked: a.clone(),
            });
        }
    }
    Ok(())
}

/// One study of a [`Backend`] as core's [`Storage`] of trials of genotype `G` (kept as JSON).
pub struct DbStorage<G, M> {
    backend: Box<dyn Backend>,
    study: i64,
    reader: Reader<G, M>,
    /// The heartbeat thread, on a connection of its own, started with the first trial.
    heart: Option<Heart>,
}

impl<G, M> DbStorage<G, M> {
    pub fn new(backend: Box<dyn Backend>, study: &StudyInfo) -> Self {
        DbStorage {
            reader: Reader {
                url: backend.url().to_string(),
                name: study.spec.name.clone(),
                genotype: PhantomData,
            },
            backend,
            study: study.id,
            heart: None,
        }
    }
}

/// Reads rows of one study into trials.
struct Reader<G, M> {
    url: String,
    name: String,
    genotype: PhantomData<fn() -> (G, M)>,
}

impl<G: Serialize + DeserializeOwned, M: Serialize + DeserializeOwned> Reader<G, M> {
    fn read(&self, row: &Row) -> Result<Stored<G, M>, StoreError> {
        let mut trial: Trial<G, M> =
            serde_json::from_str(&row.record).map_err(|e| StoreError::BadRecord {
                url: self.url.clone(),
                study: self.name.clone(),
                trial: row.id,
                reason: e.to_string(),
            })?;
        if trial.id.0 != row.id {
            return Err(StoreError::BadRecord {
                url: self.url.clone(),
                study: self.name.clone(),
                trial: row.id,
                reason: format!("the record says trial {}", trial.id),
            });
        }
        // The columns are what claims decide on; the record follows them.
        trial.state = row.state;
        trial.worker = row.worker.clone();
        trial.attempts = row.attempts;
        Ok(Stored {
            trial,
            asked_seq: row.asked_seq,
            told_seq: row.told_seq,
        })
    }
}

fn to_json<G: Serialize, M: Serialize>(trial: &Trial<G, M>) -> String {
    serde_json::to_string(trial).expect("a trial serializes")
}

/// The trial a worker is running, for its heartbeat thread.
type Beat = Arc<Mutex<Option<(u64, String)>>>;

/// A thread that heartbeats the running trial (if any) every interval, on a connection of its own:
/// one a storage, kept from trial to trial.
struct Heart {
    current: Beat,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Heart {
    fn start(mut backend: Box<dyn Backend>, study: i64, interval: Duration) -> Heart {
        let current: Beat = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (beat, flag) = (current.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut last = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20).min(interval));
                if last.elapsed() < interval {
                    continue;
                }
                last = Instant::now();
                let running = beat.lock().map(|b| b.clone()).unwrap_or(None);
                if let Some((trial, worker)) = running {
                    // A missed beat is retried at the next; a worker that cannot beat at all is
                    // counted lost, and its trial runs again elsewhere.
                    let _ = backend.heartbeat(study, trial, &worker);
                }
            }
        });
        Heart {
            current,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Heart {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Keeps one trial's heartbeat going; dropping it stops the beats.
struct Beating(Beat);

impl KeepAlive for Beating {}

impl Drop for Beating {
    fn drop(&mut self) {
        if let Ok(mut current) = self.0.lock() {
            *current = None;
        }
    }
}

impl<G, M> Storage<G, M> for DbStorage<G, M>
where
    G: Serialize + DeserializeOwned + Send,
    M: Serialize + DeserializeOwned + Send,
{
    fn claim(
        &mut self,
        worker: &str,
        lease: Lease,
        since: u64,
        ask: &mut Ask<'_, G, M>,
    ) -> Result<Claim<G, M>, CoreError> {
        let reader = &self.reader;
        let mut ask_rows = |rows: &[Row]| -> Result<AskedRow, CoreError> {
            let changes = rows
                .iter()
                .map(|r| reader.read(r))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(match ask(&changes)? {
                Asked::New(trial) => AskedRow::New {
                    id: trial.id.0,
                    record: to_json(&trial),
                },
                Asked::Wait => AskedRow::Wait,
                Asked::Stop(reason) => AskedRow::Stop(reason),
            })
        };
        let claimed = self
            .backend
            .claim(self.study, worker, lease, since, &mut ask_rows)?;
        Ok(match claimed {
            ClaimedRow::Run(row) => Claim::Run(Box::new(self.reader.read(&row)?.trial)),
            ClaimedRow::Wait => Claim::Wait,
            ClaimedRow::Done(reason) => Claim::Done(reason),
        })
    }

    fn heartbeat(&mut self, trial: TrialId, worker: &str) -> Result<(), CoreError> {
        Ok(self.backend.heartbeat(self.study, trial.0, worker)?)
    }

    fn keep_alive(
        &mut self,
        trial: TrialId,
        worker: &str,
        interval: Duration,
    ) -> Result<Box<dyn KeepAlive>, CoreError> {
        if self.heart.is_none() {
            self.heart = Some(Heart::start(self.backend.reopen()?, self.study, interval));
        }
        let heart = self.heart.as_ref().expect("started above");
        if let Ok(mut current) = heart.current.lock() {
            *current = Some((trial.0, worker.to_string()));
        }
        Ok(Box::new(Beating(heart.current.clone())))
    }

    fn finish(&mut self, trial: &Trial<G, M>) -> Result<bool, CoreError> {
        let row = Row {
            id: trial.id.0,
            state: trial.state,
            worker: trial.worker.clone(),
            attempts: trial.attempts,
            asked_seq: 0,
            told_seq: None,
            record: to_json(trial),
        };
        Ok(self.backend.finish(self.study, &row)?)
    }

    fn release(&mut self, trial: TrialId, worker: &str) -> Result<bool, CoreError> {
        Ok(self.backend.release(self.study, trial.0, worker)?)
    }

    fn history(&mut self) -> Result<Vec<Stored<G, M>>, CoreError> {
        let rows = self.backend.trials(self.study)?;
        Ok(rows
            .iter()
            .map(|r| self.reader.read(r))
            .collect::<Result<Vec<_>, _>>()?)
    }

    fn finished(&mut self) -> Result<Option<String>, CoreError> {
        Ok(self.backend.finished(self.study)?)
    }
}

/// This process's name among a study's workers: the host and the process id.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Puts back to pending the trials that workers of this host were running when they died (their
/// process is gone), so that a resumed study runs them at once instead of after the heartbeat
/// timeout; returns how many.
pub fn release_dead<G, M>(storage: &mut dyn Storage<G, M>) -> Result<usize, CoreError> {
    let me = worker_name();
    let host = me.rsplit_once(':').map_or("", |h| h.0).to_string();
    let mut released = 0;
    for stored in storage.history()? {
        let t = &stored.trial;
        let Some(worker) = t.worker.as_deref() else {
            continue;
        };
        let Some((h, pid)) = worker.rsplit_once(':') else {
            continue;
        };
        let dead = h == host
            && pid.parse::<u32>().is_ok_and(|pid| {
                pid != std::process::id()
                    && std::path::Path::new("/proc/self").exists()
                    && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            });
        if t.state == TrialState::Running && dead && storage.release(t.id, worker)? {
            released += 1;
        }
    }
    Ok(released)
}

/// Writes a study's ended trials to `path` as JSON lines, in the order they ended (through a
/// temporary file and a rename: a reader never sees half a file).
pub fn export_jsonl<G: Serialize, M: Serialize>(
    path: &std::path::Path,
    history: &[Stored<G, M>],
) -> std::io::Result<()> {
    let mut ended: Vec<&Stored<G, M>> = history.iter().filter(|s| s.told_seq.is_some()).collect();
    ended.sort_by_key(|s| s.told_seq);
    let mut text = String::new();
    for s in ended {
        text += &serde_json::to_string(&s.trial).map_err(std::io::Error::other)?;
        text.push('\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The state's name in the database.
pub(crate) fn state_name(state: TrialState) -> &'static str {
    match state {
        TrialState::Pending => "pending",
        TrialState::Running => "running",
        TrialState::Complete => "complete",
        TrialState::Failed => "failed",
        TrialState::Pruned => "pruned",
    }
}

pub(crate) fn parse_state(name: &str) -> Option<TrialState> {
    Some(match name {
        "pending" => TrialState::Pending,
        "running" => TrialState::Running,
        "complete" => TrialState::Complete,
        "failed" => TrialState::Failed,
        "pruned" => TrialState::Pruned,
        _ => return None,
    })
}

/// A failed record for a trial whose worker was lost too often: the stored record with its state,
/// reason and end time set.
pub(crate) fn failed_record(record: &str, reason: &str, at: f64) -> String {
    let mut value: serde_json::Value =
        serde_json::from_str(record).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(map) = value.as_object_mut() {
        map.insert("state".into(), "failed".into());
        map.insert("reason".into(), reason.into());
        map.insert("finished_at".into(), at.into());
    }
    value.to_string()
}
