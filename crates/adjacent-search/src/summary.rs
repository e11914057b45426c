//! `summary.json`: what a finished search delivered and spent, written by the search and read by
//! `adjacent report`. One type for both, so that the two never disagree.

use std::path::Path;

use adjacent_core::network::NetworkArch;
use serde::{Deserialize, Serialize};

use crate::config::SearchConfig;
use crate::error::SearchError;
use crate::final_phase::FinalTrial;

/// The file's name in a search's folder.
pub const SUMMARY_FILE: &str = "summary.json";

/// A finished search. Every field has a default, so that summaries written by older searches
/// (fewer fields) still read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub strategy: String,
    pub seed: u64,
    pub data: String,
    /// The network a user receives (best/): the final model's architecture.
    pub arch: Option<NetworkArch>,
    /// The final model's validation and test accuracy (the best trial's when there is no final
    /// phase).
    pub valid_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub params: Option<u64>,
    /// The trial the search chose (its validation accuracy when it was validated), before the
    /// final phase.
    pub best_arch: Option<NetworkArch>,
    pub best_trial: Option<u64>,
    pub best_valid_acc: Option<f64>,
    /// The final phase's record: a trial whose parent is the trial the search chose.
    #[serde(rename = "final")]
    pub final_trial: Option<FinalTrial>,
    /// Why there was no final phase, when there was none.
    pub final_skipped: Option<String>,
    pub trials: usize,
    pub failed: usize,
    /// Training images and compute of the whole search, final phase included (compute is absent
    /// from searches older than the cost model).
    pub images: u64,
    pub flops: Option<u64>,
    /// Compute of the search's trials alone.
    pub search_flops: u64,
    pub budget_flops: Option<u64>,
    pub budget_images: Option<u64>,
    pub budget_minutes: Option<f64>,
    pub seconds: f64,
    /// Why the search stopped.
    pub stopped: String,
    pub train_images: usize,
    pub valid_images: usize,
    pub config: SearchConfig,
}

impl Summary {
    /// Validation accuracy of what the user receives.
    pub fn delivered_valid(&self) -> Option<f64> {
        self.valid_acc.or(self.best_valid_acc)
    }

    /// Reads the summary in a search's folder `dir`.
    pub fn read(dir: &Path) -> Result<Summary, SearchError> {
        let path = dir.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&path).map_err(SearchError::io(&path))?;
        serde_json::from_str(&text).map_err(|e| SearchError::bad_file(&path, e.to_string()))
    }

    /// Writes it into the search's folder `dir`.
    /// Reads `summary.json` for a report, which shows no settings: the settings file it was run
    /// with is skipped, so a search from before a setting was renamed or removed is still shown.
    pub fn read_for_report(dir: &Path) -> Result<Summary, SearchError> {
        let path = dir.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&path).map_err(SearchError::io(&path))?;
        let mut value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| SearchError::bad_file(&path, e.to_string()))?;
        if let Some(map) = value.as_object_mut() {
            map.remove("config");
        }
        serde_json::from_value(value).map_err(|e| SearchError::bad_file(&path, e.to_string()))
    }

    pub fn write(&self, dir: &Path) -> Result<(), SearchError> {
        crate::output::write_json(&dir.join(SUMMARY_FILE), self)
    }
}
