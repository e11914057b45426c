//! SQLite: a study in one file, shared by the processes of one machine. Claims are immediate
//! transactions (one writer at a time; others wait on the busy timeout); WAL lets readers go on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use adjacent_core::CoreError;
use adjacent_core::study::{Lease, lost_reason, now};
use adjacent_core::trial::WeightsHash;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::{
    AskedRow, Backend, ClaimedRow, Row, SCHEMA_VERSION, StoreError, StudyInfo, StudySpec, Weights,
    failed_record, parse_state, state_name,
};

/// The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: [&str; 3] = [
    "
CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    space TEXT NOT NULL,
    strategy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    data TEXT NOT NULL,
    settings TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    finished TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE trials (
    study INTEGER NOT NULL REFERENCES studies(id),
    id INTEGER NOT NULL,
    state TEXT NOT NULL,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    heartbeat REAL,
    asked_seq INTEGER NOT NULL,
    told_seq INTEGER,
    record TEXT NOT NULL,
    PRIMARY KEY (study, id)
);
CREATE INDEX trials_by_state ON trials (study, state);
",
    "
CREATE TABLE weights (
    study INTEGER NOT NULL REFERENCES studies(id),
    trial INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    arch TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (study, trial)
);
",
    // Networks by content hash: a trial's record names its network, and a child the one it
    // starts from. Networks kept by trial cannot be named by a record, so they go.
    "
CREATE TABLE networks (
    study INTEGER NOT NULL REFERENCES studies(id),
    hash TEXT NOT NULL,
    arch TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (study, hash)
);
DROP TABLE weights;
",
];

/// A study database in a SQLite file.
pub struct SqliteBackend {
    path: PathBuf,
    url: String,
    conn: Connection,
}

impl SqliteBackend {
    /// Opens (or creates) the database at `path`, migrating an older schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let url = path.display().to_string();
        let fail = |reason: String| StoreError::Open {
            url: url.clone(),
            reason,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(fail(format!("no folder {}", parent.display())));
        }
        let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(60))
            .map_err(|e| fail(e.to_string()))?;
        // WAL: readers never wait for the writer. With synchronous = NORMAL a killed process loses
        // no committed transaction (a power cut may lose the last few, never the file).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail(format!("not a SQLite database? {e}")))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| fail(e.to_string()))?;
        let mut backend = SqliteBackend {
            path: path.to_path_buf(),
            url,
            conn,
        };
        backend.migrate()?;
        Ok(backend)
    }

    fn err(&self, what: &str) -> impl Fn(rusqlite::Error) -> StoreError + use<> {
        let (url, what) = (self.url.clone(), what.to_string());
        move |e| StoreError::Query {
            url: url.clone(),
            what: what.clone(),
            reason: e.to_string(),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let err = self.err("migrate");
        let url = self.url.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .map_err(&err)?;
        let version: i64 = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(&err)?
            .map_or(Ok(0), |v| v.parse::<i64>())
            .map_err(|e| StoreError::Query {
                url: url.clone(),
                what: "read the schema version".into(),
                reason: e.to_string(),
            })?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                url,
                found: version,
            });
        }
        for migration in &MIGRATIONS[version as usize..] {
            tx.execute_batch(migration).map_err(&err)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![SCHEMA_VERSION.to_string()],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }
}

fn row_of(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    let state: String = r.get(1)?;
    Ok(Row {
        id: r.get::<_, i64>(0)? as u64,
        state: parse_state(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("unknown trial state {state:?}").into(),
            )
        })?,
        worker: r.get(2)?,
        attempts: r.get::<_, i64>(3)? as u32,
        asked_seq: r.get::<_, i64>(4)? as u64,
        told_seq: r.get::<_, Option<i64>>(5)?.map(|s| s as u64),
        record: r.get(6)?,
    })
}

const ROW: &str = "id, state, worker, attempts, asked_seq, told_seq, record";

/// The next event of `study`, counted.
fn next_seq(tx: &Transaction, study: i64) -> rusqlite::Result<i64> {
    tx.query_row(
        "UPDATE studies SET seq = seq + 1 WHERE id = ?1 RETURNING seq",
        params![study],
        |r| r.get(0),
    )
}

fn claim_row(tx: &Transaction, study: i64, id: i64, worker: &str) -> rusqlite::Result<Row> {
    tx.query_row(
        &format!(
            "UPDATE trials SET state = 'running', worker = ?3, attempts = attempts + 1, heartbeat = ?4
             WHERE study = ?1 AND id = ?2 RETURNING {ROW}"
        ),
        params![study, id, worker, now()],
        row_of,
    )
}

impl Backend for SqliteBackend {
    fn url(&self) -> &str {
        &self.url
    }

    fn shares_machines(&self) -> bool {
        false
    }

    fn reopen(&self) -> Result<Box<dyn Backend>, StoreError> {
        Ok(Box::new(SqliteBackend::open(&self.path)?))
    }

    fn create_study(&mut self, spec: &StudySpec) -> Result<i64, StoreError> {
        let err = self.err("create the study");
        self.conn
            .query_row(
                "INSERT INTO studies (name, space, strategy, seed, data, settings, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                params![
                    spec.name,
                    spec.space,
                    spec.strategy,
                    spec.seed as i64,
                    spec.data,
                    spec.settings,
                    now()
                ],
                |r| r.get(0),
            )
            .map_err(err)
    }

    fn studies(&mut self) -> Result<Vec<StudyInfo>, StoreError> {
        let err = self.err("list the studies");
        let mut statement = self
            .conn
            .prepare(
                "SELECT s.id, s.name, s.space, s.strategy, s.seed, s.data, s.settings, s.finished, s.created_at,
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'pending'),
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'running'),
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'complete'),
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'failed')
                 FROM studies s ORDER BY s.name",
            )
            .map_err(&err)?;
        let rows = statement
            .query_map([], |r| {
                Ok(StudyInfo {
                    id: r.get(0)?,
                    spec: StudySpec {
                        name: r.get(1)?,
                        space: r.get(2)?,
                        strategy: r.get(3)?,
                        seed: r.get::<_, i64>(4)? as u64,
                        data: r.get(5)?,
                        settings: r.get(6)?,
                    },
                    finished: r.get(7)?,
                    created_at: r.get(8)?,
                    pending: r.get::<_, i64>(9)? as u64,
                    running: r.get::<_, i64>(10)? as u64,
                    complete: r.get::<_, i64>(11)? as u64,
                    failed: r.get::<_, i64>(12)? as u64,
                })
            })
            .map_err(&err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn claim(
        &mut self,
        study: i64,
        worker: &str,
        lease: Lease,
        since: u64,
        ask: &mut dyn FnMut(&[Row]) -> Result<AskedRow, CoreError>,
    ) -> Result<ClaimedRow, CoreError> {
        let err = self.err("claim a trial");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let finished: Option<String> = tx
            .query_row(
                "SELECT finished FROM studies WHERE id = ?1",
                params![study],
                |r| r.get(0),
            )
            .map_err(&err)?;
        if let Some(reason) = finished {
            return Ok(ClaimedRow::Done(reason));
        }
        let time = now();
        // Trials whose worker is lost: back to pending, or failed after too many starts.
        let lost: Vec<(i64, i64, String)> = {
            let mut statement = tx
                .prepare(
                    "SELECT id, attempts, record FROM trials
                     WHERE study = ?1 AND state = 'running' AND heartbeat < ?2 ORDER BY id",
                )
                .map_err(&err)?;
            let rows = statement
                .query_map(params![study, time - lease.timeout], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)?
        };
        for (id, attempts, record) in lost {
            if attempts as u32 >= lease.max_attempts {
                let seq = next_seq(&tx, study).map_err(&err)?;
                let record = failed_record(&record, &lost_reason(attempts as u32, lease), time);
                tx.execute(
                    "UPDATE trials SET state = 'failed', told_seq = ?3, record = ?4
                     WHERE study = ?1 AND id = ?2",
                    params![study, id, seq, record],
                )
                .map_err(&err)?;
            } else {
                tx.execute(
                    "UPDATE trials SET state = 'pending' WHERE study = ?1 AND id = ?2",
                    params![study, id],
                )
                .map_err(&err)?;
            }
        }
        let pending: Option<i64> = tx
            .query_row(
                "SELECT id FROM trials WHERE study = ?1 AND state = 'pending' ORDER BY id LIMIT 1",
                params![study],
                |r| r.get(0),
            )
            .optional()
            .map_err(&err)?;
        let claimed = match pending {
            Some(id) => ClaimedRow::Run(claim_row(&tx, study, id, worker).map_err(&err)?),
            None => {
                let changes: Vec<Row> = {
                    let mut statement = tx
                        .prepare(&format!(
                            "SELECT {ROW} FROM trials
                             WHERE study = ?1 AND (asked_seq > ?2 OR told_seq > ?2) ORDER BY id"
                        ))
                        .map_err(&err)?;
                    let rows = statement
                        .query_map(params![study, since as i64], row_of)
                        .map_err(&err)?;
                    rows.collect::<Result<_, _>>().map_err(&err)?
                };
                match ask(&changes)? {
                    AskedRow::New { id, record } => {
                        let seq = next_seq(&tx, study).map_err(&err)?;
                        tx.execute(
                            "INSERT INTO trials (study, id, state, asked_seq, record)
                             VALUES (?1, ?2, 'pending', ?3, ?4)",
                            params![study, id as i64, seq, record],
                        )
                        .map_err(&err)?;
                        ClaimedRow::Run(claim_row(&tx, study, id as i64, worker).map_err(&err)?)
                    }
                    AskedRow::Wait => ClaimedRow::Wait,
                    AskedRow::Stop(reason) => {
                        tx.execute(
                            "UPDATE studies SET finished = ?2 WHERE id = ?1",
                            params![study, reason],
                        )
                        .map_err(&err)?;
                        ClaimedRow::Done(reason)
                    }
                }
            }
        };
        tx.commit().map_err(&err)?;
        Ok(claimed)
    }

    fn heartbeat(&mut self, study: i64, trial: u64, worker: &str) -> Result<(), StoreError> {
        let err = self.err("heartbeat");
        self.conn
            .execute(
                "UPDATE trials SET heartbeat = ?4
                 WHERE study = ?1 AND id = ?2 AND worker = ?3 AND state = 'running'",
                params![study, trial as i64, worker, now()],
            )
            .map_err(err)?;
        Ok(())
    }

    fn finish(&mut self, study: i64, row: &Row) -> Result<bool, StoreError> {
        let err = self.err("record a trial");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let ours: Option<i64> = tx
            .query_row(
                "SELECT id FROM trials WHERE study = ?1 AND id = ?2 AND state = 'running'
                 AND worker = ?3 AND attempts = ?4",
                params![study, row.id as i64, row.worker, row.attempts as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(&err)?;
        if ours.is_none() {
            return Ok(false);
        }
        let seq = next_seq(&tx, study).map_err(&err)?;
        tx.execute(
            "UPDATE trials SET state = ?3, told_seq = ?4, record = ?5 WHERE study = ?1 AND id = ?2",
            params![study, row.id as i64, state_name(row.state), seq, row.record],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(true)
    }

    fn release(&mut self, study: i64, trial: u64, worker: &str) -> Result<bool, StoreError> {
        let err = self.err("release a trial");
        let n = self
            .conn
            .execute(
                "UPDATE trials SET state = 'pending'
                 WHERE study = ?1 AND id = ?2 AND worker = ?3 AND state = 'running'",
                params![study, trial as i64, worker],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn trials(&mut self, study: i64) -> Result<Vec<Row>, StoreError> {
        let err = self.err("read the trials");
        let mut statement = self
            .conn
            .prepare(&format!(
                "SELECT {ROW} FROM trials WHERE study = ?1 ORDER BY id"
            ))
            .map_err(&err)?;
        let rows = statement.query_map(params![study], row_of).map_err(&err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn put_weights(
        &mut self,
        study: i64,
        hash: &WeightsHash,
        weights: &Weights,
    ) -> Result<(), StoreError> {
        let err = self.err("keep a network");
        self.conn
            .execute(
                "INSERT INTO networks (study, hash, arch, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (study, hash) DO NOTHING",
                params![study, hash.to_string(), weights.arch, weights.data],
            )
            .map_err(err)?;
        Ok(())
    }

    fn get_weights(
        &mut self,
        study: i64,
        hash: &WeightsHash,
    ) -> Result<Option<Weights>, StoreError> {
        let err = self.err("read a network");
        self.conn
            .query_row(
                "SELECT data, arch FROM networks WHERE study = ?1 AND hash = ?2",
                params![study, hash.to_string()],
                |r| {
                    Ok(Weights {
                        data: r.get(0)?,
                        arch: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(err)
    }

    fn finished(&mut self, study: i64) -> Result<Option<String>, StoreError> {
        let err = self.err("read the study");
        self.conn
            .query_row(
                "SELECT finished FROM studies WHERE id = ?1",
                params![study],
                |r| r.get(0),
            )
            .map_err(err)
    }
}
