//! A search's output folder: new, or the folder of an unfinished study to resume; what a failed
//! new search leaves behind is removed when it holds no result.

use std::path::Path;

use serde::Serialize;

use crate::error::SearchError;
use crate::summary::SUMMARY_FILE;

/// The study file of a search's folder (its storage unless `--storage` says otherwise).
pub const STUDY_DB: &str = "study.db";

/// The trials of a search, one record a line, as they end.
pub const TRIALS_FILE: &str = "trials.jsonl";

/// True when `a` and `b` name the same existing file or folder.
pub fn same_folder(a: &Path, b: &Path) -> bool {
    a.canonicalize()
        .ok()
        .zip(b.canonicalize().ok())
        .is_some_and(|(a, b)| a == b)
}

/// True when `out` is a folder that holds anything; an error when it is a file.
pub fn folder_in_use(out: &Path) -> Result<bool, SearchError> {
    if out.exists() && !out.is_dir() {
        return Err(SearchError::Refused(format!(
            "--out {} is a file, not a folder",
            out.display()
        )));
    }
    Ok(out.is_dir()
        && std::fs::read_dir(out)
            .map_err(SearchError::io(out))?
            .next()
            .is_some())
}

/// Writes `value` as pretty JSON with a final newline.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), SearchError> {
    let text = serde_json::to_string_pretty(value).expect("a record serializes") + "\n";
    std::fs::write(path, text).map_err(SearchError::io(path))
}

/// How a search's folder starts: new, or an unfinished study resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    New,
    Resume,
}

/// Decides between a new search and a resumed one (`study_exists`: the study is in its storage),
/// refusing a finished search's folder and a folder holding anything else; makes a new folder.
pub fn start_of(out: &Path, study_exists: bool) -> Result<Start, SearchError> {
    if out.join(SUMMARY_FILE).exists() {
        return Err(SearchError::Refused(format!(
            "{} holds a finished search ({SUMMARY_FILE}); a search writes into a new or empty folder",
            out.display()
        )));
    }
    if study_exists {
        return Ok(Start::Resume);
    }
    if folder_in_use(out)? {
        return Err(SearchError::Refused(format!(
            "{} is in use (not empty); a search writes into a new or empty folder",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(SearchError::io(out))?;
    Ok(Start::New)
}

/// After a new search that failed, removes what it created if nothing holds a result (no trial
/// recorded), so that the folder can be used again; anything holding a result stays.
pub fn remove_unused_output(out: &Path) {
    let db = out.join(STUDY_DB);
    let no_trials = db.exists()
        && adjacent_store::open(&db.display().to_string())
            .and_then(|mut database| database.studies())
            .is_ok_and(|studies| {
                studies
                    .iter()
                    .all(|s| s.pending + s.running + s.complete + s.failed == 0)
            });
    if no_trials {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(out.join(format!("{STUDY_DB}{suffix}")));
        }
    }
    let trials = out.join(TRIALS_FILE);
    if std::fs::metadata(&trials).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(&trials);
    }
    // `remove_dir` only removes empty folders.
    let _ = std::fs::remove_dir(out.join("weights"));
    let _ = std::fs::remove_dir(out);
}
