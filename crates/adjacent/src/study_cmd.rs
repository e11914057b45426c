//! Studies from the command line: `adjacent worker` joins a study from any machine that reaches
//! its storage (`adjacent_search::session::join_study`), and `adjacent study list|show|export`
//! reads studies.

use std::io::Write;
use std::path::{Path, PathBuf};

use adjacent_core::study::Storage;
use adjacent_core::trial::Trial;
use adjacent_search::session::{WorkerEvent, join_study};
use adjacent_store::{DbStorage, StudyInfo};
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use crate::data_args::print_loaded;
use crate::trial_lines::{print_table_trial, print_trial};

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
    let device = adjacent_nn::device(&args.device)?;
    let report = join_study(
        &args.storage,
        &args.study,
        args.wait,
        device,
        &mut |event| match event {
            WorkerEvent::Joined { worker, study } => eprintln!(
                "worker {worker}: study {:?} ({} {} on {})",
                study.spec.name, study.spec.strategy, study.spec.space, study.spec.data
            ),
            WorkerEvent::DataLoaded { data, seconds } => print_loaded(data, seconds),
            WorkerEvent::Trial(t) => print_trial(t),
            WorkerEvent::TableTrial(t) => print_table_trial(t),
        },
    )?;
    println!(
        "worker {}: {} trials run; the study is over ({})",
        report.worker, report.trials, report.stopped
    );
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
        StudyCommand::List { storage } => list(&storage),
        StudyCommand::Show { storage, study } => show(&storage, &study),
        StudyCommand::Export {
            storage,
            study,
            format,
            out,
        } => export(&storage, &study, format, out.as_deref()),
    }
}

/// `adjacent study list`.
fn list(storage: &str) -> Result<()> {
    let mut database = adjacent_store::open(storage)?;
    let studies = database.studies()?;
    if studies.is_empty() {
        println!("no studies in {}", database.url());
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

/// `adjacent study show`: the study and its settings.
fn show(storage: &str, study: &str) -> Result<()> {
    let mut database = adjacent_store::open(storage)?;
    let info = adjacent_store::find_study(&mut database, study)?;
    let settings: serde_json::Value =
        serde_json::from_str(&info.spec.settings).unwrap_or(serde_json::Value::Null);
    let shown = serde_json::json!({
        "study": info,
        "settings": settings,
    });
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

/// `adjacent study export`: the trials, in the order they were proposed, to `out` or standard
/// output.
fn export(storage: &str, study: &str, format: ExportFormat, out: Option<&Path>) -> Result<()> {
    let mut database = adjacent_store::open(storage)?;
    let info = adjacent_store::find_study(&mut database, study)?;
    let mut storage = DbStorage::<serde_json::Value, serde_json::Value>::new(database, &info);
    let history = storage.history()?;
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let trials = history.iter().map(|s| &s.trial);
    match format {
        ExportFormat::Jsonl => {
            for t in trials {
                writeln!(sink, "{}", serde_json::to_string(t)?)?;
            }
            sink.flush()?;
        }
        ExportFormat::Csv => write_csv(sink, trials)?,
    }
    Ok(())
}

/// Trials as CSV: a column for each field people sort by, the genotype as text.
fn write_csv<'a>(
    sink: Box<dyn Write>,
    trials: impl Iterator<Item = &'a Trial<serde_json::Value, serde_json::Value>>,
) -> Result<()> {
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
    for t in trials {
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
    Ok(())
}
