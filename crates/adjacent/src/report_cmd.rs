//! `adjacent report`: compares finished searches: best validation accuracy against compute (a plot,
//! mean and band per strategy), a table of what each run delivered (its final model), and the
//! compute `adjacent` needed to reach the other strategies' final validation accuracy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use adjacent_core::bench::mean_std;
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;

use crate::plot;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Output folders of `adjacent search` runs.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Write the plot of best validation accuracy against compute here (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Points of each curve.
    #[arg(long, default_value_t = 200)]
    pub points: usize,
}

#[derive(Deserialize)]
struct Summary {
    strategy: String,
    seed: u64,
    /// The final model's validation accuracy (absent in searches without a final phase's fields).
    #[serde(default)]
    valid_acc: Option<f64>,
    test_acc: Option<f64>,
    #[serde(default)]
    params: Option<u64>,
    #[serde(default)]
    best_params: Option<u64>,
    best_valid_acc: Option<f64>,
    trials: usize,
    images: usize,
    #[serde(default)]
    flops: Option<u64>,
    seconds: f64,
}

impl Summary {
    /// Validation accuracy of what the user receives.
    fn delivered_valid(&self) -> Option<f64> {
        self.valid_acc.or(self.best_valid_acc)
    }

    fn delivered_params(&self) -> Option<u64> {
        self.params.or(self.best_params)
    }
}

/// A line of trials.jsonl: a trial record (its own images and compute), or, from searches before
/// studies, a record with running totals.
#[derive(Deserialize)]
struct Record {
    valid_acc: Option<f64>,
    #[serde(default)]
    images: Option<u64>,
    #[serde(default)]
    flops: Option<u64>,
    #[serde(default)]
    images_total: Option<u64>,
    #[serde(default)]
    flops_total: Option<u64>,
}

/// What the curves are drawn against.
#[derive(Clone, Copy, PartialEq)]
enum Axis {
    /// Compute in FLOPs (searches that record it).
    Flops,
    /// Training images (older searches).
    Images,
}

struct Run {
    dir: PathBuf,
    summary: Summary,
    /// (compute or images so far, best validation accuracy so far) after each trial that improved
    /// it, and at the end the final model's when it improved it.
    steps: Vec<(f64, f64)>,
}

impl Run {
    fn load(dir: &Path) -> Result<Run> {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let summary: Summary =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        let path = dir.join("trials.jsonl");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let records = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str::<Record>(line)
                    .with_context(|| format!("{}, line {}", path.display(), i + 1))
            })
            .collect::<Result<Vec<Record>>>()?;
        let has_flops = records
            .iter()
            .all(|r| r.flops_total.is_some() || r.flops.is_some());
        let axis = match summary.flops.is_some() && has_flops {
            true => Axis::Flops,
            false => Axis::Images,
        };
        let mut steps = Vec::new();
        let mut best = f64::NEG_INFINITY;
        let (mut images, mut flops) = (0u64, 0u64);
        for r in &records {
            images = r.images_total.unwrap_or(images + r.images.unwrap_or(0));
            flops = r.flops_total.unwrap_or(flops + r.flops.unwrap_or(0));
            if let Some(acc) = r.valid_acc.filter(|&a| a > best) {
                best = acc;
                let x = match axis {
                    Axis::Flops => flops as f64,
                    Axis::Images => images as f64,
                };
                steps.push((x, acc));
            }
        }
        if let (Axis::Flops, Some(valid), Some(flops)) = (axis, summary.valid_acc, summary.flops)
            && valid > best
        {
            steps.push((flops as f64, valid));
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            summary,
            steps,
        })
    }

    fn axis(&self) -> Axis {
        match self.summary.flops {
            Some(_) => Axis::Flops,
            None => Axis::Images,
        }
    }

    /// The run's whole spend on the axis.
    fn total(&self) -> f64 {
        match self.axis() {
            Axis::Flops => self.summary.flops.unwrap_or(0) as f64,
            Axis::Images => self.summary.images as f64,
        }
    }

    /// Best validation accuracy once `x` was spent (None before the first complete trial).
    fn best_at(&self, x: f64) -> Option<f64> {
        self.steps
            .iter()
            .take_while(|(i, _)| *i <= x)
            .last()
            .map(|s| s.1)
    }

    /// Spend when the best validation accuracy first reached `target`.
    fn spend_to_reach(&self, target: f64) -> Option<f64> {
        self.steps.iter().find(|s| s.1 >= target).map(|s| s.0)
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(match n % 2 {
        1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    })
}

pub fn run(args: ReportArgs) -> Result<()> {
    if let Some(path) = &args.plot {
        plot::check_path(path)?;
    }
    if args.points < 2 {
        bail!("invalid setting --points: must be at least 2");
    }
    let runs = args
        .runs
        .iter()
        .map(|d| Run::load(d))
        .collect::<Result<Vec<_>>>()?;
    let axis = match runs.iter().all(|r| r.axis() == Axis::Flops) {
        true => Axis::Flops,
        false => Axis::Images,
    };
    if axis == Axis::Images && runs.iter().any(|r| r.axis() == Axis::Flops) {
        bail!("some runs record compute and some do not (older searches); report them separately");
    }
    let (unit, scale) = match axis {
        Axis::Flops => ("TFLOPs", 1e12),
        Axis::Images => ("images", 1.0),
    };
    let fmt_spend = |x: f64| match axis {
        Axis::Flops => format!("{:.3}", x / scale),
        Axis::Images => format!("{x:.0}"),
    };
    let mut by_strategy: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for run in &runs {
        by_strategy
            .entry(run.summary.strategy.as_str())
            .or_default()
            .push(run);
    }

    let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    println!(
        "| run | strategy | seed | trials | {unit} | search's best valid (%) | final valid (%) | test (%) | params | wall time (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let s = &r.summary;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            r.dir.display(),
            s.strategy,
            s.seed,
            s.trials,
            fmt_spend(r.total()),
            f(s.best_valid_acc),
            f(s.delivered_valid()),
            f(s.test_acc),
            s.delivered_params().map_or("-".into(), |p| p.to_string()),
            s.seconds
        );
    }
    println!();
    println!(
        "| strategy | runs | test (%) | final valid (%) | search's best valid (%) | params | {unit} | wall time (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (strategy, list) in &by_strategy {
        let stat = |f: &dyn Fn(&Run) -> Option<f64>, decimals: usize| {
            let v: Vec<f64> = list.iter().filter_map(|r| f(r)).collect();
            match v.is_empty() {
                true => "-".to_string(),
                false => {
                    let (m, s) = mean_std(v);
                    format!("{m:.decimals$} +- {s:.decimals$}")
                }
            }
        };
        let spend_decimals = match axis {
            Axis::Flops => 3,
            Axis::Images => 0,
        };
        println!(
            "| {strategy} | {} | {} | {} | {} | {} | {} | {} |",
            list.len(),
            stat(&|r| r.summary.test_acc, 2),
            stat(&|r| r.summary.delivered_valid(), 2),
            stat(&|r| r.summary.best_valid_acc, 2),
            stat(&|r| r.summary.delivered_params().map(|p| p as f64), 0),
            stat(&|r| Some(r.total() / scale), spend_decimals),
            stat(&|r| Some(r.summary.seconds), 0),
        );
    }

    // What `adjacent` spent to reach each other strategy's final validation accuracy (median
    // over seeds).
    if let Some(ours) = by_strategy.get("adjacent") {
        for (baseline, list) in by_strategy.iter().filter(|(k, _)| **k != "adjacent") {
            let Some(target) = median(
                list.iter()
                    .filter_map(|r| r.summary.delivered_valid())
                    .collect(),
            ) else {
                continue;
            };
            let budget = median(list.iter().map(|r| r.total()).collect()).unwrap_or(f64::NAN);
            let needed: Vec<Option<f64>> = ours.iter().map(|r| r.spend_to_reach(target)).collect();
            let reached = needed.iter().flatten().count();
            // A seed that never reached the target counts as needing more than any that did.
            let median_needed = match reached * 2 > needed.len() {
                true => median(needed.iter().map(|n| n.unwrap_or(f64::INFINITY)).collect()),
                false => None,
            };
            println!();
            println!(
                "{baseline}: final validation accuracy {target:.2}% (median of {} runs, {} {unit} each); adjacent's runs reached it at: {} {unit}; median {}",
                list.len(),
                fmt_spend(budget),
                needed
                    .iter()
                    .map(|n| n.map_or("never".into(), fmt_spend))
                    .collect::<Vec<_>>()
                    .join(", "),
                match median_needed {
                    Some(m) if m.is_finite() => format!(
                        "{} {unit} = {:.3} of the baseline's",
                        fmt_spend(m),
                        m / budget
                    ),
                    _ => "not reached by most seeds".into(),
                }
            );
        }
    }

    if let Some(path) = &args.plot {
        let max = runs.iter().map(Run::total).fold(1.0, f64::max);
        let grid: Vec<f64> = (1..=args.points)
            .map(|i| max * i as f64 / args.points as f64)
            .collect();
        let mut series = Vec::new();
        for (strategy, list) in &by_strategy {
            let (mut x, mut mean, mut std) = (Vec::new(), Vec::new(), Vec::new());
            for &g in &grid {
                // A point only where every run of the strategy has a model.
                let v: Option<Vec<f64>> = list.iter().map(|r| r.best_at(g)).collect();
                if let Some(v) = v {
                    let (m, s) = mean_std(v);
                    x.push(g / scale);
                    mean.push(m);
                    std.push(s);
                }
            }
            series.push(plot::Series {
                label: format!("{strategy} ({} runs)", list.len()),
                x,
                mean,
                std,
            });
        }
        plot::curves(
            path,
            "Best validation accuracy against compute (mean +- std over seeds; the final model included)",
            match axis {
                Axis::Flops => "compute (TFLOPs, training and validation)",
                Axis::Images => "training images",
            },
            "best validation accuracy (%)",
            &series,
        )?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}
