//! PostgreSQL: one server, workers on many machines. A claim and a tell take the study's row lock
//! (`FOR UPDATE`), which orders the study's events. Times are the server's clock, so that workers'
//! clocks need not agree.

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};

use crate::StoreError;
use crate::sql::{Connection, Rows, SqlText, Statements, Tx, Value};

const TEXT: SqlText = SqlText {
    now: "extract(epoch from clock_timestamp())::float8",
    lock: "FOR UPDATE",
    meta: "adjacent_meta",
    // An advisory lock (its key spells "adjacent") held until the migration's transaction ends.
    migration_lock: "SELECT pg_advisory_xact_lock(7017851085862039156)",
    migrations: &[
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
    ],
    shares_machines: true,
};

/// A connection to a study database on a PostgreSQL server.
pub(crate) struct Postgres {
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

impl Postgres {
    /// Connects to `target`.
    pub fn connect(target: &str) -> Result<Postgres, StoreError> {
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
        Ok(Postgres {
            target: target.to_string(),
            url,
            client,
        })
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

/// `value` as the Rust type PostgreSQL's `ty` takes (it checks types strictly: an `INTEGER`
/// column takes an i32, not an i64).
fn to_sql(value: &Value, ty: &Type) -> Result<Box<dyn ToSql + Sync>, String> {
    let mismatch = || format!("cannot pass {value:?} as {ty}");
    Ok(match (value, ty) {
        (Value::Null, &Type::INT4) => Box::new(None::<i32>),
        (Value::Null, &Type::INT8) => Box::new(None::<i64>),
        (Value::Null, &Type::FLOAT8) => Box::new(None::<f64>),
        (Value::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (Value::Null, _) => Box::new(None::<String>),
        (Value::Int(i), &Type::INT4) => Box::new(i32::try_from(*i).map_err(|_| mismatch())?),
        (Value::Int(i), &Type::INT8) => Box::new(*i),
        (Value::Int(i), &Type::FLOAT8) => Box::new(*i as f64),
        (Value::Real(r), &Type::FLOAT8) => Box::new(*r),
        (Value::Text(t), _) => Box::new(t.clone()),
        (Value::Blob(b), &Type::BYTEA) => Box::new(b.clone()),
        _ => return Err(mismatch()),
    })
}

fn from_row(row: &postgres::Row) -> Result<Vec<Value>, String> {
    let column = |i: usize| -> Result<Value, postgres::Error> {
        let ty = row.columns()[i].type_();
        Ok(match *ty {
            Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(i64::from).into(),
            Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(i64::from).into(),
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.into(),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.into(),
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.into(),
            _ => row.try_get::<_, Option<String>>(i)?.into(),
        })
    };
    (0..row.len())
        .map(|i| column(i).map_err(|e| describe(&e)))
        .collect()
}

/// `params` bound to `statement`'s parameters, each as the type the server asked for.
fn bind(
    statement: &postgres::Statement,
    params: &[Value],
) -> Result<Vec<Box<dyn ToSql + Sync>>, String> {
    params
        .iter()
        .zip(statement.params())
        .map(|(v, ty)| to_sql(v, ty))
        .collect()
}

fn query<C: postgres::GenericClient>(
    client: &mut C,
    sql: &str,
    params: &[Value],
) -> Result<Rows, String> {
    let statement = client.prepare(sql).map_err(|e| describe(&e))?;
    let bound = bind(&statement, params)?;
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref()).collect();
    let rows = client.query(&statement, &refs).map_err(|e| describe(&e))?;
    rows.iter().map(from_row).collect()
}

fn execute<C: postgres::GenericClient>(
    client: &mut C,
    sql: &str,
    params: &[Value],
) -> Result<u64, String> {
    let statement = client.prepare(sql).map_err(|e| describe(&e))?;
    let bound = bind(&statement, params)?;
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref()).collect();
    client.execute(&statement, &refs).map_err(|e| describe(&e))
}

impl Statements for Postgres {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, String> {
        query(&mut self.client, sql, params)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String> {
        execute(&mut self.client, sql, params)
    }

    fn batch(&mut self, sql: &str) -> Result<(), String> {
        self.client.batch_execute(sql).map_err(|e| describe(&e))
    }
}

impl Statements for postgres::Transaction<'_> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, String> {
        query(self, sql, params)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String> {
        execute(self, sql, params)
    }

    fn batch(&mut self, sql: &str) -> Result<(), String> {
        self.batch_execute(sql).map_err(|e| describe(&e))
    }
}

impl Tx for postgres::Transaction<'_> {
    fn commit(self: Box<Self>) -> Result<(), String> {
        (*self).commit().map_err(|e| describe(&e))
    }
}

impl Connection for Postgres {
    fn url(&self) -> &str {
        &self.url
    }

    fn reopen(&self) -> Result<Box<dyn Connection>, StoreError> {
        Ok(Box::new(Postgres::connect(&self.target)?))
    }

    fn begin(&mut self) -> Result<Box<dyn Tx + '_>, String> {
        let tx = self.client.transaction().map_err(|e| describe(&e))?;
        Ok(Box::new(tx))
    }

    fn text(&self) -> &'static SqlText {
        &TEXT
    }
}
