//! `adjacent report`: compares finished searches: best validation accuracy against training images
//! (a plot, mean and band per strategy), a table of each run's winner, and how many images
//! `adjacent` needed to reach the final best of the baselines.

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
    /// Write the plot of best validation accuracy against training images here (SVG).
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
    best_valid_acc: Option<f64>,
    test_acc: Option<f64>,
    best_params: Option<u64>,
    trials: usize,
    images: usize,
    seconds: f64,
}

#[derive(Deserialize)]
struct Record {
    valid_acc: Option<f64>,
    images_total: usize,
}

struct Run {
    dir: PathBuf,
    summary: Summary,
    /// (images so far, best validation accuracy so far) after each trial that improved it.
    steps: Vec<(usize, f64)>,
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
        let mut steps = Vec::new();
        let mut best = f64::NEG_INFINITY;
        for (i, line) in text.lines().enumerate() {
            let r: Record = serde_json::from_str(line)
                .with_context(|| format!("{}, line {}", path.display(), i + 1))?;
            if let Some(acc) = r.valid_acc.filter(|&a| a > best) {
                best = acc;
                steps.push((r.images_total, acc));
            }
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            summary,
            steps,
        })
    }

    /// Best validation accuracy once `images` training images were spent (None before the first
    /// complete trial).
    fn best_at(&self, images: f64) -> Option<f64> {
        self.steps
            .iter()
            .take_while(|(i, _)| *i as f64 <= images)
            .last()
            .map(|s| s.1)
    }

    /// Training images spent when the best validation accuracy first reached `target`.
    fn images_to_reach(&self, target: f64) -> Option<usize> {
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
    let mut by_strategy: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for run in &runs {
        by_strategy
            .entry(run.summary.strategy.as_str())
            .or_default()
            .push(run);
    }

    println!(
        "| run | strategy | seed | trials | images | best valid (%) | test (%) | params | wall time (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let s = &r.summary;
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            r.dir.display(),
            s.strategy,
            s.seed,
            s.trials,
            s.images,
            f(s.best_valid_acc),
            f(s.test_acc),
            s.best_params.map_or("-".into(), |p| p.to_string()),
            s.seconds
        );
    }
    println!();
    println!("| strategy | runs | best valid (%) | test (%) | params | wall time (s) |");
    println!("|---|---|---|---|---|---|");
    for (strategy, list) in &by_strategy {
        let stat = |f: &dyn Fn(&Summary) -> Option<f64>, decimals: usize| {
            let v: Vec<f64> = list.iter().filter_map(|r| f(&r.summary)).collect();
            match v.is_empty() {
                true => "-".to_string(),
                false => {
                    let (m, s) = mean_std(v);
                    format!("{m:.decimals$} +- {s:.decimals$}")
                }
            }
        };
        println!(
            "| {strategy} | {} | {} | {} | {} | {} |",
            list.len(),
            stat(&|s| s.best_valid_acc, 2),
            stat(&|s| s.test_acc, 2),
            stat(&|s| s.best_params.map(|p| p as f64), 0),
            stat(&|s| Some(s.seconds), 0),
        );
    }

    // Images `adjacent` needs to reach each baseline's final best (median over seeds).
    if let Some(ours) = by_strategy.get("adjacent") {
        for (baseline, list) in by_strategy.iter().filter(|(k, _)| **k != "adjacent") {
            let Some(target) = median(
                list.iter()
                    .filter_map(|r| r.summary.best_valid_acc)
                    .collect(),
            ) else {
                continue;
            };
            let budget =
                median(list.iter().map(|r| r.summary.images as f64).collect()).unwrap_or(f64::NAN);
            let needed: Vec<Option<usize>> =
                ours.iter().map(|r| r.images_to_reach(target)).collect();
            let reached: Vec<f64> = needed.iter().flatten().map(|&i| i as f64).collect();
            // A seed that never reached the target counts as needing more than any that did.
            let median_needed = match reached.len() * 2 > needed.len() {
                true => {
                    let mut all: Vec<f64> = needed
                        .iter()
                        .map(|n| n.map_or(f64::INFINITY, |i| i as f64))
                        .collect();
                    all.sort_by(f64::total_cmp);
                    median(all)
                }
                false => None,
            };
            println!();
            println!(
                "{baseline}: final best validation accuracy {target:.2}% (median of {} runs, {budget:.0} images each); adjacent reached it after {} images per seed; median {}",
                list.len(),
                needed
                    .iter()
                    .map(|n| n.map_or("never".into(), |i| i.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
                match median_needed {
                    Some(m) if m.is_finite() =>
                        format!("{m:.0} images = {:.3} of the baseline's", m / budget),
                    _ => "not reached by most seeds".into(),
                }
            );
        }
    }

    if let Some(path) = &args.plot {
        let max_images = runs.iter().map(|r| r.summary.images).max().unwrap_or(1) as f64;
        let grid: Vec<f64> = (1..=args.points)
            .map(|i| max_images * i as f64 / args.points as f64)
            .collect();
        let mut series = Vec::new();
        for (strategy, list) in &by_strategy {
            let (mut x, mut mean, mut std) = (Vec::new(), Vec::new(), Vec::new());
            for &g in &grid {
                // A point only where every run of the strategy has a complete trial.
                let v: Option<Vec<f64>> = list.iter().map(|r| r.best_at(g)).collect();
                if let Some(v) = v {
                    let (m, s) = mean_std(v);
                    x.push(g);
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
            "Best validation accuracy against training images (mean +- std over seeds)",
            "training images",
            "best validation accuracy (%)",
            &series,
        )?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}
