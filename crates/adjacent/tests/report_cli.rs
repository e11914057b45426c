//! `adjacent report` on hand-written search folders.

mod common;

use std::path::Path;

use common::{adjacent, fails};

fn fake_run(dir: &Path, strategy: &str, seed: u64, curve: &[(u64, f64)]) -> String {
    let out = dir.join(format!("{strategy}-{seed}"));
    std::fs::create_dir_all(&out).unwrap();
    let lines: Vec<String> = curve
        .iter()
        .map(|(images, acc)| format!(r#"{{"valid_acc": {acc}, "images_total": {images}}}"#))
        .collect();
    std::fs::write(out.join("trials.jsonl"), lines.join("\n") + "\n").unwrap();
    let best = curve.iter().map(|c| c.1).fold(f64::MIN, f64::max);
    let summary = format!(
        r#"{{"strategy": "{strategy}", "seed": {seed}, "best_valid_acc": {best}, "test_acc": {}, "best_params": 1000, "trials": {}, "images": {}, "seconds": 10.0}}"#,
        best - 1.0,
        curve.len(),
        curve.last().unwrap().0
    );
    std::fs::write(out.join("summary.json"), summary).unwrap();
    out.to_str().unwrap().to_string()
}

#[test]
fn report_tables_the_runs_and_measures_images_to_reach_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let runs = [
        fake_run(
            dir.path(),
            "evolution",
            0,
            &[(100, 80.0), (200, 85.0), (300, 84.0)],
        ),
        fake_run(dir.path(), "evolution", 1, &[(100, 82.0), (300, 86.0)]),
        fake_run(
            dir.path(),
            "adjacent",
            0,
            &[(50, 84.0), (90, 85.5), (300, 88.0)],
        ),
        fake_run(dir.path(), "adjacent", 1, &[(80, 86.0), (300, 87.0)]),
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
    assert!(
        stdout.contains("| adjacent | 2 | 87.50 +- 0.50 |"),
        "{stdout}"
    );
    // Evolution's final bests are 85 and 86: median 85.5, reached by adjacent at 90 and 80
    // images; the median of those over a budget of 300 images.
    assert!(
        stdout.contains("final best validation accuracy 85.50%"),
        "{stdout}"
    );
    assert!(stdout.contains("after 90, 80 images"), "{stdout}");
    assert!(
        stdout.contains("85 images = 0.283 of the baseline's"),
        "{stdout}"
    );
    assert!(stdout.contains("| 1000 +- 0 |"), "{stdout}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("adjacent (2 runs)") && svg.contains("evolution (2 runs)"));

    let err = fails(&["report", "--plot", "x.png", &runs[0]]);
    assert!(err.contains("only SVG"), "{err}");
    let err = fails(&["report", dir.path().join("missing").to_str().unwrap()]);
    assert!(err.contains("summary.json"), "{err}");
}
