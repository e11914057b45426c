//! The search crate's error type: every message names the file, field or folder at fault.

use std::path::PathBuf;

/// Errors of `adjacent-search`.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file of the search's (settings, a summary, stored settings) that cannot be read.
    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },

    /// A setting out of range.
    #[error("invalid setting {field}: {reason}")]
    InvalidSetting { field: String, reason: String },

    /// An error in one part of the settings (a section of a settings file, or a flag).
    #[error("{part}: {error}")]
    Config {
        part: String,
        error: Box<SearchError>,
    },

    /// An output folder or study that cannot be used as asked (finished, in use, created with
    /// other settings).
    #[error("{0}")]
    Refused(String),

    #[error(transparent)]
    Nn(#[from] adjacent_nn::NnError),

    #[error(transparent)]
    Data(#[from] adjacent_data::DataError),

    #[error(transparent)]
    Core(#[from] adjacent_core::CoreError),

    #[error(transparent)]
    Store(#[from] adjacent_store::StoreError),
}

impl SearchError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SearchError {
        let path = path.into();
        move |source| SearchError::Io { path, source }
    }

    pub fn bad_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> SearchError {
        SearchError::BadFile {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SearchError {
        SearchError::InvalidSetting {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
