//! The nn crate's error type: every message names the file or field at fault.

use std::path::PathBuf;

/// Errors of `adjacent-nn`.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
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

    /// A saved model that cannot be loaded.
    #[error("{}: {reason}", path.display())]
    BadModel { path: PathBuf, reason: String },

    /// A setting out of range.
    #[error("invalid setting {field}: {reason}")]
    InvalidSetting { field: String, reason: String },

    /// An error in one part of the settings (a section of a settings file, or a flag).
    #[error("{part}: {error}")]
    Config { part: String, error: Box<NnError> },

    /// A one-shot search whose loss stopped being a number.
    #[error("the search diverged in epoch {epoch}: loss {loss} (try a lower learning rate)")]
    Diverged { epoch: usize, loss: f64 },

    #[error(transparent)]
    Core(#[from] adjacent_core::CoreError),
}

impl NnError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NnError {
        let path = path.into();
        move |source| NnError::Io { path, source }
    }

    pub fn bad_data(path: impl Into<PathBuf>, reason: impl Into<String>) -> NnError {
        NnError::BadData {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
