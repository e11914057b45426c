//! The core crate's error type. Every message names what was wrong and where (file, row, field).

use std::path::PathBuf;

/// Errors of `adjacent-core`.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A cell string that is not a NAS-Bench-201 cell.
    #[error("invalid cell string {input:?}: {reason}")]
    InvalidCell { input: String, reason: String },

    /// A file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A benchmark table lacks a column it needs.
    #[error("{}: missing column {column:?} (columns present: {present})", path.display())]
    MissingColumn {
        path: PathBuf,
        column: String,
        present: String,
    },

    /// A benchmark table has a row that cannot be used.
    #[error("{}: row {row} (line {line}): {reason}", path.display())]
    BadRow {
        path: PathBuf,
        row: usize,
        line: u64,
        reason: String,
    },

    /// The table is not a table of this search space (cells missing, too few rows, no data set).
    #[error("{}: {reason}", path.display())]
    BadTable { path: PathBuf, reason: String },

    /// A data set that the table does not cover.
    #[error("{}: unknown data set {name:?}; data sets in this table: {available}", path.display())]
    UnknownDataset {
        path: PathBuf,
        name: String,
        available: String,
    },

    /// A strategy name that does not exist.
    #[error("unknown strategy {name:?}; valid strategies: {valid}")]
    UnknownStrategy { name: String, valid: String },

    /// A query budget the search space cannot fill.
    #[error(
        "{requested} queries is more than the search space holds ({available} distinct cells); ask for at most {available}"
    )]
    BudgetTooLarge { requested: usize, available: usize },

    /// A setting out of its range.
    #[error("invalid setting {field}: {reason}")]
    InvalidSetting { field: String, reason: String },

    /// A history that the strategy, with its seed, would not have produced.
    #[error(
        "trial {trial}: the history records {recorded} but the strategy proposes {proposed}; was it written by another strategy or seed?"
    )]
    HistoryMismatch {
        trial: u64,
        recorded: String,
        proposed: String,
    },

    /// A strategy has carried out its whole plan.
    #[error("strategy {strategy:?} has finished its plan")]
    Finished { strategy: String },

    /// A strategy has nothing left to propose.
    #[error("strategy {strategy:?} has no unseen genotype left to propose")]
    Exhausted { strategy: String },

    /// A study's storage failed (a database, a file).
    #[error("storage: {0}")]
    Storage(#[source] BoxError),

    /// An evaluator could not evaluate a trial at all (a trial whose training fails is recorded as
    /// failed instead).
    #[error("trial {trial}: {source}")]
    Evaluation {
        trial: u64,
        #[source]
        source: BoxError,
    },
}

/// An error of another layer (a database, a training run), carried through core.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
