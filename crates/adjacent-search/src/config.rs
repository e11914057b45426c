//! The settings file of a trained search (`--config FILE`, TOML): the networks it starts from,
//! how every trial trains, each strategy's settings and the final phase.

use std::path::Path;

use adjacent_core::budget::check_final_share;
use adjacent_core::cell::{Cell, DEFAULT_CELL};
use adjacent_core::spaces::grown::Limits;
use adjacent_core::strategies::{AshaConfig, EvolutionConfig, GrowingConfig, LineageConfig};
use adjacent_core::strategy::StrategyConfig;
use serde::{Deserialize, Serialize};

use crate::error::SearchError;
use crate::evaluator::TrialRecipe;
use crate::final_phase::FinalStart;

/// The settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Width (C) of the networks a search starts from.
    pub start_channels: usize,
    /// The cell of the network `adjacent` starts from (one a stage, start_channels wide), unless
    /// --arch gives the start network.
    pub start_cell: String,
    /// Share of the budget kept for the final phase.
    #[serde(rename = "final")]
    pub final_share: f64,
    /// Where the final phase starts: the winner's weights, or scratch.
    pub final_from: FinalStart,
    pub limits: Limits,
    /// How every trial trains: the optimizer, the learning rate from scratch and at a warm
    /// restart (a child's), the batch. What a strategy asks of each trial (its images, its part
    /// of a schedule, its scoring) is in the trial's record.
    pub train: TrialRecipe,
    /// Growing evolution (`--strategy adjacent`).
    pub adjacent: GrowingConfig,
    /// Successive halving (`--strategy asha`).
    pub asha: AshaConfig,
    /// Regularized evolution (`--strategy evolution`).
    pub evolution: EvolutionConfig,
    /// Lineages (`--strategy lineage`).
    pub lineage: LineageConfig,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            start_channels: 8,
            start_cell: DEFAULT_CELL.into(),
            final_share: 0.3,
            final_from: FinalStart::Weights,
            limits: Limits::default(),
            train: TrialRecipe::default(),
            adjacent: GrowingConfig::default(),
            asha: AshaConfig::default(),
            evolution: EvolutionConfig::default(),
            lineage: LineageConfig::default(),
        }
    }
}

impl SearchConfig {
    /// Reads a settings file; an unknown key or a value out of range names the file and the key.
    pub fn load(path: &Path) -> Result<Self, SearchError> {
        let in_file = |error: SearchError| SearchError::Config {
            part: format!("config {}", path.display()),
            error: Box::new(error),
        };
        let text = std::fs::read_to_string(path).map_err(SearchError::io(path))?;
        let config: SearchConfig =
            toml::from_str(&text).map_err(|e| SearchError::bad_file(path, e.to_string()))?;
        config.validate().map_err(in_file)?;
        Ok(config)
    }

    /// Checks every section, naming the one at fault.
    pub fn validate(&self) -> Result<(), SearchError> {
        let section = |part: &str| {
            let part = part.to_string();
            move |error: SearchError| SearchError::Config {
                part,
                error: Box::new(error),
            }
        };
        check_final_share(self.final_share)?;
        self.start_cell
            .parse::<Cell>()
            .map_err(|e| SearchError::InvalidSetting {
                field: "start_cell".into(),
                reason: e.to_string(),
            })?;
        self.train.validate().map_err(section("[train]"))?;
        self.adjacent
            .validate()
            .map_err(|e| section("[adjacent]")(e.into()))?;
        self.asha
            .validate()
            .map_err(|e| section("[asha]")(e.into()))?;
        self.evolution
            .validate()
            .map_err(|e| section("[evolution]")(e.into()))?;
        self.lineage
            .validate()
            .map_err(|e| section("[lineage]")(e.into()))?;
        Ok(())
    }

    /// The registry's settings of every strategy.
    pub fn strategies(&self) -> StrategyConfig {
        StrategyConfig {
            evolution: self.evolution,
            asha: self.asha,
            adjacent: self.adjacent.clone(),
            lineage: self.lineage,
        }
    }

    /// The same settings with the final phase's share set (`--final`), checked.
    pub fn with_final_share(self, share: f64) -> Result<Self, SearchError> {
        check_final_share(share).map_err(|e| SearchError::Config {
            part: "--final".into(),
            error: Box::new(e.into()),
        })?;
        Ok(SearchConfig {
            final_share: share,
            ..self
        })
    }
}
