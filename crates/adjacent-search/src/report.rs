//! Finished searches compared (`adjacent report`): each run's best validation accuracy against
//! what it spent, what each delivered, and the compute `adjacent` needed to reach the other
//! strategies' final validation accuracy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use adjacent_core::bench::mean_std;
use serde::Deserialize;

use crate::error::SearchError;
use crate::output::TRIALS_FILE;
use crate::summary::Summary;

/// What the curves are drawn against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Compute in FLOPs (searches that record it).
    Flops,
    /// Training images (searches older than the cost model).
    Images,
}

/// The part of a line of `trials.jsonl` a report reads.
#[derive(Deserialize)]
struct Record {
    valid_acc: Option<f64>,
    #[serde(default)]
    images: u64,
    flops: Option<u64>,
}

/// A finished search.
pub struct Run {
    pub dir: PathBuf,
    pub summary: Summary,
    /// (compute or images so far, best validation accuracy so far) after each trial that improved
    /// it, and at the end the final model's when it improved it.
    steps: Vec<(f64, f64)>,
}

impl Run {
    /// Reads the search in `dir`: its summary and its trials.
    pub fn load(dir: &Path) -> Result<Run, SearchError> {
        let summary = Summary::read_for_report(dir)?;
        let path = dir.join(TRIALS_FILE);
        let text = std::fs::read_to_string(&path).map_err(SearchError::io(&path))?;
        let records = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str::<Record>(line).map_err(|e| {
                    SearchError::Refused(format!("{}, line {}: {e}", path.display(), i + 1))
                })
            })
            .collect::<Result<Vec<Record>, _>>()?;
        let axis = match summary.flops.is_some() && records.iter().all(|r| r.flops.is_some()) {
            true => Axis::Flops,
            false => Axis::Images,
        };
        let mut steps = Vec::new();
        let mut best = f64::NEG_INFINITY;
        let (mut images, mut flops) = (0u64, 0u64);
        for r in &records {
            images += r.images;
            flops += r.flops.unwrap_or(0);
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

    pub fn axis(&self) -> Axis {
        match self.summary.flops {
            Some(_) => Axis::Flops,
            None => Axis::Images,
        }
    }

    /// The run's whole spend on its axis.
    pub fn total(&self) -> f64 {
        match self.axis() {
            Axis::Flops => self.summary.flops.unwrap_or(0) as f64,
            Axis::Images => self.summary.images as f64,
        }
    }

    /// Best validation accuracy once `x` was spent (None before the first complete trial).
    pub fn best_at(&self, x: f64) -> Option<f64> {
        self.steps
            .iter()
            .take_while(|(i, _)| *i <= x)
            .last()
            .map(|s| s.1)
    }

    /// Spend when the best validation accuracy first reached `target`.
    pub fn spend_to_reach(&self, target: f64) -> Option<f64> {
        self.steps.iter().find(|s| s.1 >= target).map(|s| s.0)
    }
}

/// The axis of a report on `runs`: compute, unless no run records it; runs of both kinds are
/// refused.
pub fn axis_of(runs: &[Run]) -> Result<Axis, SearchError> {
    let flops = runs.iter().filter(|r| r.axis() == Axis::Flops).count();
    match flops {
        n if n == runs.len() => Ok(Axis::Flops),
        0 => Ok(Axis::Images),
        _ => Err(SearchError::Refused(
            "some runs record compute and some do not (older searches); report them separately"
                .into(),
        )),
    }
}

/// The runs of each strategy, by name.
pub fn by_strategy(runs: &[Run]) -> BTreeMap<&str, Vec<&Run>> {
    let mut by: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        by.entry(run.summary.strategy.as_str())
            .or_default()
            .push(run);
    }
    by
}

/// The median of `v`, if any.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
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

/// Mean and standard deviation of what `f` gives of `runs` (none when it gives nothing).
pub fn stat(runs: &[&Run], f: impl Fn(&Run) -> Option<f64>) -> Option<(f64, f64)> {
    let v: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
    (!v.is_empty()).then(|| mean_std(v))
}

/// What `adjacent` spent to reach a baseline's final validation accuracy.
pub struct Reach {
    /// The baseline's final validation accuracy (median over its runs).
    pub target: f64,
    /// The baseline's runs and their median spend.
    pub runs: usize,
    pub budget: f64,
    /// When each of `adjacent`'s runs reached the target (none: never).
    pub needed: Vec<Option<f64>>,
    /// The median of `needed` when most runs reached it (a run that never did counts as needing
    /// more than any that did).
    pub median: Option<f64>,
}

/// What `ours` spent to reach the final validation accuracy of `baseline`'s runs (none when they
/// have none).
pub fn reach(ours: &[&Run], baseline: &[&Run]) -> Option<Reach> {
    let target = median(
        baseline
            .iter()
            .filter_map(|r| r.summary.delivered_valid())
            .collect(),
    )?;
    let budget = median(baseline.iter().map(|r| r.total()).collect()).unwrap_or(f64::NAN);
    let needed: Vec<Option<f64>> = ours.iter().map(|r| r.spend_to_reach(target)).collect();
    let reached = needed.iter().flatten().count();
    let median = match reached * 2 > needed.len() {
        true => median(needed.iter().map(|n| n.unwrap_or(f64::INFINITY)).collect())
            .filter(|m| m.is_finite()),
        false => None,
    };
    Some(Reach {
        target,
        runs: baseline.len(),
        budget,
        needed,
        median,
    })
}

/// One strategy's best validation accuracy over a grid of spends: mean and standard deviation over
/// its runs, at the points of `grid` where every run has a model.
pub fn curve(runs: &[&Run], grid: &[f64]) -> Vec<(f64, f64, f64)> {
    grid.iter()
        .filter_map(|&g| {
            let v: Option<Vec<f64>> = runs.iter().map(|r| r.best_at(g)).collect();
            v.map(|v| {
                let (m, s) = mean_std(v);
                (g, m, s)
            })
        })
        .collect()
}
