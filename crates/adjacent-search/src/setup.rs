//! A trained search set up from its settings (the data split, the space, the network it starts
//! from, where networks are kept, the strategy), and what it delivers: the model a user receives,
//! scored once on the test images.

use std::path::Path;

use adjacent_core::budget::{Budget, Stop};
use adjacent_core::compute;
use adjacent_core::network::NetworkArch;
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::spaces::nb201::{Cell, EDGE_COUNT, Op};
use adjacent_core::strategies::GrowthPlan;
use adjacent_core::strategy::{StrategyContext, StrategyKind};
use adjacent_core::study::MakeStrategy;

use crate::config::SearchConfig;
use crate::error::SearchError;
use crate::evaluator::{SearchData, TrainingEvaluator};
use crate::preadapt::{Adapted, Earlier};
use crate::search::SearchOutcome;
use crate::settings::FromSettings;
use adjacent_data::{Dataset, Normalization};
use adjacent_nn::checkpoint::{self, ModelCard};
use adjacent_nn::net::Network;
use adjacent_nn::train::{self, Devices};
use adjacent_nn::weights::WeightStore;

/// A network given by the user (`--arch`): one cell for every cell, `channels` wide at the first
/// stage, `cells` a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StartNetwork {
    pub cell: Cell,
    pub channels: usize,
    pub cells: usize,
}

/// How the data set's training images become the search's training and validation sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    /// Search on a stratified, seeded subset of this many training images.
    pub subset: Option<usize>,
    /// Validation images held out: a count, or a fraction below 1.
    pub valid: f64,
    pub seed: u64,
}

/// The data, space, settings and kept networks of a trained study.
pub struct Setup {
    pub data: Dataset,
    pub search_data: SearchData,
    pub space: GrownSpace,
    pub config: SearchConfig,
    /// The user's network (`--arch`), if given.
    pub start: Option<NetworkArch>,
    /// Where trained networks are kept: a folder, or the study's database.
    pub weights: Box<dyn WeightStore>,
    pub seed: u64,
    /// An earlier search's networks adapted to this data (`--from`): starts, or `fixed`'s network.
    pub adapted: Vec<Adapted>,
}

impl Setup {
    /// The search of `config` on `data`, split by `split`, with networks kept in `weights`.
    pub fn new(
        data: Dataset,
        split: Split,
        start: Option<StartNetwork>,
        config: SearchConfig,
        weights: Box<dyn WeightStore>,
    ) -> Result<Setup, SearchError> {
        let (train_set, valid_set) =
            adjacent_data::split(&data, split.subset, split.valid, split.seed)?;
        let Some(valid_set) = valid_set else {
            return Err(SearchError::InvalidSetting {
                field: "--valid".into(),
                reason: "a search needs validation images (its signal); give more than 0".into(),
            });
        };
        let space = GrownSpace::new(
            config.limits,
            config.start_channels,
            train_set.channels,
            train_set.height,
            train_set.classes(),
        )
        .map_err(|e| SearchError::Config {
            part: "[limits]".into(),
            error: Box::new(e.into()),
        })?;
        let start = start.map(|s| {
            NetworkArch::uniform(
                s.cell,
                s.channels,
                s.cells,
                train_set.channels,
                train_set.classes(),
            )
        });
        let norm = Normalization::of(&train_set);
        Ok(Setup {
            data,
            search_data: SearchData::new(train_set, valid_set, norm, split.seed),
            space,
            config,
            start,
            weights,
            seed: split.seed,
            adapted: Vec::new(),
        })
    }

    /// Adapts the earlier search's networks of `from` to this data, kept in this search's store
    /// (the same networks each time: a resumed search or another worker replays them); an
    /// earlier study is looked up in `storage`, this search's.
    pub fn adapt_from(
        &mut self,
        from: &FromSettings,
        storage: Option<&str>,
        devices: &Devices,
    ) -> Result<(), SearchError> {
        let earlier = match (&from.dir, &from.study, storage) {
            (Some(dir), _, _) => Earlier::folder(dir)?,
            (None, Some(name), Some(url)) => Earlier::study(url, name)?,
            _ => {
                return Err(SearchError::invalid(
                    "--from-study",
                    "names a study of this search's storage: give --storage too",
                ));
            }
        };
        self.adapted = crate::preadapt::adapt_from(
            &earlier,
            from.others,
            &crate::preadapt::task_of(&self.search_data),
            self.weights.as_ref(),
            devices,
        )?;
        Ok(())
    }

    /// The evaluator that trains this search's trials on `devices`.
    pub fn evaluator(&self, devices: &Devices) -> TrainingEvaluator<'_> {
        TrainingEvaluator {
            space: &self.space,
            data: &self.search_data,
            recipe: self.config.train.clone(),
            store: self.weights.as_ref(),
            devices: devices.clone(),
            seed: self.seed,
        }
    }

    /// One cell a stage, `start_channels` wide, on this data.
    fn uniform(&self, cell: Cell) -> NetworkArch {
        let train = &self.search_data.train;
        NetworkArch::uniform(
            cell,
            self.config.start_channels,
            1,
            train.channels,
            train.classes(),
        )
    }

    /// The network `adjacent` starts from: the user's, or `start_cell` one a stage.
    pub fn adjacent_start(&self) -> NetworkArch {
        self.start.clone().unwrap_or_else(|| {
            self.uniform(
                self.config
                    .start_cell
                    .parse()
                    .expect("checked with the config"),
            )
        })
    }

    /// The network the final phase's share must be able to train: the user's, or the largest
    /// network a search starts from.
    pub fn reference(&self) -> NetworkArch {
        self.start
            .clone()
            .unwrap_or_else(|| self.uniform(Cell::new([Op::NorConv3x3; EDGE_COUNT])))
    }

    /// Builds strategy `kind` afresh (for replays); `horizon` is the compute `adjacent` plans
    /// within (none for a budget of trials), of which `budget` keeps its final share. Checks the
    /// settings once here.
    pub fn strategy_maker(
        &self,
        kind: StrategyKind,
        budget: &Budget,
        horizon: Option<u64>,
    ) -> Result<MakeStrategy<'static, GrownSpace>, SearchError> {
        let seed = self.seed;
        let config = self.config.strategies();
        let context = StrategyContext {
            epoch_images: Some(self.search_data.train.len()),
            growth: horizon.map(|horizon| GrowthPlan {
                search: budget.search_compute(horizon),
                horizon,
                start: self.adjacent_start(),
                seconds: match budget.total {
                    Stop::Seconds(s) => Some(s),
                    _ => None,
                },
                train_images: self.search_data.train.len() as u64,
                batch: self.config.train.batch as u64,
                adapted: self
                    .adapted
                    .iter()
                    .map(|a| (a.arch.clone(), a.origin.clone()))
                    .collect(),
            }),
        };
        if kind == StrategyKind::Adjacent && context.growth.is_none() {
            return Err(SearchError::InvalidSetting {
                field: "--trials".into(),
                reason: "--strategy adjacent plans its probes within a budget of compute: give --budget-flops, --budget-images or --budget-minutes, not --trials".into(),
            });
        }
        kind.build_with::<GrownSpace>(seed, &config, &context)
            .map_err(|e| SearchError::Config {
                part: format!("[{}]", kind.name()),
                error: Box::new(e.into()),
            })?;
        Ok(Box::new(move || kind.build_with(seed, &config, &context)))
    }

    /// What a user receives: the final model, or the search's choice as it was when there was no
    /// final phase (validated now if the search did not, and counted), scored once on the test
    /// images. None when no trial completed.
    pub fn deliver(
        &self,
        outcome: &mut SearchOutcome,
        devices: &Devices,
    ) -> Result<Option<Delivered>, SearchError> {
        let data = &self.search_data;
        let final_model = outcome.final_model.take();
        let mut extra_flops = 0;
        let (model, arch, valid_acc, from_final, trial) =
            match (final_model, &outcome.final_trial, outcome.winner_record()) {
                (Some(model), Some(record), _) => (
                    model,
                    record.genotype.clone(),
                    record.valid_acc().expect("a final model is complete"),
                    true,
                    record.parent.map(|p| p.0),
                ),
                (_, _, Some(b)) => {
                    let hash = b
                        .outcome
                        .weights
                        .ok_or_else(|| SearchError::InvalidSetting {
                            field: "weights".into(),
                            reason: format!("trial {}'s record names no kept network", b.id),
                        })?;
                    let (model, arch) = self.weights.get(&hash, &devices.plain)?;
                    let valid = match b.valid_acc() {
                        Some(v) => v,
                        None => {
                            extra_flops = compute::eval_flops(
                                data.forward_flops(&arch),
                                data.valid.len() as u64,
                            );
                            train::evaluate(&model, &data.valid, &data.norm, 256, devices)
                        }
                    };
                    (model, arch, valid, false, Some(b.id.0))
                }
                _ => return Ok(None),
            };
        let test_acc = train::evaluate(&model, &self.data.test, &data.norm, 256, devices);
        Ok(Some(Delivered {
            model,
            arch,
            from_final,
            trial,
            valid_acc,
            test_acc,
            extra_flops,
        }))
    }

    /// Saves a delivered model in `dir` as `adjacent train` does (`adjacent eval` reads it).
    pub fn save(&self, delivered: &Delivered, dir: &Path) -> Result<(), SearchError> {
        let train = &self.search_data.train;
        let card = ModelCard {
            arch: delivered.arch.clone(),
            height: train.height,
            width: train.width,
            normalization: self.search_data.norm.clone(),
            class_names: train.class_names.clone(),
            // The old tasks of the adapted start the delivered network descends from.
            old_tasks: self
                .adapted
                .iter()
                .find(|a| a.arch.heads == delivered.arch.heads)
                .map_or_else(Vec::new, |a| a.card.old_tasks.clone()),
        };
        std::fs::create_dir_all(dir).map_err(SearchError::io(dir))?;
        Ok(checkpoint::save(dir, &delivered.model, &card)?)
    }
}

impl Delivered {
    /// `final` for the final phase's model, `search` for the search's choice as it was.
    pub fn kind(&self) -> &'static str {
        match self.from_final {
            true => "final",
            false => "search",
        }
    }
}

/// The model a search delivers.
pub struct Delivered {
    pub model: Network,
    pub arch: NetworkArch,
    /// The final phase's model; otherwise the search's choice as it was.
    pub from_final: bool,
    /// The search trial it comes from (none for `fixed`).
    pub trial: Option<u64>,
    pub valid_acc: f64,
    pub test_acc: f64,
    /// Compute of validating the search's choice when the search had not.
    pub extra_flops: u64,
}
