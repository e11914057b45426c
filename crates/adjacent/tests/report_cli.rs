//! `adjacent report` on hand-written search folders.

mod common;

use std::path::Path;

use common::{adjacent, fails};

const T: u64 = 1_000_000_000_000;

/// A search folder: trials at (compute so far, validation accuracy), and a final model of
/// validation accuracy `final_valid` that brings the compute to `total`.
fn fake_run(
    dir: &Path,
    strategy: &str,
    seed: u64,
    curve: &[(u64, f64)],
    final_valid: f64,
    total: u64,
) -> String {
    let out = dir.join(format!("{strategy}-{seed}"));
    std::fs::create_dir_all(&out).unwrap();
    // Each trial's record holds its own compute: the curve's steps.
    let mut before = 0;
    let lines: Vec<String> = curve
        .iter()
        .map(|&(flops, acc)| {
            let own = flops - before;
            before = flops;
            format!(r#"{{"valid_acc": {acc}, "images": 1, "flops": {own}}}"#)
        })
        .collect();
    std::fs::write(out.join("trials.jsonl"), lines.join("\n") + "\n").unwrap();
    let best = curve.iter().map(|c| c.1).fold(f64::NAN, f64::max);
    let best = match best.is_nan() {
        true => "null".to_string(),
        false => best.to_string(),
    };
    let summary = format!(
        r#"{{"strategy": "{strategy}", "seed": {seed}, "valid_acc": {final_valid}, "test_acc": {}, "params": 1000, "best_valid_acc": {best}, "trials": {}, "images": 5, "flops": {total}, "seconds": 10.0}}"#,
        final_valid - 0.5,
        curve.len(),
    );
    std::fs::write(out.join("summary.json"), summary).unwrap();
    out.to_str().unwrap().to_string()
}

#[test]
fn report_tables_the_final_models_and_the_compute_to_reach_the_control() {
    let dir = tempfile::tempdir().unwrap();
    let runs = [
        // The control: no trials, one final model with the whole budget.
        fake_run(dir.path(), "fixed", 0, &[], 90.0, 4 * T),
        fake_run(dir.path(), "fixed", 1, &[], 91.0, 4 * T),
        fake_run(
            dir.path(),
            "adjacent",
            0,
            &[(T / 2, 80.0), (T, 90.6), (2 * T, 90.0)],
            92.0,
            4 * T,
        ),
        fake_run(
            dir.path(),
            "adjacent",
            1,
            &[(T, 89.0), (3 * T, 91.0)],
            91.5,
            4 * T,
        ),
    ];
    let plot = dir.path().join("curves.svg");
    let mut args = vec!["report", "--plot", plot.to_str().unwrap()];
    args.extend(runs.iter().map(String::as_str));
    let out = adjacent(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Per strategy: the final models' test and validation accuracy, then the search's best.
    assert!(
        stdout.contains("| adjacent | 2 | 91.25 +- 0.25 | 91.75 +- 0.25 | 90.80 +- 0.20 | 1000 +- 0 | 4.000 +- 0.000 |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| fixed | 2 | 90.00 +- 0.50 | 90.50 +- 0.50 | - |"),
        "{stdout}"
    );
    // The control's final validation accuracy is 90.5 (median of 90 and 91); adjacent reached
    // it at 1 T (seed 0) and 3 T (seed 1): a median of 2 T, half the control's 4 T.
    assert!(
        stdout.contains("final validation accuracy 90.50%"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reached it at: 1.000, 3.000 TFLOPs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2.000 TFLOPs = 0.500 of the baseline's"),
        "{stdout}"
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("adjacent (2 runs)") && svg.contains("fixed (2 runs)"));
    assert!(svg.contains("TFLOPs"));

    let err = fails(&["report", "--plot", "x.png", &runs[0]]);
    assert!(err.contains("only SVG"), "{err}");
    let err = fails(&["report", dir.path().join("missing").to_str().unwrap()]);
    assert!(err.contains("summary.json"), "{err}");
    let broken = dir.path().join("fixed-0/trials.jsonl");
    std::fs::write(&broken, "{\"valid_acc\": oops}\n").unwrap();
    let err = fails(&["report", &runs[0]]);
    assert!(err.contains("trials.jsonl, line 1"), "{err}");
}

#[test]
fn searches_from_before_compute_was_recorded_are_reported_against_images() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("old");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("trials.jsonl"),
        "{\"valid_acc\": 80.0, \"images\": 100}\n{\"valid_acc\": 85.0, \"images\": 200}\n",
    )
    .unwrap();
    std::fs::write(
        out.join("summary.json"),
        r#"{"strategy": "adjacent", "seed": 0, "best_valid_acc": 85.0, "test_acc": 84.0, "params": 7, "trials": 2, "images": 300, "seconds": 1.0}"#,
    )
    .unwrap();
    let old = out.to_str().unwrap();
    let run = adjacent(&["report", old]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success());
    assert!(stdout.contains("| images |"), "{stdout}");
    assert!(
        stdout.contains("| 300 | 85.00 | 85.00 | 84.00 | 7 |"),
        "{stdout}"
    );
    // Old and new searches are not drawn on one axis.
    let new = fake_run(dir.path(), "fixed", 0, &[], 90.0, T);
    let err = fails(&["report", old, &new]);
    assert!(err.contains("separately"), "{err}");
}

#[test]
fn an_html_report_is_not_written_over_a_file_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let control = fake_run(dir.path(), "fixed", 0, &[], 90.0, 4 * T);
    let html = dir.path().join("report.html");
    std::fs::write(&html, "mine").unwrap();
    let err = fails(&["report", "--html", html.to_str().unwrap(), &control]);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&html).unwrap(), "mine");
    let out = adjacent(&[
        "report",
        "--force",
        "--html",
        html.to_str().unwrap(),
        &control,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("fixed-0"));
    let err = fails(&["report", "--html", dir.path().to_str().unwrap(), &control]);
    assert!(err.contains("is a folder"), "{err}");
    // A damaged trials file is named with its line, and no page is written.
    let run = fake_run(dir.path(), "adjacent", 0, &[(T, 90.0)], 91.0, 4 * T);
    std::fs::write(Path::new(&run).join("trials.jsonl"), "{\"id\": 0, oops}\n").unwrap();
    let other = dir.path().join("other.html");
    let err = fails(&["report", "--html", other.to_str().unwrap(), &control, &run]);
    assert!(
        err.contains("trials.jsonl") && err.contains("line 1"),
        "{err}"
    );
    assert!(!other.exists());
}
