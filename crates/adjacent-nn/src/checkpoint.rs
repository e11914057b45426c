//! Saved models: `model.safetensors` (weights and batch-norm statistics) beside `arch.json` (the
//! architecture, the input it expects and its normalization).

use std::path::Path;

use adjacent_core::network::NetworkArch;
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::Normalization;
use crate::error::NnError;
use crate::net::Network;

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
}

/// Writes `dir/model.safetensors` and `dir/arch.json`.
pub fn save(dir: &Path, model: &Network, card: &ModelCard) -> Result<(), NnError> {
    let weights = dir.join(WEIGHTS_FILE);
    let mut store = SafetensorsStore::from_file(&weights).overwrite(true);
    // `valid` first folds the batch-norm statistics of the last step (burn keeps them pending, per
    // thread) into the values that are written; without it the file lags one step behind.
    model
        .valid()
        .save_into(&mut store)
        .map_err(|e| NnError::BadModel {
            path: weights.clone(),
            reason: format!("cannot save: {e}"),
        })?;
    let arch = dir.join(ARCH_FILE);
    let text = serde_json::to_string_pretty(card).expect("a model card serializes");
    std::fs::write(&arch, text + "\n").map_err(NnError::io(&arch))
}

/// Reads the card of the model saved in `dir`.
pub fn read_card(dir: &Path) -> Result<ModelCard, NnError> {
    let path = dir.join(ARCH_FILE);
    let text = std::fs::read_to_string(&path).map_err(NnError::io(&path))?;
    let card: ModelCard = serde_json::from_str(&text).map_err(|e| NnError::BadModel {
        path: path.clone(),
        reason: format!("line {}, column {}: {e}", e.line(), e.column()),
    })?;
    card.arch.validate().map_err(|e| NnError::BadModel {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(card)
}

/// Loads the model saved in `dir` onto `device`.
pub fn load(dir: &Path, device: &Device) -> Result<(Network, ModelCard), NnError> {
    let card = read_card(dir)?;
    let weights = dir.join(WEIGHTS_FILE);
    if !weights.is_file() {
        return Err(NnError::BadModel {
            path: weights,
            reason: "missing".into(),
        });
    }
    let mut model = Network::new(&card.arch, device);
    let mut store = SafetensorsStore::from_file(&weights);
    let result = model.load_from(&mut store).map_err(|e| NnError::BadModel {
        path: weights.clone(),
        reason: format!("cannot load: {e}"),
    })?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(NnError::BadModel {
            path: weights,
            reason: format!(
                "does not match {}: {} errors, missing {:?}, unexpected {:?}",
                ARCH_FILE,
                result.errors.len(),
                result
                    .missing
                    .iter()
                    .map(|m| &m.0)
                    .take(5)
                    .collect::<Vec<_>>(),
                result.unused.iter().take(5).collect::<Vec<_>>()
            ),
        });
    }
    Ok((model, card))
}
