//! Loading benchmark tables: any data set a table covers, and a clear error for every bad table.

mod common;

use std::path::Path;

use adjacent_core::bench::{BenchSetup, bench, check_budget};
use adjacent_core::spaces::nb201::{Cell, Nb201Space};
use adjacent_core::tabular::{self, datasets_in, from_reader};
use adjacent_core::{CoreError, StrategyKind};

/// A table with columns `arch`, `x_valid_acc_12ep`, `x_test_acc_200ep` for every cell, values
/// derived from the cell so that they can be checked.
fn synthetic_table(dataset: &str) -> String {
    let mut text = format!("index,arch,{dataset}_valid_acc_12ep,{dataset}_test_acc_200ep,other\n");
    for i in 0..15_625 {
        let cell = Cell::from_index(i);
        text += &format!(
            "{i},{cell},{},{},ignored\n",
            i as f64 / 1000.0,
            50.0 + i as f64 / 1000.0
        );
    }
    text
}

fn load_text(text: &str, dataset: &str) -> Result<(), CoreError> {
    from_reader(text.as_bytes(), Path::new("t.csv"), dataset).map(|_| ())
}

#[test]
fn any_data_set_in_the_table_can_be_searched() {
    let text = synthetic_table("cifar100");
    assert_eq!(
        datasets_in(&["arch", "cifar100_valid_acc_12ep", "cifar100_test_acc_200ep"]),
        vec!["cifar100"]
    );
    let (evaluator, judge) = from_reader(text.as_bytes(), Path::new("t.csv"), "cifar100").unwrap();
    let cell = Cell::from_index(1234);
    assert_eq!(evaluator.query(&cell).valid_acc, Some(1.234));
    assert_eq!(judge.test_acc(&cell), 51.234);
    let space = Nb201Space::default();
    let setup = BenchSetup {
        space: &space,
        evaluator: &evaluator,
        judge: &judge,
        queries: 20,
        runs: 3,
        seed: 0,
    };
    let summary = bench(setup, StrategyKind::Lineage, &|| {}).unwrap();
    assert_eq!(summary.runs.len(), 3);
}

#[test]
fn gzipped_and_plain_tables_load_alike() {
    let text = synthetic_table("d");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let (a, _) = from_reader(text.as_bytes(), Path::new("t.csv"), "d").unwrap();
    let (b, _) = from_reader(&gz[..], Path::new("t.csv.gz"), "d").unwrap();
    let cell = Cell::from_index(999);
    assert_eq!(a.query(&cell), b.query(&cell));
}

#[test]
fn the_shipped_table_has_the_reference_optimum() {
    let (evaluator, judge) = tabular::load(&common::table_path(), "cifar10").unwrap();
    assert!((judge.optimum() - 94.3733).abs() < 1e-9);
    let best: Cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
        .parse()
        .unwrap();
    assert_eq!(evaluator.query(&best).valid_acc, Some(84.892));
}

#[test]
fn a_missing_file_names_the_file() {
    let err = tabular::load(Path::new("/nonexistent/table.csv"), "cifar10")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/table.csv"), "{err}");
}

#[test]
fn a_missing_column_is_named_with_the_columns_present() {
    let err = load_text(
        "index,cifar10_valid_acc_12ep,cifar10_test_acc_200ep\n",
        "cifar10",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("missing column \"arch\"") && err.contains("index, cifar10_valid"),
        "{err}"
    );
}

#[test]
fn an_unknown_data_set_lists_the_valid_ones() {
    let err = load_text(&synthetic_table("cifar10"), "imagenet")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown data set \"imagenet\"") && err.contains("cifar10"),
        "{err}"
    );
    let err = load_text("arch,acc\n", "cifar10").unwrap_err().to_string();
    assert!(err.contains("data sets in this table: none"), "{err}");
}

#[test]
fn a_malformed_cell_string_names_its_row_and_line() {
    let mut text = synthetic_table("cifar10");
    text = text.replacen(
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|nope~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        1,
    );
    let err = load_text(&text, "cifar10").unwrap_err().to_string();
    assert!(
        err.contains("row 1 (line 2)") && err.contains("unknown operation \"nope\""),
        "{err}"
    );
}

#[test]
fn a_non_numeric_accuracy_names_its_row_and_column() {
    let text = synthetic_table("cifar10").replacen(",0.005,", ",n/a,", 1);
    let err = load_text(&text, "cifar10").unwrap_err().to_string();
    assert!(
        err.contains("row 6") && err.contains("cifar10_valid_acc_12ep") && err.contains("n/a"),
        "{err}"
    );
}

#[test]
fn duplicate_and_missing_cells_are_reported() {
    let text = synthetic_table("cifar10");
    let mut lines: Vec<&str> = text.lines().collect();
    let dup = lines[3];
    lines[5] = dup;
    let err = load_text(&(lines.join("\n") + "\n"), "cifar10")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 5") && err.contains("already appears in row 3"),
        "{err}"
    );
    lines.remove(5);
    let err = load_text(&(lines.join("\n") + "\n"), "cifar10")
        .unwrap_err()
        .to_string();
    assert!(err.contains("covers 15624 of the 15625 cells"), "{err}");
}

#[test]
fn more_queries_than_the_space_holds_is_an_error() {
    let space = Nb201Space::default();
    let err = check_budget(&space, 6467, 1).unwrap_err().to_string();
    assert!(
        err.contains("6467 queries") && err.contains("6466 distinct cells"),
        "{err}"
    );
    assert!(check_budget(&space, 6466, 1).is_ok());
    assert!(
        check_budget(&space, 0, 1)
            .unwrap_err()
            .to_string()
            .contains("queries")
    );
    assert!(
        check_budget(&space, 10, 0)
            .unwrap_err()
            .to_string()
            .contains("runs")
    );
}

#[test]
fn an_unknown_strategy_lists_the_valid_ones() {
    let err = "annealing".parse::<StrategyKind>().unwrap_err().to_string();
    assert!(
        err.contains("\"annealing\"")
            && err.contains("random, evolution, local, lineage, asha, adjacent"),
        "{err}"
    );
}
