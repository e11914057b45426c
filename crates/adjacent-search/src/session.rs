//! A search session: one search as a user starts it, the same for `adjacent search`, `adjacent
//! worker` and the tests. Given its settings, it sets up the data, opens the study (new, or
//! resumed), picks where trained networks are kept, runs the study's loop and the final phase,
//! and writes the search's folder (`trials.jsonl`, `best/`, `summary.json`, `weights/`, and the
//! study's `study.db` unless the study lives elsewhere). It reports progress through events; the
//! command line renders them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use adjacent_core::budget::Budget;
use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::spaces::grown::GrownSpace;
use adjacent_core::spaces::nb201::{Cell, EdgeChange};
use adjacent_core::study::{MakeStrategy, Storage, StudyEvent};
use adjacent_core::trial::{Trial, TrialState, fittest};
use adjacent_data::Dataset;
use adjacent_nn::Device;
use adjacent_nn::train::Devices;
use adjacent_nn::weights::{FolderStore, WeightStore};
use adjacent_store::{Database, DbStorage, StudyInfo, export_jsonl, release_dead, worker_name};
use serde::Serialize;

use crate::error::SearchError;
use crate::output::{
    STUDY_DB, Start, TRIALS_FILE, remove_unused_output, same_folder, start_of, write_json,
};
use crate::preadapt::Adapted;
use crate::search::{SearchEvent, Searcher, check_final_budget, horizon_flops, run, search};
use crate::settings::{Settings, StrategyName};
use crate::setup::{Delivered, Setup, Split, StartNetwork};
use crate::shared_weights::DatabaseWeights;
use crate::summary::Summary;
use crate::table::{TableSummary, run_table_worker, table_parts, table_strategy};

/// What a session reports as it goes.
pub enum SessionEvent<'a> {
    /// The data set is loaded (in `seconds`).
    DataLoaded { data: &'a Dataset, seconds: f64 },
    /// A study is resumed: `ended` of its trials had ended, `released` were left running by a
    /// dead process of this machine and run again.
    Resumed { ended: usize, released: usize },
    /// The search starts, on these training and validation images.
    Started {
        train_images: usize,
        valid_images: usize,
    },
    /// The search's own events.
    Search(SearchEvent<'a>),
    /// A trial of a table study ended.
    TableTrial(&'a Trial<Cell, EdgeChange>),
    /// The search ended without a final phase, for this reason.
    NoFinal(&'a str),
    /// An earlier search's networks were adapted to this data (`--from`).
    Adapted {
        from: String,
        networks: &'a [Adapted],
    },
}

/// What a finished session delivered.
pub enum Finished {
    /// A trained search: its summary (the delivered model is in `best/`).
    Trained(Box<Summary>),
    /// A table study.
    Table(TableSummary),
}

/// `best/result.json`: the delivered model's scores.
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

/// One search, as a user starts it.
pub struct Session {
    pub settings: Settings,
    /// Where the study is kept: a SQLite file or a PostgreSQL URL; none: `OUT/study.db`.
    pub storage: Option<String>,
    pub device: Device,
}

impl Session {
    /// The study's storage.
    fn storage_url(&self) -> String {
        match &self.storage {
            Some(url) => url.clone(),
            None => self.settings.out.join(STUDY_DB).display().to_string(),
        }
    }

    /// Checks what can be checked before anything is created.
    fn check(&self) -> Result<(), SearchError> {
        let s = &self.settings;
        s.budget.validate()?;
        s.study.lease()?;
        s.budget()?;
        let trials = matches!(s.budget, crate::settings::BudgetSetting::Trials(_));
        if let Some(table) = &s.table {
            if s.from.is_some() {
                return Err(SearchError::Refused(
                    "--from starts from trained networks; a table search trains none".into(),
                ));
            }
            if !trials {
                return Err(SearchError::Refused(
                    "a table search counts trials: give --trials N".into(),
                ));
            }
            table_strategy(s.strategy)?;
            if !table.path.is_file() {
                return Err(SearchError::Refused(format!(
                    "--table {}: no such file",
                    table.path.display()
                )));
            }
            return Ok(());
        }
        if let Some(from) = &s.from {
            if !matches!(s.strategy, StrategyName::Fixed | StrategyName::Adjacent) {
                return Err(SearchError::Refused(format!(
                    "--from starts `adjacent` (its starts) or `fixed` (fine-tuning); --strategy {} takes no trained starts",
                    s.strategy.name()
                )));
            }
            if s.strategy == StrategyName::Fixed && s.network.is_some() {
                return Err(SearchError::Refused(
                    "--strategy fixed --from trains the earlier search's delivered model: give --arch or --from, not both".into(),
                ));
            }
            if let Some(dir) = from.dir.as_deref().filter(|d| same_folder(d, &s.out)) {
                return Err(SearchError::Refused(format!(
                    "--out must differ from --from {}: nothing of the earlier search is ever written",
                    dir.display()
                )));
            }
            if let Some(name) = &from.study {
                if self.storage.is_none() {
                    return Err(SearchError::Refused(
                        "--from-study names a study of this search's storage: give --storage too"
                            .into(),
                    ));
                }
                if name == &s.study.name {
                    return Err(SearchError::Refused(format!(
                        "--from-study {name:?} is this search's own study; name this one with --study"
                    )));
                }
            }
        }
        if s.strategy == StrategyName::Fixed {
            if s.network.is_none() && s.from.is_none() {
                return Err(SearchError::Refused(format!(
                    "--strategy fixed needs --arch CELL (the network to train with the whole budget), e.g. --arch \"{}\", or --from DIR",
                    adjacent_core::cell::DEFAULT_CELL
                )));
            }
            if trials {
                return Err(SearchError::Refused(
                    "--strategy fixed trains one network: give --budget-flops, --budget-images or --budget-minutes, not --trials".into(),
                ));
            }
        }
        s.start_network()?;
        Ok(())
    }

    /// Whether the study already exists in its storage.
    fn study_exists(&self) -> Result<bool, SearchError> {
        Ok(match &self.storage {
            None => self.settings.out.join(STUDY_DB).exists(),
            Some(url) => {
                let name = &self.settings.study.name;
                let mut database = adjacent_store::open(url)?;
                database.studies()?.iter().any(|s| &s.spec.name == name)
            }
        })
    }

    /// Runs the search into its folder, new or resumed; after a new search that failed, removes
    /// what it created if nothing holds a result.
    pub fn run(&self, observe: &mut dyn FnMut(SessionEvent)) -> Result<Finished, SearchError> {
        self.check()?;
        let start = start_of(&self.settings.out, self.study_exists()?)?;
        let result = match &self.settings.table {
            Some(_) => self.run_table(start, observe).map(Finished::Table),
            None => self
                .run_trained(start, observe)
                .map(|s| Finished::Trained(Box::new(s))),
        };
        if result.is_err() && start == Start::New {
            remove_unused_output(&self.settings.out);
        }
        result
    }

    /// Opens the study of `settings` (creating it when new) and checks that a resumed one is
    /// asked for with what it was created with; returns the storage, the study and its recorded
    /// settings.
    fn open_study(
        &self,
        settings: &Settings,
        start: Start,
    ) -> Result<(Database, StudyInfo, Settings), SearchError> {
        let mut database = adjacent_store::open(&self.storage_url())?;
        let spec = settings.spec();
        let info = adjacent_store::open_study(&mut database, &spec, start == Start::New)?;
        let recorded = Settings::read(&info.spec.settings, &info.spec.name)?;
        if start == Start::Resume {
            settings.check_same(&recorded)?;
        }
        Ok((database, info, recorded))
    }

    /// A table study, in one process (workers may join it).
    fn run_table(
        &self,
        start: Start,
        observe: &mut dyn FnMut(SessionEvent),
    ) -> Result<TableSummary, SearchError> {
        let started = Instant::now();
        let settings = &self.settings;
        // The table and strategy are loaded and checked before a study is created for them; a
        // resumed study was created with the same settings (open_study checks), so they serve it.
        let parts = table_parts(settings)?;
        let (database, info, recorded) = self.open_study(settings, start)?;
        let mut storage = DbStorage::<Cell, EdgeChange>::new(database, &info);
        release_dead(&mut storage)?;
        let stopped = run_table_worker(&recorded, parts, &mut storage, &worker_name(), &mut |t| {
            observe(SessionEvent::TableTrial(t))
        })?;
        let history = storage.history()?;
        let trials_path = settings.out.join(TRIALS_FILE);
        export_jsonl(&trials_path, &history).map_err(SearchError::io(&trials_path))?;
        let best = fittest(history.iter().map(|s| &s.trial));
        let table = recorded.table.as_ref().expect("a table study");
        let summary = TableSummary {
            strategy: settings.strategy.name().into(),
            seed: settings.seed,
            table: table.path.display().to_string(),
            dataset: table.dataset.clone(),
            trials: history.iter().filter(|s| s.told_seq.is_some()).count(),
            best_trial: best.map(|b| b.id.0),
            best_arch: best.map(|b| b.genotype.to_string()),
            best_valid_acc: best.and_then(|b| b.valid_acc()),
            stopped,
            seconds: started.elapsed().as_secs_f64(),
        };
        write_json(&settings.out.join(crate::summary::SUMMARY_FILE), &summary)?;
        Ok(summary)
    }

    /// A search with real training.
    fn run_trained(
        &self,
        start: Start,
        observe: &mut dyn FnMut(SessionEvent),
    ) -> Result<Summary, SearchError> {
        let out = &self.settings.out;
        let weights_dir = out.join("weights");
        let mut setup = setup(
            &self.settings,
            Box::new(FolderStore::new(&weights_dir)?),
            observe,
        )?;
        let devices = Devices::new(self.device.clone());
        if let Some(from) = &self.settings.from {
            setup.adapt_from(from, self.storage.as_deref(), &devices)?;
            observe(SessionEvent::Adapted {
                from: from.name(),
                networks: &setup.adapted,
            });
        }
        let budget = self.settings.budget()?;
        let mut settings = self.settings.clone();
        if settings.strategy == StrategyName::Adjacent {
            let evaluator = setup.evaluator(&devices);
            settings.horizon = horizon_flops(&evaluator, &budget, &setup.adjacent_start());
        }
        // A study for the strategies that search (fixed trains one network: nothing to keep).
        let (mut storage, make) = match (settings.strategy, start) {
            (StrategyName::Fixed, Start::Resume) => {
                return Err(SearchError::Refused(format!(
                    "{} holds a study; --strategy fixed trains into a new or empty folder",
                    out.display()
                )));
            }
            (StrategyName::Fixed, Start::New) => (None, None),
            _ => {
                // The strategy's settings are checked before a study is created for them.
                strategy_maker(&setup, &settings, &budget)?;
                let (database, info, recorded) = self.open_study(&settings, start)?;
                let make = strategy_maker(&setup, &recorded, &budget)?;
                setup.weights = weight_store(&database, &info, weights_dir, None)?;
                // The adapted networks where the study's workers look for them (the same hash).
                for a in &setup.adapted {
                    setup.weights.put(&a.net, &a.arch)?;
                }
                (Some(DbStorage::new(database, &info)), make)
            }
        };
        let evaluator = setup.evaluator(&devices);
        check_final_budget(&evaluator, &budget, &setup.reference())?;
        let trials_path = out.join(TRIALS_FILE);
        if let Some(storage) = &mut storage {
            resume(storage, &trials_path, observe)?;
        }
        observe(SessionEvent::Started {
            train_images: setup.search_data.train.len(),
            valid_images: setup.search_data.valid.len(),
        });
        let worker = worker_name();
        let searcher = match (make, storage.as_mut(), &setup.start) {
            (Some(make), Some(storage), _) => Searcher::Strategy {
                make,
                storage,
                worker: &worker,
                lease: settings.study.lease()?,
            },
            (_, _, Some(arch)) => Searcher::Fixed(arch.clone(), None),
            // `fixed --from`: the earlier search's delivered model, adapted, fine-tuned.
            (_, _, None) if !setup.adapted.is_empty() => {
                let a = &setup.adapted[0];
                Searcher::Fixed(a.arch.clone(), Some(a.origin.clone()))
            }
            _ => {
                return Err(SearchError::Refused(
                    "--strategy fixed needs --arch (or --from)".into(),
                ));
            }
        };
        let started = Instant::now();
        let mut trials_file = TrialsFile::open(&trials_path)?;
        let mut outcome = search(
            searcher,
            &evaluator,
            budget,
            settings.config.final_from,
            &mut |event| {
                if let SearchEvent::Study(StudyEvent::Done { trial, .. }) = &event {
                    trials_file.append(trial);
                }
                observe(SessionEvent::Search(event));
            },
        )?;
        trials_file.close()?;
        // The study's whole record (other workers' trials too), in the order trials ended.
        if let Some(storage) = &mut storage {
            export_jsonl(&trials_path, &storage.history()?)
                .map_err(SearchError::io(&trials_path))?;
        }
        if let Some(reason) = &outcome.final_skipped
            && settings.strategy != StrategyName::Fixed
        {
            observe(SessionEvent::NoFinal(reason));
        }
        let delivered = setup.deliver(&mut outcome, &devices)?;
        if let Some(d) = &delivered {
            save_best(&setup, d, &out.join("best"))?;
        }
        let summary = summarize(&settings, &setup, &outcome, delivered.as_ref(), started);
        summary.write(out)?;
        match delivered {
            Some(_) => Ok(summary),
            None => Err(SearchError::Refused(format!(
                "no network to deliver ({} trials, {} failed: {}); see {}",
                outcome.run.records.len(),
                outcome
                    .run
                    .records
                    .iter()
                    .filter(|r| r.state == TrialState::Failed)
                    .count(),
                outcome.final_skipped.as_deref().unwrap_or("no final phase"),
                trials_path.display()
            ))),
        }
    }
}

/// A resumed study: trials left running by a dead process of this machine go back to pending,
/// and `trials.jsonl` is written afresh from the study.
fn resume(
    storage: &mut DbStorage<NetworkArch, Morphism>,
    trials_path: &Path,
    observe: &mut dyn FnMut(SessionEvent),
) -> Result<(), SearchError> {
    let released = release_dead(storage)?;
    let history = storage.history()?;
    if !history.is_empty() {
        let ended = history.iter().filter(|s| s.told_seq.is_some()).count();
        observe(SessionEvent::Resumed { ended, released });
    }
    export_jsonl(trials_path, &history).map_err(SearchError::io(trials_path))
}

/// `trials.jsonl` as trials end: a line each, flushed; the first write error is kept for the end.
struct TrialsFile {
    path: PathBuf,
    file: std::fs::File,
    error: Option<std::io::Error>,
}

impl TrialsFile {
    fn open(path: &Path) -> Result<TrialsFile, SearchError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(SearchError::io(path))?;
        Ok(TrialsFile {
            path: path.to_path_buf(),
            file,
            error: None,
        })
    }

    fn append(&mut self, trial: &Trial<NetworkArch, Morphism>) {
        let line = serde_json::to_string(trial).expect("a record serializes");
        if let Err(e) = writeln!(self.file, "{line}").and_then(|_| self.file.flush()) {
            self.error.get_or_insert(e);
        }
    }

    fn close(self) -> Result<(), SearchError> {
        match self.error {
            Some(e) => Err(SearchError::io(&self.path)(e)),
            None => Ok(()),
        }
    }
}

/// The trained search of `settings` (its data loaded), with networks kept in `weights`.
fn setup(
    settings: &Settings,
    weights: Box<dyn WeightStore>,
    observe: &mut dyn FnMut(SessionEvent),
) -> Result<Setup, SearchError> {
    let start = settings
        .start_network()?
        .map(|(cell, channels, cells)| StartNetwork {
            cell,
            channels,
            cells,
        });
    let split = Split {
        subset: settings.data.subset,
        valid: settings.data.valid,
        seed: settings.seed,
    };
    let loading = Instant::now();
    let data = adjacent_data::load(&settings.data.source, settings.data.on_bad_image)?
        .maybe_with_classes(settings.data.classes.as_deref())?;
    observe(SessionEvent::DataLoaded {
        data: &data,
        seconds: loading.elapsed().as_secs_f64(),
    });
    Setup::new(data, split, start, settings.config.clone(), weights)
}

/// Builds the study's strategy afresh (for replays), as its settings say; none for `fixed`.
fn strategy_maker(
    setup: &Setup,
    settings: &Settings,
    budget: &Budget,
) -> Result<Option<MakeStrategy<'static, GrownSpace>>, SearchError> {
    match settings.strategy.kind() {
        Some(kind) => Ok(Some(setup.strategy_maker(
            kind,
            budget,
            settings.horizon,
        )?)),
        None => Ok(None),
    }
}

/// Where a study's trained networks are kept: in its database when workers on other machines
/// share it (cached in `cache`), otherwise in `local` (the search's `weights/`), which `out`, when
/// given, must show this machine can see.
fn weight_store(
    database: &Database,
    info: &StudyInfo,
    local: PathBuf,
    cache: Option<PathBuf>,
) -> Result<Box<dyn WeightStore>, SearchError> {
    if database.shares_machines() {
        let cache = cache.unwrap_or_else(|| local.clone());
        return Ok(Box::new(DatabaseWeights::new(
            cache,
            database.reopen()?,
            info.id,
        )?));
    }
    Ok(Box::new(FolderStore::new(local)?))
}

/// Saves the delivered model in `dir` with its scores (`result.json`).
fn save_best(setup: &Setup, delivered: &Delivered, dir: &Path) -> Result<(), SearchError> {
    setup.save(delivered, dir)?;
    let result = BestResult {
        trial: delivered.trial,
        model: delivered.kind(),
        valid_acc: delivered.valid_acc,
        test_acc: delivered.test_acc,
        test_images: setup.data.test.len(),
        params: delivered.arch.params(),
    };
    write_json(&dir.join("result.json"), &result)
}

/// The summary of a finished trained search.
fn summarize(
    settings: &Settings,
    setup: &Setup,
    outcome: &crate::search::SearchOutcome,
    delivered: Option<&Delivered>,
    started: Instant,
) -> Summary {
    let best = outcome.winner_record();
    let run = &outcome.run;
    let spent = outcome.spent();
    let extra_flops = delivered.map_or(0, |d| d.extra_flops);
    let budget = settings.budget;
    use crate::settings::BudgetSetting;
    Summary {
        strategy: settings.strategy.name().into(),
        seed: settings.seed,
        data: setup.data.source.clone(),
        arch: delivered.map(|d| d.arch.clone()),
        valid_acc: delivered.map(|d| d.valid_acc),
        test_acc: delivered.map(|d| d.test_acc),
        params: delivered.map(|d| d.arch.params()),
        best_arch: best.map(|b| b.genotype.clone()),
        best_trial: best.map(|b| b.id.0),
        best_valid_acc: best.and_then(|b| b.valid_acc()),
        final_trial: outcome.final_trial.clone(),
        final_skipped: outcome.final_skipped.clone(),
        trials: run.records.len(),
        failed: run
            .records
            .iter()
            .filter(|r| r.state == TrialState::Failed)
            .count(),
        images: spent.images,
        flops: Some(spent.flops + extra_flops),
        search_flops: run.spent().flops,
        budget_flops: match budget {
            BudgetSetting::Flops(b) => Some(b),
            _ => None,
        },
        budget_images: match budget {
            BudgetSetting::Images(b) => Some(b),
            _ => None,
        },
        budget_minutes: match budget {
            BudgetSetting::Minutes(m) => Some(m),
            _ => None,
        },
        seconds: started.elapsed().as_secs_f64(),
        stopped: run.stopped.clone(),
        train_images: setup.search_data.train.len(),
        valid_images: setup.search_data.valid.len(),
        config: settings.config.clone(),
    }
}

/// A worker that joined a study: what it ran.
pub struct WorkerReport {
    pub worker: String,
    pub trials: usize,
    /// Why the study is over.
    pub stopped: String,
}

/// What a worker reports as it goes.
pub enum WorkerEvent<'a> {
    /// It found the study.
    Joined {
        worker: &'a str,
        study: &'a StudyInfo,
    },
    /// The study's data set is loaded (in `seconds`).
    DataLoaded { data: &'a Dataset, seconds: f64 },
    /// A trained trial it ran ended.
    Trial(&'a Trial<NetworkArch, Morphism>),
    /// A table trial it ran ended.
    TableTrial(&'a Trial<Cell, EdgeChange>),
}

/// `adjacent worker`: joins the study `name` in `storage` (waiting up to `wait` seconds for it to
/// be created) and runs its trials on `device` until it is over. The final phase is left to the
/// search that created the study.
pub fn join_study(
    storage: &str,
    name: &str,
    wait: f64,
    device: Device,
    observe: &mut dyn FnMut(WorkerEvent),
) -> Result<WorkerReport, SearchError> {
    let waited = Instant::now();
    let (database, info) = loop {
        let found = adjacent_store::open(storage).and_then(|mut database| {
            let info = adjacent_store::find_study(&mut database, name)?;
            Ok((database, info))
        });
        match found {
            Ok(found) => break found,
            Err(_) if waited.elapsed().as_secs_f64() < wait => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let settings = Settings::read(&info.spec.settings, &info.spec.name)?;
    let worker = worker_name();
    observe(WorkerEvent::Joined {
        worker: &worker,
        study: &info,
    });
    let mut trials = 0;
    let stopped = match &settings.table {
        Some(_) => {
            let parts = table_parts(&settings)?;
            let mut storage = DbStorage::<Cell, EdgeChange>::new(database, &info);
            run_table_worker(&settings, parts, &mut storage, &worker, &mut |t| {
                trials += 1;
                observe(WorkerEvent::TableTrial(t));
            })?
        }
        None => {
            let mut counted = |event: WorkerEvent| {
                if let WorkerEvent::Trial(_) = event {
                    trials += 1;
                }
                observe(event);
            };
            run_trained_worker(&settings, database, &info, &worker, device, &mut counted)?
        }
    };
    Ok(WorkerReport {
        worker,
        trials,
        stopped,
    })
}

/// One worker's part of a trained study.
fn run_trained_worker(
    settings: &Settings,
    database: Database,
    info: &StudyInfo,
    worker: &str,
    device: Device,
    observe: &mut dyn FnMut(WorkerEvent),
) -> Result<String, SearchError> {
    // Networks: in the database for a server (cached in a folder of this worker's), or in the
    // search's folder for a file on this machine.
    let cache = std::env::temp_dir().join(format!(
        "adjacent-weights-{}-{}",
        info.spec.name,
        std::process::id()
    ));
    let out = &settings.out;
    if !database.shares_machines() && !out.is_dir() {
        return Err(SearchError::Refused(format!(
            "study {:?} keeps its networks in {}, which this machine cannot see; run its workers where that folder is, or keep the study in PostgreSQL",
            info.spec.name,
            out.join("weights").display()
        )));
    }
    let weights = weight_store(&database, info, out.join("weights"), Some(cache.clone()))?;
    let mut setup = setup(settings, weights, &mut |event| {
        if let SessionEvent::DataLoaded { data, seconds } = event {
            observe(WorkerEvent::DataLoaded { data, seconds });
        }
    })?;
    let devices = Devices::new(device);
    let url = database.url().to_string();
    // The same adapted starts as the study's first process (its strategy replays them).
    if let Some(from) = &settings.from {
        setup.adapt_from(from, Some(&url), &devices)?;
    }
    let evaluator = setup.evaluator(&devices);
    let budget = settings.budget()?;
    let Some(make) = strategy_maker(&setup, settings, &budget)? else {
        return Err(SearchError::Refused(format!(
            "study {:?} trains one network (fixed): there are no trials to share",
            info.spec.name
        )));
    };
    let mut storage = DbStorage::new(database, info);
    let participation = crate::search::Participation {
        stop: budget.search_part(),
        worker,
        lease: settings.study.lease()?,
    };
    let (run, _) = run(
        make,
        &evaluator,
        participation,
        &mut storage,
        &mut |event| {
            if let SearchEvent::Study(StudyEvent::Done { trial, .. }) = event {
                observe(WorkerEvent::Trial(trial));
            }
        },
    )?;
    // The cache of a worker's networks goes with the worker.
    let _ = std::fs::remove_dir_all(&cache);
    Ok(run.stopped)
}
