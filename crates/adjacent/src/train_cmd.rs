//! `adjacent train` and `adjacent eval`: one architecture trained on real images, and a saved model
//! scored again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use adjacent_core::network::NetworkArch;
use adjacent_core::schedule::Schedule;
use adjacent_core::spaces::nb201::Cell;
use adjacent_data::{Dataset, ImageSet, Normalization};
use adjacent_nn::adapt::{Task, adapt, normalization_for};
use adjacent_nn::checkpoint::{self, ModelCard};
use adjacent_nn::net::Network;
use adjacent_nn::train::{self, Devices, EpochReport, Event, RunEnd, TrainConfig};
use adjacent_search::output::{folder_in_use, same_folder, write_json};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::data_args::DataArgs;

/// Files a training run writes into its output folder.
const OUTPUT_FILES: [&str; 4] = [
    "metrics.jsonl",
    "result.json",
    checkpoint::WEIGHTS_FILE,
    checkpoint::ARCH_FILE,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Toggle {
    /// On for colour images, off for grey ones.
    Auto,
    On,
    Off,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Train on a stratified, seeded subset of this many training images (before the validation
    /// split is taken out).
    #[arg(long)]
    pub subset: Option<usize>,
    /// Validation images held out of the training set (stratified, seeded): a count, or a fraction
    /// below 1. 0 trains on everything.
    #[arg(long, default_value = "0.1")]
    pub valid: f64,
    /// The cell, as a NAS-Bench-201 cell string; every cell of the network gets it.
    #[arg(long, required_unless_present = "from", conflicts_with = "from")]
    pub arch: Option<String>,
    /// Continue training the model saved in this folder (by `adjacent train` or a search's
    /// best/): its architecture, weights and input normalization.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// Width of the first stage (C).
    #[arg(long, default_value_t = 16)]
    pub channels: usize,
    /// Cells per stage (N).
    #[arg(long, default_value_t = 5)]
    pub cells: usize,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Base learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// constant, cosine, sgdr[:t0=1,tmult=2], triangular[:half=1,min=0.1] or
    /// onecycle[:warmup=0.3,div=25,final_div=10000]; periods are in epochs.
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Plain momentum instead of Nesterov's.
    #[arg(long)]
    pub no_nesterov: bool,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    pub clip_norm: Option<f64>,
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Random crop (padding 4) and horizontal flip.
    #[arg(long, value_enum, default_value = "auto")]
    pub augment: Toggle,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, or cuda:N in a build with the cuda feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output folder: metrics.jsonl, result.json, model.safetensors, arch.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite the output files of an earlier run in --out.
    #[arg(long)]
    pub force: bool,
}

#[derive(Serialize)]
struct RunResult<'a> {
    status: &'a RunEnd,
    valid_acc: Option<f64>,
    test_acc: Option<f64>,
    params: u64,
    epochs: usize,
    seconds: f64,
    images_per_second: f64,
    arch: &'a str,
    data: &'a str,
    train_images: usize,
    valid_images: usize,
    config: &'a TrainConfig,
}

/// Refuses an output folder that exists and is not empty, unless `force` (which removes the files
/// of an earlier run and nothing else); then makes sure the folder exists.
pub fn prepare_out(out: &Path, force: bool) -> Result<()> {
    if folder_in_use(out)? {
        if !force {
            bail!(
                "{} already exists and is not empty; choose another --out or pass --force to overwrite its run",
                out.display()
            );
        }
        for f in OUTPUT_FILES.into_iter().filter(|f| out.join(f).exists()) {
            std::fs::remove_file(out.join(f))
                .with_context(|| format!("cannot remove {}", out.join(f).display()))?;
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))
}

pub fn run_train(args: TrainArgs) -> Result<()> {
    let cell = check_args(&args)?;
    let schedule: Schedule = args.schedule.parse().context("--schedule")?;
    let device = adjacent_nn::device(&args.device)?;
    prepare_out(&args.out, args.force)?;
    let data = args.data.load()?;
    let (train_set, valid_set) = adjacent_data::split(&data, args.subset, args.valid, args.seed)?;
    let config = train_config(&args, schedule, train_set.channels == 3);
    config.validate()?;
    let devices = Devices::new(device);
    devices.plain.seed(args.seed);
    devices.train.seed(args.seed);
    let (model, card) = start_model(&args, cell, &train_set, &data, &devices)?;
    print_plan(
        &args,
        &card.arch,
        &config,
        train_set.len(),
        valid_set.as_ref(),
    );
    let started = Instant::now();
    let (model, reports, end) = train_with_progress(
        model,
        &train_set,
        valid_set.as_ref(),
        &card.normalization,
        &config,
        &devices,
        &args.out.join("metrics.jsonl"),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let test_acc = match end {
        RunEnd::Completed => Some(train::evaluate(
            &model,
            &data.test,
            &card.normalization,
            256,
            &devices,
        )),
        RunEnd::Diverged { .. } => None,
    };
    checkpoint::save(&args.out, &model, &card)?;
    let arch_text = match &args.arch {
        Some(text) => text.clone(),
        None => serde_json::to_string(&card.arch)?,
    };
    let images: usize = reports.iter().map(|r| r.images).sum();
    let result = RunResult {
        status: &end,
        valid_acc: reports.last().and_then(|r| r.valid_acc),
        test_acc,
        params: card.arch.params(),
        epochs: reports.len(),
        seconds,
        images_per_second: images as f64 / reports.iter().map(|r| r.seconds).sum::<f64>().max(1e-9),
        arch: &arch_text,
        data: &data.source,
        train_images: train_set.len(),
        valid_images: valid_set.as_ref().map_or(0, ImageSet::len),
        config: &config,
    };
    write_json(&args.out.join("result.json"), &result)?;
    match test_acc {
        Some(acc) => {
            println!(
                "test accuracy {acc:.2}% ({} test images); {seconds:.1} s; saved to {}",
                data.test.len(),
                args.out.display()
            );
            Ok(())
        }
        None => bail!(
            "training {end}; the last finite model and result.json are in {}",
            args.out.display()
        ),
    }
}

/// The cell of `--arch`, if given; refuses an `--out` that is `--from`.
fn check_args(args: &TrainArgs) -> Result<Option<Cell>> {
    let cell: Option<Cell> = args
        .arch
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--arch")?;
    if let Some(from) = args.from.as_ref().filter(|f| same_folder(f, &args.out)) {
        bail!(
            "--out must differ from --from {}: the run would overwrite the model it starts from",
            from.display()
        );
    }
    Ok(cell)
}

/// The training the flags ask for (augmentation by default on for colour images).
fn train_config(args: &TrainArgs, schedule: Schedule, colour: bool) -> TrainConfig {
    TrainConfig {
        epochs: args.epochs,
        images: None,
        span: [0.0, 1.0],
        batch: args.batch,
        lr: args.lr,
        schedule,
        momentum: args.momentum,
        nesterov: !args.no_nesterov,
        weight_decay: args.weight_decay,
        clip_norm: args.clip_norm,
        label_smoothing: args.label_smoothing,
        augment: match args.augment {
            Toggle::Auto => colour,
            Toggle::On => true,
            Toggle::Off => false,
        },
        seed: args.seed,
    }
}

/// The network that trains: the saved model of `--from` (checked against the data), or a new one
/// of `cell`; and its card (what `adjacent eval` needs to use it again).
fn start_model(
    args: &TrainArgs,
    cell: Option<Cell>,
    train_set: &ImageSet,
    data: &Dataset,
    devices: &Devices,
) -> Result<(Network, ModelCard)> {
    match (&args.from, cell) {
        (Some(from), _) => {
            let (model, card) = checkpoint::load(from, &devices.train)?;
            if card.arch.input_channels == train_set.channels
                && card.class_names == train_set.class_names
            {
                // The same task: training goes on (the network pools globally, so another image
                // size fits).
                let card = ModelCard {
                    height: train_set.height,
                    width: train_set.width,
                    ..card
                };
                return Ok((model, card));
            }
            // Another task: the stem and the head adapted, the old head kept (pre-adaptation).
            let task = Task::of(train_set, Normalization::of(train_set));
            let (model, card) = adapt(
                &model,
                &card,
                &task,
                &from.display().to_string(),
                &devices.train,
            )
            .with_context(|| format!("cannot adapt {} to {}", from.display(), data.source))?;
            eprintln!(
                "adapted {} to {} ({} classes{})",
                from.display(),
                data.source,
                card.class_names.len(),
                match card.arch.heads.len() {
                    0 => String::new(),
                    _ => ", a new head; the old one kept as `old`".into(),
                }
            );
            Ok((model, card))
        }
        (None, Some(cell)) => {
            let arch = NetworkArch::uniform(
                cell,
                args.channels,
                args.cells,
                train_set.channels,
                train_set.classes(),
            );
            arch.validate()?;
            let card = ModelCard {
                arch: arch.clone(),
                height: train_set.height,
                width: train_set.width,
                normalization: Normalization::of(train_set),
                class_names: train_set.class_names.clone(),
                old_tasks: Vec::new(),
            };
            Ok((Network::new(&arch, &devices.train), card))
        }
        (None, None) => bail!("give --arch CELL or --from DIR"),
    }
}

/// What will train, on what.
fn print_plan(
    args: &TrainArgs,
    arch: &NetworkArch,
    config: &TrainConfig,
    train_images: usize,
    valid_set: Option<&ImageSet>,
) {
    eprintln!(
        "training C={} with {} cells ({} parameters){} on {train_images} images, validating on {}, {} epochs, batch {}, lr {} {}{}",
        arch.channels,
        arch.stages.iter().map(Vec::len).sum::<usize>(),
        arch.params(),
        args.from.as_ref().map_or(String::new(), |f| format!(
            ", continued from {}",
            f.display()
        )),
        valid_set.map_or(0, ImageSet::len),
        config.epochs,
        config.batch,
        config.lr,
        config.schedule,
        if config.augment { ", augmented" } else { "" }
    );
}

/// Trains with a progress bar over each epoch's steps, a line per epoch, and each epoch's report
/// in `metrics` (JSON lines).
fn train_with_progress(
    model: Network,
    train_set: &ImageSet,
    valid_set: Option<&ImageSet>,
    norm: &Normalization,
    config: &TrainConfig,
    devices: &Devices,
    metrics_path: &Path,
) -> Result<(Network, Vec<EpochReport>, RunEnd)> {
    let mut metrics = std::fs::File::create(metrics_path)
        .with_context(|| format!("cannot create {}", metrics_path.display()))?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} steps, loss {msg} ({elapsed}, {eta} left)",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut write_error = None;
    let trained = train::train(
        model,
        train_set,
        valid_set,
        norm,
        config,
        devices,
        &mut |event| match event {
            Event::Step {
                epoch,
                step,
                steps,
                loss,
                ..
            } => {
                if step == 1 {
                    bar.reset();
                    bar.set_length(steps as u64);
                    bar.set_prefix(format!("{epoch}/{}", config.epochs));
                }
                bar.set_position(step as u64);
                bar.set_message(format!("{loss:.4}"));
            }
            Event::Epoch(report) => {
                bar.suspend(|| print_epoch(report, config.epochs));
                let line = serde_json::to_string(report).expect("serializes");
                if let Err(e) = writeln!(metrics, "{line}") {
                    write_error.get_or_insert(e);
                }
            }
        },
    )?;
    bar.finish_and_clear();
    match write_error {
        Some(e) => Err(e).with_context(|| format!("cannot write {}", metrics_path.display())),
        None => Ok(trained),
    }
}

fn print_epoch(r: &EpochReport, epochs: usize) {
    let valid = r
        .valid_acc
        .map_or(String::new(), |v| format!("  valid {v:.2}%"));
    println!(
        "epoch {}/{epochs}  lr {:.4}  loss {:.4}  train {:.2}%{valid}  {:.1} s ({:.0} images/s)",
        r.epoch,
        r.lr,
        r.train_loss,
        r.train_acc,
        r.seconds,
        r.images as f64 / r.seconds.max(1e-9)
    );
}

/// Refuses a data set whose images or classes are not those the model saved in `model_dir` was
/// made for.
fn check_input(model_dir: &Path, card: &ModelCard, set: &ImageSet, source: &str) -> Result<()> {
    let expected = (
        card.arch.input_channels,
        card.height,
        card.width,
        card.arch.classes,
    );
    let found = (set.channels, set.height, set.width, set.classes());
    if expected != found {
        bail!(
            "{} expects {}x{}x{} images in {} classes, but {source} has {}x{}x{} images in {} classes",
            model_dir.display(),
            expected.0,
            expected.1,
            expected.2,
            expected.3,
            found.0,
            found.1,
            found.2,
            found.3
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A folder written by `adjacent train` (arch.json and model.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Score with an earlier task's head of an adapted model: `old` (the task it was adapted
    /// from), `old-2` (the one before), ...; on that task's data (and `--classes`), so that what
    /// the adaptation forgot is a number. `new` (the default) is the model's own head.
    #[arg(long, value_name = "NAME")]
    pub head: Option<String>,
}

pub fn run_eval(args: EvalArgs) -> Result<()> {
    let devices = Devices::new(adjacent_nn::device(&args.device)?);
    let (model, card) = checkpoint::load(&args.model, &devices.plain)?;
    let (model, card) = match args.head.as_deref() {
        None | Some("new") => (model, card),
        Some(name) => {
            let index = card
                .head_index(name)
                .with_context(|| format!("{}", args.model.display()))?;
            let old = card.old_tasks[index].clone();
            let mut arch = card.arch.clone();
            arch.classes = arch.heads[index];
            arch.heads.clear();
            let card = ModelCard {
                arch,
                height: old.height,
                width: old.width,
                normalization: old.normalization,
                class_names: old.class_names,
                old_tasks: Vec::new(),
            };
            (model.with_head(index), card)
        }
    };
    let data = args.data.load()?;
    // An old task's images in the channels the adapted stem takes (grey repeated for colour,
    // colour averaged for grey); the network pools globally, so their size may differ.
    let test = match (data.test.channels, card.arch.input_channels) {
        (1, 3) => data.test.clone().to_rgb(),
        (3, 1) => data.test.clone().to_grey(),
        _ => data.test.clone(),
    };
    match args.head.as_deref() {
        Some(name) if name != "new" => {
            if test.class_names != card.class_names {
                bail!(
                    "head {name:?} of {} scores the classes {}, but {} has {} (use --classes to pick them)",
                    args.model.display(),
                    card.class_names.join(", "),
                    data.source,
                    test.class_names.join(", ")
                );
            }
        }
        _ => check_input(&args.model, &card, &test, &data.source)?,
    }
    let norm = normalization_for(&card.normalization, test.channels);
    let acc = train::evaluate(&model, &test, &norm, args.batch.max(1), &devices);
    println!(
        "test accuracy {acc:.2}% ({} test images{})",
        test.len(),
        args.head
            .as_ref()
            .map_or(String::new(), |h| format!(", head {h}"))
    );
    Ok(())
}
