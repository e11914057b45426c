// Shared by the CLI tests: run the binary, and run it expecting a clean failure.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn adjacent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adjacent"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs a command that must fail with a message and a non-zero exit, never a panic; returns its
/// stderr.
pub fn fails(args: &[&str]) -> String {
    let out = adjacent(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    stderr
}

/// The trial records of a search's `trials.jsonl`.
pub fn records(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("trials.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A finished search's `summary.json`.
pub fn summary(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// Settings of tiny networks for the CLI tests: the start network at width 4, at most two cells a
/// stage and eight channels, batches of 64; `$train` is added to `[train]`, and `$rest` (other
/// tables) follows it.
#[macro_export]
macro_rules! tiny_settings {
    ($train:literal, $rest:literal) => {
        concat!(
            "start_channels = 4\n\n[limits]\nmax_cells = 2\nmax_channels = 8\n\n[train]\nbatch = 64\n",
            $train,
            "\n",
            $rest
        )
    };
}

/// Tiny networks and budgets: the start network at width 4 (no random starts), two decisions of
/// two morphisms each.
pub const TINY_ADJACENT: &str = crate::tiny_settings!(
    "",
    r#"
[adjacent]
decisions = 2
epochs = 0
children = 2
probe = 0.06
random_starts = 0
preserving = 0.75
margin = 0.0
"#
);

/// Tiny settings for a planned growth: the start network at width 4 and one random start; the
/// budget pays a wider network a twentieth of an image a parameter, within the limit of 8 channels.
pub const TINY_GROWTH: &str = crate::tiny_settings!(
    "",
    r#"
[adjacent]
random_starts = 1
probe = 0.03
epochs = 3
grow_from = 2
"#
);

/// The NAS-Bench-201 table the project ships.
pub const TABLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/nb201_cifar10.csv.gz"
);

/// A process killed when the test ends, even when it fails.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_adjacent"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

pub fn succeeded(child: Child) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn check(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits until `done` holds (or panics after a minute).
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The trials of the study in `db` (SQLite), or none while it is not there yet.
pub fn stored(db: &Path) -> Vec<adjacent_store::Row> {
    if !db.exists() {
        return Vec::new();
    }
    let Ok(mut backend) = adjacent_store::open(&db.display().to_string()) else {
        return Vec::new();
    };
    match backend.studies() {
        Ok(studies) if !studies.is_empty() => backend.trials(studies[0].id).unwrap_or_default(),
        _ => Vec::new(),
    }
}

pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

pub fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Starts `args` and kills it (SIGKILL) once its trials.jsonl in `out` holds `trials` trials.
pub fn kill_after(args: &[String], out: &Path, trials: usize) {
    let mut search = spawn(&strs(args));
    wait_for("trials", || lines(&out.join("trials.jsonl")) >= trials);
    search.kill().unwrap();
    search.wait().unwrap();
}
