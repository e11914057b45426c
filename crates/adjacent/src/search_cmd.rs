//! `adjacent search`: architecture search with real training on an image data set.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use adjacent_core::spaces::grown::{GrownSpace, Limits};
use adjacent_core::strategies::{
    EvolutionConfig, GrowingConfig, GrowingEvolution, RandomSearch, RegularizedEvolution,
};
use adjacent_core::strategy::Strategy;
use adjacent_nn::checkpoint::{self, ModelCard};
use adjacent_nn::data::Normalization;
use adjacent_nn::search::{self, Evaluator, SearchData, SearchEvent, Stop, TrialRecipe};
use adjacent_nn::train::{self, Devices};
use adjacent_nn::weights::{FolderStore, WeightStore};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::files::{folder_in_use, write_json};
use crate::train_cmd::{DataArgs, prepare_sets};

/// Minutes of search when no budget is given.
const DEFAULT_MINUTES: f64 = 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchStrategy {
    /// Growing evolution: children are morphisms of their parents and start from their weights.
    Adjacent,
    /// Regularized (aging) evolution, every network trained from scratch.
    Evolution,
    /// Random networks, each trained from scratch.
    Random,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, value_enum, default_value = "adjacent")]
    pub strategy: SearchStrategy,
    /// Stop before a trial would end past this many minutes (the default budget: 3 minutes).
    #[arg(long, group = "budget")]
    pub budget_minutes: Option<f64>,
    /// Stop before the training images of all trials (passed forward and backward) would exceed
    /// this: a budget that does not depend on how busy the machine is.
    #[arg(long, group = "budget")]
    pub budget_images: Option<usize>,
    /// Stop after this many trials.
    #[arg(long, group = "budget")]
    pub trials: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Settings file (TOML): start_channels, [limits], [train], [adjacent], [evolution].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Search on a stratified, seeded subset of this many training images.
    #[arg(long)]
    pub subset: Option<usize>,
    /// Validation images held out of the training set (a count, or a fraction below 1): the search
    /// signal. The data set's test images are used once, for the winner.
    #[arg(long, default_value = "0.1")]
    pub valid: f64,
    /// cpu, or cuda:N in a build with the cuda feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output folder (must be new or empty): trials.jsonl, best/, summary.json, weights/.
    #[arg(long)]
    pub out: PathBuf,
}

/// The settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Width (C) of the networks a search starts from.
    pub start_channels: usize,
    pub limits: Limits,
    /// How every trial trains.
    pub train: TrialRecipe,
    /// Growing evolution (`--strategy adjacent`).
    pub adjacent: GrowingConfig,
    /// Regularized evolution (`--strategy evolution`).
    pub evolution: EvolutionConfig,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            start_channels: 8,
            limits: Limits::default(),
            train: TrialRecipe::default(),
            adjacent: GrowingConfig::default(),
            evolution: EvolutionConfig::default(),
        }
    }
}

impl SearchConfig {
    /// Reads a settings file; an unknown key or a value out of range names the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let config: SearchConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
        config
            .validate()
            .with_context(|| format!("config {}", path.display()))?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        self.train.validate().context("[train]")?;
        self.adjacent.validate().context("[adjacent]")?;
        self.evolution.validate().context("[evolution]")?;
        Ok(())
    }
}

#[derive(Serialize)]
struct BestResult {
    trial: u64,
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
    best_arch: Option<&'a adjacent_core::network::NetworkArch>,
    best_trial: Option<u64>,
    best_valid_acc: Option<f64>,
    test_acc: Option<f64>,
    best_params: Option<u64>,
    trials: usize,
    failed: usize,
    images: usize,
    seconds: f64,
    stopped: &'a str,
    train_images: usize,
    valid_images: usize,
    config: &'a SearchConfig,
}

/// Refuses an output folder that is a file or holds anything: a search never overwrites results.
fn prepare_out(out: &Path) -> Result<()> {
    if folder_in_use(out)? {
        bail!(
            "{} is in use (not empty); a search writes into a new or empty folder",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))
}

pub fn run(args: SearchArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => SearchConfig::load(path)?,
        None => SearchConfig::default(),
    };
    let stop = match (args.budget_minutes, args.budget_images, args.trials) {
        (Some(m), _, _) if !(m > 0.0 && m.is_finite()) => {
            bail!("invalid setting --budget-minutes: must be a positive number, got {m}")
        }
        (Some(m), _, _) => Stop::Seconds(m * 60.0),
        (_, Some(0), _) => bail!("invalid setting --budget-images: must be at least 1"),
        (_, Some(b), _) => Stop::Images(b),
        (_, _, Some(0)) => bail!("invalid setting --trials: must be at least 1"),
        (_, _, Some(n)) => Stop::Trials(n),
        _ => Stop::Seconds(DEFAULT_MINUTES * 60.0),
    };
    let device = adjacent_nn::device(&args.device)?;
    prepare_out(&args.out)?;
    let result = search_into(&args, &config, stop, Devices::new(device));
    if result.is_err() {
        remove_unused_output(&args.out);
    }
    result
}

/// After a search that failed before its first trial, removes what it created (all empty), so that
/// the folder can be used again; anything holding a result stays.
fn remove_unused_output(out: &Path) {
    let trials = out.join("trials.jsonl");
    if std::fs::metadata(&trials).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(&trials);
    }
    // `remove_dir` only removes empty folders.
    let _ = std::fs::remove_dir(out.join("weights"));
    let _ = std::fs::remove_dir(out);
}

fn search_into(
    args: &SearchArgs,
    config: &SearchConfig,
    stop: Stop,
    devices: Devices,
) -> Result<()> {
    let data = args.data.load()?;
    let (train_set, valid_set) = prepare_sets(&data, args.subset, args.valid, args.seed)?;
    let Some(valid_set) = valid_set else {
        bail!(
            "invalid setting --valid: a search needs validation images (its signal); give more than 0"
        );
    };
    let space = GrownSpace::new(
        config.limits,
        config.start_channels,
        train_set.channels,
        train_set.height,
        train_set.classes(),
    )
    .with_context(|| match &args.config {
        Some(p) => format!("config {}: [limits]", p.display()),
        None => "[limits]".into(),
    })?;
    let mut strategy: Box<dyn Strategy<GrownSpace>> = match args.strategy {
        SearchStrategy::Adjacent => Box::new(GrowingEvolution::new(args.seed, config.adjacent)?),
        SearchStrategy::Evolution => {
            Box::new(RegularizedEvolution::new(args.seed, config.evolution))
        }
        SearchStrategy::Random => Box::new(RandomSearch::new(args.seed)),
    };
    let norm = Normalization::of(&train_set);
    let search_data = SearchData {
        train: train_set,
        valid: valid_set,
        norm,
    };
    let store = FolderStore::new(args.out.join("weights"))?;
    let evaluator = Evaluator {
        data: &search_data,
        recipe: config.train.clone(),
        store: &store,
        devices: devices.clone(),
        seed: args.seed,
    };
    eprintln!(
        "search: {} on {} training and {} validation images, start width {}, limits {} cells a stage, {} channels, {} parameters; {}",
        args.strategy.to_possible_value().expect("named").get_name(),
        search_data.train.len(),
        search_data.valid.len(),
        config.start_channels,
        config.limits.max_cells,
        config.limits.max_channels,
        config.limits.max_params,
        match stop {
            Stop::Trials(n) => format!("{n} trials"),
            Stop::Images(b) => format!("budget {b} training images"),
            Stop::Seconds(s) => format!("budget {:.2} minutes", s / 60.0),
        }
    );

    let trials_path = args.out.join("trials.jsonl");
    let mut trials_file = std::fs::File::create(&trials_path)
        .with_context(|| format!("cannot create {}", trials_path.display()))?;
    let (length, unit) = match stop {
        Stop::Trials(n) => (n as u64, "trials"),
        Stop::Images(b) => (b as u64, "images"),
        Stop::Seconds(s) => (s.ceil() as u64, "s"),
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
    let mut images_before = 0usize;
    let mut running = 0usize;
    let run = search::run(strategy.as_mut(), &space, &evaluator, stop, &mut |event| {
        match event {
            SearchEvent::Started {
                id,
                proposal,
                images,
            } => {
                running = images;
                bar.set_message(format!(
                    "trial {id}: {} ({images} images); {done} done, best {}",
                    match (&proposal.mutation, proposal.parent) {
                        (Some(m), Some(p)) => format!(
                            "{} {p}: {m}",
                            if proposal.inherit {
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
            SearchEvent::Step { step, steps } => {
                if let Stop::Images(_) = stop {
                    let share = step as f64 / steps.max(1) as f64;
                    bar.set_position((images_before as f64 + share * running as f64) as u64);
                }
            }
            SearchEvent::Done(record) => {
                done += 1;
                images_before = record.images_total;
                if let Some(acc) = record.valid_acc {
                    best = best.max(acc);
                }
                bar.suspend(|| {
                        eprintln!(
                            "trial {:>3} {:<10} valid {:>7}  {:>8} params  {:>6.1} s  first loss {:.3}  {}",
                            record.id,
                            match (record.parent, record.inherit) {
                                (Some(p), true) => format!("<- {p}"),
                                (Some(p), false) => format!("~ {p}"),
                                _ => "new".into(),
                            },
                            record.valid_acc.map_or("failed".into(), |a| format!("{a:.2}%")),
                            record.params,
                            record.seconds,
                            record.first_loss.unwrap_or(f64::NAN),
                            record
                                .reason
                                .as_deref()
                                .or(record.mutation.as_deref())
                                .unwrap_or("")
                        )
                    });
                bar.set_position(match stop {
                    Stop::Trials(_) => done as u64,
                    Stop::Images(_) => record.images_total as u64,
                    Stop::Seconds(_) => record.elapsed as u64,
                });
                let line = serde_json::to_string(record).expect("a record serializes");
                if let Err(e) = writeln!(trials_file, "{line}").and_then(|_| trials_file.flush()) {
                    write_error.get_or_insert(e);
                }
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
    let seconds = started.elapsed().as_secs_f64();

    // The winner, scored once on the test images.
    let best = run.best();
    let mut test_acc = None;
    if let Some(best) = best {
        let (model, arch) = store.get(adjacent_core::trial::TrialId(best.id), &devices.plain)?;
        let acc = train::evaluate(&model, &data.test, &search_data.norm, 256, &devices);
        test_acc = Some(acc);
        let best_dir = args.out.join("best");
        let card = ModelCard {
            arch,
            height: search_data.train.height,
            width: search_data.train.width,
            normalization: search_data.norm.clone(),
            class_names: search_data.train.class_names.clone(),
        };
        std::fs::create_dir_all(&best_dir)
            .with_context(|| format!("cannot create {}", best_dir.display()))?;
        checkpoint::save(&best_dir, &model, &card)?;
        let result = BestResult {
            trial: best.id,
            valid_acc: best.valid_acc.expect("the best trial is complete"),
            test_acc: acc,
            test_images: data.test.len(),
            params: best.params,
        };
        write_json(&best_dir.join("result.json"), &result)?;
    }
    let summary = Summary {
        strategy: args.strategy,
        seed: args.seed,
        data: &data.source,
        best_arch: best.map(|b| &b.genotype),
        best_trial: best.map(|b| b.id),
        best_valid_acc: best.and_then(|b| b.valid_acc),
        test_acc,
        best_params: best.map(|b| b.params),
        trials: run.records.len(),
        failed: run.records.iter().filter(|r| r.valid_acc.is_none()).count(),
        images: run.records.last().map_or(0, |r| r.images_total),
        seconds,
        stopped: &run.stopped,
        train_images: search_data.train.len(),
        valid_images: search_data.valid.len(),
        config,
    };
    write_json(&args.out.join("summary.json"), &summary)?;
    match (best, test_acc) {
        (Some(b), Some(t)) => {
            println!(
                "{} trials in {seconds:.0} s ({}); best trial {}: valid {:.2}%, test {t:.2}%, {} params; saved to {}",
                run.records.len(),
                run.stopped,
                b.id,
                b.valid_acc.unwrap_or(f64::NAN),
                b.params,
                args.out.join("best").display()
            );
            Ok(())
        }
        _ => bail!(
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
