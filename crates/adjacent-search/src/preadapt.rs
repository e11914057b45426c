//! Pre-adaptation (`search --from OLD`): a search on new data starts from an earlier search's
//! networks and weights instead of from nothing. Its delivered model and its best few other
//! networks are adapted to the new data (stem and head, see `adjacent_nn::adapt`), kept in the new
//! study's store, and become starts like any other, each recording where it came from. OLD is
//! only ever read.

use std::path::Path;

use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::strategy::derive_seed;
use adjacent_core::trial::{Origin, Trial, TrialState, WeightsHash};
use adjacent_nn::adapt::{Task, adapt};
use adjacent_nn::checkpoint::{self, ModelCard};
use adjacent_nn::net::Network;
use adjacent_nn::train::Devices;
use adjacent_nn::weights::{FolderStore, WeightStore};

use crate::error::SearchError;
use crate::evaluator::SearchData;
use crate::page::read_trials;
use crate::summary::SUMMARY_FILE;

/// A network of an earlier search adapted to this one's data: the start it makes, where it came
/// from, and its card (the old tasks it keeps heads for).
#[derive(Debug)]
pub struct Adapted {
    pub arch: NetworkArch,
    pub origin: Origin,
    pub card: ModelCard,
    pub net: Network,
}

/// The task a search's data makes.
pub fn task_of(data: &SearchData) -> Task {
    Task {
        input_channels: data.train.channels,
        height: data.train.height,
        width: data.train.width,
        class_names: data.train.class_names.clone(),
        normalization: data.norm.clone(),
    }
}

/// The delivered model of the search in `old` and up to `others` of its other networks (complete
/// trials with a kept network, the best validation accuracy first, then the lowest training loss;
/// each network once), adapted to `task` and put into `store`. The new heads are drawn from
/// `seed`, so that a resumed search adapts to the same weights.
pub fn adapt_from(
    old: &Path,
    others: usize,
    task: &Task,
    store: &dyn WeightStore,
    devices: &Devices,
    seed: u64,
) -> Result<Vec<Adapted>, SearchError> {
    let refuse =
        |reason: String| SearchError::invalid("--from", format!("{}: {reason}", old.display()));
    if !old.is_dir() {
        return Err(refuse("no such folder".into()));
    }
    if !old.join(SUMMARY_FILE).is_file() {
        return Err(refuse(format!(
            "not the output folder of a finished search (no {SUMMARY_FILE})"
        )));
    }
    let best = old.join("best");
    if !best.join(checkpoint::ARCH_FILE).is_file() {
        return Err(refuse(
            "its search delivered no model (no best/arch.json): there is nothing to start from"
                .into(),
        ));
    }
    let (model, card) = checkpoint::load(&best, &devices.train)?;
    let mut picked: Vec<(Network, ModelCard, String)> =
        vec![(model, card.clone(), format!("{}", best.display()))];
    if others > 0 {
        let trials: Vec<Trial<NetworkArch, Morphism>> = read_trials(old, 1)?;
        let mut kept: Vec<&Trial<NetworkArch, Morphism>> = trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.outcome.weights.is_some())
            .collect();
        kept.sort_by(|a, b| {
            let acc = |t: &Trial<_, _>| t.outcome.valid_acc.unwrap_or(f64::NEG_INFINITY);
            let loss = |t: &Trial<_, _>| t.outcome.tail_loss.unwrap_or(f64::INFINITY);
            acc(b).total_cmp(&acc(a)).then(loss(a).total_cmp(&loss(b)))
        });
        let mut seen: Vec<WeightsHash> = Vec::new();
        let weights_dir = old.join("weights");
        for trial in kept {
            if picked.len() > others {
                break;
            }
            let hash = trial.outcome.weights.expect("filtered");
            if seen.contains(&hash) {
                continue;
            }
            seen.push(hash);
            if !weights_dir.is_dir() {
                return Err(refuse(format!(
                    "trial {} names network {hash}, but there is no weights/ folder",
                    trial.id
                )));
            }
            // The folder exists, so the store creates nothing in it.
            let (net, arch) = FolderStore::new(&weights_dir)?
                .get(&hash, &devices.train)
                .map_err(|e| refuse(format!("trial {}'s network {hash}: {e}", trial.id)))?;
            // A trial's network keeps the heads of the old tasks it was adapted from, if any.
            let old_tasks = match arch.heads.len() == card.old_tasks.len() {
                true => card.old_tasks.clone(),
                false if arch.heads.is_empty() => Vec::new(),
                false => continue,
            };
            let card = ModelCard {
                arch,
                old_tasks,
                ..card.clone()
            };
            picked.push((net, card, format!("{} trial {}", old.display(), trial.id)));
        }
    }
    let mut adapted = Vec::with_capacity(picked.len());
    for (i, (net, card, from)) in picked.into_iter().enumerate() {
        devices
            .train
            .seed(derive_seed(seed ^ 0xADA9_7ED0, i as u64));
        let (net, card) = adapt(&net, &card, task, &from, &devices.train)
            .map_err(|e| refuse(format!("cannot adapt {from}: {e}")))?;
        let weights = store.put(&net, &card.arch)?;
        adapted.push(Adapted {
            arch: card.arch.clone(),
            origin: Origin { weights, from },
            card,
            net,
        });
    }
    Ok(adapted)
}
