//! `adjacent search` as a user runs it, on the built-in data with tiny settings.

mod common;

use std::path::Path;

use adjacent_core::network::NetworkArch;
use common::{adjacent, fails};
use serde_json::Value;

/// Tiny networks and budgets, consolidation every other trial, so that a few trials exercise
/// seeds, children and consolidations.
const TINY: &str = r#"
start_channels = 4

[limits]
max_cells = 2
max_channels = 8

[train]
scratch_images = 1350
batch = 64

[adjacent]
seeds = 2
child_images = 225
consolidate_every = 2
preserving = 1.0
"#;

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("search.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn tiny_search(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let config = write_config(dir, TINY);
    let mut args = vec![
        "search", "--subset", "600", "--valid", "150", "--config", &config, "--out", out,
    ];
    args.extend_from_slice(extra);
    adjacent(&args)
}

fn records(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("trials.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn search_grows_children_from_their_parents_weights() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let run = tiny_search(dir.path(), out.to_str().unwrap(), &["--trials", "9"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let trials = records(&out);
    assert_eq!(trials.len(), 9);
    for t in &trials {
        for key in [
            "id",
            "parent",
            "genotype",
            "mutation",
            "epochs",
            "seconds",
            "train_loss",
            "valid_acc",
            "params",
        ] {
            assert!(t.get(key).is_some(), "trials.jsonl lacks {key}: {t}");
        }
        // No trial, consolidations included, has a cell without a path from input to output.
        let arch: NetworkArch = serde_json::from_value(t["genotype"].clone()).unwrap();
        for cell in arch.stages.iter().flatten() {
            assert!(cell.connects_input_to_output(), "trial {}: {cell}", t["id"]);
        }
        assert!(arch.stages.iter().all(|s| !s.is_empty()));
    }
    let by_id = |id: &Value| &trials[id.as_u64().unwrap() as usize];
    let loss = |t: &Value, key: &str| t[key].as_f64().unwrap();

    // Seeds start from scratch, at about ln(10).
    let seeds: Vec<&Value> = trials.iter().filter(|t| t["parent"].is_null()).collect();
    assert_eq!(seeds.len(), 2);
    // Function-preserving children start where their parents ended; a fresh network does not.
    let mut child_gap = Vec::new();
    let mut fresh_gap = Vec::new();
    for t in &trials {
        if t["function_preserving"] == Value::Bool(true) {
            let parent = by_id(&t["parent"]);
            child_gap.push((loss(t, "first_loss") - loss(parent, "last_loss")).abs());
            fresh_gap.push((loss(seeds[0], "first_loss") - loss(parent, "last_loss")).abs());
        }
    }
    assert!(child_gap.len() >= 2, "{trials:?}");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&child_gap) < 0.4 * mean(&fresh_gap),
        "children's first loss is {child_gap:?} from their parents' last; a fresh network's {fresh_gap:?}"
    );
    // Consolidation ran and only ever removed something.
    let consolidations: Vec<&Value> = trials
        .iter()
        .filter(|t| {
            t["mutation"]
                .as_str()
                .is_some_and(|m| m.starts_with("consolidate"))
        })
        .collect();
    assert!(!consolidations.is_empty());
    for t in consolidations {
        assert!(t["params"].as_u64() <= by_id(&t["parent"])["params"].as_u64());
    }

    // The winner: best/ and summary.json, scored on the test set once.
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "best_arch",
        "best_valid_acc",
        "test_acc",
        "trials",
        "seconds",
    ] {
        assert!(
            !summary[key].is_null(),
            "summary.json lacks {key}: {summary}"
        );
    }
    let best_valid = trials
        .iter()
        .filter_map(|t| t["valid_acc"].as_f64())
        .fold(f64::MIN, f64::max);
    assert_eq!(summary["best_valid_acc"].as_f64().unwrap(), best_valid);
    assert!(summary["test_acc"].as_f64().unwrap() > 30.0, "{summary}");
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("best/result.json")).unwrap())
            .unwrap();
    assert_eq!(result["test_acc"], summary["test_acc"]);

    // `adjacent eval` reproduces the winner's test accuracy, and `train --from` continues it.
    let best = out.join("best");
    let eval = adjacent(&["eval", "--model", best.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&eval.stdout);
    assert!(
        stdout.contains(&format!("{:.2}%", summary["test_acc"].as_f64().unwrap())),
        "{stdout}"
    );
    let more = dir.path().join("more");
    let cont = adjacent(&[
        "train",
        "--from",
        best.to_str().unwrap(),
        "--epochs",
        "1",
        "--subset",
        "300",
        "--out",
        more.to_str().unwrap(),
    ]);
    assert!(
        cont.status.success(),
        "{}",
        String::from_utf8_lossy(&cont.stderr)
    );

    // The same seed gives the same search.
    let again = dir.path().join("again");
    let run = tiny_search(dir.path(), again.to_str().unwrap(), &["--trials", "4"]);
    assert!(run.status.success());
    let strip = |t: &Value| {
        (
            t["genotype"].clone(),
            t["valid_acc"].clone(),
            t["parent"].clone(),
        )
    };
    for (a, b) in records(&again).iter().zip(&trials) {
        assert_eq!(strip(a), strip(b));
    }
}

#[test]
fn baselines_train_every_network_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    for strategy in ["random", "evolution"] {
        let out = dir.path().join(strategy);
        let run = tiny_search(
            dir.path(),
            out.to_str().unwrap(),
            &["--strategy", strategy, "--budget-images", "4000"],
        );
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let trials = records(&out);
        // 450 training images x 3 epochs a trial: two trials fit in 4,000 images.
        assert_eq!(trials.len(), 2, "{strategy}");
        for t in &trials {
            assert_eq!(t["inherit"], Value::Bool(false));
            assert!(t["first_loss"].as_f64().unwrap() > 2.0, "{t}");
            assert_eq!(t["images"].as_u64(), Some(1350));
        }
        assert_eq!(trials[1]["images_total"].as_u64(), Some(2700));
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let with_config = |text: &str| {
        let config = write_config(dir.path(), text);
        fails(&["search", "--trials", "1", "--config", &config, "--out", out])
    };
    let err = with_config("start_channels = 4\ncolour = true\n");
    assert!(
        err.contains("colour") && err.contains("search.toml"),
        "{err}"
    );
    let err = with_config("[adjacent]\npatients = 3\n");
    assert!(err.contains("patients"), "{err}");
    let err = with_config("[limits]\nmax_params = 1000\n");
    assert!(err.contains("max_params"), "{err}");
    let err = with_config("start_channels = 16\n[limits]\nmax_channels = 8\n");
    assert!(err.contains("max_channels"), "{err}");
    let err = with_config("[adjacent]\ntournament = 20\n");
    assert!(err.contains("tournament"), "{err}");
    let err = with_config("[evolution]\npopulation = 4\ntournament = 5\n");
    assert!(
        err.contains("[evolution]") && err.contains("tournament"),
        "{err}"
    );
    let err = with_config("[train]\nlr = -1\n");
    assert!(err.contains("lr"), "{err}");
    let err = fails(&["search", "--config", "/no/such.toml", "--out", out]);
    assert!(err.contains("/no/such.toml"), "{err}");

    // A budget that cannot fit one trial.
    let err = fails(&["search", "--budget-images", "100", "--out", out]);
    assert!(err.contains("cannot fit one trial"), "{err}");
    let err = fails(&["search", "--budget-minutes", "0.001", "--out", out]);
    assert!(err.contains("cannot fit one trial"), "{err}");
    let err = fails(&["search", "--trials", "0", "--out", out]);
    assert!(err.contains("--trials"), "{err}");
    let err = fails(&[
        "search",
        "--trials",
        "1",
        "--budget-images",
        "5",
        "--out",
        out,
    ]);
    assert!(err.contains("cannot be used with"), "{err}");

    // An output folder in use.
    std::fs::create_dir_all(dir.path().join("used")).unwrap();
    std::fs::write(dir.path().join("used/trials.jsonl"), "{}\n").unwrap();
    let used = dir.path().join("used");
    let err = fails(&["search", "--trials", "1", "--out", used.to_str().unwrap()]);
    assert!(err.contains("in use"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("used/trials.jsonl")).unwrap(),
        "{}\n",
        "the earlier result is untouched"
    );
}

#[test]
fn diverged_trials_are_recorded_as_failed_and_the_search_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    // Children restart at an absurd learning rate and diverge; the seeds train normally.
    let config = write_config(
        dir.path(),
        &TINY.replace("batch = 64", "batch = 64\nchild_lr = 1e9\nclip_norm = 1e30"),
    );
    let run = adjacent(&[
        "search",
        "--subset",
        "600",
        "--valid",
        "150",
        "--config",
        &config,
        "--trials",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let trials = records(&out);
    assert_eq!(trials.len(), 4);
    for t in &trials[2..] {
        assert_eq!(t["state"], "failed", "{t}");
        assert!(t["reason"].as_str().unwrap().contains("diverged"), "{t}");
        assert!(t["valid_acc"].is_null());
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["failed"], 2);
    assert!(summary["best_trial"].as_u64().unwrap() < 2);
}
