//! PostgreSQL: one server, workers on many machines. A pending trial is claimed with
//! `FOR UPDATE SKIP LOCKED` (workers never wait on each other's claims); an ask, a tell and the
//! requeue of lost trials take the study's row lock, which orders the study's events. Times are
//! the server's clock, so that workers' clocks need not agree.

use adjacent_core::CoreError;
use adjacent_core::study::{Lease, lost_reason};
use adjacent_core::trial::WeightsHash;
use postgres::{Client, NoTls, Transaction};

use crate::{
    AskedRow, Backend, ClaimedRow, Row, SCHEMA_VERSION, StoreError, StudyInfo, StudySpec, Weights,
    failed_record, parse_state, state_name,
};

/// The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: [&str; 3] = [
    "
CREATE TABLE studies (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    space TEXT NOT NULL,
    strategy TEXT NOT NULL,
    seed BIGINT NOT NULL,
    data TEXT NOT NULL,
    settings TEXT NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    finished TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE trials (
    study BIGINT NOT NULL REFERENCES studies(id),
    id BIGINT NOT NULL,
    state TEXT NOT NULL,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    heartbeat DOUBLE PRECISION,
    asked_seq BIGINT NOT NULL,
    told_seq BIGINT,
    record TEXT NOT NULL,
    PRIMARY KEY (study, id)
);
CREATE INDEX trials_by_state ON trials (study, state);
",
    "
CREATE TABLE weights (
    study BIGINT NOT NULL REFERENCES studies(id),
    trial BIGINT NOT NULL,
    checksum TEXT NOT NULL,
    arch TEXT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (study, trial)
);
",
    // Networks by content hash: a trial's record names its network, and a child the one it
    // starts from. Networks kept by trial cannot be named by a record, so they go.
    "
CREATE TABLE networks (
    study BIGINT NOT NULL REFERENCES studies(id),
    hash TEXT NOT NULL,
    arch TEXT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (study, hash)
);
DROP TABLE weights;
",
];

/// The server's clock, in seconds since the Unix epoch.
const NOW: &str = "extract(epoch from clock_timestamp())::float8";

/// A key for the advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x6164_6a61_6365_6e74;

/// A study database on a PostgreSQL server.
pub struct PostgresBackend {
    /// The URL as given (with its password), to reconnect.
    target: String,
    /// The URL without its password, for messages.
    url: String,
    client: Client,
}

/// `url` with its password replaced, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            match credentials.contains(':') {
                true => format!("{scheme}://{user}:***@{host}"),
                false => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

impl PostgresBackend {
    /// Connects to `url` and migrates an older schema.
    pub fn connect(target: &str) -> Result<Self, StoreError> {
        let url = redact(target);
        let mut config: postgres::Config = target.parse().map_err(|e| StoreError::Open {
            url: url.clone(),
            reason: format!("{e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let client = config.connect(NoTls).map_err(|e| StoreError::Open {
            url: url.clone(),
            reason: describe(&e),
        })?;
        let mut backend = PostgresBackend {
            target: target.to_string(),
            url,
            client,
        };
        backend.migrate()?;
        Ok(backend)
    }

    fn err(&self, what: &str) -> impl Fn(postgres::Error) -> StoreError + use<> {
        let (url, what) = (self.url.clone(), what.to_string());
        move |e| StoreError::Query {
            url: url.clone(),
            what: what.clone(),
            reason: describe(&e),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let err = self.err("migrate");
        let url = self.url.clone();
        let mut tx = self.client.transaction().map_err(&err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(&err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS adjacent_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .map_err(&err)?;
        let version: i64 = match tx
            .query_opt(
                "SELECT value FROM adjacent_meta WHERE key = 'schema_version'",
                &[],
            )
            .map_err(&err)?
        {
            Some(row) => row
                .get::<_, String>(0)
                .parse()
                .map_err(|e| StoreError::Query {
                    url: url.clone(),
                    what: "read the schema version".into(),
                    reason: format!("{e}"),
                })?,
            None => 0,
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                url,
                found: version,
            });
        }
        for migration in &MIGRATIONS[version as usize..] {
            tx.batch_execute(migration).map_err(&err)?;
        }
        tx.execute(
            "INSERT INTO adjacent_meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&SCHEMA_VERSION.to_string()],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }
}

/// A PostgreSQL error with the server's message, when there is one.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

const ROW: &str = "id, state, worker, attempts, asked_seq, told_seq, record";

fn row_of(r: &postgres::Row) -> Result<Row, String> {
    let state: String = r.get(1);
    Ok(Row {
        id: r.get::<_, i64>(0) as u64,
        state: parse_state(&state).ok_or_else(|| format!("unknown trial state {state:?}"))?,
        worker: r.get(2),
        attempts: r.get::<_, i32>(3) as u32,
        asked_seq: r.get::<_, i64>(4) as u64,
        told_seq: r.get::<_, Option<i64>>(5).map(|s| s as u64),
        record: r.get(6),
    })
}

fn next_seq(tx: &mut Transaction, study: i64) -> Result<i64, postgres::Error> {
    let row = tx.query_one(
        "UPDATE studies SET seq = seq + 1 WHERE id = $1 RETURNING seq",
        &[&study],
    )?;
    Ok(row.get(0))
}

fn claim_row(
    tx: &mut Transaction,
    study: i64,
    id: i64,
    worker: &str,
) -> Result<postgres::Row, postgres::Error> {
    tx.query_one(
        &format!(
            "UPDATE trials SET state = 'running', worker = $3, attempts = attempts + 1, heartbeat = {NOW}
             WHERE study = $1 AND id = $2 RETURNING {ROW}"
        ),
        &[&study, &id, &worker],
    )
}

impl PostgresBackend {
    fn bad_row(&self, reason: String) -> StoreError {
        StoreError::Query {
            url: self.url.clone(),
            what: "read a trial".into(),
            reason,
        }
    }
}

impl Backend for PostgresBackend {
    fn url(&self) -> &str {
        &self.url
    }

    fn shares_machines(&self) -> bool {
        true
    }

    fn reopen(&self) -> Result<Box<dyn Backend>, StoreError> {
        Ok(Box::new(PostgresBackend::connect(&self.target)?))
    }

    fn create_study(&mut self, spec: &StudySpec) -> Result<i64, StoreError> {
        let err = self.err("create the study");
        let row = self
            .client
            .query_one(
                &format!(
                    "INSERT INTO studies (name, space, strategy, seed, data, settings, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, {NOW}) RETURNING id"
                ),
                &[
                    &spec.name,
                    &spec.space,
                    &spec.strategy,
                    &(spec.seed as i64),
                    &spec.data,
                    &spec.settings,
                ],
            )
            .map_err(err)?;
        Ok(row.get(0))
    }

    fn studies(&mut self) -> Result<Vec<StudyInfo>, StoreError> {
        let err = self.err("list the studies");
        let rows = self
            .client
            .query(
                "SELECT s.id, s.name, s.space, s.strategy, s.seed, s.data, s.settings, s.finished, s.created_at,
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'pending'),
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'running'),
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'complete'),
                    (SELECT count(*) FROM trials t WHERE t.study = s.id AND t.state = 'failed')
                 FROM studies s ORDER BY s.name",
                &[],
            )
            .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| StudyInfo {
                id: r.get(0),
                spec: StudySpec {
                    name: r.get(1),
                    space: r.get(2),
                    strategy: r.get(3),
                    seed: r.get::<_, i64>(4) as u64,
                    data: r.get(5),
                    settings: r.get(6),
                },
                finished: r.get(7),
                created_at: r.get(8),
                pending: r.get::<_, i64>(9) as u64,
                running: r.get::<_, i64>(10) as u64,
                complete: r.get::<_, i64>(11) as u64,
                failed: r.get::<_, i64>(12) as u64,
            })
            .collect())
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
        let url = self.url.clone();
        let bad_row = |reason: String| StoreError::Query {
            url: url.clone(),
            what: "read a trial".into(),
            reason,
        };
        let mut tx = self.client.transaction().map_err(&err)?;
        // A pending trial (a lost worker's), without waiting for other workers' claims.
        let pending = tx
            .query_opt(
                "SELECT id FROM trials WHERE study = $1 AND state = 'pending'
                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                &[&study],
            )
            .map_err(&err)?;
        if let Some(p) = pending {
            let row = claim_row(&mut tx, study, p.get(0), worker).map_err(&err)?;
            let row = row_of(&row).map_err(&bad_row)?;
            tx.commit().map_err(&err)?;
            return Ok(ClaimedRow::Run(row));
        }
        // Everything else orders the study's events: take its lock.
        let locked = tx
            .query_one(
                "SELECT finished FROM studies WHERE id = $1 FOR UPDATE",
                &[&study],
            )
            .map_err(&err)?;
        if let Some(reason) = locked.get::<_, Option<String>>(0) {
            return Ok(ClaimedRow::Done(reason));
        }
        let lost = tx
            .query(
                &format!(
                    "SELECT id, attempts, record, {NOW} FROM trials
                     WHERE study = $1 AND state = 'running' AND heartbeat < {NOW} - $2 ORDER BY id"
                ),
                &[&study, &lease.timeout],
            )
            .map_err(&err)?;
        let mut requeued = None;
        for row in lost {
            let (id, attempts, record, time): (i64, i32, String, f64) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if attempts as u32 >= lease.max_attempts {
                let seq = next_seq(&mut tx, study).map_err(&err)?;
                let record = failed_record(&record, &lost_reason(attempts as u32, lease), time);
                tx.execute(
                    "UPDATE trials SET state = 'failed', told_seq = $3, record = $4
                     WHERE study = $1 AND id = $2",
                    &[&study, &id, &seq, &record],
                )
                .map_err(&err)?;
            } else {
                tx.execute(
                    "UPDATE trials SET state = 'pending' WHERE study = $1 AND id = $2",
                    &[&study, &id],
                )
                .map_err(&err)?;
                requeued.get_or_insert(id);
            }
        }
        let claimed = match requeued {
            Some(id) => {
                let row = claim_row(&mut tx, study, id, worker).map_err(&err)?;
                ClaimedRow::Run(row_of(&row).map_err(&bad_row)?)
            }
            None => {
                let rows = tx
                    .query(
                        &format!(
                            "SELECT {ROW} FROM trials
                             WHERE study = $1 AND (asked_seq > $2 OR told_seq > $2) ORDER BY id"
                        ),
                        &[&study, &(since as i64)],
                    )
                    .map_err(&err)?;
                let changes = rows
                    .iter()
                    .map(row_of)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(&bad_row)?;
                match ask(&changes)? {
                    AskedRow::New { id, record } => {
                        let seq = next_seq(&mut tx, study).map_err(&err)?;
                        tx.execute(
                            "INSERT INTO trials (study, id, state, asked_seq, record)
                             VALUES ($1, $2, 'pending', $3, $4)",
                            &[&study, &(id as i64), &seq, &record],
                        )
                        .map_err(&err)?;
                        let row = claim_row(&mut tx, study, id as i64, worker).map_err(&err)?;
                        ClaimedRow::Run(row_of(&row).map_err(&bad_row)?)
                    }
                    AskedRow::Wait => ClaimedRow::Wait,
                    AskedRow::Stop(reason) => {
                        tx.execute(
                            "UPDATE studies SET finished = $2 WHERE id = $1",
                            &[&study, &reason],
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
        self.client
            .execute(
                &format!(
                    "UPDATE trials SET heartbeat = {NOW}
                     WHERE study = $1 AND id = $2 AND worker = $3 AND state = 'running'"
                ),
                &[&study, &(trial as i64), &worker],
            )
            .map_err(err)?;
        Ok(())
    }

    fn finish(&mut self, study: i64, row: &Row) -> Result<bool, StoreError> {
        let err = self.err("record a trial");
        let mut tx = self.client.transaction().map_err(&err)?;
        tx.query_one("SELECT id FROM studies WHERE id = $1 FOR UPDATE", &[&study])
            .map_err(&err)?;
        let ours = tx
            .query_opt(
                "SELECT id FROM trials WHERE study = $1 AND id = $2 AND state = 'running'
                 AND worker = $3 AND attempts = $4",
                &[
                    &study,
                    &(row.id as i64),
                    &row.worker,
                    &(row.attempts as i32),
                ],
            )
            .map_err(&err)?;
        if ours.is_none() {
            return Ok(false);
        }
        let seq = next_seq(&mut tx, study).map_err(&err)?;
        tx.execute(
            "UPDATE trials SET state = $3, told_seq = $4, record = $5 WHERE study = $1 AND id = $2",
            &[
                &study,
                &(row.id as i64),
                &state_name(row.state),
                &seq,
                &row.record,
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(true)
    }

    fn release(&mut self, study: i64, trial: u64, worker: &str) -> Result<bool, StoreError> {
        let err = self.err("release a trial");
        let n = self
            .client
            .execute(
                "UPDATE trials SET state = 'pending'
                 WHERE study = $1 AND id = $2 AND worker = $3 AND state = 'running'",
                &[&study, &(trial as i64), &worker],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn trials(&mut self, study: i64) -> Result<Vec<Row>, StoreError> {
        let err = self.err("read the trials");
        let rows = self
            .client
            .query(
                &format!("SELECT {ROW} FROM trials WHERE study = $1 ORDER BY id"),
                &[&study],
            )
            .map_err(err)?;
        rows.iter()
            .map(row_of)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|r| self.bad_row(r))
    }

    fn put_weights(
        &mut self,
        study: i64,
        hash: &WeightsHash,
        weights: &Weights,
    ) -> Result<(), StoreError> {
        let err = self.err("keep a network");
        self.client
            .execute(
                "INSERT INTO networks (study, hash, arch, data) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (study, hash) DO NOTHING",
                &[&study, &hash.to_string(), &weights.arch, &weights.data],
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
        let row = self
            .client
            .query_opt(
                "SELECT data, arch FROM networks WHERE study = $1 AND hash = $2",
                &[&study, &hash.to_string()],
            )
            .map_err(err)?;
        Ok(row.map(|r| Weights {
            data: r.get(0),
            arch: r.get(1),
        }))
    }

    fn finished(&mut self, study: i64) -> Result<Option<String>, StoreError> {
        let err = self.err("read the study");
        let row = self
            .client
            .query_one("SELECT finished FROM studies WHERE id = $1", &[&study])
            .map_err(err)?;
        Ok(row.get(0))
    }
}
