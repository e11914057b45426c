//! SQLite: a study in one file, shared by the processes of one machine. Claims are immediate
//! transactions (one writer at a time; others wait on the busy timeout); WAL lets readers go on.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value as SqliteValue;
use rusqlite::{Connection as SqliteConnection, TransactionBehavior, params_from_iter};

use crate::StoreError;
use crate::sql::{Connection, Rows, SqlText, Statements, Tx, Value};

const TEXT: SqlText = SqlText {
    now: "unixepoch('subsec')",
    lock: "",
    meta: "meta",
    migration_lock: "",
    migrations: &[
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
    ],
    shares_machines: false,
};

/// A connection to a study database in a SQLite file.
pub(crate) struct Sqlite {
    path: PathBuf,
    url: String,
    conn: SqliteConnection,
}

impl Sqlite {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
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
        let conn = SqliteConnection::open(path).map_err(|e| fail(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(60))
            .map_err(|e| fail(e.to_string()))?;
        // WAL: readers never wait for the writer. With synchronous = NORMAL a killed process loses
        // no committed transaction (a power cut may lose the last few, never the file).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail(format!("not a SQLite database? {e}")))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| fail(e.to_string()))?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            url,
            conn,
        })
    }
}

/// `$1`-style placeholders as SQLite numbers them (`?1`): SQLite reads `$1` as a name, numbered by
/// where it first appears.
fn numbered(sql: &str) -> Cow<'_, str> {
    match sql.contains('$') {
        true => Cow::Owned(sql.replace('$', "?")),
        false => Cow::Borrowed(sql),
    }
}

fn bind(params: &[Value]) -> impl Iterator<Item = SqliteValue> + '_ {
    params.iter().map(|v| match v {
        Value::Null => SqliteValue::Null,
        Value::Int(i) => SqliteValue::Integer(*i),
        Value::Real(r) => SqliteValue::Real(*r),
        Value::Text(t) => SqliteValue::Text(t.clone()),
        Value::Blob(b) => SqliteValue::Blob(b.clone()),
    })
}

fn query(conn: &SqliteConnection, sql: &str, params: &[Value]) -> rusqlite::Result<Rows> {
    let mut statement = conn.prepare(&numbered(sql))?;
    let columns = statement.column_count();
    let rows = statement.query_map(params_from_iter(bind(params)), |row| {
        (0..columns)
            .map(|i| {
                Ok(match row.get::<_, SqliteValue>(i)? {
                    SqliteValue::Null => Value::Null,
                    SqliteValue::Integer(i) => Value::Int(i),
                    SqliteValue::Real(r) => Value::Real(r),
                    SqliteValue::Text(t) => Value::Text(t),
                    SqliteValue::Blob(b) => Value::Blob(b),
                })
            })
            .collect()
    })?;
    rows.collect()
}

fn execute(conn: &SqliteConnection, sql: &str, params: &[Value]) -> rusqlite::Result<u64> {
    let n = conn.execute(&numbered(sql), params_from_iter(bind(params)))?;
    Ok(n as u64)
}

impl Statements for Sqlite {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, String> {
        query(&self.conn, sql, params).map_err(|e| e.to_string())
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String> {
        execute(&self.conn, sql, params).map_err(|e| e.to_string())
    }

    fn batch(&mut self, sql: &str) -> Result<(), String> {
        self.conn.execute_batch(sql).map_err(|e| e.to_string())
    }
}

impl Statements for rusqlite::Transaction<'_> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, String> {
        query(self, sql, params).map_err(|e| e.to_string())
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String> {
        execute(self, sql, params).map_err(|e| e.to_string())
    }

    fn batch(&mut self, sql: &str) -> Result<(), String> {
        self.execute_batch(sql).map_err(|e| e.to_string())
    }
}

impl Tx for rusqlite::Transaction<'_> {
    fn commit(self: Box<Self>) -> Result<(), String> {
        (*self).commit().map_err(|e| e.to_string())
    }
}

impl Connection for Sqlite {
    fn url(&self) -> &str {
        &self.url
    }

    fn reopen(&self) -> Result<Box<dyn Connection>, StoreError> {
        Ok(Box::new(Sqlite::open(&self.path)?))
    }

    fn begin(&mut self) -> Result<Box<dyn Tx + '_>, String> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| e.to_string())?;
        Ok(Box::new(tx))
    }

    fn text(&self) -> &'static SqlText {
        &TEXT
    }
}
