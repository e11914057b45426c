//! `adjacent search`: architecture search with real training on an image data set.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use adjacent_core::compute;
use adjacent_core::network::NetworkArch;
use adjacent_core::spaces::grown::{GrownSpace, Limits};
use adjacent_core::spaces::nb201::{Cell, EDGE_COUNT, Op};
use adjacent_core::strategies::{
    Asha, AshaConfig, EvolutionConfig, GrowingConfig, GrowingSearch, GrowthPlan, RandomSearch,
    RegularizedEvolution,
};
use adjacent_core::strategy::Strategy;
use adjacent_core::trial::{TrialId, TrialState};
use adjacent_nn::checkpoint::{self, ModelCard};
use adjacent_nn::data::Normalization;
use adjacent_nn::search::{
    self, Evaluator, FinalPlan, FinalRecord, FinalStart, SearchData, SearchEvent, Searcher, Stop,
    TrialRecipe, check_final_budget,
};
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

/// The cell of the README, NAS-Bench-201's best on CIFAR-10: the network `fixed` trains when no
/// `--arch` is given, and the one `adjacent` starts from.
pub const DEFAULT_CELL: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchStrategy {
    /// Growing evolution: children are morphisms of their parents and start from their weights.
    Adjacent,
    /// Asynchronous successive halving over random networks; promotions continue their weights.
    Asha,
    /// Regularized (aging) evolution, every network trained from scratch.
    Evolution,
    /// Random networks, each trained from scratch.
    Random,
    /// No search: one network (--arch, --channels, --cells) trained with the whole budget.
    Fixed,
}

impl SearchStrategy {
    fn name(self) -> &'static str {
        match self {
            SearchStrategy::Adjacent => "adjacent",
            SearchStrategy::Asha => "asha",
            SearchStrategy::Evolution => "evolution",
            SearchStrategy::Random => "random",
            SearchStrategy::Fixed => "fixed",
        }
    }
}

#[derive(Args, Debug)]
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
    /// The cell of the network `adjacent` starts from (one a stage, start_channels wide), unless
    /// --arch gives the start network.
    pub start_cell: String,
    /// Share of the budget kept for the final phase.
    #[serde(rename = "final")]
    pub final_share: f64,
    /// Where the final phase starts: the winner's weights, or scratch.
    pub final_from: FinalStart,
    pub limits: Limits,
    /// How every trial trains.
    pub train: TrialRecipe,
    /// Growing evolution (`--strategy adjacent`).
    pub adjacent: GrowingConfig,
    /// Successive halving (`--strategy asha`).
    pub asha: AshaConfig,
    /// Regularized evolution (`--strategy evolution`).
    pub evolution: EvolutionConfig,
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
        self.final_plan().validate()?;
        self.start_cell
            .parse::<Cell>()
            .context("invalid setting start_cell")?;
        self.train.validate().context("[train]")?;
        self.adjacent.validate().context("[adjacent]")?;
        self.asha.validate().context("[asha]")?;
        self.evolution.validate().context("[evolution]")?;
        Ok(())
    }

    fn final_plan(&self) -> FinalPlan {
        FinalPlan {
            share: self.final_share,
            start: self.final_from,
        }
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

/// The whole budget the arguments ask for.
fn budget(args: &SearchArgs) -> Result<Stop> {
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
            (_, _, Some(b), _) => Stop::Images(b),
            (.., Some(0)) => bail!("invalid setting --trials: must be at least 1"),
            (.., Some(n)) => Stop::Trials(n),
            _ => Stop::Seconds(DEFAULT_MINUTES * 60.0),
        },
    )
}

pub fn run(args: SearchArgs) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => SearchConfig::load(path)?,
        None => SearchConfig::default(),
    };
    if let Some(share) = args.final_share {
        config.final_share = share;
        config
            .final_plan()
            .validate()
            .map_err(|e| anyhow::anyhow!("--final: {e}"))?;
    }
    let stop = budget(&args)?;
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
    let start = start_network(&args, &config)?;
    let device = adjacent_nn::device(&args.device)?;
    prepare_out(&args.out)?;
    let result = search_into(&args, &config, stop, start, Devices::new(device));
    if result.is_err() {
        remove_unused_output(&args.out);
    }
    result
}

/// The network of `--arch` (`--channels`, `--cells`), if given, checked against the input only
/// once the data is loaded.
fn start_network(args: &SearchArgs, config: &SearchConfig) -> Result<Option<(Cell, usize, usize)>> {
    let Some(text) = &args.arch else {
        if args.channels.is_some() {
            bail!("--channels sizes the --arch network; give --arch too");
        }
        return Ok(None);
    };
    let cell: Cell = text.parse().context("--arch")?;
    let channels = args.channels.unwrap_or(config.start_channels);
    if channels == 0 {
        bail!("invalid setting --channels: must be at least 1");
    }
    if args.cells == 0 {
        bail!("invalid setting --cells: must be at least 1");
    }
    Ok(Some((cell, channels, args.cells)))
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

fn describe(stop: Stop) -> String {
    match stop {
        Stop::Trials(n) => format!("{n} trials"),
        Stop::Images(b) => format!("{b} training images"),
        Stop::Seconds(s) => format!("{:.2} minutes", s / 60.0),
        Stop::Flops(b) => compute::format_flops(b),
    }
}

fn search_into(
    args: &SearchArgs,
    config: &SearchConfig,
    stop: Stop,
    start: Option<(Cell, usize, usize)>,
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
    let start = start.map(|(cell, channels, cells)| {
        NetworkArch::uniform(
            cell,
            channels,
            cells,
            train_set.channels,
            train_set.classes(),
        )
    });
    let epoch = train_set.len();
    let mut strategy: Option<Box<dyn Strategy<GrownSpace>>> = match args.strategy {
        SearchStrategy::Adjacent => None,
        SearchStrategy::Asha => Some(Box::new(Asha::new(args.seed, config.asha, epoch)?)),
        SearchStrategy::Evolution => Some(Box::new(RegularizedEvolution::new(
            args.seed,
            config.evolution,
        ))),
        SearchStrategy::Random => Some(Box::new(RandomSearch::new(args.seed))),
        SearchStrategy::Fixed => None,
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
    let plan = config.final_plan();
    if args.strategy == SearchStrategy::Adjacent {
        let start = start.clone().unwrap_or_else(|| {
            let cell: Cell = config.start_cell.parse().expect("checked with the config");
            NetworkArch::uniform(
                cell,
                config.start_channels,
                1,
                search_data.train.channels,
                search_data.train.classes(),
            )
        });
        let Some(horizon) = search::horizon_flops(&evaluator, stop, &start) else {
            bail!(
                "--strategy adjacent plans its probes within a budget of compute: give --budget-flops, --budget-images or --budget-minutes, not --trials"
            );
        };
        let growth = GrowthPlan {
            search: (horizon as f64 * (1.0 - plan.share)) as u64,
            horizon,
            start,
        };
        strategy = Some(Box::new(
            GrowingSearch::new(args.seed, config.adjacent, growth).context("[adjacent]")?,
        ));
    }
    // The network the final phase's share must be able to train: the fixed one, or the largest
    // network a search starts from.
    let reference = start.clone().unwrap_or_else(|| {
        let all_conv = Cell::new([Op::NorConv3x3; EDGE_COUNT]);
        NetworkArch::uniform(
            all_conv,
            config.start_channels,
            1,
            search_data.train.channels,
            search_data.train.classes(),
        )
    });
    let final_share = match args.strategy {
        SearchStrategy::Fixed => 1.0,
        _ => plan.share,
    };
    check_final_budget(&evaluator, stop, final_share, &reference)?;
    let searcher = match (&mut strategy, &start) {
        (Some(s), _) => Searcher::Strategy(s.as_mut()),
        (None, Some(arch)) => Searcher::Fixed(arch.clone()),
        (None, None) => bail!("--strategy fixed needs --arch"),
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
        describe(stop),
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

    let trials_path = args.out.join("trials.jsonl");
    let mut trials_file = std::fs::File::create(&trials_path)
        .with_context(|| format!("cannot create {}", trials_path.display()))?;
    let (length, unit) = match stop {
        Stop::Trials(n) => (n as u64, "trials"),
        Stop::Images(b) => (b as u64, "images"),
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
    let (mut spent_before, mut running) = (0.0f64, 0.0f64);
    let forward = |arch: &NetworkArch| search_data.forward_flops(arch);
    let outcome = search::search(searcher, &space, &evaluator, stop, plan, &mut |event| {
        match event {
            SearchEvent::Started {
                id,
                proposal,
                images,
            } => {
                running = match stop {
                    Stop::Images(_) => images as f64,
                    Stop::Flops(_) => {
                        compute::training_flops(forward(&proposal.genotype), images as u64) as f64
                            / 1e9
                    }
                    _ => 0.0,
                };
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
                if let Stop::Images(_) | Stop::Flops(_) = stop {
                    let share = step as f64 / steps.max(1) as f64;
                    bar.set_position((spent_before + share * running) as u64);
                }
            }
            SearchEvent::Done(record) => {
                done += 1;
                spent_before = match stop {
                    Stop::Images(_) => record.images_total as f64,
                    Stop::Flops(_) => record.flops_total as f64 / 1e9,
                    _ => 0.0,
                };
                if let Some(acc) = record.valid_acc {
                    best = best.max(acc);
                }
                bar.suspend(|| {
                    eprintln!(
                        "trial {:>3} {:<10} valid {:>12}  {:>8} params  {:>7} images  {:>6.1} s  first loss {:.3}  {}",
                        record.id,
                        match (record.parent, record.inherit) {
                            (Some(p), true) => format!("<- {p}"),
                            (Some(p), false) => format!("~ {p}"),
                            _ => "new".into(),
                        },
                        match (record.state, record.valid_acc, record.score_loss) {
                            (TrialState::Complete, Some(a), _) => format!("{a:.2}%"),
                            (TrialState::Complete, None, Some(l)) => format!("(score {l:.3})"),
                            (TrialState::Complete, None, None) => match record.tail_loss {
                                Some(l) => format!("(loss {l:.3})"),
                                None => "-".into(),
                            },
                            _ => "failed".into(),
                        },
                        record.params,
                        record.images,
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
                    Stop::Images(_) | Stop::Flops(_) => spent_before as u64,
                    Stop::Seconds(_) => record.elapsed as u64,
                });
                let line = serde_json::to_string(record).expect("a record serializes");
                if let Err(e) = writeln!(trials_file, "{line}").and_then(|_| trials_file.flush()) {
                    write_error.get_or_insert(e);
                }
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
    let seconds = started.elapsed().as_secs_f64();
    let run = &outcome.run;
    if let Some(reason) = &outcome.final_skipped
        && args.strategy != SearchStrategy::Fixed
    {
        eprintln!("no final phase: {reason}");
    }

    // What the user receives: the final model, or the search's choice as it was when there was no
    // final phase (validated now if the search did not, and counted); scored once on the test
    // images.
    let best = outcome
        .winner
        .and_then(|id| run.records.iter().find(|r| r.id == id));
    let mut extra_flops = 0;
    let delivered = match (&outcome.final_model, &outcome.final_record, best) {
        (Some(model), Some(record), _) => Some((
            model.clone(),
            record.arch.clone(),
            record.valid_acc.expect("a final model is complete"),
            "final",
        )),
        (_, _, Some(b)) => {
            let (model, arch) = store.get(TrialId(b.id), &devices.plain)?;
            let valid = match b.valid_acc {
                Some(v) => v,
                None => {
                    extra_flops = compute::eval_flops(
                        search_data.forward_flops(&arch),
                        search_data.valid.len() as u64,
                    );
                    train::evaluate(&model, &search_data.valid, &search_data.norm, 256, &devices)
                }
            };
            Some((model, arch, valid, "search"))
        }
        _ => None,
    };
    let mut test_acc = None;
    if let Some((model, arch, valid_acc, kind)) = &delivered {
        let acc = train::evaluate(model, &data.test, &search_data.norm, 256, &devices);
        test_acc = Some(acc);
        let best_dir = args.out.join("best");
        let card = ModelCard {
            arch: arch.clone(),
            height: search_data.train.height,
            width: search_data.train.width,
            normalization: search_data.norm.clone(),
            class_names: search_data.train.class_names.clone(),
        };
        std::fs::create_dir_all(&best_dir)
            .with_context(|| format!("cannot create {}", best_dir.display()))?;
        checkpoint::save(&best_dir, model, &card)?;
        let result = BestResult {
            trial: outcome
                .final_record
                .as_ref()
                .map_or(best.map(|b| b.id), |f| f.trial),
            model: kind,
            valid_acc: *valid_acc,
            test_acc: acc,
            test_images: data.test.len(),
            params: arch.params(),
        };
        write_json(&best_dir.join("result.json"), &result)?;
    }
    let spent = run.spent();
    let summary = Summary {
        strategy: args.strategy,
        seed: args.seed,
        data: &data.source,
        arch: delivered.as_ref().map(|d| &d.1),
        valid_acc: delivered.as_ref().map(|d| d.2),
        test_acc,
        params: delivered.as_ref().map(|d| d.1.params()),
        best_arch: best.map(|b| &b.genotype),
        best_trial: best.map(|b| b.id),
        best_valid_acc: best.and_then(|b| b.valid_acc),
        final_record: outcome.final_record.as_ref(),
        final_skipped: outcome.final_skipped.as_deref(),
        trials: run.records.len(),
        failed: run
            .records
            .iter()
            .filter(|r| r.state == adjacent_core::trial::TrialState::Failed)
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
    match (&delivered, test_acc) {
        (Some((_, arch, valid, kind)), Some(t)) => {
            println!(
                "{} trials in {seconds:.0} s ({}); {} model: valid {valid:.2}%, test {t:.2}%, {} params, {} in all; saved to {}",
                run.records.len(),
                run.stopped,
                kind,
                arch.params(),
                compute::format_flops(outcome.flops() + extra_flops),
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
