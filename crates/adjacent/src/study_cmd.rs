//! Studies from the command line: `adjacent worker` joins a study from any machine that reaches
//! its storage; `adjacent study list|show|export` reads studies; and `adjacent search --table`
//! runs a study with a NAS-Bench-201 table as its evaluator (seconds instead of hours).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use adjacent_core::budget::Stop;
use adjacent_core::error::BoxError;
use adjacent_core::spaces::nb201::{Cell, EdgeChange, Nb201Space};
use adjacent_core::strategy::{StrategyContext, StrategyKind};
use adjacent_core::study::{Cost, Evaluation, Evaluator, MakeStrategy, Storage, Study, StudyEvent};
use adjacent_core::tabular::{self, TabularEvaluator};
use adjacent_core::trial::{Proposal, Trial, fittest};
use adjacent_nn::search::{self, SearchConfig, SearchEvent, StudySetup};
use adjacent_nn::train::Devices;
use adjacent_nn::weights::{FolderStore, WeightStore};
use adjacent_store::{DbStorage, StudyInfo, export_jsonl, release_dead, worker_name};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::files::write_json;
use crate::search_cmd::{
    SearchArgs, SearchStrategy, Start, StudySettings, budget, into_out_folder, open_study,
    print_trial, setup, strategy_maker, study_settings,
};
use crate::shared_weights::DatabaseWeights;

/// A table lookup that takes a while, standing in for training when trying workers.
struct TableEvaluator {
    table: TabularEvaluator,
    delay: Duration,
}

impl Evaluator<Nb201Space> for TableEvaluator {
    fn cost(&self, proposal: &Proposal<Cell, EdgeChange>) -> Cost {
        self.table.cost(proposal)
    }

    fn evaluate(
        &self,
        trial: &Trial<Cell, EdgeChange>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Evaluation, BoxError> {
        std::thread::sleep(self.delay);
        let mut evaluation = self.table.evaluate(trial, progress)?;
        evaluation.outcome.seconds = self.delay.as_secs_f64();
        Ok(evaluation)
    }
}

/// The registry strategy a table study runs.
fn table_strategy(strategy: SearchStrategy) -> Result<StrategyKind> {
    match strategy.kind() {
        Some(kind) if StrategyKind::TABULAR.contains(&kind) => Ok(kind),
        _ => bail!(
            "--strategy {} does not run on a table (it needs training); use {}",
            strategy.name(),
            StrategyKind::TABULAR.map(StrategyKind::name).join(", ")
        ),
    }
}

/// A table study's evaluator and strategy, from its settings.
fn table_parts(
    settings: &StudySettings,
) -> Result<(TableEvaluator, MakeStrategy<'static, Nb201Space>)> {
    let args = &settings.args;
    let table = args.table.as_ref().expect("a table study");
    let kind = table_strategy(args.strategy)?;
    let (evaluator, _judge) = tabular::load(table, &args.dataset)?;
    let seed = args.seed;
    let config = settings.config.strategies();
    let context = StrategyContext::default();
    kind.build_with::<Nb201Space>(seed, &config, &context)
        .with_context(|| format!("[{}]", kind.name()))?;
    Ok((
        TableEvaluator {
            table: evaluator,
            delay: Duration::from_millis(args.delay_ms),
        },
        Box::new(move || kind.build_with(seed, &config, &context)),
    ))
}

/// Runs this worker's part of a table study (its evaluator and strategy from [`table_parts`]);
/// prints each trial it ends.
fn run_table_worker(
    settings: &StudySettings,
    (evaluator, make): (TableEvaluator, MakeStrategy<'static, Nb201Space>),
    storage: &mut dyn Storage<Cell, EdgeChange>,
    worker: &str,
) -> Result<(String, usize)> {
    let space = Nb201Space::default();
    let stop = budget(&settings.args)?;
    let mut done = 0;
    let stopped = Study::new(&space, make, &evaluator, stop, worker)?
        .with_lease(settings.args.study.lease()?)
        .with_poll(Duration::from_millis(20))
        .run(storage, &mut |event| {
            if let StudyEvent::Done { trial: t, .. } = event {
                done += 1;
                eprintln!(
                    "trial {:>4} {:<8} valid {:>6.2}%  {}",
                    t.id,
                    t.parent.map_or("new".into(), |p| format!("~ {p}")),
                    t.valid_acc().unwrap_or(f64::NAN),
                    space_string(&t.genotype)
                );
            }
        })?;
    Ok((stopped, done))
}

fn space_string(cell: &Cell) -> String {
    cell.to_string()
}

#[derive(Serialize)]
struct TableSummary<'a> {
    strategy: &'a str,
    seed: u64,
    table: String,
    dataset: &'a str,
    trials: usize,
    /// The cell with the best validation accuracy (the table's 12-epoch accuracy).
    best_trial: Option<u64>,
    best_arch: Option<String>,
    best_valid_acc: Option<f64>,
    stopped: &'a str,
    seconds: f64,
}

/// `adjacent search --table`: a study whose evaluator is the table.
pub fn table_search(args: &SearchArgs, config: &SearchConfig, stop: Stop) -> Result<()> {
    let Stop::Trials(_) = stop else {
        bail!("a table search counts trials: give --trials N");
    };
    table_strategy(args.strategy)?;
    let table = args.table.as_ref().expect("a table search");
    if !table.is_file() {
        bail!("--table {}: no such file", table.display());
    }
    into_out_folder(args, |start| table_search_into(args, config, start))
}

fn table_search_into(args: &SearchArgs, config: &SearchConfig, start: &Start) -> Result<()> {
    let started = Instant::now();
    let settings = study_settings(args, config)?;
    // The table and strategy are loaded and checked before a study is created for them; a
    // resumed study was created with the same settings (open_study checks), so they serve it.
    let parts = table_parts(&settings)?;
    let (backend, info, recorded) = open_study(&settings, start)?;
    let mut storage = DbStorage::<Cell, EdgeChange>::new(backend, &info);
    release_dead(&mut storage)?;
    let (stopped, _) = run_table_worker(&recorded, parts, &mut storage, &worker_name())?;
    let history = storage.history()?;
    let trials_path = args.out.join("trials.jsonl");
    export_jsonl(&trials_path, &history)
        .with_context(|| format!("cannot write {}", trials_path.display()))?;
    let best = fittest(history.iter().map(|s| &s.trial));
    let summary = TableSummary {
        strategy: args.strategy.name(),
        seed: args.seed,
        table: recorded
            .args
            .table
            .as_ref()
            .map_or(String::new(), |t| t.display().to_string()),
        dataset: &args.dataset,
        trials: history.iter().filter(|s| s.told_seq.is_some()).count(),
        best_trial: best.map(|b| b.id.0),
        best_arch: best.map(|b| b.genotype.to_string()),
        best_valid_acc: best.and_then(|b| b.valid_acc()),
        stopped: &stopped,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&args.out.join("summary.json"), &summary)?;
    println!(
        "{} trials ({stopped}); best valid {:.2}%: {}",
        summary.trials,
        summary.best_valid_acc.unwrap_or(f64::NAN),
        summary.best_arch.as_deref().unwrap_or("-")
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The study's storage: postgres://user:password@host/database, or a SQLite file (a search's
    /// OUT/study.db).
    #[arg(long, value_name = "URL")]
    pub storage: String,
    /// The study to join.
    #[arg(long)]
    pub study: String,
    /// cpu, or cuda:N in a build with the cuda feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Seconds to wait for the study to be created (workers may start before `adjacent search`).
    #[arg(long, default_value_t = 0.0)]
    pub wait: f64,
}

/// `adjacent worker`: runs trials of an existing study until it is over. The final phase is left
/// to the `adjacent search` that created the study.
pub fn run_worker(args: WorkerArgs) -> Result<()> {
    let waited = Instant::now();
    let (backend, info) = loop {
        let found = adjacent_store::open(&args.storage).and_then(|mut backend| {
            let info = adjacent_store::find_study(&mut backend, &args.study)?;
            Ok((backend, info))
        });
        match found {
            Ok(found) => break found,
            Err(_) if waited.elapsed().as_secs_f64() < args.wait => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let settings: StudySettings = serde_json::from_str(&info.spec.settings)
        .with_context(|| format!("study {:?}: damaged settings", info.spec.name))?;
    let worker = worker_name();
    eprintln!(
        "worker {worker}: study {:?} ({} {} on {})",
        info.spec.name, info.spec.strategy, info.spec.space, info.spec.data
    );
    let (stopped, done) = match &settings.args.table {
        Some(_) => {
            let parts = table_parts(&settings)?;
            let mut storage = DbStorage::<Cell, EdgeChange>::new(backend, &info);
            run_table_worker(&settings, parts, &mut storage, &worker)?
        }
        None => {
            // Networks: in the database for a server (cached in a folder of this worker's), or
            // in the search's folder for a file on this machine.
            let cache = std::env::temp_dir().join(format!(
                "adjacent-weights-{}-{}",
                info.spec.name,
                std::process::id()
            ));
            let weights: Box<dyn WeightStore> = match backend.shares_machines() {
                true => Box::new(DatabaseWeights::new(
                    cache.clone(),
                    backend.reopen()?,
                    info.id,
                )?),
                false => {
                    let out = &settings.args.out;
                    if !out.is_dir() {
                        bail!(
                            "study {:?} keeps its networks in {}, which this machine cannot see; run its workers where that folder is, or keep the study in PostgreSQL",
                            info.spec.name,
                            out.join("weights").display()
                        );
                    }
                    Box::new(FolderStore::new(out.join("weights"))?)
                }
            };
            let devices = Devices::new(adjacent_nn::device(&args.device)?);
            let setup = setup(&settings.args, &settings.config, weights)?;
            let evaluator = setup.evaluator(&devices);
            let Some(make) = strategy_maker(&setup, &settings)? else {
                bail!(
                    "study {:?} trains one network (fixed): there are no trials to share",
                    info.spec.name
                );
            };
            let stop = adjacent_core::budget::Budget {
                total: budget(&settings.args)?,
                final_share: settings.config.final_share,
            }
            .search_part();
            let mut storage = DbStorage::new(backend, &info);
            let setup = StudySetup {
                stop,
                worker: &worker,
                lease: settings.args.study.lease()?,
            };
            let mut done = 0;
            let (run, _) = search::run(make, &evaluator, setup, &mut storage, &mut |event| {
                if let SearchEvent::Study(StudyEvent::Done { trial: t, .. }) = event {
                    done += 1;
                    print_trial(t);
                }
            })?;
            // The cache of a worker's networks goes with the worker.
            let _ = std::fs::remove_dir_all(&cache);
            (run.stopped, done)
        }
    };
    println!("worker {worker}: {done} trials run; the study is over ({stopped})");
    Ok(())
}

#[derive(Args, Debug)]
pub struct StudyArgs {
    #[command(subcommand)]
    pub command: StudyCommand,
}

#[derive(Subcommand, Debug)]
pub enum StudyCommand {
    /// The studies in a storage, with their trials by state.
    List {
        #[arg(long, value_name = "URL")]
        storage: String,
    },
    /// One study: its settings and trials by state.
    Show {
        #[arg(long, value_name = "URL")]
        storage: String,
        #[arg(long)]
        study: String,
    },
    /// A study's trials, in the order they were proposed (to standard output, or --out).
    Export {
        #[arg(long, value_name = "URL")]
        storage: String,
        #[arg(long)]
        study: String,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

fn state_counts(s: &StudyInfo) -> String {
    format!(
        "{} complete, {} failed, {} running, {} pending",
        s.complete, s.failed, s.running, s.pending
    )
}

pub fn run_study(args: StudyArgs) -> Result<()> {
    match args.command {
        StudyCommand::List { storage } => {
            let mut backend = adjacent_store::open(&storage)?;
            let studies = backend.studies()?;
            if studies.is_empty() {
                println!("no studies in {}", backend.url());
            }
            for s in studies {
                println!(
                    "{:<20} {:<10} {:<6} seed {:<4} {:<10} {}: {}",
                    s.spec.name,
                    s.spec.strategy,
                    s.spec.space,
                    s.spec.seed,
                    match &s.finished {
                        Some(_) => "finished",
                        None => "open",
                    },
                    s.spec.data,
                    state_counts(&s)
                );
            }
            Ok(())
        }
        StudyCommand::Show { storage, study } => {
            let mut backend = adjacent_store::open(&storage)?;
            let info = adjacent_store::find_study(&mut backend, &study)?;
            let settings: serde_json::Value =
                serde_json::from_str(&info.spec.settings).unwrap_or(serde_json::Value::Null);
            let shown = serde_json::json!({
                "study": info,
                "settings": settings,
            });
            println!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(())
        }
        StudyCommand::Export {
            storage,
            study,
            format,
            out,
        } => {
            let mut backend = adjacent_store::open(&storage)?;
            let info = adjacent_store::find_study(&mut backend, &study)?;
            let mut storage =
                DbStorage::<serde_json::Value, serde_json::Value>::new(backend, &info);
            let history = storage.history()?;
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            match format {
                ExportFormat::Jsonl => {
                    for s in &history {
                        writeln!(sink, "{}", serde_json::to_string(&s.trial)?)?;
                    }
                }
                ExportFormat::Csv => {
                    let mut w = csv::Writer::from_writer(sink);
                    w.write_record([
                        "id",
                        "state",
                        "parent",
                        "mutation",
                        "valid_acc",
                        "train_loss",
                        "tail_loss",
                        "score_loss",
                        "images",
                        "flops",
                        "seconds",
                        "worker",
                        "attempts",
                        "reason",
                        "genotype",
                    ])?;
                    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
                    for s in &history {
                        let t = &s.trial;
                        let o = &t.outcome;
                        w.write_record([
                            t.id.to_string(),
                            format!("{:?}", t.state).to_lowercase(),
                            t.parent.map_or(String::new(), |p| p.to_string()),
                            t.mutation.as_ref().map_or(String::new(), |m| m.to_string()),
                            opt(o.valid_acc),
                            opt(o.train_loss),
                            opt(o.tail_loss),
                            opt(o.score_loss),
                            o.images.to_string(),
                            o.flops.to_string(),
                            o.seconds.to_string(),
                            t.worker.clone().unwrap_or_default(),
                            t.attempts.to_string(),
                            t.reason.clone().unwrap_or_default(),
                            match &t.genotype {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            },
                        ])?;
                    }
                    w.flush()?;
                    return Ok(());
                }
            }
            sink.flush()?;
            Ok(())
        }
    }
}
