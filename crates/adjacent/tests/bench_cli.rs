//! `adjacent bench` as a user runs it: outputs, and a clear error with a non-zero exit for every
//! bad input (never a panic).

mod common;

use std::path::Path;

use common::{adjacent, fails};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn bench_writes_its_table_json_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let svg = dir.path().join("out.svg");
    let out = adjacent(&[
        "bench",
        "--runs",
        "4",
        "--queries",
        "30",
        "--seed",
        "3",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["random", "evolution", "local", "lineage"] {
        assert!(stdout.lines().any(|l| l.starts_with(name)), "{stdout}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["dataset"], "cifar10");
    assert_eq!(report["queries"], 30);
    assert_eq!(report["runs"], 4);
    assert_eq!(report["seed"], 3);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        let mean = r["mean"].as_f64().unwrap();
        assert!(mean > 80.0 && mean <= 94.38, "{r}");
        assert!(r["std"].as_f64().unwrap() >= 0.0);
        assert_eq!(r["curve_mean"].as_array().unwrap().len(), 30);
    }
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("<svg") && plot.contains("lineage"));
}

#[test]
fn one_strategy_runs_alone() {
    let out = adjacent(&[
        "bench",
        "--strategy",
        "local",
        "--runs",
        "2",
        "--queries",
        "10",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("local")));
    assert!(!stdout.lines().any(|l| l.starts_with("random")));
}

#[test]
fn a_missing_table_is_named() {
    let err = fails(&["bench", "--table", "/nonexistent/nb201.csv"]);
    assert!(err.contains("/nonexistent/nb201.csv"), "{err}");
}

#[test]
fn a_table_without_a_needed_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let table = write(dir.path(), "t.csv", "arch,cifar10_valid_acc_12ep\n");
    let err = fails(&["bench", "--table", &table]);
    assert!(err.contains("unknown data set \"cifar10\""), "{err}");
    let table = write(
        dir.path(),
        "u.csv",
        "cell,cifar10_valid_acc_12ep,cifar10_test_acc_200ep\n",
    );
    let err = fails(&["bench", "--table", &table]);
    assert!(err.contains("missing column \"arch\""), "{err}");
}

#[test]
fn a_malformed_cell_names_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let table = write(
        dir.path(),
        "t.csv",
        "arch,cifar10_valid_acc_12ep,cifar10_test_acc_200ep\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1,2\n|none~0|+|none~0|+|none~0|none~1|none~2|,1,2\n",
    );
    let err = fails(&["bench", "--table", &table]);
    assert!(
        err.contains("row 2 (line 3)") && err.contains("node 2 needs 2"),
        "{err}"
    );
}

#[test]
fn unknown_strategies_and_data_sets_list_the_valid_ones() {
    let err = fails(&["bench", "--strategy", "bayes"]);
    assert!(
        err.contains("\"bayes\"") && err.contains("random, evolution, local, lineage, all"),
        "{err}"
    );
    // The strategies that plan in training images do not run on a table.
    let err = fails(&["bench", "--strategy", "asha"]);
    assert!(err.contains("does not run on a table"), "{err}");
    let err = fails(&["bench", "--dataset", "cifar100"]);
    assert!(
        err.contains("\"cifar100\"") && err.contains("data sets in this table: cifar10"),
        "{err}"
    );
}

#[test]
fn more_queries_than_the_space_holds_is_refused() {
    let err = fails(&["bench", "--queries", "7000", "--runs", "1"]);
    assert!(
        err.contains("7000 queries") && err.contains("6466"),
        "{err}"
    );
}

#[test]
fn a_plot_format_it_cannot_write_is_refused_before_any_work() {
    let err = fails(&["bench", "--plot", "curves.pdf"]);
    assert!(err.contains("curves.pdf") && err.contains("SVG"), "{err}");
}
