//! Chooses the adjacent strategy's defaults by the search signal alone: for each setting, the mean
//! best *validation* accuracy reached (never the test accuracy that benchmarks judge by), on tuning
//! seeds distinct from the reporting seed 0.
//!
//! cargo run --release -p adjacent-core --example tune_adjacent -- [TABLE] [RUNS] [GRID]
//!
//! GRID: settings as `initial,patience,restart_pool,ridge` separated by spaces; default: one knob at
//! a time around the defaults.

use adjacent_core::bench::{BenchSetup, bench_with, mean_std};
use adjacent_core::spaces::nb201::Nb201Space;
use adjacent_core::strategies::{AdjacentConfig, AdjacentSearch};
use adjacent_core::tabular;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let table = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "data/nb201_cifar10.csv.gz".into());
    let runs: usize = args.get(2).map_or(Ok(300), |r| r.parse())?;
    let (evaluator, judge) = tabular::load(table.as_ref(), "cifar10")?;
    let space = Nb201Space::default();
    let base = AdjacentConfig::default();
    let mut grid = vec![base];
    if let Some(spec) = args.get(3) {
        grid.clear();
        for item in spec.split_whitespace() {
            let v: Vec<f64> = item
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()?;
            grid.push(AdjacentConfig {
                initial: v[0] as usize,
                patience: v[1] as usize,
                restart_pool: v[2] as usize,
                ridge: v[3],
                restart_distance: v.get(4).map_or(0, |d| *d as usize),
            });
        }
    }
    for initial in if args.len() > 3 { vec![] } else { vec![5, 10, 20] } {
        grid.push(AdjacentConfig { initial, ..base });
    }
    for patience in if args.len() > 3 { vec![] } else { vec![2, 4, 6, 12, 24] } {
        grid.push(AdjacentConfig { patience, ..base });
    }
    for restart_pool in if args.len() > 3 { vec![] } else { vec![1, 10, 1000] } {
        grid.push(AdjacentConfig { restart_pool, ..base });
    }
    for ridge in if args.len() > 3 { vec![] } else { vec![0.1, 10.0] } {
        grid.push(AdjacentConfig { ridge, ..base });
    }
    println!("initial patience pool ridge | valid@100 valid@300 | test@100 test@300 (test shown, not used)");
    for config in grid {
        let mut line = format!(
            "{:>7} {:>8} {:>4} {:>5} |",
            config.initial, config.patience, config.restart_pool, config.ridge
        );
        let mut tests = String::new();
        for queries in [100, 300] {
            let setup = BenchSetup {
                space: &space,
                evaluator: &evaluator,
                judge: &judge,
                queries,
                runs,
                seed: 1,
            };
            let s = bench_with(
                setup,
                "adjacent",
                &|seed| Box::new(AdjacentSearch::new(seed, config)),
                &|| {},
            )?;
            let (valid, _) = mean_std(s.runs.iter().map(|r| r.best_valid));
            line += &format!(" {valid:>9.3}");
            tests += &format!(" {:>8.3}", s.mean);
        }
        println!("{line} |{tests}");
    }
    Ok(())
}
