//! `adjacent search`: architecture search with real training on an image data set.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use adjacent_core::compute;
use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::space::TrialOf;
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::strategy::StrategyKind;
use adjacent_core::study::{Lease, MakeStrategy, Storage, StudyEvent};
use adjacent_core::trial::TrialState;
use adjacent_nn::search::{
    self, DEFAULT_CELL, FinalRecord, FinalStart, SearchConfig, SearchEvent, Searcher, Setup, Split,
    StartNetwork, Stop, check_final_budget,
};
use adjacent_nn::train::Devices;
use adjacent_nn::weights::{FolderStore, WeightStore};

use crate::shared_weights::DatabaseWeights;
use adjacent_store::{DbStorage, StudyInfo, StudySpec, export_jsonl, release_dead, worker_name};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::files::{folder_in_use, write_json};
use crate::train_cmd::DataArgs;

/// Minutes of search when no budget is given.
const DEFAULT_MINUTES: f64 = 3.0;

/// `--strategy`: a strategy of the registry (`adjacent_core::strategy::StrategyKind`), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchStrategy {
    /// Adjacent's search: probes at equal compute, then the winner along one schedule; children
    /// are morphisms of their parents and start from their weights.
    Adjacent,
    /// Asynchronous successive halving over random networks; promotions continue their weights.
    Asha,
    /// Regularized (aging) evolution, every network trained from scratch.
    Evolution,
    /// Random networks, each trained from scratch.
    Random,
    /// Local search: every neighbour of the current network, from scratch.
    Local,
    /// Lineages of one-move children with extinction (adjacent's search on a table).
    Lineage,
    /// No search: one network (--arch, --channels, --cells) trained with the whole budget.
    Fixed,
}

impl SearchStrategy {
    pub fn name(self) -> &'static str {
        self.kind().map_or("fixed", StrategyKind::name)
    }

    /// The registry's strategy (none for `fixed`).
    pub fn kind(self) -> Option<StrategyKind> {
        Some(match self {
            SearchStrategy::Adjacent => StrategyKind::Adjacent,
            SearchStrategy::Asha => StrategyKind::Asha,
            SearchStrategy::Evolution => StrategyKind::Evolution,
            SearchStrategy::Random => StrategyKind::Random,
            SearchStrategy::Local => StrategyKind::Local,
            SearchStrategy::Lineage => StrategyKind::Lineage,
            SearchStrategy::Fixed => return None,
        })
    }
}

#[derive(Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, value_enum, default_value = "adjacent")]
    pub strategy: SearchStrategy,
    /// The network of `fixed`: a NAS-Bench-201 cell string for every cell (required by `fixed`).
    #[arg(long)]
    pub arch: Option<String>,
    /// Width of the first stage (C) of the `--arch` network (default: start_channels).
    #[arg(long)]
    pub channels: Option<usize>,
    /// Cells per stage (N) of the `--arch` network.
    #[arg(long, default_value_t = 1)]
    pub cells: usize,
    /// Compute budget of the whole search, final phase included, in FLOPs (multiply-adds; a
    /// training image costs 3 forward passes, a validation image 1): 2.5e13 or 25T.
    #[arg(long, group = "budget", value_name = "FLOPS")]
    pub budget_flops: Option<String>,
    /// Stop before a trial would end past this many minutes, final phase included (the default
    /// budget: 3 minutes).
    #[arg(long, group = "budget")]
    pub budget_minutes: Option<f64>,
    /// Training images (passed forward and backward) of the whole search, final phase included.
    #[arg(long, group = "budget")]
    pub budget_images: Option<usize>,
    /// Stop after this many trials; the final phase then gets final / (1 - final) of their compute.
    #[arg(long, group = "budget")]
    pub trials: Option<usize>,
    /// Share of the budget kept for the final phase, which trains the winner (overrides `final`
    /// of the config file).
    #[arg(long = "final", value_name = "SHARE")]
    pub final_share: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Settings file (TOML): start_channels, final, final_from, [limits], [train], [adjacent],
    /// [asha], [evolution].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Search on a stratified, seeded subset of this many training images.
    #[arg(long)]
    pub subset: Option<usize>,
    /// Validation images held out of the training set (a count, or a fraction below 1): the search
    /// signal. The data set's test images are used once, for the final model.
    #[arg(long, default_value = "0.1")]
    pub valid: f64,
    /// cpu, or cuda:N in a build with the cuda feature.
    #[arg(long, default_value = "cpu")]
    #[serde(skip)]
    pub device: String,
    /// Output folder: new or empty, or the folder of an unfinished search, which is resumed (its
    /// study.db holds the trials). Holds trials.jsonl, best/, summary.json, weights/, study.db.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub study: StudyArgs,
    /// Search with a NAS-Bench-201 table as the evaluator instead of training (a CSV, plain or
    /// gzipped): seconds instead of hours, for trying studies, storage and workers.
    #[arg(long, value_name = "CSV")]
    pub table: Option<PathBuf>,
    /// The table's data set.
    #[arg(long, default_value = "cifar10")]
    pub dataset: String,
    /// Milliseconds each table lookup takes (to stand in for training when trying workers).
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
}

/// Where a study is kept and how its workers are watched.
#[derive(Args, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StudyArgs {
    /// Study storage: a PostgreSQL URL (postgres://user:password@host/database) for workers on
    /// many machines, or a SQLite file; by default OUT/study.db.
    #[arg(long, value_name = "URL")]
    #[serde(skip)]
    pub storage: Option<String>,
    /// The study's name in the storage.
    #[arg(long = "study", default_value = "search")]
    pub name: String,
    /// Seconds without a heartbeat after which a running trial's worker counts as lost and the
    /// trial runs again elsewhere.
    #[arg(long, default_value_t = 60.0)]
    pub heartbeat_timeout: f64,
    /// Starts of a trial before a trial whose workers keep getting lost fails.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
}

impl StudyArgs {
    pub fn lease(&self) -> Result<Lease> {
        if !(self.heartbeat_timeout > 0.0 && self.heartbeat_timeout.is_finite()) {
            bail!(
                "invalid setting --heartbeat-timeout: must be a positive number of seconds, got {}",
                self.heartbeat_timeout
            );
        }
        if self.max_attempts == 0 {
            bail!("invalid setting --max-attempts: must be at least 1");
        }
        Ok(Lease {
            timeout: self.heartbeat_timeout,
            max_attempts: self.max_attempts,
        })
    }
}

#[derive(Serialize)]
struct BestResult<'a> {
    /// The search trial the final model comes from (none for `fixed`).
    trial: Option<u64>,
    /// `final` when the model is the final phase's, `search` when it is the best trial's as it was.
    model: &'a str,
    valid_acc: f64,
    test_acc: f64,
    test_images: usize,
    params: u64,
}

#[derive(Serialize)]
struct Summary<'a> {
    strategy: SearchStrategy,
    seed: u64,
    data: &'a str,
    /// The network a user receives (best/): the final model's architecture.
    arch: Option<&'a adjacent_core::network::NetworkArch>,
    /// The final model's validation and test accuracy (the best trial's when there is no final
    /// phase).
    valid_acc: Option<f64>,
    test_acc: Option<f64>,
    params: Option<u64>,
    /// The trial the search chose (its validation accuracy when it was validated), before the
    /// final phase.
    best_arch: Option<&'a adjacent_core::network::NetworkArch>,
    best_trial: Option<u64>,
    best_valid_acc: Option<f64>,
    #[serde(rename = "final")]
    final_record: Option<&'a FinalRecord>,
    final_skipped: Option<&'a str>,
    trials: usize,
    failed: usize,
    /// Training images and compute of the whole search, final phase included.
    images: usize,
    flops: u64,
    search_flops: u64,
    budget_flops: Option<u64>,
    budget_images: Option<usize>,
    budget_minutes: Option<f64>,
    seconds: f64,
    stopped: &'a str,
    train_images: usize,
    valid_images: usize,
    config: &'a SearchConfig,
}

/// The whole budget the arguments ask for.
pub fn budget(args: &SearchArgs) -> Result<Stop> {
    Ok(
        match (
            &args.budget_flops,
            args.budget_minutes,
            args.budget_images,
            args.trials,
        ) {
            (Some(text), ..) => Stop::Flops(compute::parse_flops(text)?),
            (_, Some(m), ..) if !(m > 0.0 && m.is_finite()) => {
                bail!("invalid setting --budget-minutes: must be a positive number, got {m}")
            }
            (_, Some(m), ..) => Stop::Seconds(m * 60.0),
            (_, _, Some(0), _) => bail!("invalid setting --budget-images: must be at least 1"),
            (_, _, Some(b), _) => Stop::Images(b as u64),
            (.., Some(0)) => bail!("invalid setting --trials: must be at least 1"),
            (.., Some(n)) => Stop::Trials(n as u64),
            _ => Stop::Seconds(DEFAULT_MINUTES * 60.0),
        },
    )
}

/// What a study of `adjacent search` keeps so that it can be resumed, and joined by workers that
/// have only the storage: the arguments (paths made absolute), the settings file's contents, and
/// what was measured when the study was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySettings {
    pub args: SearchArgs,
    pub config: SearchConfig,
    /// The compute `adjacent` plans its probes within (measured for a time budget, so kept).
    pub horizon: Option<u64>,
}

impl StudySettings {
    /// The study's identity and settings, for the storage.
    pub fn spec(&self) -> StudySpec {
        StudySpec {
            name: self.args.study.name.clone(),
            space: match self.args.table {
                Some(_) => "nb201".into(),
                None => "grown".into(),
            },
            strategy: self.args.strategy.name().into(),
            seed: self.args.seed,
            data: match &self.args.table {
                Some(table) => format!("{} ({})", table.display(), self.args.dataset),
                None => self.args.data.data.clone(),
            },
            settings: serde_json::to_string(self).expect("settings serialize"),
        }
    }

    /// Checks that a study being resumed asks for what it was created with (`horizon` aside),
    /// naming the first setting that differs.
    pub fn check_same(&self, recorded: &StudySettings) -> Result<()> {
        let asked = serde_json::to_value(self)?;
        let was = serde_json::to_value(recorded)?;
        for part in ["args", "config"] {
            if let (Some(a), Some(w)) = (asked[part].as_object(), was[part].as_object()) {
                for (key, value) in a {
                    let before = w.get(key).unwrap_or(&serde_json::Value::Null);
                    if before != value {
                        bail!(
                            "study {:?} was created with {part} {key} = {before}, not {value}; resume it with the same settings, or search into a new folder",
                            self.args.study.name
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// Paths as every process of a study can read them: absolute.
fn absolute(path: &Path) -> Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(_) => {
            std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
        }
    }
}

/// The settings a run of `args` keeps in its study.
pub fn study_settings(args: &SearchArgs, config: &SearchConfig) -> Result<StudySettings> {
    let mut args = args.clone();
    args.out = absolute(&args.out)?;
    args.config = None;
    if args.data.data != "builtin" {
        args.data.data = absolute(Path::new(&args.data.data))?.display().to_string();
    }
    if let Some(table) = &args.table {
        args.table = Some(absolute(table)?);
    }
    Ok(StudySettings {
        args,
        config: config.clone(),
        horizon: None,
    })
}

/// How a search's folder starts: new, or an unfinished study resumed.
pub enum Start {
    New,
    Resume,
}

/// Decides between a new search and a resumed one, refusing a finished search's folder and a
/// folder holding anything else.
pub fn start_of(args: &SearchArgs) -> Result<Start> {
    let out = &args.out;
    if out.join("summary.json").exists() {
        bail!(
            "{} holds a finished search (summary.json); a search writes into a new or empty folder",
            out.display()
        );
    }
    let exists = match &args.study.storage {
        None => out.join(STUDY_DB).exists(),
        Some(url) => {
            let mut backend = adjacent_store::open(url)?;
            backend
                .studies()?
                .iter()
                .any(|s| s.spec.name == args.study.name)
        }
    };
    if exists {
        return Ok(Start::Resume);
    }
    if folder_in_use(out)? {
        bail!(
            "{} is in use (not empty); a search writes into a new or empty folder",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    Ok(Start::New)
}

/// The study file of a search's folder.
pub const STUDY_DB: &str = "study.db";

/// Opens the study of `settings` (creating it when new) and checks that a resumed one asks for
/// what it was created with; returns the study's storage and its recorded settings.
pub fn open_study(
    settings: &StudySettings,
    start: &Start,
) -> Result<(adjacent_store::Database, StudyInfo, StudySettings)> {
    let url = match &settings.args.study.storage {
        Some(url) => url.clone(),
        None => settings.args.out.join(STUDY_DB).display().to_string(),
    };
    let mut backend = adjacent_store::open(&url)?;
    let info =
        adjacent_store::open_study(&mut backend, &settings.spec(), matches!(start, Start::New))?;
    let recorded: StudySettings = serde_json::from_str(&info.spec.settings)
        .with_context(|| format!("{url}: study {:?}: damaged settings", info.spec.name))?;
    if let Start::Resume = start {
        settings.check_same(&recorded)?;
    }
    Ok((backend, info, recorded))
}

pub fn run(args: SearchArgs) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => SearchConfig::load(path)?,
        None => SearchConfig::default(),
    };
    if let Some(share) = args.final_share {
        config = config.with_final_share(share)?;
    }
    let stop = budget(&args)?;
    args.study.lease()?;
    if args.table.is_some() {
        return crate::study_cmd::table_search(&args, &config, stop);
    }
    if args.strategy == SearchStrategy::Fixed {
        if args.arch.is_none() {
            bail!(
                "--strategy fixed needs --arch CELL (the network to train with the whole budget), e.g. --arch \"{DEFAULT_CELL}\""
            );
        }
        if let Stop::Trials(_) = stop {
            bail!(
                "--strategy fixed trains one network: give --budget-flops, --budget-images or --budget-minutes, not --trials"
            );
        }
    }
    start_network(&args, &config)?;
    let device = adjacent_nn::device(&args.device)?;
    into_out_folder(&args, |start| {
        search_into(&args, &config, stop, start, Devices::new(device))
    })
}

/// Runs `search` into the search's folder, new or resumed (see [`start_of`]); after a new search
/// that failed, removes what it created if nothing holds a result.
pub fn into_out_folder(args: &SearchArgs, search: impl FnOnce(&Start) -> Result<()>) -> Result<()> {
    let start = start_of(args)?;
    let result = search(&start);
    if result.is_err() && matches!(start, Start::New) {
        remove_unused_output(&args.out);
    }
    result
}

/// The network of `--arch` (`--channels`, `--cells`), if given, checked against the input only
/// once the data is loaded.
fn start_network(args: &SearchArgs, config: &SearchConfig) -> Result<Option<StartNetwork>> {
    Ok(StartNetwork::parse(
        args.arch.as_deref(),
        args.channels,
        args.cells,
        config,
    )?)
}

/// After a new search that failed, removes what it created if nothing holds a result (no trial
/// recorded), so that the folder can be used again; anything holding a result stays.
pub fn remove_unused_output(out: &Path) {
    let db = out.join(STUDY_DB);
    let no_trials = adjacent_store::open(&db.display().to_string())
        .ok()
        .and_then(|mut b| {
            let studies = b.studies().ok()?;
            Some(
                studies
                    .iter()
                    .all(|s| s.pending + s.running + s.complete + s.failed == 0),
            )
        })
        .unwrap_or(false);
    if no_trials {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(out.join(format!("{STUDY_DB}{suffix}")));
        }
    }
    let trials = out.join("trials.jsonl");
    if std::fs::metadata(&trials).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(&trials);
    }
    // `remove_dir` only removes empty folders.
    let _ = std::fs::remove_dir(out.join("weights"));
    let _ = std::fs::remove_dir(out);
}

/// The trained study of `args` and `config` (its data loaded), with networks kept in `weights`.
pub fn setup(
    args: &SearchArgs,
    config: &SearchConfig,
    weights: Box<dyn WeightStore>,
) -> Result<Setup> {
    let start = start_network(args, config)?;
    let split = Split {
        subset: args.subset,
        valid: args.valid,
        seed: args.seed,
    };
    Ok(Setup::new(
        args.data.load()?,
        split,
        start,
        config.clone(),
        weights,
    )?)
}

/// Builds the study's strategy afresh (for replays), as its recorded settings say; none for
/// `fixed`.
pub fn strategy_maker(
    setup: &Setup,
    settings: &StudySettings,
) -> Result<Option<MakeStrategy<'static, GrownSpace>>> {
    Ok(match settings.args.strategy.kind() {
        Some(kind) => Some(setup.strategy_maker(kind, settings.horizon)?),
        None => None,
    })
}

/// Prints a trial as it ends.
pub fn print_trial(record: &TrialOf<GrownSpace>) {
    let o = &record.outcome;
    eprintln!(
        "trial {:>3} {:<10} valid {:>12}  {:>8} params  {:>7} images  {:>6.1} s  first loss {:.3}  {}",
        record.id,
        match (record.parent, record.inherit) {
            (Some(p), true) => format!("<- {p}"),
            (Some(p), false) => format!("~ {p}"),
            _ => "new".into(),
        },
        match (record.state, o.valid_acc, o.score_loss) {
            (TrialState::Complete, Some(a), _) => format!("{a:.2}%"),
            (TrialState::Complete, None, Some(l)) => format!("(score {l:.3})"),
            (TrialState::Complete, None, None) => match o.tail_loss {
                Some(l) => format!("(loss {l:.3})"),
                None => "-".into(),
            },
            _ => "failed".into(),
        },
        o.params.unwrap_or_else(|| record.genotype.params()),
        o.images,
        o.seconds,
        o.first_loss.unwrap_or(f64::NAN),
        record
            .reason
            .clone()
            .or(record.mutation.as_ref().map(|m| m.to_string()))
            .unwrap_or_default()
    );
}

fn search_into(
    args: &SearchArgs,
    config: &SearchConfig,
    stop: Stop,
    start: &Start,
    devices: Devices,
) -> Result<()> {
    let weights_dir = args.out.join("weights");
    let mut setup = setup(args, config, Box::new(FolderStore::new(&weights_dir)?))?;
    let plan = config.final_plan();
    let mut settings = study_settings(args, config)?;
    if args.strategy == SearchStrategy::Adjacent {
        let evaluator = setup.evaluator(&devices);
        settings.horizon = search::horizon_flops(&evaluator, stop, &setup.adjacent_start());
    }
    // A study for the strategies that search (fixed trains one network: nothing to keep).
    let (mut storage, mut make) = match (args.strategy, start) {
        (SearchStrategy::Fixed, Start::Resume) => bail!(
            "{} holds a study; --strategy fixed trains into a new or empty folder",
            args.out.display()
        ),
        (SearchStrategy::Fixed, Start::New) => (None, None),
        _ => {
            // The strategy's settings are checked before a study is created for them.
            strategy_maker(&setup, &settings)?;
            let (backend, info, recorded) = open_study(&settings, start)?;
            let make = strategy_maker(&setup, &recorded)?;
            // Workers on other machines see the database, not this folder: the networks go
            // there too (cached here).
            if backend.shares_machines() {
                setup.weights = Box::new(DatabaseWeights::new(
                    weights_dir.clone(),
                    backend.reopen()?,
                    info.id,
                )?);
            }
            (
                Some(DbStorage::<NetworkArch, Morphism>::new(backend, &info)),
                make,
            )
        }
    };
    let evaluator = setup.evaluator(&devices);
    let search_data = &setup.search_data;
    // The network the final phase's share must be able to train.
    let reference = setup.reference();
    let final_share = match args.strategy {
        SearchStrategy::Fixed => 1.0,
        _ => plan.share,
    };
    check_final_budget(&evaluator, stop, final_share, &reference)?;
    let trials_path = args.out.join("trials.jsonl");
    let worker = worker_name();
    let mut spent_before = (0.0f64, 0.0f64);
    if let Some(storage) = &mut storage {
        let released = release_dead(storage)?;
        let history = storage.history()?;
        if !history.is_empty() {
            let ended = history.iter().filter(|s| s.told_seq.is_some()).count();
            eprintln!(
                "resuming study {:?}: {ended} trials ended{}",
                args.study.name,
                match released {
                    0 => String::new(),
                    n => format!(", {n} left running by a dead process run again"),
                }
            );
        }
        for s in history.iter().filter(|s| s.told_seq.is_some()) {
            spent_before.0 += s.trial.outcome.images as f64;
            spent_before.1 += s.trial.outcome.flops as f64 / 1e9;
        }
        export_jsonl(&trials_path, &history)
            .with_context(|| format!("cannot write {}", trials_path.display()))?;
    }
    let searcher = match (make.take(), storage.as_mut(), &setup.start) {
        (Some(make), Some(storage), _) => Searcher::Strategy {
            make,
            storage,
            worker: &worker,
            lease: args.study.lease()?,
        },
        (_, _, Some(arch)) => Searcher::Fixed(arch.clone()),
        _ => bail!("--strategy fixed needs --arch"),
    };
    eprintln!(
        "search: {} on {} training and {} validation images, start width {}, limits {} cells a stage, {} channels, {} parameters; budget {}{}",
        args.strategy.name(),
        search_data.train.len(),
        search_data.valid.len(),
        config.start_channels,
        config.limits.max_cells,
        config.limits.max_channels,
        config.limits.max_params,
        stop.describe(),
        match args.strategy {
            SearchStrategy::Fixed => String::new(),
            _ if plan.share > 0.0 => format!(
                ", of which {:.0}% for the final phase (from the winner's {})",
                plan.share * 100.0,
                match plan.start {
                    FinalStart::Weights => "weights",
                    FinalStart::Scratch => "architecture, from scratch",
                }
            ),
            _ => ", no final phase".into(),
        }
    );

    let mut trials_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&trials_path)
        .with_context(|| format!("cannot create {}", trials_path.display()))?;
    let (length, unit) = match stop {
        Stop::Trials(n) => (n, "trials"),
        Stop::Images(b) => (b, "images"),
        Stop::Seconds(s) => (s.ceil() as u64, "s"),
        Stop::Flops(b) => (b / 1_000_000_000, "GFLOPs"),
    };
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "[{{bar:30}}] {{pos}}/{{len}} {unit} ({{elapsed}}, {{eta}} left) {{msg}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut best = f64::NEG_INFINITY;
    let mut write_error = None;
    let mut done = 0usize;
    // Budget spent before the running trial, and what the running trial will spend.
    let mut spent_before = match stop {
        Stop::Images(_) => spent_before.0,
        Stop::Flops(_) => spent_before.1,
        _ => 0.0,
    };
    let mut running = 0.0f64;
    let forward = |arch: &NetworkArch| search_data.forward_flops(arch);
    let mut outcome = search::search(searcher, &evaluator, stop, plan, &mut |event| {
        match event {
            SearchEvent::Study(StudyEvent::Started(trial)) => {
                let images = evaluator.images_asked(&trial.proposal());
                running = match stop {
                    Stop::Images(_) => images as f64,
                    Stop::Flops(_) => {
                        compute::training_flops(forward(&trial.genotype), images as u64) as f64
                            / 1e9
                    }
                    _ => 0.0,
                };
                bar.set_message(format!(
                    "trial {}: {} ({images} images); {done} done, best {}",
                    trial.id,
                    match (&trial.mutation, trial.parent) {
                        (Some(m), Some(p)) => format!(
                            "{} {p}: {m}",
                            if trial.inherit {
                                "child of"
                            } else {
                                "mutant of"
                            }
                        ),
                        _ => "new network".into(),
                    },
                    fmt_acc(best)
                ));
            }
            SearchEvent::Study(StudyEvent::Step { step, steps, .. })
            | SearchEvent::Step { step, steps } => {
                if let Stop::Images(_) | Stop::Flops(_) = stop {
                    let share = step as f64 / steps.max(1) as f64;
                    bar.set_position((spent_before + share * running) as u64);
                }
            }
            SearchEvent::Study(StudyEvent::Done { trial: record, .. }) => {
                done += 1;
                spent_before += match stop {
                    Stop::Images(_) => record.outcome.images as f64,
                    Stop::Flops(_) => record.outcome.flops as f64 / 1e9,
                    _ => 0.0,
                };
                if let Some(acc) = record.valid_acc() {
                    best = best.max(acc);
                }
                bar.suspend(|| print_trial(record));
                bar.set_position(match stop {
                    Stop::Trials(_) => done as u64,
                    Stop::Images(_) | Stop::Flops(_) => spent_before as u64,
                    Stop::Seconds(_) => started.elapsed().as_secs(),
                });
                let line = serde_json::to_string(record).expect("a record serializes");
                if let Err(e) = writeln!(trials_file, "{line}").and_then(|_| trials_file.flush()) {
                    write_error.get_or_insert(e);
                }
            }
            SearchEvent::Study(StudyEvent::Lost(record)) => {
                bar.suspend(|| {
                    eprintln!(
                        "trial {:>3}: another worker took it over (this worker's heartbeat was late); its result is dropped",
                        record.id
                    )
                });
            }
            SearchEvent::Study(StudyEvent::Waiting) => {
                bar.set_message("waiting for other workers' trials");
            }
            SearchEvent::FinalStarted {
                arch,
                trial,
                start,
                images,
            } => {
                running = match stop {
                    Stop::Images(_) => images as f64,
                    Stop::Flops(_) => {
                        compute::training_flops(forward(arch), images as u64) as f64 / 1e9
                    }
                    _ => 0.0,
                };
                let what = match (trial, start) {
                    (Some(t), FinalStart::Weights) => format!("trial {t}'s network, continued"),
                    (Some(t), FinalStart::Scratch) => {
                        format!("trial {t}'s architecture, from scratch")
                    }
                    (None, _) => "the network, from scratch".into(),
                };
                bar.suspend(|| {
                    eprintln!(
                        "final phase: {what}, {} params, {images} images ({:.2} epochs)",
                        arch.params(),
                        images as f64 / search_data.train.len() as f64
                    )
                });
                bar.set_message(format!("final phase: {what}"));
            }
            SearchEvent::FinalDone(record) => {
                bar.suspend(|| {
                    eprintln!(
                        "final phase: valid {}  {:.1} s  {}",
                        record
                            .valid_acc
                            .map_or("failed".into(), |a| format!("{a:.2}%")),
                        record.seconds,
                        record.reason.as_deref().unwrap_or("")
                    )
                });
            }
        }
        if let Stop::Seconds(_) = stop {
            bar.set_position(started.elapsed().as_secs());
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e).with_context(|| format!("cannot write {}", trials_path.display()));
    }
    // The study's whole record (other workers' trials too), in the order trials ended.
    if let Some(storage) = &mut storage {
        export_jsonl(&trials_path, &storage.history()?)
            .with_context(|| format!("cannot write {}", trials_path.display()))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(reason) = &outcome.final_skipped
        && args.strategy != SearchStrategy::Fixed
    {
        eprintln!("no final phase: {reason}");
    }

    let delivered = setup.deliver(&mut outcome, &devices)?;
    let best = outcome.winner_record();
    if let Some(d) = &delivered {
        let best_dir = args.out.join("best");
        setup.save(d, &best_dir)?;
        let result = BestResult {
            trial: d.trial,
            model: d.kind(),
            valid_acc: d.valid_acc,
            test_acc: d.test_acc,
            test_images: setup.data.test.len(),
            params: d.arch.params(),
        };
        write_json(&best_dir.join("result.json"), &result)?;
    }
    let extra_flops = delivered.as_ref().map_or(0, |d| d.extra_flops);
    let run = &outcome.run;
    let spent = run.spent();
    let summary = Summary {
        strategy: args.strategy,
        seed: args.seed,
        data: &setup.data.source,
        arch: delivered.as_ref().map(|d| &d.arch),
        valid_acc: delivered.as_ref().map(|d| d.valid_acc),
        test_acc: delivered.as_ref().map(|d| d.test_acc),
        params: delivered.as_ref().map(|d| d.arch.params()),
        best_arch: best.map(|b| &b.genotype),
        best_trial: best.map(|b| b.id.0),
        best_valid_acc: best.and_then(|b| b.valid_acc()),
        final_record: outcome.final_record.as_ref(),
        final_skipped: outcome.final_skipped.as_deref(),
        trials: run.records.len(),
        failed: run
            .records
            .iter()
            .filter(|r| r.state == TrialState::Failed)
            .count(),
        images: outcome.images(),
        flops: outcome.flops() + extra_flops,
        search_flops: spent.flops,
        budget_flops: match stop {
            Stop::Flops(b) => Some(b),
            _ => None,
        },
        budget_images: args.budget_images,
        budget_minutes: args.budget_minutes,
        seconds,
        stopped: &run.stopped,
        train_images: search_data.train.len(),
        valid_images: search_data.valid.len(),
        config,
    };
    write_json(&args.out.join("summary.json"), &summary)?;
    match &delivered {
        Some(d) => {
            println!(
                "{} trials in {seconds:.0} s ({}); {} model: valid {:.2}%, test {:.2}%, {} params, {} in all; saved to {}",
                run.records.len(),
                run.stopped,
                d.kind(),
                d.valid_acc,
                d.test_acc,
                d.arch.params(),
                compute::format_flops(outcome.flops() + extra_flops),
                args.out.join("best").display()
            );
            Ok(())
        }
        None => bail!(
            "no trial completed ({} failed); see {}",
            run.records.len(),
            trials_path.display()
        ),
    }
}

fn fmt_acc(acc: f64) -> String {
    if acc.is_finite() {
        format!("{acc:.2}%")
    } else {
        "-".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings block of the README is the defaults, key for key.
    #[test]
    fn the_readme_lists_the_default_settings() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```toml\nstart_channels")
            .expect("the README has a settings block");
        let block = &readme[start + "```toml\n".len()..];
        let block = &block[..block.find("```").expect("the block ends")];
        let parsed: SearchConfig = toml::from_str(block).expect("the README's settings parse");
        assert_eq!(parsed, SearchConfig::default());
    }
}
