//! `adjacent search`: parses the flags into a search's settings, runs its session
//! (`adjacent_search::Session`) and renders what it reports.

use std::path::{Path, PathBuf};

use adjacent_core::budget::{Spent, Stop};
use adjacent_core::compute;
use adjacent_core::study::StudyEvent;
use adjacent_core::trial::TrialState;
use adjacent_search::config::SearchConfig;
use adjacent_search::final_phase::FinalStart;
use adjacent_search::search::SearchEvent;
use adjacent_search::session::{Finished, SessionEvent};
use adjacent_search::settings::{
    BudgetSetting, DataSettings, FromSettings, NetworkSettings, SETTINGS_VERSION, Settings,
    StrategyName, StudyOptions, TableSettings,
};
use adjacent_search::summary::Summary;
use adjacent_search::{Session, table::TableSummary};
use anyhow::{Context, Result};
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data_args::{DataArgs, print_loaded};
use crate::export_cmd;
use crate::trial_lines::{print_table_trial, print_trial};

/// `--strategy`'s values, with what each does.
fn strategies() -> impl TypedValueParser<Value = StrategyName> {
    let values = StrategyName::ALL.map(|s| PossibleValue::new(s.name()).help(s.about()));
    PossibleValuesParser::new(values).map(|name| name.parse().expect("a listed strategy"))
}

#[derive(Args, Debug, Clone, PartialEq)]
pub struct SearchArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value = "adjacent", value_parser = strategies())]
    pub strategy: StrategyName,
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
    pub budget_images: Option<u64>,
    /// Stop after this many trials; the final phase then gets final / (1 - final) of their compute.
    #[arg(long, group = "budget")]
    pub trials: Option<u64>,
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
    pub device: String,
    /// Output folder: new or empty, or the folder of an unfinished search, which is resumed (its
    /// study.db holds the trials). Holds trials.jsonl, best/, summary.json, weights/, study.db.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub study: StudyFlags,
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
    /// Start from an earlier search (its output folder, only read): its delivered model and its
    /// best few other networks, adapted to this data (a new head for other classes, the stem for
    /// other input channels), are `adjacent`'s starts beside its own; `fixed` fine-tunes the
    /// delivered model (transfer without search).
    #[arg(long, value_name = "OLD")]
    pub from: Option<PathBuf>,
    /// Or start from the earlier study of this name in --storage (its delivered model is read
    /// from its output folder, its networks from the storage).
    #[arg(long, value_name = "NAME", conflicts_with = "from")]
    pub from_study: Option<String>,
    /// How many of the earlier search's other networks start beside its delivered model.
    #[arg(long, default_value_t = 2)]
    pub from_networks: usize,
    /// Also export the delivered model beside best/: best.onnx, or best-pytorch/ (model.py and
    /// weights.safetensors). May be given twice.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub export: Vec<export_cmd::Format>,
}

/// Where a study is kept and how its workers are watched.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct StudyFlags {
    /// Study storage: a PostgreSQL URL (postgres://user:password@host/database) for workers on
    /// many machines, or a SQLite file; by default OUT/study.db.
    #[arg(long, value_name = "URL")]
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

pub fn run(args: SearchArgs) -> Result<()> {
    if args.table.is_some() && !args.export.is_empty() {
        anyhow::bail!("invalid setting --export: a --table search trains no model to export");
    }
    let settings = settings(&args)?;
    let device = match &settings.table {
        Some(_) => adjacent_nn::Device::flex(),
        None => adjacent_nn::device(&args.device)?,
    };
    let session = Session {
        settings,
        storage: args.study.storage.clone(),
        device,
    };
    let mut progress = Progress::new(&session.settings);
    let finished = session.run(&mut |event| progress.show(event));
    progress.bar.finish_and_clear();
    match finished? {
        Finished::Trained(summary) => {
            print_delivered(&summary, &session.settings.out);
            let out = &session.settings.out;
            for &format in &args.export {
                let path = export_cmd::beside_best(out, format);
                println!("{}", export_cmd::export(&out.join("best"), format, &path)?);
            }
        }
        Finished::Table(summary) => print_table(&summary),
    }
    Ok(())
}

/// The settings the flags ask for: the settings file with `--final`, the budget, and paths made
/// absolute (every process of a study reads them).
fn settings(args: &SearchArgs) -> Result<Settings> {
    let mut config = match &args.config {
        Some(path) => SearchConfig::load(path)?,
        None => SearchConfig::default(),
    };
    if let Some(share) = args.final_share {
        config = config.with_final_share(share)?;
    }
    let budget = match (
        &args.budget_flops,
        args.budget_minutes,
        args.budget_images,
        args.trials,
    ) {
        (Some(text), ..) => BudgetSetting::Flops(compute::parse_flops(text)?),
        (_, Some(m), ..) => BudgetSetting::Minutes(m),
        (_, _, Some(b), _) => BudgetSetting::Images(b),
        (.., Some(n)) => BudgetSetting::Trials(n),
        _ => BudgetSetting::default(),
    };
    if args.channels.is_some() && args.arch.is_none() {
        anyhow::bail!("invalid setting --channels: it sizes the --arch network; give --arch too");
    }
    let source = match args.data.data.as_str() {
        "builtin" => "builtin".to_string(),
        path => absolute(Path::new(path))?.display().to_string(),
    };
    let table = match &args.table {
        Some(path) => Some(TableSettings {
            path: absolute(path)?,
            dataset: args.dataset.clone(),
            delay_ms: args.delay_ms,
        }),
        None => None,
    };
    Ok(Settings {
        version: SETTINGS_VERSION,
        strategy: args.strategy,
        seed: args.seed,
        data: DataSettings {
            source,
            on_bad_image: args.data.policy(),
            subset: args.subset,
            valid: args.valid,
            classes: args.data.classes.clone(),
        },
        network: args.arch.as_ref().map(|arch| NetworkSettings {
            arch: arch.clone(),
            channels: args.channels,
            cells: args.cells,
        }),
        budget,
        study: StudyOptions {
            name: args.study.name.clone(),
            heartbeat_timeout: args.study.heartbeat_timeout,
            max_attempts: args.study.max_attempts,
        },
        table,
        out: absolute(&args.out)?,
        config,
        horizon: None,
        from: match (&args.from, &args.from_study) {
            (Some(dir), _) => Some(FromSettings {
                dir: Some(absolute(dir)?),
                study: None,
                others: args.from_networks,
            }),
            (None, Some(name)) => Some(FromSettings {
                dir: None,
                study: Some(name.clone()),
                others: args.from_networks,
            }),
            (None, None) => None,
        },
    })
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

/// The progress of a search: a bar over its budget, a line per trial and per phase.
struct Progress<'a> {
    settings: &'a Settings,
    total: Stop,
    bar: ProgressBar,
    /// Training images of the search (for epochs), once known.
    train_images: usize,
    best: Option<f64>,
    done: usize,
}

impl<'a> Progress<'a> {
    fn new(settings: &'a Settings) -> Progress<'a> {
        let total = settings.budget.total();
        let (length, unit) = total.length();
        let bar = ProgressBar::new(length);
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "[{{bar:30}}] {{pos}}/{{len}} {unit} ({{elapsed}}, {{eta}} left) {{msg}}"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        );
        if settings.table.is_some() {
            bar.finish_and_clear();
        }
        Progress {
            settings,
            total,
            bar,
            train_images: 0,
            best: None,
            done: 0,
        }
    }

    fn show(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::DataLoaded { data, seconds } => {
                self.bar.suspend(|| print_loaded(data, seconds))
            }
            SessionEvent::Resumed { ended, released } => self.bar.suspend(|| {
                eprintln!(
                    "resuming study {:?}: {ended} trials ended{}",
                    self.settings.study.name,
                    match released {
                        0 => String::new(),
                        n => format!(", {n} left running by a dead process run again"),
                    }
                )
            }),
            SessionEvent::Started {
                train_images,
                valid_images,
            } => {
                self.train_images = train_images;
                self.bar
                    .suspend(|| print_plan(self.settings, train_images, valid_images));
            }
            SessionEvent::Search(event) => self.search(event),
            SessionEvent::TableTrial(t) => print_table_trial(t),
            SessionEvent::NoFinal(reason) => {
                self.bar.suspend(|| eprintln!("no final phase: {reason}"))
            }
            SessionEvent::Adapted { from, networks } => self.bar.suspend(|| {
                eprintln!(
                    "from {}: {} networks adapted to this data",
                    from,
                    networks.len()
                );
                for a in networks {
                    let head = match a.arch.heads.len() == a.card.old_tasks.len()
                        && !a.arch.heads.is_empty()
                    {
                        true => "a new head (the old one kept)",
                        false => "its head",
                    };
                    eprintln!(
                        "  {}: C={} {} params, {head}",
                        a.origin.from,
                        a.arch.channels,
                        a.arch.params()
                    );
                }
            }),
        }
    }

    fn search(&mut self, event: SearchEvent) {
        match event {
            SearchEvent::Study(StudyEvent::Started { trial, cost }) => {
                let what = match (&trial.mutation, trial.parent) {
                    (Some(m), Some(p)) => match trial.inherit {
                        true => format!("child of {p}: {m}"),
                        false => format!("mutant of {p}: {m}"),
                    },
                    _ => match &trial.origin {
                        Some(o) => format!("adapted from {}", o.from),
                        None => "new network".into(),
                    },
                };
                self.bar.set_message(format!(
                    "trial {}: {what} ({} images); {} done, best {}",
                    trial.id,
                    cost.images,
                    self.done,
                    self.best.map_or("-".into(), |b| format!("{b:.2}%"))
                ));
            }
            SearchEvent::Study(StudyEvent::Step { spent, .. })
            | SearchEvent::FinalStep { spent, .. } => self.at(&spent),
            SearchEvent::Study(StudyEvent::Done { trial, spent }) => {
                self.done += 1;
                if let Some(acc) = trial.valid_acc() {
                    self.best = Some(self.best.map_or(acc, |b| b.max(acc)));
                }
                self.bar.suspend(|| print_trial(trial));
                self.at(&spent);
            }
            SearchEvent::Study(StudyEvent::Lost(trial)) => self.bar.suspend(|| {
                eprintln!(
                    "trial {:>3}: another worker took it over (this worker's heartbeat was late); its result is dropped",
                    trial.id
                )
            }),
            SearchEvent::Study(StudyEvent::Waiting) => {
                self.bar.set_message("waiting for other workers' trials")
            }
            SearchEvent::FinalStarted {
                arch,
                winner,
                start,
                images,
                spent,
            } => {
                let what = match (winner, start) {
                    (Some(t), FinalStart::Weights) => format!("trial {t}'s network, continued"),
                    (Some(t), FinalStart::Scratch) => {
                        format!("trial {t}'s architecture, from scratch")
                    }
                    (None, FinalStart::Weights) => "the adapted network, fine-tuned".into(),
                    (None, FinalStart::Scratch) => "the network, from scratch".into(),
                };
                let epochs = images as f64 / self.train_images.max(1) as f64;
                self.bar.suspend(|| {
                    eprintln!(
                        "final phase: {what}, {} params, {images} images ({epochs:.2} epochs)",
                        arch.params(),
                    )
                });
                self.bar.set_message(format!("final phase: {what}"));
                self.at(&spent);
            }
            SearchEvent::FinalDone { record, spent } => {
                self.bar.suspend(|| {
                    eprintln!(
                        "final phase: valid {}  {:.1} s  {}",
                        record
                            .valid_acc()
                            .map_or("failed".into(), |a| format!("{a:.2}%")),
                        record.outcome.seconds,
                        record.reason.as_deref().unwrap_or("")
                    )
                });
                self.at(&spent);
            }
        }
    }

    /// The bar at what the search has spent.
    fn at(&self, spent: &Spent) {
        self.bar.set_position(self.total.position(spent));
    }
}

/// The search's plan, before it starts.
fn print_plan(settings: &Settings, train_images: usize, valid_images: usize) {
    let config = &settings.config;
    let final_phase = match settings.strategy {
        StrategyName::Fixed => String::new(),
        _ if config.final_share > 0.0 => format!(
            ", of which {:.0}% for the final phase (from the winner's {})",
            config.final_share * 100.0,
            match config.final_from {
                FinalStart::Weights => "weights",
                FinalStart::Scratch => "architecture, from scratch",
            }
        ),
        _ => ", no final phase".into(),
    };
    eprintln!(
        "search: {} on {train_images} training and {valid_images} validation images, start width {}, limits {} cells a stage, {} channels, {} parameters; budget {}{final_phase}",
        settings.strategy.name(),
        config.start_channels,
        config.limits.max_cells,
        config.limits.max_channels,
        config.limits.max_params,
        settings.budget.total().describe(),
    );
}

/// The line that says what a trained search delivered.
fn print_delivered(s: &Summary, out: &Path) {
    let kind = match &s.final_trial {
        Some(f) if f.state == TrialState::Complete => "final",
        _ => "search",
    };
    println!(
        "{} trials in {:.0} s ({}); {kind} model: valid {:.2}%, test {:.2}%, {} params, {} in all; saved to {}",
        s.trials,
        s.seconds,
        s.stopped,
        s.valid_acc.unwrap_or(f64::NAN),
        s.test_acc.unwrap_or(f64::NAN),
        s.params.unwrap_or(0),
        compute::format_flops(s.flops.unwrap_or(0)),
        out.join("best").display()
    );
}

/// The line that says what a table study found.
fn print_table(s: &TableSummary) {
    println!(
        "{} trials ({}); best valid {:.2}%: {}",
        s.trials,
        s.stopped,
        s.best_valid_acc.unwrap_or(f64::NAN),
        s.best_arch.as_deref().unwrap_or("-")
    );
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
