// Shared by the CLI tests: run the binary, and run it expecting a clean failure.
#![allow(dead_code)]

use std::process::{Command, Output};

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
