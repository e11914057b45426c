//! Trained weights kept by trial, so that a child can start from its parent's. One small interface,
//! since weights will later move to storage shared by many machines; here, files in a folder.

use std::path::{Path, PathBuf};

use adjacent_core::network::NetworkArch;
use adjacent_core::trial::TrialId;
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;

use crate::error::NnError;
use crate::net::Network;

/// Where trained networks are kept, by trial.
pub trait WeightStore: Send + Sync {
    /// Keeps `model` (of architecture `arch`) as trial `trial`'s, replacing any earlier one.
    fn put(&self, trial: TrialId, model: &Network, arch: &NetworkArch) -> Result<(), NnError>;
    /// The network kept for `trial`, on `device`.
    fn get(&self, trial: TrialId, device: &Device) -> Result<(Network, NetworkArch), NnError>;
    fn contains(&self, trial: TrialId) -> bool;
}

/// Weights as `DIR/<trial>.safetensors` beside `DIR/<trial>.arch.json`.
#[derive(Debug, Clone)]
pub struct FolderStore {
    dir: PathBuf,
}

impl FolderStore {
    /// A store in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, NnError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(NnError::io(&dir))?;
        Ok(FolderStore { dir })
    }

    fn paths(&self, trial: TrialId) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{trial}.safetensors")),
            self.dir.join(format!("{trial}.arch.json")),
        )
    }
}

/// Writes through a temporary file and a rename, so that a crash never leaves half a file under
/// the final name.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), NnError>,
) -> Result<(), NnError> {
    let tmp = path.with_extension("tmp");
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(NnError::io(path))
}

impl WeightStore for FolderStore {
    fn put(&self, trial: TrialId, model: &Network, arch: &NetworkArch) -> Result<(), NnError> {
        let (weights, arch_path) = self.paths(trial);
        write_atomically(&weights, |tmp| {
            let mut store = SafetensorsStore::from_file(tmp).overwrite(true);
            model
                .valid()
                .save_into(&mut store)
                .map_err(|e| NnError::BadModel {
                    path: weights.clone(),
                    reason: format!("cannot save: {e}"),
                })
        })?;
        let text = serde_json::to_string_pretty(arch).expect("an architecture serializes");
        write_atomically(&arch_path, |tmp| {
            std::fs::write(tmp, text).map_err(NnError::io(tmp))
        })
    }

    fn get(&self, trial: TrialId, device: &Device) -> Result<(Network, NetworkArch), NnError> {
        let (weights, arch_path) = self.paths(trial);
        let bad = |path: &Path, reason: String| NnError::BadModel {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(&arch_path).map_err(NnError::io(&arch_path))?;
        let arch: NetworkArch = serde_json::from_str(&text).map_err(|e| {
            bad(
                &arch_path,
                format!("line {}, column {}: {e}", e.line(), e.column()),
            )
        })?;
        arch.validate()
            .map_err(|e| bad(&arch_path, e.to_string()))?;
        if !weights.is_file() {
            return Err(bad(&weights, format!("no weights kept for trial {trial}")));
        }
        let mut model = Network::new(&arch, device);
        let result = model
            .load_from(&mut SafetensorsStore::from_file(&weights))
            .map_err(|e| bad(&weights, format!("cannot load: {e}")))?;
        if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
            return Err(bad(
                &weights,
                format!("does not match {}", arch_path.display()),
            ));
        }
        Ok((model, arch))
    }

    fn contains(&self, trial: TrialId) -> bool {
        let (weights, arch) = self.paths(trial);
        weights.is_file() && arch.is_file()
    }
}
