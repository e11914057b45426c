//! The NAS-Bench-201 landscape under the search signal: steepest ascent from every cell, the local
//! optima it ends in and the share of cells that reach each.
//!
//! cargo run --release -p adjacent-core --example landscape -- [TABLE]

use std::collections::HashMap;

use adjacent_core::SearchSpace;
use adjacent_core::spaces::nb201::{CELL_COUNT, Cell, Nb201Space};
use adjacent_core::tabular;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "data/nb201_cifar10.csv.gz".into());
    let (evaluator, _) = tabular::load(table.as_ref(), "cifar10")?;
    let space = Nb201Space::default();
    let valid = |c: &Cell| {
        evaluator
            .query(c)
            .valid_acc
            .expect("the table holds every cell")
    };
    let mut basins: HashMap<Cell, usize> = HashMap::new();
    for start in space.cells() {
        let mut here = start;
        loop {
            let best = space
                .neighbours(&here)
                .into_iter()
                .map(|(_, g)| g)
                .max_by(|a, b| valid(a).total_cmp(&valid(b)))
                .expect("every cell has neighbours");
            if valid(&best) > valid(&here) {
                here = best;
            } else {
                break;
            }
        }
        *basins.entry(here).or_default() += 1;
    }
    let mut basins: Vec<(Cell, usize)> = basins.into_iter().collect();
    basins.sort_by_key(|b| std::cmp::Reverse(b.1));
    println!("{} local optima under steepest ascent", basins.len());
    println!("{:>6} {:>7} {:>8}  cell", "share", "cells", "valid");
    for (cell, n) in basins.iter().take(10) {
        println!(
            "{:>5.1}% {:>7} {:>8.3}  {cell}",
            100.0 * *n as f64 / CELL_COUNT as f64,
            n,
            valid(cell)
        );
    }
    Ok(())
}
