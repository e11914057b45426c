//! The tabular benchmark harness: runs strategies on a NAS-Bench-201 table and judges each run by the
//! test accuracy of the queried cell with the best validation accuracy.

use rayon::prelude::*;

use crate::budget::Stop;
use crate::error::CoreError;
use crate::space::SearchSpace;
use crate::spaces::nb201::Nb201Space;
use crate::strategy::{Strategy, StrategyKind, derive_seed};
use crate::study::{MakeStrategy, MemoryStorage, Storage, Study};
use crate::tabular::{Judge, TabularEvaluator};

/// One run of one strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// Test accuracy of the queried cell with the best validation accuracy (the first such, on a tie).
    pub judged: f64,
    /// That cell's validation accuracy.
    pub best_valid: f64,
    /// The query (counting from 1) that found that cell.
    pub queries_to_best: usize,
    /// After each query, the judged accuracy of the run so far.
    pub curve: Vec<f64>,
    /// Distinct canonical cells among the queries.
    pub distinct_cells: usize,
}

/// Runs the strategy `make` builds for `queries` queries against the table, through a study in
/// memory (the loop every search runs).
pub fn run_once(
    space: &Nb201Space,
    make: MakeStrategy<'_, Nb201Space>,
    evaluator: &TabularEvaluator,
    judge: &Judge,
    queries: usize,
) -> Result<RunResult, CoreError> {
    let mut storage = MemoryStorage::default();
    Study::new(
        space,
        make,
        evaluator,
        Stop::Trials(queries as u64),
        "bench",
    )?
    .run(&mut storage, &mut |_| {})?;
    let history = storage.history()?;
    let mut best: Option<(f64, f64, usize)> = None;
    let mut curve = Vec::with_capacity(queries);
    let mut keys = std::collections::HashSet::new();
    for (q, stored) in history.iter().enumerate() {
        let trial = &stored.trial;
        keys.insert(space.key(&trial.genotype));
        if let Some(valid) = trial.valid_acc()
            && best.is_none_or(|(v, _, _)| valid > v)
        {
            best = Some((valid, judge.test_acc(&trial.genotype), q + 1));
        }
        curve.push(best.map_or(f64::NAN, |b| b.1));
    }
    let (best_valid, judged, queries_to_best) = best.ok_or_else(|| CoreError::InvalidSetting {
        field: "queries".into(),
        reason: "must be at least 1".into(),
    })?;
    Ok(RunResult {
        judged,
        best_valid,
        queries_to_best,
        curve,
        distinct_cells: keys.len(),
    })
}

/// Many runs of one strategy, summarized.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategySummary {
    pub strategy: String,
    /// Mean and standard deviation (population, ddof = 0) of the judged accuracy over runs.
    pub mean: f64,
    pub std: f64,
    /// Mean, over runs, of the query that found the run's final best cell.
    pub mean_queries_to_best: f64,
    /// Mean over runs of the distinct canonical cells queried.
    pub mean_distinct_cells: f64,
    /// After each query: mean and standard deviation of the judged accuracy so far.
    pub curve_mean: Vec<f64>,
    pub curve_std: Vec<f64>,
    pub runs: Vec<RunResult>,
}

/// Mean and population standard deviation.
pub fn mean_std(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.into_iter().collect();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Checks a benchmark's query and run counts against the space.
pub fn check_budget(space: &Nb201Space, queries: usize, runs: usize) -> Result<(), CoreError> {
    if queries == 0 {
        return Err(CoreError::InvalidSetting {
            field: "queries".into(),
            reason: "must be at least 1".into(),
        });
    }
    if runs == 0 {
        return Err(CoreError::InvalidSetting {
            field: "runs".into(),
            reason: "must be at least 1".into(),
        });
    }
    let available = space
        .distinct_keys()
        .expect("the NAS-Bench-201 space is finite");
    if queries > available {
        return Err(CoreError::BudgetTooLarge {
            requested: queries,
            available,
        });
    }
    Ok(())
}

/// What a benchmark runs: the table, the budget and the seeds.
#[derive(Debug, Clone, Copy)]
pub struct BenchSetup<'a> {
    pub space: &'a Nb201Space,
    pub evaluator: &'a TabularEvaluator,
    pub judge: &'a Judge,
    pub queries: usize,
    pub runs: usize,
    pub seed: u64,
}

/// `runs` runs of strategy `kind` with its default settings; see [`bench_with`].
pub fn bench(
    setup: BenchSetup<'_>,
    kind: StrategyKind,
    on_run_done: &(dyn Fn() + Sync),
) -> Result<StrategySummary, CoreError> {
    bench_with(setup, kind.name(), &|seed| kind.build(seed), on_run_done)
}

/// `runs` runs of the strategies `make` builds from a seed, run r seeded with
/// `derive_seed(seed, r)`, in parallel. `on_run_done` is called after each run (for progress).
pub fn bench_with(
    setup: BenchSetup<'_>,
    name: &str,
    make: &(dyn Fn(u64) -> Result<Box<dyn Strategy<Nb201Space>>, CoreError> + Sync),
    on_run_done: &(dyn Fn() + Sync),
) -> Result<StrategySummary, CoreError> {
    let BenchSetup {
        space,
        evaluator,
        judge,
        queries,
        runs,
        seed,
    } = setup;
    check_budget(space, queries, runs)?;
    let results: Vec<RunResult> = (0..runs)
        .into_par_iter()
        .map(|r| {
            let seed = derive_seed(seed, r as u64);
            let result = run_once(
                space,
                Box::new(move || make(seed)),
                evaluator,
                judge,
                queries,
            );
            on_run_done();
            result
        })
        .collect::<Result<_, _>>()?;
    let (mean, std) = mean_std(results.iter().map(|r| r.judged));
    let curve_stats: Vec<(f64, f64)> = (0..queries)
        .map(|q| mean_std(results.iter().map(|r| r.curve[q])))
        .collect();
    Ok(StrategySummary {
        strategy: name.to_string(),
        mean,
        std,
        mean_queries_to_best: mean_std(results.iter().map(|r| r.queries_to_best as f64)).0,
        mean_distinct_cells: mean_std(results.iter().map(|r| r.distinct_cells as f64)).0,
        curve_mean: curve_stats.iter().map(|s| s.0).collect(),
        curve_std: curve_stats.iter().map(|s| s.1).collect(),
        runs: results,
    })
}
