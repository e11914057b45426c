//! Trained networks kept in the study's database, so that workers on machines that share nothing
//! but the database (PostgreSQL) load the networks their parents got elsewhere. A local folder
//! caches them; a network's hash, which names it, checks every copy.

use std::path::PathBuf;
use std::sync::Mutex;

use adjacent_core::network::NetworkArch;
use adjacent_core::trial::WeightsHash;
use adjacent_nn::net::Network;
use adjacent_nn::weights::{FolderStore, WeightFiles, WeightStore};
use adjacent_nn::{Device, NnError};
use adjacent_store::{Database, Weights};

/// Weights in the database of study `study`, cached in a folder.
pub struct DatabaseWeights {
    cache: FolderStore,
    backend: Mutex<Database>,
    study: i64,
}

impl DatabaseWeights {
    pub fn new(cache: PathBuf, backend: Database, study: i64) -> Result<Self, NnError> {
        Ok(DatabaseWeights {
            cache: FolderStore::new(cache)?,
            backend: Mutex::new(backend),
            study,
        })
    }

    fn backend(&self) -> std::sync::MutexGuard<'_, Database> {
        // A worker that panicked while holding the connection leaves it usable: every call is
        // its own transaction.
        self.backend.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn storage_error(e: adjacent_store::StoreError) -> NnError {
    NnError::Core(e.into())
}

impl WeightStore for DatabaseWeights {
    fn put(&self, model: &Network, arch: &NetworkArch) -> Result<WeightsHash, NnError> {
        let (hash, files) = self.cache.keep(model, arch)?;
        let weights = Weights {
            data: files.weights,
            arch: files.arch,
        };
        self.backend()
            .put_weights(self.study, &hash, &weights)
            .map_err(storage_error)?;
        Ok(hash)
    }

    fn get(&self, hash: &WeightsHash, device: &Device) -> Result<(Network, NetworkArch), NnError> {
        if !self.cache.contains(hash) {
            let kept = self
                .backend()
                .get_weights(self.study, hash)
                .map_err(storage_error)?;
            let Some(kept) = kept else {
                return Err(NnError::InvalidSetting {
                    field: "weights".into(),
                    reason: format!("the study's database keeps no network {hash}"),
                });
            };
            let files = WeightFiles {
                weights: kept.data,
                arch: kept.arch,
            };
            self.cache.import(hash, &files)?;
        }
        self.cache.get(hash, device)
    }
}
