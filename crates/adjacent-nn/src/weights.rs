//! Trained weights kept by trial, so that a child can start from its parent's. One small interface,
//! since weights will later move to storage shared by many machines; here, files in a folder.

use std::path::{Path, PathBuf};

use adjacent_core::network::NetworkArch;
use adjacent_core::trial::TrialId;
use burn::tensor::Device;

use crate::checkpoint::{load_weights, read_arch, save_weights};
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

/// Weights as `DIR/<trial>.safetensors` beside `DIR/<trial>.arch.json` and `DIR/<trial>.crc32`
/// (the weights file's checksum, so that a damaged file is an error, not a network with wrong
/// weights).
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

    fn checksum_path(&self, trial: TrialId) -> PathBuf {
        self.dir.join(format!("{trial}.crc32"))
    }
}

/// One trial's kept network as bytes: what a store shared by many machines holds.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightFiles {
    /// The safetensors file.
    pub weights: Vec<u8>,
    /// The architecture (JSON).
    pub arch: String,
    /// The weights' CRC-32, in hex.
    pub checksum: String,
}

impl FolderStore {
    /// Trial `trial`'s files, as they are kept here.
    pub fn export(&self, trial: TrialId) -> Result<WeightFiles, NnError> {
        let (weights, arch) = self.paths(trial);
        let checksum_path = self.checksum_path(trial);
        Ok(WeightFiles {
            weights: std::fs::read(&weights).map_err(NnError::io(&weights))?,
            arch: std::fs::read_to_string(&arch).map_err(NnError::io(&arch))?,
            checksum: std::fs::read_to_string(&checksum_path)
                .map_err(NnError::io(&checksum_path))?,
        })
    }

    /// Keeps `files` as trial `trial`'s (checked by `get` like any other).
    pub fn import(&self, trial: TrialId, files: &WeightFiles) -> Result<(), NnError> {
        let (weights, arch) = self.paths(trial);
        write_atomically(&weights, |tmp| {
            std::fs::write(tmp, &files.weights).map_err(NnError::io(tmp))
        })?;
        write_atomically(&arch, |tmp| {
            std::fs::write(tmp, &files.arch).map_err(NnError::io(tmp))
        })?;
        write_atomically(&self.checksum_path(trial), |tmp| {
            std::fs::write(tmp, &files.checksum).map_err(NnError::io(tmp))
        })
    }
}

/// The CRC-32 of a file's bytes, in hex.
fn checksum(path: &Path) -> Result<String, NnError> {
    let bytes = std::fs::read(path).map_err(NnError::io(path))?;
    Ok(format!("{:08x}", crc32fast::hash(&bytes)))
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
        let mut sum = String::new();
        write_atomically(&weights, |tmp| {
            save_weights(tmp, model)?;
            sum = checksum(tmp)?;
            Ok(())
        })?;
        let text = serde_json::to_string_pretty(arch).expect("an architecture serializes");
        write_atomically(&arch_path, |tmp| {
            std::fs::write(tmp, text).map_err(NnError::io(tmp))
        })?;
        write_atomically(&self.checksum_path(trial), |tmp| {
            std::fs::write(tmp, &sum).map_err(NnError::io(tmp))
        })
    }

    fn get(&self, trial: TrialId, device: &Device) -> Result<(Network, NetworkArch), NnError> {
        let (weights, arch_path) = self.paths(trial);
        let arch = read_arch(&arch_path)?;
        // Weights kept before checksums were written have none to check.
        if let Ok(expected) = std::fs::read_to_string(self.checksum_path(trial))
            && weights.is_file()
        {
            let found = checksum(&weights)?;
            if found != expected.trim() {
                return Err(NnError::BadModel {
                    path: weights,
                    reason: format!("damaged: its checksum is {found}, but {expected} was written"),
                });
            }
        }
        let model = load_weights(&weights, &arch, &arch_path, device)?;
        Ok((model, arch))
    }

    fn contains(&self, trial: TrialId) -> bool {
        let (weights, arch) = self.paths(trial);
        weights.is_file() && arch.is_file()
    }
}
