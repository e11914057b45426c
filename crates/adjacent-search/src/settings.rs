//! What a search is asked to do, as a study keeps it: so that a killed search resumes with its own
//! settings, and a worker that has only the storage runs the study's trials. The stored form has a
//! version: a study written by a newer adjacent is refused, and the settings of studies written
//! before the version existed (the command line's arguments as they were) are read and migrated.

use std::path::PathBuf;

use adjacent_core::budget::{Budget, Stop};
use adjacent_core::cell::Cell;
use adjacent_core::strategy::StrategyKind;
use adjacent_core::study::Lease;
use adjacent_data::BadImagePolicy;
use adjacent_store::StudySpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::SearchConfig;
use crate::error::SearchError;

/// The version of the stored settings this build writes and reads.
pub const SETTINGS_VERSION: u32 = 1;

/// Minutes of search when no budget is given.
pub const DEFAULT_MINUTES: f64 = 3.0;

/// The strategy of a search: one of the registry's (`adjacent_core::strategy::StrategyKind`), or
/// none (`fixed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyName {
    Adjacent,
    Asha,
    Evolution,
    Random,
    Local,
    Lineage,
    Fixed,
}

impl StrategyName {
    pub const ALL: [StrategyName; 7] = [
        StrategyName::Adjacent,
        StrategyName::Asha,
        StrategyName::Evolution,
        StrategyName::Random,
        StrategyName::Local,
        StrategyName::Lineage,
        StrategyName::Fixed,
    ];

    pub fn name(self) -> &'static str {
        self.kind().map_or("fixed", StrategyKind::name)
    }

    /// What the strategy does, in a line (the command line's help).
    pub fn about(self) -> &'static str {
        match self {
            StrategyName::Adjacent => {
                "Adjacent's search: probes at equal compute, then the winner along one schedule; children are morphisms of their parents and start from their weights"
            }
            StrategyName::Asha => {
                "Asynchronous successive halving over random networks; promotions continue their weights"
            }
            StrategyName::Evolution => {
                "Regularized (aging) evolution, every network trained from scratch"
            }
            StrategyName::Random => "Random networks, each trained from scratch",
            StrategyName::Local => {
                "Local search: every neighbour of the current network, from scratch"
            }
            StrategyName::Lineage => {
                "Lineages of one-move children with extinction (adjacent's search on a table)"
            }
            StrategyName::Fixed => {
                "No search: one network (--arch, --channels, --cells) trained with the whole budget"
            }
        }
    }

    /// The registry's strategy (none for `fixed`).
    pub fn kind(self) -> Option<StrategyKind> {
        Some(match self {
            StrategyName::Adjacent => StrategyKind::Adjacent,
            StrategyName::Asha => StrategyKind::Asha,
            StrategyName::Evolution => StrategyKind::Evolution,
            StrategyName::Random => StrategyKind::Random,
            StrategyName::Local => StrategyKind::Local,
            StrategyName::Lineage => StrategyKind::Lineage,
            StrategyName::Fixed => return None,
        })
    }
}

impl std::str::FromStr for StrategyName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        StrategyName::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = StrategyName::ALL.map(StrategyName::name).to_vec();
                format!(
                    "unknown strategy {name:?}; strategies: {}",
                    names.join(", ")
                )
            })
    }
}

/// The data a search runs on, and how its training images are split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSettings {
    /// `builtin`, or a data set's path (absolute).
    pub source: String,
    pub on_bad_image: BadImagePolicy,
    /// Search on a stratified, seeded subset of this many training images.
    pub subset: Option<usize>,
    /// Validation images held out of the training set: a count, or a fraction below 1.
    pub valid: f64,
    /// Only these classes of the data set (`--classes`), relabelled in the order listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<String>,
}

/// The network given by `--arch`: one cell for every cell of the skeleton.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// The cell, as a NAS-Bench-201 cell string.
    pub arch: String,
    /// Width of the first stage (C); by default the config's `start_channels`.
    pub channels: Option<usize>,
    /// Cells per stage (N).
    pub cells: usize,
}

/// The whole budget of a search, final phase included.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetSetting {
    /// Compute in FLOPs.
    Flops(u64),
    /// Training images.
    Images(u64),
    /// Minutes of wall time.
    Minutes(f64),
    /// Trials; the final phase then gets final / (1 - final) of their compute.
    Trials(u64),
}

impl BudgetSetting {
    /// Checks the budget's size, naming its flag.
    pub fn validate(self) -> Result<(), SearchError> {
        match self {
            BudgetSetting::Minutes(m) if !(m > 0.0 && m.is_finite()) => Err(SearchError::invalid(
                "--budget-minutes",
                format!("must be a positive number, got {m}"),
            )),
            BudgetSetting::Images(0) => Err(SearchError::invalid(
                "--budget-images",
                "must be at least 1",
            )),
            BudgetSetting::Trials(0) => Err(SearchError::invalid("--trials", "must be at least 1")),
            BudgetSetting::Flops(0) => Err(SearchError::invalid(
                "--budget-flops",
                "must be a positive number of FLOPs",
            )),
            _ => Ok(()),
        }
    }

    /// The budget as a study counts it.
    pub fn total(self) -> Stop {
        match self {
            BudgetSetting::Flops(f) => Stop::Flops(f),
            BudgetSetting::Images(b) => Stop::Images(b),
            BudgetSetting::Minutes(m) => Stop::Seconds(m * 60.0),
            BudgetSetting::Trials(n) => Stop::Trials(n),
        }
    }
}

impl Default for BudgetSetting {
    fn default() -> Self {
        BudgetSetting::Minutes(DEFAULT_MINUTES)
    }
}

/// The study a search keeps, and how its workers are watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyOptions {
    /// The study's name in its storage.
    pub name: String,
    /// Seconds without a heartbeat after which a running trial's worker counts as lost.
    pub heartbeat_timeout: f64,
    /// Starts of a trial before a trial whose workers keep getting lost fails.
    pub max_attempts: u32,
}

impl Default for StudyOptions {
    fn default() -> Self {
        StudyOptions {
            name: "search".into(),
            heartbeat_timeout: 60.0,
            max_attempts: 3,
        }
    }
}

impl StudyOptions {
    /// The lease of the study's trials, checked.
    pub fn lease(&self) -> Result<Lease, SearchError> {
        if !(self.heartbeat_timeout > 0.0 && self.heartbeat_timeout.is_finite()) {
            return Err(SearchError::invalid(
                "--heartbeat-timeout",
                format!(
                    "must be a positive number of seconds, got {}",
                    self.heartbeat_timeout
                ),
            ));
        }
        if self.max_attempts == 0 {
            return Err(SearchError::invalid("--max-attempts", "must be at least 1"));
        }
        Ok(Lease {
            timeout: self.heartbeat_timeout,
            max_attempts: self.max_attempts,
        })
    }
}

/// A NAS-Bench-201 table that evaluates trials instead of training (seconds instead of hours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSettings {
    /// The table (a CSV, plain or gzipped; absolute).
    pub path: PathBuf,
    /// The table's data set.
    pub dataset: String,
    /// Milliseconds each lookup takes, standing in for training.
    pub delay_ms: u64,
}

/// The settings of a search, as its study keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub version: u32,
    pub strategy: StrategyName,
    pub seed: u64,
    pub data: DataSettings,
    /// The network of `--arch`, if given: `fixed`'s network, and `adjacent`'s start.
    pub network: Option<NetworkSettings>,
    pub budget: BudgetSetting,
    pub study: StudyOptions,
    /// A table that evaluates the trials, if given.
    pub table: Option<TableSettings>,
    /// The search's output folder (absolute).
    pub out: PathBuf,
    /// The settings file's contents, with `--final`.
    pub config: SearchConfig,
    /// The compute `adjacent` plans its probes within (measured for a time budget, so kept).
    pub horizon: Option<u64>,
    /// The earlier search whose networks this one starts from (pre-adaptation), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<FromSettings>,
}

/// Where a pre-adapted search's starts come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromSettings {
    /// The earlier search's output folder (absolute): its delivered model (best/) and its trials'
    /// networks (weights/).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Or the earlier study of that name in this search's storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study: Option<String>,
    /// How many of its other networks (the best by validation accuracy, then by training loss)
    /// start beside its delivered model.
    pub others: usize,
}

impl FromSettings {
    /// The earlier search, as messages name it.
    pub fn name(&self) -> String {
        match (&self.dir, &self.study) {
            (Some(dir), _) => dir.display().to_string(),
            (None, Some(name)) => format!("study {name}"),
            (None, None) => "nothing".into(),
        }
    }
}

impl Settings {
    /// The budget of the search: the settings' total, of which the config's final share trains
    /// the winner; all of it trains `fixed`'s one network.
    pub fn budget(&self) -> Result<Budget, SearchError> {
        let total = self.budget.total();
        Ok(match self.strategy {
            StrategyName::Fixed => Budget::whole(total),
            _ => Budget::new(total, self.config.final_share)?,
        })
    }

    /// The study's identity and settings, for the storage.
    pub fn spec(&self) -> StudySpec {
        StudySpec {
            name: self.study.name.clone(),
            space: match self.table {
                Some(_) => "nb201".into(),
                None => "grown".into(),
            },
            strategy: self.strategy.name().into(),
            seed: self.seed,
            data: match &self.table {
                Some(table) => format!("{} ({})", table.path.display(), table.dataset),
                None => self.data.source.clone(),
            },
            settings: serde_json::to_string(self).expect("settings serialize"),
        }
    }

    /// Reads stored settings: this version's, or those of a study from before the version
    /// (migrated). `study` names the study in messages.
    pub fn read(text: &str, study: &str) -> Result<Settings, SearchError> {
        let damaged = |reason: String| {
            SearchError::Refused(format!("study {study:?}: damaged settings: {reason}"))
        };
        let value: Value = serde_json::from_str(text).map_err(|e| damaged(e.to_string()))?;
        match value.get("version").map(Value::as_u64) {
            Some(Some(version)) if version > SETTINGS_VERSION as u64 => {
                Err(SearchError::Refused(format!(
                    "study {study:?} has settings of version {version}; this adjacent reads up to version {SETTINGS_VERSION} (upgrade adjacent)"
                )))
            }
            Some(_) => serde_json::from_value(value).map_err(|e| damaged(e.to_string())),
            None => {
                let legacy: legacy::Settings =
                    serde_json::from_value(value).map_err(|e| damaged(e.to_string()))?;
                legacy.migrate().map_err(|e| damaged(e.to_string()))
            }
        }
    }

    /// Checks that a study being resumed is asked for with the settings it was created with
    /// (`horizon`, measured, aside), naming the first setting that differs.
    pub fn check_same(&self, recorded: &Settings) -> Result<(), SearchError> {
        // The sections of the other strategies do not change this study's search, and their
        // defaults may have changed since it was created.
        let own = serde_json::to_value(self.strategy).expect("a strategy name serializes");
        let relevant = |settings: &Settings| {
            let mut value = serde_json::to_value(settings).expect("settings serialize");
            if let Some(config) = value.get_mut("config").and_then(Value::as_object_mut) {
                for section in ["adjacent", "asha", "evolution", "lineage"] {
                    if own.as_str() != Some(section) {
                        config.remove(section);
                    }
                }
            }
            value
        };
        let (asked, was) = (relevant(self), relevant(recorded));
        match first_difference("", &asked, &was) {
            Some((key, now, before)) if key != "horizon" => Err(SearchError::Refused(format!(
                "study {:?} was created with {key} = {before}, not {now}; resume it with the same settings, or search into a new folder",
                self.study.name
            ))),
            _ => Ok(()),
        }
    }

    /// The network of `--arch`, if given, checked (its width by default `start_channels`).
    pub fn start_network(&self) -> Result<Option<(Cell, usize, usize)>, SearchError> {
        let Some(network) = &self.network else {
            return Ok(None);
        };
        let cell: Cell = network
            .arch
            .parse()
            .map_err(|e| SearchError::invalid("--arch", format!("{e}")))?;
        let channels = network.channels.unwrap_or(self.config.start_channels);
        if channels == 0 {
            return Err(SearchError::invalid("--channels", "must be at least 1"));
        }
        if network.cells == 0 {
            return Err(SearchError::invalid("--cells", "must be at least 1"));
        }
        Ok(Some((cell, channels, network.cells)))
    }
}

/// The first key (dotted) at which `asked` and `was` differ, with both values; `horizon` is
/// compared last, so that a measured figure never hides a setting.
fn first_difference(path: &str, asked: &Value, was: &Value) -> Option<(String, Value, Value)> {
    match (asked, was) {
        (Value::Object(a), Value::Object(w)) => {
            let mut keys: Vec<&String> = a.keys().chain(w.keys()).collect();
            keys.sort_by_key(|k| (k.as_str() == "horizon", k.as_str()));
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let null = Value::Null;
                let inner = match path {
                    "" => key.clone(),
                    p => format!("{p}.{key}"),
                };
                first_difference(
                    &inner,
                    a.get(key).unwrap_or(&null),
                    w.get(key).unwrap_or(&null),
                )
            })
        }
        (a, w) if a != w => Some((path.to_string(), a.clone(), w.clone())),
        _ => None,
    }
}

/// The settings studies kept before they had a version: the command line's arguments as
/// `adjacent search` parsed them, the settings file's contents, and the horizon.
mod legacy {
    use std::path::PathBuf;

    use adjacent_core::compute;
    use adjacent_data::BadImagePolicy;
    use serde::Deserialize;

    use super::{
        BudgetSetting, DataSettings, NetworkSettings, SETTINGS_VERSION, StrategyName, StudyOptions,
        TableSettings,
    };
    use crate::config::SearchConfig;
    use crate::error::SearchError;

    #[derive(Deserialize)]
    pub struct Settings {
        args: Args,
        config: SearchConfig,
        horizon: Option<u64>,
    }

    #[derive(Deserialize)]
    struct Args {
        data: Data,
        strategy: StrategyName,
        arch: Option<String>,
        channels: Option<usize>,
        cells: usize,
        budget_flops: Option<String>,
        budget_minutes: Option<f64>,
        budget_images: Option<usize>,
        trials: Option<usize>,
        seed: u64,
        subset: Option<usize>,
        valid: f64,
        out: PathBuf,
        study: Study,
        table: Option<PathBuf>,
        dataset: String,
        delay_ms: u64,
    }

    #[derive(Deserialize)]
    struct Data {
        data: String,
        on_bad_image: BadImagePolicy,
    }

    #[derive(Deserialize)]
    struct Study {
        name: String,
        heartbeat_timeout: f64,
        max_attempts: u32,
    }

    impl Settings {
        /// The same settings in this version's form.
        pub fn migrate(self) -> Result<super::Settings, SearchError> {
            let args = self.args;
            let budget = match (
                args.budget_flops,
                args.budget_minutes,
                args.budget_images,
                args.trials,
            ) {
                (Some(text), ..) => BudgetSetting::Flops(compute::parse_flops(&text)?),
                (_, Some(m), ..) => BudgetSetting::Minutes(m),
                (_, _, Some(b), _) => BudgetSetting::Images(b as u64),
                (.., Some(n)) => BudgetSetting::Trials(n as u64),
                _ => BudgetSetting::default(),
            };
            Ok(super::Settings {
                version: SETTINGS_VERSION,
                strategy: args.strategy,
                seed: args.seed,
                data: DataSettings {
                    source: args.data.data,
                    on_bad_image: args.data.on_bad_image,
                    subset: args.subset,
                    valid: args.valid,
                    classes: None,
                },
                network: args.arch.map(|arch| NetworkSettings {
                    arch,
                    channels: args.channels,
                    cells: args.cells,
                }),
                budget,
                study: StudyOptions {
                    name: args.study.name,
                    heartbeat_timeout: args.study.heartbeat_timeout,
                    max_attempts: args.study.max_attempts,
                },
                table: args.table.map(|path| TableSettings {
                    path,
                    dataset: args.dataset,
                    delay_ms: args.delay_ms,
                }),
                out: args.out,
                config: self.config,
                horizon: self.horizon,
                from: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            version: SETTINGS_VERSION,
            strategy: StrategyName::Adjacent,
            seed: 3,
            data: DataSettings {
                source: "builtin".into(),
                on_bad_image: BadImagePolicy::Fail,
                subset: Some(600),
                valid: 150.0,
                classes: None,
            },
            network: None,
            budget: BudgetSetting::Flops(30_000_000_000),
            study: StudyOptions::default(),
            table: None,
            out: "/runs/a".into(),
            config: SearchConfig::default(),
            from: None,
            horizon: Some(30_000_000_000),
        }
    }

    /// A study's settings as adjacent wrote them before they had a version.
    const LEGACY: &str = r#"{"args":{"data":{"data":"builtin","on_bad_image":"fail"},
        "strategy":"adjacent","arch":null,"channels":null,"cells":1,"budget_flops":"3e10",
        "budget_minutes":null,"budget_images":null,"trials":null,"final_share":null,"seed":3,
        "config":null,"subset":600,"valid":150.0,"out":"/runs/a",
        "study":{"name":"search","heartbeat_timeout":60.0,"max_attempts":3},"table":null,
        "dataset":"cifar10","delay_ms":0},"config":CONFIG,"horizon":30000000000}"#;

    #[test]
    fn settings_from_before_the_version_are_migrated() {
        let config = serde_json::to_string(&SearchConfig::default()).unwrap();
        let read = Settings::read(&LEGACY.replace("CONFIG", &config), "search").unwrap();
        assert_eq!(read, settings());
    }

    #[test]
    fn stored_settings_read_back_as_they_were() {
        let stored = serde_json::to_string(&settings()).unwrap();
        assert_eq!(Settings::read(&stored, "search").unwrap(), settings());
    }

    #[test]
    fn settings_from_a_newer_adjacent_are_refused() {
        let mut value = serde_json::to_value(settings()).unwrap();
        value["version"] = (SETTINGS_VERSION + 1).into();
        let e = Settings::read(&value.to_string(), "s").unwrap_err();
        assert!(e.to_string().contains("upgrade adjacent"), "{e}");
        let e = Settings::read("{\"args\": 1}", "s").unwrap_err();
        assert!(e.to_string().contains("damaged settings"), "{e}");
    }

    #[test]
    fn a_resumed_study_names_the_first_setting_that_differs() {
        let was = settings();
        let mut asked = settings();
        asked.horizon = Some(1);
        assert!(asked.check_same(&was).is_ok(), "the horizon is measured");
        // Another strategy's section does not change this study (its defaults may have moved).
        assert_eq!(asked.strategy, StrategyName::Adjacent);
        asked.config.asha.eta += 1;
        asked.config.lineage.patience += 1;
        assert!(
            asked.check_same(&was).is_ok(),
            "another strategy's settings"
        );
        asked.data.valid = 100.0;
        asked.config.adjacent.decisions = 2;
        let e = asked.check_same(&was).unwrap_err().to_string();
        assert!(e.contains("config.adjacent.decisions = 0, not 2"), "{e}");
        asked.config = was.config.clone();
        let e = asked.check_same(&was).unwrap_err().to_string();
        assert!(e.contains("data.valid = 150.0, not 100.0"), "{e}");
    }
}
