//! Trained networks kept by content hash, so that a child starts from exactly the network its
//! parent's record names. One small interface: files in a folder here, the study's database for
//! workers on many machines (in the CLI).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use adjacent_core::network::NetworkArch;
use adjacent_core::trial::WeightsHash;
use burn::tensor::Device;
use safetensors::SafeTensors;
use sha2::{Digest, Sha256};

use crate::checkpoint::{network_from_bytes, weights_bytes};
use crate::error::NnError;
use crate::net::Network;

/// Where trained networks are kept, by the hash of their content.
pub trait WeightStore: Send + Sync {
    /// Keeps `model` (of architecture `arch`); returns the hash it is kept under. The same
    /// network kept twice is kept once.
    fn put(&self, model: &Network, arch: &NetworkArch) -> Result<WeightsHash, NnError>;
    /// The network kept under `hash`, on `device`, checked against the hash.
    fn get(&self, hash: &WeightsHash, device: &Device) -> Result<(Network, NetworkArch), NnError>;
}

/// One kept network as bytes: what a store shared by many machines holds.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightFiles {
    /// The safetensors file.
    pub weights: Vec<u8>,
    /// The architecture (JSON).
    pub arch: String,
}

impl WeightFiles {
    /// The content hash: SHA-256 of the architecture and of every tensor (name, type, shape and
    /// values, in the order of their names). The architecture is part of it: a convolution
    /// replaced by a pool keeps every weight. The file's bytes are not hashed as they are, since
    /// the same tensors may be written with their metadata in another order.
    pub fn hash(&self) -> Result<WeightsHash, String> {
        let tensors = SafeTensors::deserialize(&self.weights)
            .map_err(|e| format!("not a safetensors file: {e}"))?;
        let mut hasher = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        part(self.arch.as_bytes());
        let mut named = tensors.tensors();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, tensor) in &named {
            part(name.as_bytes());
            part(format!("{:?} {:?}", tensor.dtype(), tensor.shape()).as_bytes());
            part(tensor.data());
        }
        Ok(WeightsHash(hasher.finalize().into()))
    }
}

/// Networks as `DIR/<hash>.safetensors` beside `DIR/<hash>.arch.json`. Several processes may
/// share the folder: files are written under temporary names and renamed into place.
#[derive(Debug, Clone)]
pub struct FolderStore {
    dir: PathBuf,
}

/// Numbers the temporary files of this process.
static TEMPORARY: AtomicU64 = AtomicU64::new(0);

impl FolderStore {
    /// A store in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, NnError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(NnError::io(&dir))?;
        Ok(FolderStore { dir })
    }

    /// The weights file and the architecture file of the network kept under `hash`.
    pub fn paths(&self, hash: &WeightsHash) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{hash}.safetensors")),
            self.dir.join(format!("{hash}.arch.json")),
        )
    }

    /// A file name in the folder that no other process or thread writes.
    fn temporary(&self) -> PathBuf {
        let n = TEMPORARY.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!(".tmp-{}-{n}.part", std::process::id()))
    }

    /// Whether a network is kept under `hash` (not checked).
    pub fn contains(&self, hash: &WeightsHash) -> bool {
        let (weights, arch) = self.paths(hash);
        weights.is_file() && arch.is_file()
    }

    /// The network kept under `hash`, as bytes, checked against the hash.
    pub fn export(&self, hash: &WeightsHash) -> Result<WeightFiles, NnError> {
        let (weights, arch) = self.paths(hash);
        let files = WeightFiles {
            weights: std::fs::read(&weights).map_err(NnError::io(&weights))?,
            arch: std::fs::read_to_string(&arch).map_err(NnError::io(&arch))?,
        };
        check(&files, hash, &weights)?;
        Ok(files)
    }

    /// Keeps `files` under their hash, which must be `hash` (a damaged copy is refused).
    pub fn import(&self, hash: &WeightsHash, files: &WeightFiles) -> Result<(), NnError> {
        let (weights, arch) = self.paths(hash);
        check(files, hash, &weights)?;
        if self.contains(hash) {
            return Ok(());
        }
        // The architecture first: a weights file under its final name always has its architecture.
        self.write(&arch, files.arch.as_bytes())?;
        self.write(&weights, &files.weights)
    }

    /// Writes `bytes` to `path` through a temporary file and a rename, so that no process ever
    /// reads half a file under the final name.
    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), NnError> {
        let tmp = self.temporary();
        std::fs::write(&tmp, bytes).map_err(NnError::io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(NnError::io(path))
    }
}

/// Checks that `files` hash to `hash`; `path` names them in the error.
fn check(files: &WeightFiles, hash: &WeightsHash, path: &Path) -> Result<(), NnError> {
    let damaged = |reason: String| NnError::BadModel {
        path: path.to_path_buf(),
        reason: format!("damaged: {reason}"),
    };
    let found = files.hash().map_err(damaged)?;
    if &found != hash {
        return Err(damaged(format!(
            "its content hashes to {found}, not to the hash it is kept under"
        )));
    }
    Ok(())
}

impl FolderStore {
    /// Keeps `model` (of architecture `arch`) and returns its hash and its files, for a store
    /// that keeps a second copy elsewhere.
    pub fn keep(
        &self,
        model: &Network,
        arch: &NetworkArch,
    ) -> Result<(WeightsHash, WeightFiles), NnError> {
        let files = WeightFiles {
            weights: weights_bytes(model)?,
            arch: serde_json::to_string_pretty(arch).expect("an architecture serializes"),
        };
        let hash = files.hash().map_err(|reason| NnError::InvalidSetting {
            field: "weights".into(),
            reason,
        })?;
        self.import(&hash, &files)?;
        Ok((hash, files))
    }
}

impl WeightStore for FolderStore {
    fn put(&self, model: &Network, arch: &NetworkArch) -> Result<WeightsHash, NnError> {
        Ok(self.keep(model, arch)?.0)
    }

    fn get(&self, hash: &WeightsHash, device: &Device) -> Result<(Network, NetworkArch), NnError> {
        let (weights, arch_path) = self.paths(hash);
        // The bytes checked against the hash are the bytes loaded.
        let files = self.export(hash)?;
        let arch: NetworkArch =
            serde_json::from_str(&files.arch).map_err(|e| NnError::BadModel {
                path: arch_path.clone(),
                reason: e.to_string(),
            })?;
        arch.validate().map_err(|e| NnError::BadModel {
            path: arch_path.clone(),
            reason: e.to_string(),
        })?;
        let model = network_from_bytes(files.weights, &weights, &arch, &arch_path, device)?;
        Ok((model, arch))
    }
}
