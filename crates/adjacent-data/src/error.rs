//! The data crate's error type: every message names the file or setting at fault.

use std::path::PathBuf;

/// Errors of `adjacent-data`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A data file that is not what it claims to be.
    #[error("{}: {reason}", path.display())]
    BadData { path: PathBuf, reason: String },

    /// A path that holds no data set adjacent can read.
    #[error("{}: {reason}", path.display())]
    UnknownFormat { path: PathBuf, reason: String },

    /// A setting out of range (a split, a subset).
    #[error("invalid setting {field}: {reason}")]
    InvalidSetting { field: String, reason: String },
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
        let path = path.into();
        move |source| DataError::Io { path, source }
    }

    pub fn bad_data(path: impl Into<PathBuf>, reason: impl Into<String>) -> DataError {
        DataError::BadData {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
