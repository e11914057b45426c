//! Pre-adaptation (`search --from OLD`): a search on new data starts from an earlier search's
//! networks and weights instead of from nothing. Its delivered model and its best few other
//! networks are adapted to the new data (stem and head, see `adjacent_nn::adapt`), kept in the new
//! study's store, and become starts like any other, each recording where it came from. OLD is
//! only ever read.

use std::path::{Path, PathBuf};

use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::trial::{Origin, Trial, TrialId, TrialState, WeightsHash, lineage};
use adjacent_nn::adapt::{Task, adapt};
use adjacent_nn::checkpoint::{self, ModelCard};
use adjacent_nn::net::Network;
use adjacent_nn::train::Devices;
use adjacent_nn::weights::{FolderStore, WeightStore};

use crate::error::SearchError;
use crate::evaluator::SearchData;
use crate::page::read_trials;
use crate::settings::Settings;
use crate::shared_weights::DatabaseWeights;
use crate::summary::{SUMMARY_FILE, Summary};

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
    Task::of(&data.train, data.norm.clone())
}

/// An earlier search to start from: where its delivered model is, its trials, and where their
/// networks are kept. Only ever read.
pub struct Earlier {
    /// How messages and origins name it: its folder, or `study NAME`.
    pub name: String,
    best: PathBuf,
    trials: Vec<Trial<NetworkArch, Morphism>>,
    store: Option<Box<dyn WeightStore>>,
    /// Its summary, when it finished: the final phase that trained its delivered model.
    summary: Option<Summary>,
}

impl Earlier {
    /// The search whose output folder is `dir`.
    pub fn folder(dir: &Path) -> Result<Earlier, SearchError> {
        let refuse =
            |reason: String| SearchError::invalid("--from", format!("{}: {reason}", dir.display()));
        if !dir.is_dir() {
            return Err(refuse("no such folder".into()));
        }
        if !dir.join(SUMMARY_FILE).is_file() {
            return Err(refuse(format!(
                "not the output folder of a finished search (no {SUMMARY_FILE})"
            )));
        }
        let weights = dir.join("weights");
        Ok(Earlier {
            name: dir.display().to_string(),
            best: dir.join("best"),
            trials: read_trials(dir, 0)?,
            summary: Some(Summary::read(dir)?),
            // Only a folder that exists: the store would create a missing one.
            store: match weights.is_dir() {
                true => Some(Box::new(FolderStore::new(&weights)?)),
                false => None,
            },
        })
    }

    /// The study `name` in the storage at `url`: its trials and networks there, its delivered
    /// model in its output folder.
    pub fn study(url: &str, name: &str) -> Result<Earlier, SearchError> {
        let mut database = adjacent_store::open(url)?;
        let info = adjacent_store::find_study(&mut database, name)?;
        let settings = Settings::read(&info.spec.settings, name)?;
        if settings.table.is_some() {
            return Err(SearchError::invalid(
                "--from-study",
                format!("study {name:?} looked its networks up in a table: it trained none"),
            ));
        }
        let trials = database
            .trials(info.id)?
            .into_iter()
            .map(|row| {
                serde_json::from_str(&row.record).map_err(|e| {
                    SearchError::invalid(
                        "--from-study",
                        format!("study {name:?}: trial {}'s record: {e}", row.id),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let store: Option<Box<dyn WeightStore>> = match database.shares_machines() {
            true => {
                let cache = std::env::temp_dir().join(format!(
                    "adjacent-from-{}-{}",
                    info.id,
                    std::process::id()
                ));
                Some(Box::new(DatabaseWeights::new(cache, database, info.id)?))
            }
            false => {
                let weights = settings.out.join("weights");
                match weights.is_dir() {
                    true => Some(Box::new(FolderStore::new(&weights)?)),
                    false => None,
                }
            }
        };
        // A study's summary is in its output folder once its first process has finished it.
        let summary = match settings.out.join(SUMMARY_FILE).is_file() {
            true => Some(Summary::read(&settings.out)?),
            false => None,
        };
        Ok(Earlier {
            name: format!("study {name}"),
            best: settings.out.join("best"),
            trials,
            store,
            summary,
        })
    }

    /// Training images behind trial `id`'s network: its lineage's, and what its adapted start
    /// arrived with.
    fn lineage_images(&self, id: Option<TrialId>) -> u64 {
        lineage(&self.trials, id)
            .iter()
            .map(|t| t.outcome.images + t.origin.as_ref().map_or(0, |o| o.images))
            .sum()
    }

    /// Training images behind the delivered model: its final phase's and the lineage of the
    /// trial it continued (or the chosen trial's, without a final phase); 0 when unknown.
    fn delivered_images(&self) -> u64 {
        let Some(summary) = &self.summary else {
            return 0;
        };
        match &summary.final_trial {
            Some(last) => {
                last.outcome.images
                    + last.origin.as_ref().map_or(0, |o| o.images)
                    + self.lineage_images(last.parent)
            }
            None => self.lineage_images(summary.best_trial.map(TrialId)),
        }
    }
}

/// The delivered model of the `earlier` search and up to `others` of its other networks
/// (complete trials with a kept network, the best validation accuracy first, then the lowest
/// training loss; each network once), adapted to `task` and put into `store` (new heads start at
/// zero, so a resumed search adapts to the same weights).
pub fn adapt_from(
    earlier: &Earlier,
    others: usize,
    task: &Task,
    store: &dyn WeightStore,
    devices: &Devices,
) -> Result<Vec<Adapted>, SearchError> {
    let refuse =
        |reason: String| SearchError::invalid("--from", format!("{}: {reason}", earlier.name));
    let best = &earlier.best;
    if !best.join(checkpoint::ARCH_FILE).is_file() {
        return Err(refuse(format!(
            "its search delivered no model (no {}): there is nothing to start from",
            best.join(checkpoint::ARCH_FILE).display()
        )));
    }
    let (model, card) = checkpoint::load(best, &devices.train)?;
    let mut picked: Vec<(Network, ModelCard, String, u64)> = vec![(
        model,
        card.clone(),
        format!("{}", best.display()),
        earlier.delivered_images(),
    )];
    let mut kept: Vec<&Trial<NetworkArch, Morphism>> = earlier
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete && t.outcome.weights.is_some())
        .collect();
    kept.sort_by(|a, b| {
        let acc = |t: &Trial<_, _>| t.outcome.valid_acc.unwrap_or(f64::NEG_INFINITY);
        let loss = |t: &Trial<_, _>| t.outcome.tail_loss.unwrap_or(f64::INFINITY);
        acc(b).total_cmp(&acc(a)).then(loss(a).total_cmp(&loss(b)))
    });
    let mut seen: Vec<WeightsHash> = Vec::new();
    for trial in kept {
        if picked.len() > others {
            break;
        }
        let hash = trial.outcome.weights.expect("filtered");
        if seen.contains(&hash) {
            continue;
        }
        seen.push(hash);
        let Some(from_store) = &earlier.store else {
            return Err(refuse(format!(
                "trial {} names network {hash}, but there is no weights/ folder",
                trial.id
            )));
        };
        let (net, arch) = from_store
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
        picked.push((
            net,
            card,
            format!("{} trial {}", earlier.name, trial.id),
            earlier.lineage_images(Some(trial.id)),
        ));
    }
    let mut adapted = Vec::with_capacity(picked.len());
    for (net, card, from, images) in picked {
        let (net, card) = adapt(&net, &card, task, &from, &devices.train)
            .map_err(|e| refuse(format!("cannot adapt {from}: {e}")))?;
        let weights = store.put(&net, &card.arch)?;
        adapted.push(Adapted {
            arch: card.arch.clone(),
            origin: Origin {
                weights,
                from,
                images,
            },
            card,
            net,
        });
    }
    Ok(adapted)
}
