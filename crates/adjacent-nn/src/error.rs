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

    /// A saved model that cannot be loaded.
    #[error("{}: {reason}", path.display())]
    BadModel { path: PathBuf, reason: String },

    /// A setting out of range.
    #[error("invalid setting {field}: {reason}")]
    InvalidSetting { field: String, reason: String },

    /// A one-shot search whose loss stopped being a number.
    #[error("the search diverged in epoch {epoch}: loss {loss} (try a lower learning rate)")]
    Diverged { epoch: usize, loss: f64 },

    #[error(transparent)]
    Core(#[from] adjacent_core::CoreError),

    #[error(transparent)]
    Data(#[from] adjacent_data::DataError),
}

impl NnError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NnError {
        let path = path.into();
        move |source| NnError::Io { path, source }
    }
}
