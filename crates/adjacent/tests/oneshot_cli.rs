//! `adjacent oneshot` end to end with tiny settings on a slice of the built-in data.

mod common;

use adjacent_core::spaces::nb201::Cell;
use common::{TABLE, adjacent, fails};
use serde_json::Value;

fn tiny(method: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "oneshot",
        "--method",
        method,
        "--subset",
        "96",
        "--channels",
        "2",
        "--cells",
        "1",
        "--epochs",
        "2",
        "--batch",
        "16",
        "--candidates",
        "5",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    adjacent(&args)
}

#[test]
fn oneshot_writes_its_files_and_judges_the_cell_by_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gdas");
    let run = tiny(
        "gdas",
        out.to_str().unwrap(),
        &["--table", TABLE, "--dataset", "cifar10"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("epoch 2/2"), "{stderr}");
    let history: Vec<Value> = std::fs::read_to_string(out.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["probabilities"].as_array().unwrap().len(), 6);
    assert!(history[1]["seconds"].as_f64().unwrap() > 0.0);
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    let cell = result["arch"].as_str().unwrap();
    assert_eq!(history[1]["cell"].as_str().unwrap(), cell);
    let test = result["table_test_acc"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&test));
    assert!(result["peak_memory_bytes"].as_u64().unwrap() > 0);
    assert!(out.join("supernet.safetensors").metadata().unwrap().len() > 0);
    // The returned cell trains from its arch.json as any other.
    let arch: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("arch.json")).unwrap()).unwrap();
    assert_eq!(arch["channels"], 2);
    let trained = dir.path().join("trained");
    let train = adjacent(&[
        "train",
        "--arch",
        cell,
        "--channels",
        "2",
        "--cells",
        "1",
        "--epochs",
        "1",
        "--subset",
        "64",
        "--out",
        trained.to_str().unwrap(),
    ]);
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
}

#[test]
fn darts_pt_reports_each_edge_it_decides() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pt");
    let run = tiny(
        "darts-pt",
        out.to_str().unwrap(),
        &["--tune-epochs", "1", "--score-images", "48"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("epoch 2/2"), "{stderr}");
    assert!(stderr.contains("edge 6/6"), "{stderr}");
    assert!(stderr.contains("tuned: train loss"), "{stderr}");
    let history: Vec<Value> = std::fs::read_to_string(out.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Two epochs, then a record per decided edge.
    assert_eq!(history.len(), 8);
    assert!(history[1].get("decision").is_none());
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    let cell: Cell = result["arch"].as_str().unwrap().parse().unwrap();
    for record in &history[2..] {
        let decision = &record["decision"];
        let edge = decision["edge"].as_u64().unwrap() as usize;
        assert_eq!(decision["accuracy_without"].as_array().unwrap().len(), 5);
        assert_eq!(cell.op(edge).name(), decision["kept"].as_str().unwrap());
    }
    assert_eq!(result["config"]["tune_epochs"], 1);
}

#[test]
fn bad_oneshot_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    let err = fails(&["oneshot", "--method", "nas", "--out", out]);
    assert!(err.contains("unknown method \"nas\""), "{err}");
    assert!(
        err.contains("darts, darts2, darts-pt, gdas, spos, rsws, enas"),
        "{err}"
    );
    let err = fails(&[
        "oneshot", "--method", "darts", "--table", TABLE, "--out", out,
    ]);
    assert!(err.contains("--dataset"), "{err}");
    let err = fails(&[
        "oneshot",
        "--method",
        "darts",
        "--table",
        TABLE,
        "--dataset",
        "imagenet",
        "--out",
        out,
    ]);
    assert!(err.contains("imagenet"), "{err}");
    let err = fails(&["oneshot", "--method", "darts", "--batch", "1", "--out", out]);
    assert!(err.contains("batch"), "{err}");
    // A supernet that cannot fit is refused with the size it needs, before any training.
    let err = fails(&[
        "oneshot",
        "--method",
        "darts2",
        "--channels",
        "4096",
        "--batch",
        "4096",
        "--out",
        out,
    ]);
    assert!(err.contains("needs about"), "{err}");
    assert!(err.contains("GiB"), "{err}");
}
