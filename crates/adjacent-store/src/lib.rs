//! adjacent-store: where studies live. SQLite (embedded: a file, no server; the default, `study.db`
//! in a search's output folder) and PostgreSQL (one server, many workers on many machines), behind
//! one [`Database`], and [`DbStorage`], which gives core's [`Storage`] to a study.
//!
//! Both keep one schema (versioned; a database from a newer version is refused, an older one is
//! migrated): `studies` (name, space, strategy, seed, data, settings; the study's event counter;
//! why it finished), `trials` (state, worker, heartbeat, attempts, the places of the trial's ask
//! and tell in the study's sequence of events, and the whole trial record as JSON) and `networks`
//! (trained networks by content hash). Every operation is written once, in SQL that both dialects
//! run; a dialect ([`sql::Connection`]) gives its connection, its transactions and the few pieces
//! of SQL text that differ. Claiming work is core's one claim protocol
//! ([`adjacent_core::claim`]) over one transaction: an immediate transaction on SQLite, the study's
//! row lock on PostgreSQL.

mod postgres;
mod sql;
mod sqlite;

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use adjacent_core::CoreError;
use adjacent_core::claim::{self, Asked, Claim, ClaimSteps, LostTrial};
use adjacent_core::study::{Ask, KeepAlive, Lease, Storage, Stored};
use adjacent_core::trial::{Trial, TrialId, TrialState, WeightsHash};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::sql::{Connection, Tx, Value};

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

/// A new trial as the strategy proposes it: its id and its record as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow {
    pub id: u64,
    pub record: String,
}

/// What a claim calls to decide on a new trial, in rows: the trials changed since the worker's
/// last event in, the decision out.
pub type AskRows<'a> = dyn FnMut(&[Row]) -> Result<Asked<NewRow>, CoreError> + 'a;

/// A trained network as the database keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// The safetensors file's bytes.
    pub data: Vec<u8>,
    /// The architecture (JSON).
    pub arch: String,
}

/// Opens the database at `url`: a PostgreSQL URL (`postgres://...`, `postgresql://...`), or a
/// SQLite file (`sqlite://PATH` or a plain path), created with its schema if new; an older schema
/// is migrated.
pub fn open(url: &str) -> Result<Database, StoreError> {
    let conn: Box<dyn Connection> = match sqlite_path(url) {
        None => Box::new(postgres::Postgres::connect(url)?),
        Some(path) => {
            let text = path.to_str().unwrap_or_default();
            if text.is_empty() || text.contains("://") {
                return Err(StoreError::BadUrl(url.to_string()));
            }
            Box::new(sqlite::Sqlite::open(path)?)
        }
    };
    let mut database = Database { conn };
    database.migrate()?;
    Ok(database)
}

/// The SQLite file a storage URL names (`sqlite://PATH` or a plain path), or none for a
/// PostgreSQL URL.
pub fn sqlite_path(url: &str) -> Option<&std::path::Path> {
    match url.starts_with("postgres://") || url.starts_with("postgresql://") {
        true => None,
        false => Some(std::path::Path::new(
            url.strip_prefix("sqlite://").unwrap_or(url),
        )),
    }
}

/// One database holding studies, SQLite or PostgreSQL. Every method is one transaction.
pub struct Database {
    conn: Box<dyn Connection>,
}

/// The columns of a trial row, in [`Row`]'s order.
const ROW: &str = "id, state, worker, attempts, asked_seq, told_seq, record";

fn row_of(values: &[Value]) -> Result<Row, String> {
    let state = values[1].text()?;
    Ok(Row {
        id: values[0].int()? as u64,
        state: TrialState::from_name(&state)
            .ok_or_else(|| format!("unknown trial state {state:?}"))?,
        worker: values[2].opt_text()?,
        attempts: values[3].int()? as u32,
        asked_seq: values[4].int()? as u64,
        told_seq: values[5].opt_int()?.map(|s| s as u64),
        record: values[6].text()?,
    })
}

impl Database {
    /// The address, for messages (no password).
    pub fn url(&self) -> &str {
        self.conn.url()
    }

    /// A second connection to the same database (for heartbeats).
    pub fn reopen(&self) -> Result<Database, StoreError> {
        Ok(Database {
            conn: self.conn.reopen()?,
        })
    }

    /// Whether workers on other machines can reach it (a server, not a file).
    pub fn shares_machines(&self) -> bool {
        self.conn.text().shares_machines
    }

    fn err(&self, what: &str) -> impl Fn(String) -> StoreError + use<> {
        let (url, what) = (self.url().to_string(), what.to_string());
        move |reason| StoreError::Query {
            url: url.clone(),
            what: what.clone(),
            reason,
        }
    }

    /// Creates the schema, or migrates an older one, in one transaction.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let err = self.err("migrate");
        let url = self.url().to_string();
        let text = self.conn.text();
        let mut tx = self.conn.begin().map_err(&err)?;
        if !text.migration_lock.is_empty() {
            tx.batch(text.migration_lock).map_err(&err)?;
        }
        let meta = text.meta;
        tx.batch(&format!(
            "CREATE TABLE IF NOT EXISTS {meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        ))
        .map_err(&err)?;
        let rows = tx
            .query(
                &format!("SELECT value FROM {meta} WHERE key = 'schema_version'"),
                &[],
            )
            .map_err(&err)?;
        let version: i64 = match rows.first() {
            Some(row) => row[0]
                .text()
                .and_then(|v| v.parse::<i64>().map_err(|e| e.to_string()))
                .map_err(|reason| StoreError::Query {
                    url: url.clone(),
                    what: "read the schema version".into(),
                    reason,
                })?,
            None => 0,
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                url,
                found: version,
            });
        }
        for migration in &text.migrations[version as usize..] {
            tx.batch(migration).map_err(&err)?;
        }
        tx.execute(
            &format!(
                "INSERT INTO {meta} (key, value) VALUES ('schema_version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            &[SCHEMA_VERSION.to_string().into()],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    pub fn create_study(&mut self, spec: &StudySpec) -> Result<i64, StoreError> {
        let err = self.err("create the study");
        let now = self.conn.text().now;
        let rows = self
            .conn
            .query(
                &format!(
                    "INSERT INTO studies (name, space, strategy, seed, data, settings, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, {now}) RETURNING id"
                ),
                &[
                    spec.name.as_str().into(),
                    spec.space.as_str().into(),
                    spec.strategy.as_str().into(),
                    spec.seed.into(),
                    spec.data.as_str().into(),
                    spec.settings.as_str().into(),
                ],
            )
            .map_err(&err)?;
        one(&rows).and_then(|row| row[0].int()).map_err(err)
    }

    /// Every study, by name.
    pub fn studies(&mut self) -> Result<Vec<StudyInfo>, StoreError> {
        let err = self.err("list the studies");
        let rows = self
            .conn
            .query(
                "SELECT s.id, s.name, s.space, s.strategy, s.seed, s.data, s.settings, s.finished, s.created_at,
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'pending'),
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'running'),
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'complete'),
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'failed')
                 FROM studies s ORDER BY s.name",
                &[],
            )
            .map_err(&err)?;
        let study = |r: &[Value]| -> Result<StudyInfo, String> {
            Ok(StudyInfo {
                id: r[0].int()?,
                spec: StudySpec {
                    name: r[1].text()?,
                    space: r[2].text()?,
                    strategy: r[3].text()?,
                    seed: r[4].int()? as u64,
                    data: r[5].text()?,
                    settings: r[6].text()?,
                },
                finished: r[7].opt_text()?,
                created_at: r[8].real()?,
                pending: r[9].int()? as u64,
                running: r[10].int()? as u64,
                complete: r[11].int()? as u64,
                failed: r[12].int()? as u64,
            })
        };
        rows.iter()
            .map(|r| study(r))
            .collect::<Result<_, _>>()
            .map_err(err)
    }

    /// Claims work for `worker` in study `study`: core's claim protocol in one transaction (see
    /// [`Storage::claim`]).
    pub fn claim(
        &mut self,
        study: i64,
        worker: &str,
        lease: Lease,
        since: u64,
        ask: &mut AskRows<'_>,
    ) -> Result<Claim<Row>, CoreError> {
        let err = self.err("claim a trial");
        let text = self.conn.text();
        let tx = self.conn.begin().map_err(&err)?;
        let mut steps = ClaimTx {
            tx,
            study,
            text,
            err: &err,
        };
        let claimed = claim::claim(&mut steps, worker, lease, since, ask)?;
        steps.tx.commit().map_err(&err)?;
        Ok(claimed)
    }

    pub fn heartbeat(&mut self, study: i64, trial: u64, worker: &str) -> Result<(), StoreError> {
        let err = self.err("heartbeat");
        let now = self.conn.text().now;
        self.conn
            .execute(
                &format!(
                    "UPDATE trials SET heartbeat = {now}
                     WHERE study = $1 AND id = $2 AND worker = $3 AND state = 'running'"
                ),
                &[study.into(), trial.into(), worker.into()],
            )
            .map_err(err)?;
        Ok(())
    }

    /// Ends a trial running under `row.worker` in its `row.attempts`-th start (a tell); false,
    /// and nothing written, if it is not running so.
    pub fn finish(&mut self, study: i64, row: &Row) -> Result<bool, StoreError> {
        let err = self.err("record a trial");
        let lock = self.conn.text().lock;
        let mut tx = self.conn.begin().map_err(&err)?;
        tx.query(
            &format!("SELECT id FROM studies WHERE id = $1 {lock}"),
            &[study.into()],
        )
        .map_err(&err)?;
        let ours = tx
            .query(
                "SELECT id FROM trials WHERE study = $1 AND id = $2 AND state = 'running'
                 AND worker = $3 AND attempts = $4",
                &[
                    study.into(),
                    row.id.into(),
                    row.worker.clone().into(),
                    row.attempts.into(),
                ],
            )
            .map_err(&err)?;
        if ours.is_empty() {
            return Ok(false);
        }
        let seq = next_seq(tx.as_mut(), study).map_err(&err)?;
        tx.execute(
            "UPDATE trials SET state = $3, told_seq = $4, record = $5 WHERE study = $1 AND id = $2",
            &[
                study.into(),
                row.id.into(),
                row.state.name().into(),
                seq.into(),
                row.record.as_str().into(),
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(true)
    }

    /// Puts `trial` back to pending if it is running under `worker`.
    pub fn release(&mut self, study: i64, trial: u64, worker: &str) -> Result<bool, StoreError> {
        let err = self.err("release a trial");
        let n = self
            .conn
            .execute(
                "UPDATE trials SET state = 'pending'
                 WHERE study = $1 AND id = $2 AND worker = $3 AND state = 'running'",
                &[study.into(), trial.into(), worker.into()],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    /// Every trial of `study`, by id.
    pub fn trials(&mut self, study: i64) -> Result<Vec<Row>, StoreError> {
        let err = self.err("read the trials");
        let rows = self
            .conn
            .query(
                &format!("SELECT {ROW} FROM trials WHERE study = $1 ORDER BY id"),
                &[study.into()],
            )
            .map_err(&err)?;
        rows.iter()
            .map(|r| row_of(r))
            .collect::<Result<_, _>>()
            .map_err(err)
    }

    /// Why `study` finished, if it has.
    pub fn finished(&mut self, study: i64) -> Result<Option<String>, StoreError> {
        let err = self.err("read the study");
        let rows = self
            .conn
            .query(
                "SELECT finished FROM studies WHERE id = $1",
                &[study.into()],
            )
            .map_err(&err)?;
        one(&rows).and_then(|row| row[0].opt_text()).map_err(err)
    }

    /// Keeps a trained network under its content hash (for workers on other machines); keeping
    /// it again changes nothing.
    pub fn put_weights(
        &mut self,
        study: i64,
        hash: &WeightsHash,
        weights: &Weights,
    ) -> Result<(), StoreError> {
        let err = self.err("keep a network");
        self.conn
            .execute(
                "INSERT INTO networks (study, hash, arch, data) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (study, hash) DO NOTHING",
                &[
                    study.into(),
                    hash.to_string().into(),
                    weights.arch.as_str().into(),
                    weights.data.clone().into(),
                ],
            )
            .map_err(err)?;
        Ok(())
    }

    /// The network kept under `hash`, if any (not checked: the reader checks it against the hash).
    pub fn get_weights(
        &mut self,
        study: i64,
        hash: &WeightsHash,
    ) -> Result<Option<Weights>, StoreError> {
        let err = self.err("read a network");
        let rows = self
            .conn
            .query(
                "SELECT data, arch FROM networks WHERE study = $1 AND hash = $2",
                &[study.into(), hash.to_string().into()],
            )
            .map_err(&err)?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let mut row = row.into_iter();
        let (data, arch) = (row.next(), row.next());
        let read = || -> Result<Weights, String> {
            Ok(Weights {
                data: data.ok_or("no data column")?.blob()?,
                arch: arch.ok_or("no arch column")?.text()?,
            })
        };
        read().map(Some).map_err(err)
    }
}

/// The one row a statement returns.
fn one(rows: &[Vec<Value>]) -> Result<&[Value], String> {
    match rows {
        [row] => Ok(row),
        _ => Err(format!("expected one row, got {}", rows.len())),
    }
}

/// The next event of `study`, counted.
fn next_seq(tx: &mut dyn Tx, study: i64) -> Result<i64, String> {
    let rows = tx.query(
        "UPDATE studies SET seq = seq + 1 WHERE id = $1 RETURNING seq",
        &[study.into()],
    )?;
    one(&rows)?[0].int()
}

/// Core's claim steps as statements of one transaction on one study.
struct ClaimTx<'a, E> {
    tx: Box<dyn Tx + 'a>,
    study: i64,
    text: &'static sql::SqlText,
    err: &'a E,
}

impl<E: Fn(String) -> StoreError> ClaimTx<'_, E> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, CoreError> {
        Ok(self.tx.query(sql, params).map_err(self.err)?)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, CoreError> {
        Ok(self.tx.execute(sql, params).map_err(self.err)?)
    }

    fn rows(&self, rows: Vec<Vec<Value>>) -> Result<Vec<Row>, CoreError> {
        let rows = rows.iter().map(|r| row_of(r)).collect::<Result<_, _>>();
        Ok(rows.map_err(self.err)?)
    }
}

impl<E: Fn(String) -> StoreError> ClaimSteps for ClaimTx<'_, E> {
    type Row = Row;
    type New = NewRow;

    fn finished(&mut self) -> Result<Option<String>, CoreError> {
        // The study's row lock (PostgreSQL) orders this claim among the study's events.
        let lock = self.text.lock;
        let rows = self.query(
            &format!("SELECT finished FROM studies WHERE id = $1 {lock}"),
            &[self.study.into()],
        )?;
        Ok(one(&rows).and_then(|r| r[0].opt_text()).map_err(self.err)?)
    }

    fn lost(&mut self, timeout: f64) -> Result<Vec<LostTrial>, CoreError> {
        let now = self.text.now;
        let rows = self.query(
            &format!(
                "SELECT id, attempts FROM trials
                 WHERE study = $1 AND state = 'running' AND heartbeat < {now} - $2 ORDER BY id"
            ),
            &[self.study.into(), timeout.into()],
        )?;
        let lost = |r: &Vec<Value>| -> Result<LostTrial, String> {
            Ok(LostTrial {
                id: r[0].int()? as u64,
                attempts: r[1].int()? as u32,
            })
        };
        Ok(rows
            .iter()
            .map(lost)
            .collect::<Result<_, _>>()
            .map_err(self.err)?)
    }

    fn fail(&mut self, id: u64, reason: &str) -> Result<(), CoreError> {
        let now = self.text.now;
        let rows = self.query(
            &format!("SELECT record, {now} FROM trials WHERE study = $1 AND id = $2"),
            &[self.study.into(), id.into()],
        )?;
        let (record, time) = one(&rows)
            .and_then(|r| Ok((r[0].text()?, r[1].real()?)))
            .map_err(self.err)?;
        let seq = next_seq(self.tx.as_mut(), self.study).map_err(self.err)?;
        self.execute(
            "UPDATE trials SET state = 'failed', told_seq = $3, record = $4
             WHERE study = $1 AND id = $2",
            &[
                self.study.into(),
                id.into(),
                seq.into(),
                failed_record(&record, reason, time).into(),
            ],
        )?;
        Ok(())
    }

    fn requeue(&mut self, id: u64) -> Result<(), CoreError> {
        self.execute(
            "UPDATE trials SET state = 'pending' WHERE study = $1 AND id = $2",
            &[self.study.into(), id.into()],
        )?;
        Ok(())
    }

    fn first_pending(&mut self) -> Result<Option<u64>, CoreError> {
        let rows = self.query(
            "SELECT id FROM trials WHERE study = $1 AND state = 'pending' ORDER BY id LIMIT 1",
            &[self.study.into()],
        )?;
        let first = rows.first().map(|r| r[0].int()).transpose();
        Ok(first.map_err(self.err)?.map(|id| id as u64))
    }

    fn changes(&mut self, since: u64) -> Result<Vec<Row>, CoreError> {
        let rows = self.query(
            &format!(
                "SELECT {ROW} FROM trials
                 WHERE study = $1 AND (asked_seq > $2 OR told_seq > $2) ORDER BY id"
            ),
            &[self.study.into(), since.into()],
        )?;
        self.rows(rows)
    }

    fn insert(&mut self, new: NewRow) -> Result<u64, CoreError> {
        let seq = next_seq(self.tx.as_mut(), self.study).map_err(self.err)?;
        self.execute(
            "INSERT INTO trials (study, id, state, asked_seq, record)
             VALUES ($1, $2, 'pending', $3, $4)",
            &[
                self.study.into(),
                new.id.into(),
                seq.into(),
                new.record.into(),
            ],
        )?;
        Ok(new.id)
    }

    fn start(&mut self, id: u64, worker: &str) -> Result<Row, CoreError> {
        let now = self.text.now;
        let rows = self.query(
            &format!(
                "UPDATE trials SET state = 'running', worker = $3, attempts = attempts + 1,
                 heartbeat = {now} WHERE study = $1 AND id = $2 RETURNING {ROW}"
            ),
            &[self.study.into(), id.into(), worker.into()],
        )?;
        let mut rows = self.rows(rows)?;
        match rows.pop() {
            Some(row) if rows.is_empty() => Ok(row),
            _ => Err((self.err)(format!("no trial {id} to start")).into()),
        }
    }

    fn finish_study(&mut self, reason: &str) -> Result<(), CoreError> {
        self.execute(
            "UPDATE studies SET finished = $2 WHERE id = $1",
            &[self.study.into(), reason.into()],
        )?;
        Ok(())
    }
}

/// The study named `spec.name`: created if there is none and `create` is set; otherwise it must
/// exist and have been created with the same space, strategy, seed and data.
pub fn open_study(
    database: &mut Database,
    spec: &StudySpec,
    create: bool,
) -> Result<StudyInfo, StoreError> {
    let studies = database.studies()?;
    match studies.iter().find(|s| s.spec.name == spec.name) {
        Some(info) => {
            check_same(database.url(), &info.spec, spec)?;
            Ok(info.clone())
        }
        None if create => {
            database.create_study(spec)?;
            let info = database
                .studies()?
                .into_iter()
                .find(|s| s.spec.name == spec.name)
                .ok_or_else(|| StoreError::Query {
                    url: database.url().into(),
                    what: "create study".into(),
                    reason: "the new study is not there".into(),
                })?;
            Ok(info)
        }
        None => Err(no_study(database.url(), &spec.name, &studies)),
    }
}

/// The study named `name`, as it was created (for workers, which take its settings).
pub fn find_study(database: &mut Database, name: &str) -> Result<StudyInfo, StoreError> {
    let studies = database.studies()?;
    studies
        .iter()
        .find(|s| s.spec.name == name)
        .cloned()
        .ok_or_else(|| no_study(database.url(), name, &studies))
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

/// One study of a [`Database`] as core's [`Storage`] of trials of genotype `G` (kept as JSON).
pub struct DbStorage<G, M> {
    database: Database,
    study: i64,
    reader: Reader<G, M>,
    /// The heartbeat thread, on a connection of its own, started with the first trial.
    heart: Option<Heart>,
}

impl<G, M> DbStorage<G, M> {
    pub fn new(database: Database, study: &StudyInfo) -> Self {
        DbStorage {
            reader: Reader {
                url: database.url().to_string(),
                name: study.spec.name.clone(),
                genotype: PhantomData,
            },
            database,
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
    fn start(mut database: Database, study: i64, interval: Duration) -> Heart {
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
                    let _ = database.heartbeat(study, trial, &worker);
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
    ) -> Result<Claim<Box<Trial<G, M>>>, CoreError> {
        let reader = &self.reader;
        let mut ask_rows = |rows: &[Row]| -> Result<Asked<NewRow>, CoreError> {
            let changes = rows
                .iter()
                .map(|r| reader.read(r))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(match ask(&changes)? {
                Asked::New(trial) => Asked::New(NewRow {
                    id: trial.id.0,
                    record: to_json(&trial),
                }),
                Asked::Wait => Asked::Wait,
                Asked::Stop(reason) => Asked::Stop(reason),
            })
        };
        let claimed = self
            .database
            .claim(self.study, worker, lease, since, &mut ask_rows)?;
        Ok(match claimed {
            Claim::Run(row) => Claim::Run(Box::new(self.reader.read(&row)?.trial)),
            Claim::Wait => Claim::Wait,
            Claim::Done(reason) => Claim::Done(reason),
        })
    }

    fn heartbeat(&mut self, trial: TrialId, worker: &str) -> Result<(), CoreError> {
        Ok(self.database.heartbeat(self.study, trial.0, worker)?)
    }

    fn keep_alive(
        &mut self,
        trial: TrialId,
        worker: &str,
        interval: Duration,
    ) -> Result<Box<dyn KeepAlive>, CoreError> {
        if self.heart.is_none() {
            self.heart = Some(Heart::start(self.database.reopen()?, self.study, interval));
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
        Ok(self.database.finish(self.study, &row)?)
    }

    fn release(&mut self, trial: TrialId, worker: &str) -> Result<bool, CoreError> {
        Ok(self.database.release(self.study, trial.0, worker)?)
    }

    fn history(&mut self) -> Result<Vec<Stored<G, M>>, CoreError> {
        let rows = self.database.trials(self.study)?;
        Ok(rows
            .iter()
            .map(|r| self.reader.read(r))
            .collect::<Result<Vec<_>, _>>()?)
    }

    fn finished(&mut self) -> Result<Option<String>, CoreError> {
        Ok(self.database.finished(self.study)?)
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
