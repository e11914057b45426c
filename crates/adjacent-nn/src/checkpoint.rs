//! Saved models: `model.safetensors` (weights and batch-norm statistics) beside `arch.json` (the
//! architecture, the input it expects and its normalization).

use std::path::Path;

use adjacent_core::network::NetworkArch;
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::NnError;
use crate::net::Network;
use adjacent_data::Normalization;

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const ARCH_FILE: &str = "arch.json";

/// Everything but the weights that a saved model needs to be used again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    #[serde(flatten)]
    pub arch: NetworkArch,
    pub height: usize,
    pub width: usize,
    pub normalization: Normalization,
    pub class_names: Vec<String>,
    /// The earlier tasks whose heads the network keeps (`arch.heads`, in the same order, oldest
    /// first): what scoring one again needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub old_tasks: Vec<OldTask>,
}

/// An earlier task of an adapted network: its classes, images and normalization (for the
/// network's input channels now), and where the network came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OldTask {
    pub class_names: Vec<String>,
    pub height: usize,
    pub width: usize,
    pub normalization: Normalization,
    /// The model or trial it was adapted from.
    pub origin: String,
}

impl ModelCard {
    /// The index into `arch.heads` of the head named `name`: `old` is the last task before this
    /// one, `old-2` the one before it, and so on.
    pub fn head_index(&self, name: &str) -> Result<usize, NnError> {
        let back = match name {
            "old" => Some(1),
            _ => name
                .strip_prefix("old-")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n >= 1),
        };
        let n = self.old_tasks.len();
        let names = || match n {
            0 => "this model has no earlier task's head (it was not adapted to new classes)"
                .to_string(),
            1 => "its only earlier head is `old`".to_string(),
            _ => format!("its earlier heads are `old` and `old-2` to `old-{n}`"),
        };
        match back {
            Some(b) if b <= n => Ok(n - b),
            _ => Err(NnError::InvalidSetting {
                field: "--head".into(),
                reason: format!("no head {name:?}: {}", names()),
            }),
        }
    }
}

/// Writes `model`'s weights and batch-norm statistics to the safetensors file `path`.
pub fn save_weights(path: &Path, model: &Network) -> Result<(), NnError> {
    save_module(path, model)
}

/// Writes any module's weights and batch-norm statistics to the safetensors file `path`.
pub fn save_module<M: Module>(path: &Path, model: &M) -> Result<(), NnError> {
    let mut store = SafetensorsStore::from_file(path).overwrite(true);
    // `valid` first folds the batch-norm statistics of the last step (burn keeps them pending, per
    // thread) into the values that are written; without it the file lags one step behind.
    model
        .valid()
        .save_into(&mut store)
        .map_err(|e| NnError::BadModel {
            path: path.to_path_buf(),
            reason: format!("cannot save: {e}"),
        })
}

/// `model`'s weights and batch-norm statistics as the bytes of a safetensors file.
pub fn weights_bytes(model: &Network) -> Result<Vec<u8>, NnError> {
    let cannot = |e: String| NnError::InvalidSetting {
        field: "weights".into(),
        reason: format!("cannot serialize a network: {e}"),
    };
    let mut store = SafetensorsStore::from_bytes(None);
    // As in `save_weights`: `valid` folds in the last step's batch-norm statistics.
    model
        .valid()
        .save_into(&mut store)
        .map_err(|e| cannot(e.to_string()))?;
    store.get_bytes().map_err(|e| cannot(e.to_string()))
}

/// A network of architecture `arch` (described by the file `arch_source`) with the weights of the
/// safetensors file `path`, on `device`; weights that do not fit the architecture are an error.
pub fn load_weights(
    path: &Path,
    arch: &NetworkArch,
    arch_source: &Path,
    device: &Device,
) -> Result<Network, NnError> {
    let bytes = std::fs::read(path).map_err(|e| NnError::BadModel {
        path: path.to_path_buf(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "missing".into(),
            _ => format!("cannot read: {e}"),
        },
    })?;
    network_from_bytes(bytes, path, arch, arch_source, device)
}

/// A network of architecture `arch` with the weights of a safetensors file's `bytes` (read from
/// `path`, which errors name), on `device`.
pub fn network_from_bytes(
    bytes: Vec<u8>,
    path: &Path,
    arch: &NetworkArch,
    arch_source: &Path,
    device: &Device,
) -> Result<Network, NnError> {
    let bad = |reason: String| NnError::BadModel {
        path: path.to_path_buf(),
        reason,
    };
    let mut model = Network::new(arch, device);
    let result = model
        .load_from(&mut SafetensorsStore::from_bytes(Some(bytes)))
        .map_err(|e| bad(format!("cannot load: {e}")))?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(bad(format!(
            "does not match {}: {} errors, missing {:?}, unexpected {:?}",
            arch_source.display(),
            result.errors.len(),
            result
                .missing
                .iter()
                .map(|m| &m.0)
                .take(5)
                .collect::<Vec<_>>(),
            result.unused.iter().take(5).collect::<Vec<_>>()
        )));
    }
    Ok(model)
}

/// Writes `dir/model.safetensors` and `dir/arch.json`.
pub fn save(dir: &Path, model: &Network, card: &ModelCard) -> Result<(), NnError> {
    save_weights(&dir.join(WEIGHTS_FILE), model)?;
    let arch = dir.join(ARCH_FILE);
    let text = serde_json::to_string_pretty(card).expect("a model card serializes");
    std::fs::write(&arch, text + "\n").map_err(NnError::io(&arch))
}

/// Reads the JSON file `path`, naming the line and column of a syntax or shape error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, NnError> {
    let text = std::fs::read_to_string(path).map_err(NnError::io(path))?;
    serde_json::from_str(&text).map_err(|e| NnError::BadModel {
        path: path.to_path_buf(),
        reason: format!("line {}, column {}: {e}", e.line(), e.column()),
    })
}

fn validated(arch: NetworkArch, path: &Path) -> Result<NetworkArch, NnError> {
    arch.validate().map_err(|e| NnError::BadModel {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(arch)
}

/// Reads the card of the model saved in `dir`.
pub fn read_card(dir: &Path) -> Result<ModelCard, NnError> {
    let path = dir.join(ARCH_FILE);
    let mut card: ModelCard = read_json(&path)?;
    card.arch = validated(card.arch, &path)?;
    Ok(card)
}

/// Loads the model saved in `dir` onto `device`.
pub fn load(dir: &Path, device: &Device) -> Result<(Network, ModelCard), NnError> {
    let card = read_card(dir)?;
    let model = load_weights(
        &dir.join(WEIGHTS_FILE),
        &card.arch,
        &dir.join(ARCH_FILE),
        device,
    )?;
    Ok((model, card))
}
