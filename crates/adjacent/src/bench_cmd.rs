//! `adjacent bench`: strategies on a tabular benchmark.

use std::path::{Path, PathBuf};
use std::time::Instant;

use adjacent_core::bench::{self, StrategySummary};
use adjacent_core::spaces::nb201::Nb201Space;
use adjacent_core::tabular;
use adjacent_core::{CoreError, StrategyKind};
use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::plot;
use adjacent_search::output::write_json;

/// The NAS-Bench-201 CIFAR-10 table shipped with adjacent (MIT; see data/README.md).
const BUILTIN_TABLE: &[u8] = include_bytes!("../../../data/nb201_cifar10.csv.gz");
const BUILTIN_TABLE_NAME: &str = "built-in table data/nb201_cifar10.csv.gz";

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Benchmark table (CSV, optionally gzipped): a column `arch` and, per data set D,
    /// `D_valid_acc_12ep` and `D_test_acc_200ep`. Default: the built-in NAS-Bench-201 CIFAR-10 table.
    #[arg(long)]
    table: Option<PathBuf>,
    /// Data set of the table to search on.
    #[arg(long, default_value = "cifar10")]
    dataset: String,
    /// Strategy to run: random, evolution, local, lineage, or all (asha and adjacent plan in
    /// training images and run with `adjacent search`).
    #[arg(long, default_value = "all")]
    strategy: String,
    /// Queries (table look-ups) per run.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Independent runs per strategy.
    #[arg(long, default_value_t = 500)]
    runs: usize,
    /// Seed; run r of every strategy is seeded from (seed, r).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
    /// Plot best-so-far judged accuracy against queries (mean and a one-std band) to this SVG file.
    #[arg(long, value_name = "OUT.svg")]
    plot: Option<PathBuf>,
}

/// The strategies named by `--strategy`.
fn strategies(name: &str) -> Result<Vec<StrategyKind>> {
    if name == "all" {
        return Ok(StrategyKind::TABULAR.to_vec());
    }
    let valid = || StrategyKind::TABULAR.map(StrategyKind::name).join(", ");
    match name.parse::<StrategyKind>() {
        Ok(kind) if StrategyKind::TABULAR.contains(&kind) => Ok(vec![kind]),
        Ok(kind) => Err(anyhow::anyhow!(
            "strategy {kind} plans in training images and does not run on a table; valid strategies: {}, all",
            valid()
        )),
        Err(CoreError::UnknownStrategy { name, .. }) => Err(anyhow::anyhow!(
            "unknown strategy {name:?}; valid strategies: {}, all",
            valid()
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    dataset: &'a str,
    queries: usize,
    runs: usize,
    seed: u64,
    table: String,
    optimum: f64,
    results: Vec<JsonResult>,
}

#[derive(Serialize)]
struct JsonResult {
    strategy: String,
    mean: f64,
    std: f64,
    mean_queries_to_best: f64,
    mean_distinct_cells: f64,
    seconds: f64,
    curve_mean: Vec<f64>,
    curve_std: Vec<f64>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let started = Instant::now();
    let kinds = strategies(&args.strategy)?;
    if let Some(plot) = &args.plot {
        plot::check_path(plot)?;
    }
    let (evaluator, judge, table_name) = match &args.table {
        Some(path) => {
            let (e, j) = tabular::load(path, &args.dataset)?;
            (e, j, path.display().to_string())
        }
        None => {
            let (e, j) =
                tabular::from_reader(BUILTIN_TABLE, Path::new(BUILTIN_TABLE_NAME), &args.dataset)?;
            (e, j, BUILTIN_TABLE_NAME.to_string())
        }
    };
    let space = Nb201Space::default();
    bench::check_budget(&space, args.queries, args.runs)?;

    let progress = ProgressBar::new((args.runs * kinds.len()) as u64);
    progress.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} runs ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut summaries: Vec<(StrategySummary, f64)> = Vec::new();
    for kind in kinds {
        progress.set_message(kind.name());
        let t = Instant::now();
        let setup = bench::BenchSetup {
            space: &space,
            evaluator: &evaluator,
            judge: &judge,
            queries: args.queries,
            runs: args.runs,
            seed: args.seed,
        };
        let summary = bench::bench(setup, kind, &|| progress.inc(1))?;
        summaries.push((summary, t.elapsed().as_secs_f64()));
    }
    progress.finish_and_clear();
    print_table(&args, &table_name, judge.optimum(), &summaries);
    if let Some(path) = &args.json {
        write_report(path, &args, table_name, judge.optimum(), &summaries)?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "NAS-Bench-201 {}: best-so-far test accuracy ({} runs)",
            args.dataset, args.runs
        );
        let series: Vec<plot::Series> = summaries
            .iter()
            .map(|(s, _)| {
                plot::Series::counted(
                    s.strategy.clone(),
                    s.curve_mean.clone(),
                    s.curve_std.clone(),
                )
            })
            .collect();
        plot::curves(path, &title, "queries", "test accuracy (%)", &series)?;
    }
    eprintln!("done in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Each strategy's judged accuracy, with how long it took.
fn print_table(
    args: &BenchArgs,
    table_name: &str,
    optimum: f64,
    summaries: &[(StrategySummary, f64)],
) {
    println!(
        "NAS-Bench-201 {}: {} queries, {} runs, seed {} ({table_name}; optimum {optimum:.2})",
        args.dataset, args.queries, args.runs, args.seed,
    );
    println!(
        "{:<10} {:>8} {:>6} {:>16} {:>9} {:>8}",
        "strategy", "mean", "std", "queries-to-best", "distinct", "seconds"
    );
    for (s, secs) in summaries {
        println!(
            "{:<10} {:>8.3} {:>6.3} {:>16.1} {:>9.1} {:>8.3}",
            s.strategy, s.mean, s.std, s.mean_queries_to_best, s.mean_distinct_cells, secs
        );
    }
    println!(
        "mean, std: 200-epoch test accuracy (%) of each run's best-validation cell; \
         queries-to-best: mean query that found it; distinct: distinct cells queried"
    );
}

/// `--json`: the comparison as a file.
fn write_report(
    path: &Path,
    args: &BenchArgs,
    table: String,
    optimum: f64,
    summaries: &[(StrategySummary, f64)],
) -> Result<()> {
    let report = JsonReport {
        dataset: &args.dataset,
        queries: args.queries,
        runs: args.runs,
        seed: args.seed,
        table,
        optimum,
        results: summaries
            .iter()
            .map(|(s, secs)| JsonResult {
                strategy: s.strategy.clone(),
                mean: s.mean,
                std: s.std,
                mean_queries_to_best: s.mean_queries_to_best,
                mean_distinct_cells: s.mean_distinct_cells,
                seconds: *secs,
                curve_mean: s.curve_mean.clone(),
                curve_std: s.curve_std.clone(),
            })
            .collect(),
    };
    Ok(write_json(path, &report)?)
}
