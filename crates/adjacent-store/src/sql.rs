//! What a dialect of SQL gives the one implementation of the storage: a connection that runs
//! statements with [`Value`]s in and out, transactions, and the few pieces of SQL text that differ
//! between SQLite and PostgreSQL ([`SqlText`]). Every statement is written with `$1`-style
//! placeholders; a dialect that numbers them otherwise rewrites them.

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v as i64)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Reading a column of a row, with the reason when it is not what the schema says.
impl Value {
    pub fn int(&self) -> Result<i64, String> {
        match self {
            Value::Int(v) => Ok(*v),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }

    pub fn opt_int(&self) -> Result<Option<i64>, String> {
        match self {
            Value::Null => Ok(None),
            other => other.int().map(Some),
        }
    }

    pub fn real(&self) -> Result<f64, String> {
        match self {
            Value::Real(v) => Ok(*v),
            Value::Int(v) => Ok(*v as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }

    pub fn text(&self) -> Result<String, String> {
        match self {
            Value::Text(v) => Ok(v.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }

    pub fn opt_text(&self) -> Result<Option<String>, String> {
        match self {
            Value::Null => Ok(None),
            other => other.text().map(Some),
        }
    }

    pub fn blob(self) -> Result<Vec<u8>, String> {
        match self {
            Value::Blob(v) => Ok(v),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}

/// Rows as lists of values.
pub(crate) type Rows = Vec<Vec<Value>>;

/// Runs statements; errors are the database's words.
pub(crate) trait Statements {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, String>;
    /// Runs a statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, String>;
    /// Runs statements without parameters (a migration).
    fn batch(&mut self, sql: &str) -> Result<(), String>;
}

/// An open transaction; dropped without a commit, it rolls back.
pub(crate) trait Tx: Statements {
    fn commit(self: Box<Self>) -> Result<(), String>;
}

/// A connection to a database of one dialect.
pub(crate) trait Connection: Statements + Send {
    /// The address, for messages (no password).
    fn url(&self) -> &str;
    /// A second connection to the same database.
    fn reopen(&self) -> Result<Box<dyn Connection>, crate::StoreError>;
    /// Begins a transaction that orders the study's events: SQLite's takes the database's write
    /// lock at once; PostgreSQL's takes row locks as [`SqlText::lock`] says.
    fn begin(&mut self) -> Result<Box<dyn Tx + '_>, String>;
    /// The SQL text of this dialect.
    fn text(&self) -> &'static SqlText;
}

/// The SQL text that differs between the dialects.
pub(crate) struct SqlText {
    /// The database's clock, in seconds since the Unix epoch.
    pub now: &'static str,
    /// Appended to a SELECT of the study's row: locks it until the transaction ends (empty where
    /// the transaction holds the whole database).
    pub lock: &'static str,
    /// The table of the schema's version.
    pub meta: &'static str,
    /// Run first in the migration's transaction: keeps two processes from migrating at once
    /// (empty where the transaction does).
    pub migration_lock: &'static str,
    /// The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
    pub migrations: &'static [&'static str],
    /// Whether workers on other machines can reach the database (a server, not a file).
    pub shares_machines: bool,
}
