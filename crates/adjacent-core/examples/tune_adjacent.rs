//! Chooses the adjacent strategy's patience by the search signal alone: for each setting, the mean
//! best *validation* accuracy reached (never the test accuracy that benchmarks judge by), on tuning
//! seed 1, distinct from the reporting seed 0. The test accuracy is printed for the record only.
//!
//! cargo run --release -p adjacent-core --example tune_adjacent -- [TABLE] [RUNS] [PATIENCES]

use adjacent_core::bench::{BenchSetup, bench_with, mean_std};
use adjacent_core::spaces::nb201::Nb201Space;
use adjacent_core::strategies::{LineageConfig, LineageSearch};
use adjacent_core::tabular;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let table = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "data/nb201_cifar10.csv.gz".into());
    let runs: usize = args.get(2).map_or(Ok(300), |r| r.parse())?;
    let patiences: Vec<usize> = args
        .get(3)
        .map_or("4 8 12 16 20 24", String::as_str)
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let (evaluator, judge) = tabular::load(table.as_ref(), "cifar10")?;
    let space = Nb201Space::default();
    println!("patience | valid@100 valid@300 | test@100 test@300 (test: for the record, not used)");
    for patience in patiences {
        let config = LineageConfig { patience };
        config.validate()?;
        let mut valid = String::new();
        let mut test = String::new();
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
                &|seed| Ok(Box::new(LineageSearch::new(seed, config)?)),
                &|| {},
            )?;
            valid += &format!(" {:>9.3}", mean_std(s.runs.iter().map(|r| r.best_valid)).0);
            test += &format!(" {:>8.3}", s.mean);
        }
        println!("{patience:>8} |{valid} |{test}");
    }
    Ok(())
}
