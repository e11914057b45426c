//! Studies as users run them: several workers on one study (SQLite, PostgreSQL), a worker killed in
//! the middle of a trial, a search killed and resumed, and bad input.
//!
//! The PostgreSQL tests need a server: `.ci/run` starts one and sets ADJACENT_TEST_POSTGRES. Without
//! it they fail under CI and say so elsewhere.

mod common;
#[path = "../../adjacent-store/tests/common/mod.rs"]
mod server;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Child;

use adjacent_core::space::SearchSpace;
use adjacent_core::spaces::nb201::{Cell, Nb201Space};
use common::{
    TABLE, TINY_GROWTH, adjacent, check, fails, kill_after, records, spawn, stored, strs,
    succeeded, summary, wait_for,
};
use serde_json::Value;
use server::{postgres, unique};

/// Each trial's id with its `fields`, in the order of the ids.
fn trial_fields(out: &Path, fields: &[&str]) -> Vec<(Option<u64>, Vec<Value>)> {
    let mut kept: Vec<_> = records(out)
        .iter()
        .map(|t| {
            (
                t["id"].as_u64(),
                fields.iter().map(|f| t[*f].clone()).collect(),
            )
        })
        .collect();
    kept.sort_by_key(|k| k.0);
    kept
}

/// The two searches recorded the same trials: id, network and validation accuracy.
fn assert_same_trials(a: &Path, b: &Path) {
    let fields = ["genotype", "valid_acc"];
    assert_eq!(trial_fields(a, &fields), trial_fields(b, &fields));
}

/// A table search of `trials` trials into `out`, with `extra` arguments.
fn table_search(out: &Path, strategy: &str, trials: usize, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "search",
        "--table",
        TABLE,
        "--strategy",
        strategy,
        "--trials",
        &trials.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Every trial of a finished study recorded once, complete, and no canonical cell twice; returns
/// the trials each worker ran.
fn check_study(trials: &[Value], budget: usize) -> HashMap<String, usize> {
    assert_eq!(trials.len(), budget);
    let ids: HashSet<u64> = trials.iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (0..budget as u64).collect());
    let space = Nb201Space::default();
    let keys: HashSet<_> = trials
        .iter()
        .map(|t| {
            let cell: Cell = t["genotype"].as_str().unwrap().parse().unwrap();
            space.key(&cell)
        })
        .collect();
    assert_eq!(keys.len(), budget, "a canonical cell was evaluated twice");
    let mut by_worker = HashMap::new();
    for t in trials {
        assert_eq!(t["state"], "complete", "{t}");
        *by_worker
            .entry(t["worker"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    by_worker
}

#[test]
fn two_workers_share_a_sqlite_study() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    let search = spawn(&strs(&table_search(
        &out,
        "lineage",
        150,
        &["--delay-ms", "5"],
    )));
    let db = out.join("study.db");
    let worker = spawn(&[
        "worker",
        "--storage",
        db.to_str().unwrap(),
        "--study",
        "search",
        "--wait",
        "30",
    ]);
    succeeded(search);
    let worker = succeeded(worker);
    assert!(String::from_utf8_lossy(&worker.stdout).contains("the study is over"));
    let by_worker = check_study(&records(&out), 150);
    assert_eq!(by_worker.len(), 2, "{by_worker:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["trials"], 150);
}

#[test]
fn four_workers_share_a_postgres_study() {
    let Some(url) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    let name = unique("four");
    let search = spawn(&strs(&table_search(
        &out,
        "random",
        500,
        &["--delay-ms", "2", "--storage", &url, "--study", &name],
    )));
    let workers: Vec<Child> = (0..3)
        .map(|_| {
            spawn(&[
                "worker",
                "--storage",
                &url,
                "--study",
                &name,
                "--wait",
                "30",
            ])
        })
        .collect();
    succeeded(search);
    for w in workers {
        succeeded(w);
    }
    let by_worker = check_study(&records(&out), 500);
    assert_eq!(by_worker.len(), 4, "{by_worker:?}");
    let list = check(adjacent(&["study", "list", "--storage", &url]));
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.lines()
            .any(|l| l.contains(&name) && l.contains("500 complete")),
        "{list}"
    );
}

#[test]
fn a_worker_killed_in_a_trial_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    let search = spawn(&strs(&table_search(
        &out,
        "random",
        12,
        &["--delay-ms", "300", "--heartbeat-timeout", "1"],
    )));
    let db = out.join("study.db");
    let mut worker = spawn(&[
        "worker",
        "--storage",
        db.to_str().unwrap(),
        "--study",
        "search",
        "--wait",
        "30",
    ]);
    let pid = format!(":{}", worker.id());
    let mut killed = None;
    wait_for("the worker to run a trial", || {
        killed = stored(&db).into_iter().find(|r| {
            r.state == adjacent_core::trial::TrialState::Running
                && r.worker.as_deref().is_some_and(|w| w.ends_with(&pid))
        });
        killed.is_some()
    });
    worker.kill().unwrap();
    worker.wait().unwrap();
    succeeded(search);
    let trials = records(&out);
    check_study(&trials, 12);
    let killed = killed.unwrap().id;
    let again = trials
        .iter()
        .find(|t| t["id"].as_u64() == Some(killed))
        .unwrap();
    assert_eq!(again["attempts"], 2, "{again}");
    assert!(
        !again["worker"].as_str().unwrap().ends_with(&pid),
        "{again}"
    );
}

#[test]
fn a_killed_table_search_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let args =
        |out: &Path| table_search(out, "evolution", 60, &["--seed", "4", "--delay-ms", "20"]);
    check(adjacent(&strs(&args(&whole))));
    let cut = dir.path().join("cut");
    let mut first = spawn(&strs(&args(&cut)));
    wait_for("20 trials", || {
        stored(&cut.join("study.db"))
            .iter()
            .filter(|r| r.told_seq.is_some())
            .count()
            >= 20
    });
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!cut.join("summary.json").exists());
    let resumed = check(adjacent(&strs(&args(&cut))));
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("60 trials"));
    assert_same_trials(&whole, &cut);
    assert_eq!(summary(&whole)["best_arch"], summary(&cut)["best_arch"]);
    // A finished search is not run again.
    let err = fails(&strs(&args(&cut)));
    assert!(err.contains("finished search"), "{err}");
}

/// Tiny trained searches: from-scratch networks 4 wide on 600 built-in images.
const TINY: &str = crate::tiny_settings!(
    "scratch_epochs = 0.5\n",
    r#"
[asha]
min_epochs = 0.25
eta = 2
rungs = 3
"#
);

fn trained_search(dir: &Path, out: &Path, strategy: &str, trials: &str) -> Vec<String> {
    let config = dir.join("tiny.toml");
    std::fs::write(&config, TINY).unwrap();
    [
        "search",
        "--subset",
        "600",
        "--valid",
        "150",
        "--config",
        config.to_str().unwrap(),
        "--strategy",
        strategy,
        "--trials",
        trials,
        "--heartbeat-timeout",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn a_trained_search_killed_after_its_second_trial_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    check(adjacent(&strs(&trained_search(
        dir.path(),
        &whole,
        "random",
        "4",
    ))));
    let cut = dir.path().join("cut");
    let args = trained_search(dir.path(), &cut, "random", "4");
    kill_after(&args, &cut, 2);
    let resumed = check(adjacent(&strs(&args)));
    assert!(
        String::from_utf8_lossy(&resumed.stderr).contains("resuming study"),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_same_trials(&whole, &cut);
    let (s, t) = (summary(&whole), summary(&cut));
    for field in ["arch", "valid_acc", "test_acc", "best_trial", "trials"] {
        assert_eq!(s[field], t[field], "{field}");
    }
}

/// A growing search killed after the segment before its planned widening resumes to the same
/// networks, bit for bit: the widened network's new units are drawn from the trial's own seed, not
/// from whatever the training device drew before (in the uninterrupted run, a start's weights).
#[test]
fn a_growing_search_killed_before_its_widening_resumes_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("growth.toml");
    std::fs::write(&config, TINY_GROWTH).unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "search",
            "--subset",
            "600",
            "--valid",
            "150",
            "--config",
            config.to_str().unwrap(),
            "--budget-flops",
            "3e10",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let whole = dir.path().join("whole");
    check(adjacent(&strs(&args(&whole))));
    let cut = dir.path().join("cut");
    // Two starts and the winner's segment up to the growth point; the widening is redone.
    kill_after(&args(&cut), &cut, 3);
    let resumed = check(adjacent(&strs(&args(&cut))));
    assert!(
        String::from_utf8_lossy(&resumed.stderr).contains("resuming study"),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let fields = ["mutation", "weights"];
    let (a, b) = (trial_fields(&whole, &fields), trial_fields(&cut, &fields));
    assert_eq!(a.len(), 4, "{a:?}");
    assert_eq!(a[3].1[0]["move"]["kind"], "widen", "{a:?}");
    assert_eq!(a, b);
    let (s, t) = (summary(&whole), summary(&cut));
    for field in ["arch", "valid_acc", "test_acc"] {
        assert_eq!(s[field], t[field], "{field}");
    }
}

/// A study written before the stored settings had a version (schema 3, commit 4fff546: an asha
/// search killed after its fourth trial; `tests/data/v3-study`). Its settings name the folder it
/// was made in, so it is copied there, and the same command resumes it with this build.
#[test]
fn a_study_from_before_versioned_settings_resumes() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v3-study");
    let home = Path::new("/tmp/adjacent-v3-study-fixture");
    let out = home.join("search");
    let config = home.join("tiny.toml");
    // The command that made it, with the validation split `valid`.
    let search = |valid: &str| {
        let args = [
            "search",
            "--subset",
            "600",
            "--valid",
            valid,
            "--config",
            config.to_str().unwrap(),
            "--strategy",
            "asha",
            "--trials",
            "9",
            "--heartbeat-timeout",
            "2",
            "--out",
            out.to_str().unwrap(),
        ];
        args.map(String::from)
    };
    let _ = std::fs::remove_dir_all(home);
    copy_dir(&fixture, home);
    let before = records(&out);
    assert_eq!(before.len(), 4);
    let resumed = check(adjacent(&strs(&search("150"))));
    assert!(
        String::from_utf8_lossy(&resumed.stderr).contains("resuming study"),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let after = records(&out);
    assert_eq!(after.len(), 9);
    // What the old build recorded stays as it was; promotions continue the networks it trained.
    for old in &before {
        let new = after.iter().find(|t| t["id"] == old["id"]).unwrap();
        assert_eq!(new, old);
    }
    let old_networks: HashSet<&Value> = before.iter().map(|t| &t["weights"]).collect();
    assert!(
        after[4..]
            .iter()
            .any(|t| t["inherit"] == true && old_networks.contains(&t["start_weights"])),
        "no new trial continues a network of the old build"
    );
    let s = summary(&out);
    assert_eq!(s["trials"], 9);
    assert!(s["test_acc"].as_f64().unwrap() > 0.0, "{s}");
    // Asked with other settings, it names the setting that differs.
    let _ = std::fs::remove_dir_all(home);
    copy_dir(&fixture, home);
    let err = fails(&strs(&search("100")));
    assert!(err.contains("data.valid = 150.0, not 100.0"), "{err}");
    let _ = std::fs::remove_dir_all(home);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        match entry.file_type().unwrap().is_dir() {
            true => copy_dir(&entry.path(), &target),
            false => {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}

#[test]
fn children_on_one_worker_load_weights_their_parents_got_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("asha");
    let args = trained_search(dir.path(), &out, "asha", "9");
    // The search runs the first trials (rung 0), and is killed; a worker runs the rest, whose
    // promotions continue the killed process's networks; the search, run again, delivers.
    kill_after(&args, &out, 4);
    let db = out.join("study.db");
    let worker = check(adjacent(&[
        "worker",
        "--storage",
        db.to_str().unwrap(),
        "--study",
        "search",
    ]));
    assert!(String::from_utf8_lossy(&worker.stdout).contains("the study is over"));
    check(adjacent(&strs(&args)));
    let trials = records(&out);
    assert_eq!(trials.len(), 9);
    let by_id: HashMap<u64, &Value> = trials
        .iter()
        .map(|t| (t["id"].as_u64().unwrap(), t))
        .collect();
    let crossed = trials.iter().filter(|t| {
        t["inherit"] == Value::Bool(true)
            && t["state"] == "complete"
            && t["worker"] != by_id[&t["parent"].as_u64().unwrap()]["worker"]
    });
    assert!(crossed.count() >= 1, "{trials:#?}");
    assert!(out.join("summary.json").exists());
}

#[test]
fn bad_input_gets_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    check(adjacent(&strs(&table_search(&out, "random", 5, &[]))));
    let db = out.join("study.db");
    let db_text = db.to_str().unwrap();

    // A strategy that needs training, on a table.
    let err = fails(&strs(&table_search(
        &dir.path().join("asha"),
        "asha",
        5,
        &[],
    )));
    assert!(err.contains("does not run on a table"), "{err}");
    assert!(!dir.path().join("asha").exists());

    // A study that does not exist.
    let err = fails(&["worker", "--storage", db_text, "--study", "nope"]);
    assert!(
        err.contains("no study named \"nope\"") && err.contains("search"),
        "{err}"
    );
    let err = fails(&["study", "export", "--storage", db_text, "--study", "nope"]);
    assert!(err.contains("no study named"), "{err}");

    // A study created with another strategy, or another space (a table study resumed as a
    // trained search).
    let other = dir.path().join("other");
    check(adjacent(&strs(&table_search(
        &other,
        "random",
        5,
        &["--delay-ms", "1"],
    ))));
    std::fs::remove_file(other.join("summary.json")).unwrap();
    let before = std::fs::read(other.join("study.db")).unwrap();
    let err = fails(&strs(&table_search(
        &other,
        "evolution",
        5,
        &["--delay-ms", "1"],
    )));
    assert!(
        err.contains("created with") && err.contains("evolution"),
        "{err}"
    );
    let err = fails(&[
        "search",
        "--trials",
        "5",
        "--strategy",
        "random",
        "--storage",
        other.join("study.db").to_str().unwrap(),
        "--out",
        dir.path().join("trained").to_str().unwrap(),
    ]);
    assert!(err.contains("created with space"), "{err}");
    assert_eq!(std::fs::read(other.join("study.db")).unwrap(), before);

    // A database written by a newer adjacent.
    let newer = dir.path().join("newer.db");
    std::fs::copy(&db, &newer).unwrap();
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    }
    let before = std::fs::read(&newer).unwrap();
    let err = fails(&["study", "list", "--storage", newer.to_str().unwrap()]);
    assert!(err.contains("schema version 99"), "{err}");
    assert_eq!(std::fs::read(&newer).unwrap(), before);

    // Not a database at all, and a storage that is not an address.
    let text = dir.path().join("text.db");
    std::fs::write(&text, "not a database").unwrap();
    let err = fails(&["study", "list", "--storage", text.to_str().unwrap()]);
    assert!(err.contains("text.db"), "{err}");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "not a database");
    let err = fails(&["study", "list", "--storage", "mysql://host/db"]);
    assert!(err.contains("invalid storage"), "{err}");

    // An unreachable server.
    let err = fails(&[
        "study",
        "list",
        "--storage",
        "postgres://postgres:x@127.0.0.1:1/postgres",
    ]);
    assert!(
        err.contains("cannot open postgres://postgres:***@127.0.0.1:1"),
        "{err}"
    );
    assert!(!err.contains(":x@"), "the password is not shown: {err}");
}

#[test]
fn wrong_postgres_credentials_get_a_clear_error() {
    let Some(url) = postgres() else { return };
    let (head, rest) = url.split_once('@').unwrap();
    let user = head.rsplit_once(':').unwrap().0;
    let wrong = format!("{user}:wrong-password@{rest}");
    let err = fails(&["study", "list", "--storage", &wrong]);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("wrong-password"), "{err}");
}

#[test]
fn export_writes_every_trial_as_jsonl_or_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    check(adjacent(&strs(&table_search(&out, "evolution", 20, &[]))));
    let db = out.join("study.db");
    let jsonl = check(adjacent(&[
        "study",
        "export",
        "--storage",
        db.to_str().unwrap(),
        "--study",
        "search",
    ]));
    let rows: Vec<Value> = String::from_utf8_lossy(&jsonl.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 20);
    let csv_path = dir.path().join("trials.csv");
    check(adjacent(&[
        "study",
        "export",
        "--storage",
        db.to_str().unwrap(),
        "--study",
        "search",
        "--format",
        "csv",
        "--out",
        csv_path.to_str().unwrap(),
    ]));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(csv.lines().count(), 21);
    assert!(csv.starts_with("id,state,parent,mutation,valid_acc"));
    let show = check(adjacent(&[
        "study",
        "show",
        "--storage",
        db.to_str().unwrap(),
        "--study",
        "search",
    ]));
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["study"]["complete"], 20);
    assert_eq!(shown["study"]["strategy"], "evolution");
}

#[test]
fn a_damaged_parent_weight_file_fails_its_children_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("asha");
    let args = trained_search(dir.path(), &out, "asha", "9");
    kill_after(&args, &out, 4);
    // One flipped bit in every kept network: the files still parse; their checksums tell.
    for entry in std::fs::read_dir(out.join("weights")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            let mut bytes = std::fs::read(&path).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0x01;
            std::fs::write(&path, bytes).unwrap();
        }
    }
    // The resumed search runs the rest: children of a damaged network fail with the reason, and
    // a damaged winner stops the final phase with it; nothing is trained on wrong weights.
    let resumed = adjacent(&strs(&args));
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let trials = records(&out);
    let damaged: Vec<&Value> = trials.iter().filter(|t| t["state"] == "failed").collect();
    for t in &damaged {
        let reason = t["reason"].as_str().unwrap();
        assert!(
            reason.contains("cannot load the weights of parent") && reason.contains("damaged"),
            "{reason}"
        );
    }
    match resumed.status.success() {
        true => {
            assert_eq!(trials.len(), 9);
            assert!(!damaged.is_empty(), "{trials:#?}");
        }
        false => assert!(stderr.contains("damaged"), "{stderr}"),
    }
}

#[test]
fn a_postgres_study_carries_networks_between_machines_in_the_database() {
    let Some(url) = postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("asha");
    let name = unique("weights");
    let mut args = trained_search(dir.path(), &out, "asha", "9");
    args.extend([
        "--storage".to_string(),
        url.clone(),
        "--study".to_string(),
        name.clone(),
    ]);
    kill_after(&args, &out, 4);
    // Another machine: the worker sees the database and nothing of this folder.
    let weights = out.join("weights");
    std::fs::remove_dir_all(&weights).unwrap();
    let worker = check(adjacent(&["worker", "--storage", &url, "--study", &name]));
    assert!(String::from_utf8_lossy(&worker.stdout).contains("the study is over"));
    assert!(
        !weights.exists(),
        "the worker wrote into the search's folder"
    );
    // The search, resumed, takes every network it needs from the database.
    check(adjacent(&strs(&args)));
    let trials = records(&out);
    assert_eq!(trials.len(), 9);
    assert!(
        trials.iter().all(|t| t["state"] == "complete"),
        "{trials:#?}"
    );
    let by_id: HashMap<u64, &Value> = trials
        .iter()
        .map(|t| (t["id"].as_u64().unwrap(), t))
        .collect();
    assert!(trials.iter().any(|t| {
        t["inherit"] == Value::Bool(true)
            && t["worker"] != by_id[&t["parent"].as_u64().unwrap()]["worker"]
    }));
    assert!(out.join("best").join("model.safetensors").exists());
}

#[test]
fn an_older_schema_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    check(adjacent(&strs(&table_search(&out, "random", 3, &[]))));
    let db = out.join("study.db");
    // The database as schema version 1 left it: no table of networks.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "DROP TABLE networks; UPDATE meta SET value = '1' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let list = check(adjacent(&[
        "study",
        "list",
        "--storage",
        db.to_str().unwrap(),
    ]));
    assert!(String::from_utf8_lossy(&list.stdout).contains("3 complete"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, adjacent_store::SCHEMA_VERSION.to_string());
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('weights', 'networks')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Migrations 2 and 3 ran in order: the table of networks by trial came and went.
    assert_eq!(tables, 1);
}
