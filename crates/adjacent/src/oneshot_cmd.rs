//! `adjacent oneshot`: one-shot search over the NAS-Bench-201 cell space (DARTS, GDAS, SPOS,
//! RSWS, ENAS), the cell it returns judged by the table when one is given.

use std::io::Write;
use std::path::{Path, PathBuf};

use adjacent_core::spaces::nb201;
use adjacent_core::tabular::{self, Judge, TabularEvaluator};
use adjacent_nn::train::Devices;
use adjacent_oneshot::{
    self as oneshot, Context as SearchContext, EpochRecord, MethodKind, OneShotConfig,
};
use adjacent_search::output::{folder_in_use, write_json};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

use crate::data_args::DataArgs;

#[derive(Args, Debug)]
pub struct OneShotArgs {
    /// darts, darts2 (second order), darts-pt (the remedy for DARTS's collapse onto skip
    /// connections: a uniformly weighted supernet, then each edge keeps the operation whose
    /// removal costs the most accuracy), gdas (Gumbel sampling), spos, rsws or enas.
    #[arg(long)]
    pub method: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// Search on a stratified, seeded subset of this many training images (halved: one half
    /// trains the weights, the other the architecture).
    #[arg(long)]
    pub subset: Option<usize>,
    /// Width of the supernet's first stage (C).
    #[arg(long, default_value_t = 16)]
    pub channels: usize,
    /// Cells per stage (N).
    #[arg(long, default_value_t = 5)]
    pub cells: usize,
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// The weights' peak learning rate (SGD, cosine to 0.001).
    #[arg(long, default_value_t = 0.025)]
    pub lr: f64,
    /// The architecture weights' learning rate (Adam; DARTS and GDAS).
    #[arg(long, default_value_t = 3e-4)]
    pub arch_lr: f64,
    /// Candidates SPOS and RSWS score on the trained supernet.
    #[arg(long, default_value_t = 100)]
    pub candidates: usize,
    /// Images of the architecture half that score a candidate (SPOS, RSWS) or an operation's
    /// removal (DARTS-PT).
    #[arg(long, default_value_t = 1000)]
    pub score_images: usize,
    /// DARTS-PT: epochs of fine-tuning after each edge is decided (none after the last; they
    /// come on top of --epochs).
    #[arg(long, default_value_t = 1)]
    pub tune_epochs: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A NAS-Bench-201 table (CSV, plain or gzipped) that judges the returned cell.
    #[arg(long, requires = "dataset")]
    pub table: Option<PathBuf>,
    /// The table's data set (e.g. cifar10-valid).
    #[arg(long, requires = "table")]
    pub dataset: Option<String>,
    /// Output folder: history.jsonl, arch.json, supernet.safetensors, result.json.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Serialize)]
struct OneShotOutput<'a> {
    method: &'a str,
    /// The returned cell.
    arch: String,
    seconds: f64,
    /// The table's 12-epoch validation and 200-epoch test accuracy of the cell, with --table.
    table_valid_acc: Option<f64>,
    table_test_acc: Option<f64>,
    /// The process's peak resident memory, and the estimate the run was allowed on.
    peak_memory_bytes: Option<u64>,
    memory_estimate_bytes: u64,
    data: &'a str,
    weights_images: usize,
    arch_images: usize,
    resolution: [usize; 3],
    config: &'a OneShotConfig,
}

/// A `/proc` field in kB, as bytes (Linux).
fn proc_kb(file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

pub fn run(args: OneShotArgs) -> Result<()> {
    let config = config(&args)?;
    let method = config.method;
    // The table first: a wrong path or data set should fail before any training.
    let judge = match (&args.table, &args.dataset) {
        (Some(path), Some(dataset)) => Some(
            tabular::load(path, dataset)
                .with_context(|| format!("--table {} --dataset {dataset}", path.display()))?,
        ),
        _ => None,
    };
    if folder_in_use(&args.out)? {
        bail!(
            "{} already exists and is not empty; choose another --out",
            args.out.display()
        );
    }
    let data = args.data.load()?;
    let (weights_set, arch_set) = adjacent_data::split(&data, args.subset, 0.5, args.seed)?;
    let arch_set = arch_set.expect("half of the images");
    let resolution = [weights_set.channels, weights_set.height, weights_set.width];
    let estimate = check_memory(&config, resolution)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if let (Some(_), Some(dataset)) = (&judge, &args.dataset) {
        let benchmark = [3, 32, 32];
        if (config.channels, config.cells) != (16, 5) || resolution != benchmark {
            eprintln!(
                "note: the table judges the returned cell in the benchmark's network (C=16, N=5, trained on {dataset} at 3x32x32); this search runs C={}, N={} on {}x{}x{} images",
                config.channels, config.cells, resolution[0], resolution[1], resolution[2]
            );
        }
    }
    let norm = adjacent_data::Normalization::of(&weights_set);
    let devices = Devices::new(adjacent_nn::Device::flex());
    let [c, h, w] = resolution;
    eprintln!(
        "oneshot {}: supernet C={} N={} on {} images for the weights and {} for the architecture ({c}x{h}x{w}), {} epochs, batch {}, about {:.1} GiB",
        method.name(),
        config.channels,
        config.cells,
        weights_set.len(),
        arch_set.len(),
        config.epochs,
        config.batch,
        gib(estimate)
    );
    let ctx = SearchContext {
        weights_set: &weights_set,
        arch_set: &arch_set,
        norm: &norm,
        devices: &devices,
        config: &config,
    };
    let result = search_with_history(&ctx, &args.out.join("history.jsonl"))?;
    let output = OneShotOutput {
        method: method.name(),
        arch: result.cell.to_string(),
        seconds: result.seconds,
        table_valid_acc: None,
        table_test_acc: None,
        peak_memory_bytes: proc_kb("/proc/self/status", "VmHWM:"),
        memory_estimate_bytes: estimate,
        data: &data.source,
        weights_images: weights_set.len(),
        arch_images: arch_set.len(),
        resolution,
        config: &config,
    };
    write_outputs(
        &args.out,
        &result,
        output,
        judge.as_ref(),
        weights_set.classes(),
    )
}

/// The search the flags ask for, checked.
fn config(args: &OneShotArgs) -> Result<OneShotConfig> {
    let config = OneShotConfig {
        method: MethodKind::from_name(&args.method)?,
        channels: args.channels,
        cells: args.cells,
        epochs: args.epochs,
        batch: args.batch,
        seed: args.seed,
        lr: args.lr,
        min_lr: 0.001f64.min(args.lr),
        arch_lr: args.arch_lr,
        candidates: args.candidates,
        score_images: args.score_images,
        tune_epochs: args.tune_epochs,
        ..OneShotConfig::default()
    };
    config.validate()?;
    Ok(config)
}

/// The supernet's estimated memory, refused when the machine has less available.
fn check_memory(config: &OneShotConfig, resolution: [usize; 3]) -> Result<u64> {
    let estimate = oneshot::supernet::memory_estimate(
        config.method,
        config.channels,
        config.cells,
        config.batch,
        resolution,
    );
    if let Some(available) = proc_kb("/proc/meminfo", "MemAvailable:")
        && estimate > available
    {
        bail!(
            "the {} supernet (C={}, N={}, batch {}, {}x{}x{}) needs about {:.1} GiB; this machine has {:.1} GiB available: lower --batch, --channels or --cells",
            config.method.name(),
            config.channels,
            config.cells,
            config.batch,
            resolution[0],
            resolution[1],
            resolution[2],
            gib(estimate),
            gib(available)
        );
    }
    Ok(estimate)
}

/// Runs the search, a line of progress and of `history` (JSON lines) per epoch.
fn search_with_history(ctx: &SearchContext, history_path: &Path) -> Result<oneshot::OneShotResult> {
    let mut history = std::fs::File::create(history_path)
        .with_context(|| format!("cannot create {}", history_path.display()))?;
    let mut write_error = None;
    let epochs = ctx.config.epochs;
    let result = oneshot::search(
        ctx,
        ctx.weights_set.channels,
        ctx.weights_set.classes(),
        &mut |record| {
            eprintln!("{}", epoch_line(record, epochs));
            let line = serde_json::to_string(record).expect("a record serializes");
            if let Err(e) = writeln!(history, "{line}") {
                write_error.get_or_insert(e);
            }
        },
    )?;
    match write_error {
        Some(e) => Err(e).with_context(|| format!("cannot write {}", history_path.display())),
        None => Ok(result),
    }
}

/// Writes the returned cell's network, the supernet and `result.json` (with the table's scores of
/// the cell when there is a table), and says what was found.
fn write_outputs(
    out: &Path,
    result: &oneshot::OneShotResult,
    mut output: OneShotOutput,
    judge: Option<&(TabularEvaluator, Judge)>,
    classes: usize,
) -> Result<()> {
    let config = output.config;
    let [channels, ..] = output.resolution;
    let arch = oneshot::Supernet::arch_for(
        result.cell,
        config.channels,
        config.cells,
        channels,
        classes,
    );
    write_json(&out.join("arch.json"), &arch)?;
    save_supernet(&out.join("supernet.safetensors"), &result.supernet)?;
    if let Some((evaluator, judge)) = judge {
        output.table_valid_acc = evaluator.query(&result.cell).valid_acc;
        output.table_test_acc = Some(judge.test_acc(&result.cell));
    }
    write_json(&out.join("result.json"), &output)?;
    let cell = &output.arch;
    println!("cell: {cell}");
    if let (Some(valid), Some(test)) = (output.table_valid_acc, output.table_test_acc) {
        println!("table: {valid:.2}% validation (12 epochs), {test:.2}% test (200 epochs)");
    }
    println!(
        "{:.0} s; train it: adjacent train --arch '{cell}' --channels {} --cells {} --out DIR",
        result.seconds, config.channels, config.cells
    );
    Ok(())
}

/// One epoch's progress line: losses, the current cell and the share of each operation; or, for
/// a DARTS-PT decision, the accuracy without each operation and the one kept.
fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    if let Some(d) = &r.decision {
        let without: Vec<String> = oneshot::OPS
            .iter()
            .zip(d.accuracy_without)
            .map(|(op, acc)| format!("{} {acc:.2}%", op.name()))
            .collect();
        let mut line = format!(
            "edge {}/{} (edge {}): accuracy without {}: keeps {}",
            r.epoch - epochs,
            nb201::EDGE_COUNT,
            d.edge,
            without.join(", "),
            d.kept
        );
        if let Some(loss) = r.train_loss {
            line += &format!(", tuned: train loss {loss:.4}");
        }
        return line + &format!(", {:.1} s", r.seconds);
    }
    let mut line = format!("epoch {}/{epochs}:", r.epoch);
    if let Some(loss) = r.train_loss {
        line += &format!(" train loss {loss:.4}");
    }
    if let Some(loss) = r.arch_loss {
        line += &format!(", arch loss {loss:.4}");
    }
    if let Some(reward) = r.reward {
        line += &format!(", reward {reward:.1}%");
    }
    if let Some(tau) = r.tau {
        line += &format!(", tau {tau:.2}");
    }
    if let Some(cell) = &r.cell {
        line += &format!(", cell {cell}");
    }
    if let Some(shares) = &r.op_share {
        let shares: Vec<String> = shares
            .iter()
            .map(|(op, s)| format!("{op} {:.1}%", 100.0 * s))
            .collect();
        line += &format!(" ({})", shares.join(", "));
    }
    line + &format!(", {:.1} s", r.seconds)
}

fn save_supernet(path: &Path, net: &oneshot::Supernet) -> Result<()> {
    adjacent_nn::checkpoint::save_module(path, net)
        .with_context(|| format!("cannot write {}", path.display()))
}
