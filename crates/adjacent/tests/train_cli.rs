//! `adjacent train` and `adjacent eval` as a user runs them.

mod common;

use std::process::Output;

use common::{adjacent, fails};

const CELL: &str = adjacent_core::cell::DEFAULT_CELL;

fn quick_train(out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--arch",
        CELL,
        "--channels",
        "4",
        "--cells",
        "1",
        "--epochs",
        "1",
        "--subset",
        "600",
        "--batch",
        "64",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    adjacent(&args)
}

#[test]
fn train_writes_its_outputs_and_eval_reproduces_the_test_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    let run = quick_train(out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    for key in [
        "epoch",
        "lr",
        "train_loss",
        "train_acc",
        "valid_acc",
        "seconds",
    ] {
        assert!(line.get(key).is_some(), "metrics.jsonl lacks {key}: {line}");
    }
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/result.json")).unwrap())
            .unwrap();
    for key in ["valid_acc", "test_acc", "params", "epochs", "seconds"] {
        assert!(
            result.get(key).is_some(),
            "result.json lacks {key}: {result}"
        );
    }
    assert_eq!(result["status"]["status"], "completed");
    let arch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/arch.json")).unwrap())
            .unwrap();
    assert_eq!(arch["stages"][2][0], CELL);
    assert!(dir.path().join("run/model.safetensors").is_file());

    let eval = adjacent(&["eval", "--model", out]);
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let printed = String::from_utf8_lossy(&eval.stdout);
    let expected = format!("test accuracy {:.2}%", result["test_acc"].as_f64().unwrap());
    assert!(printed.contains(&expected), "{printed} vs {expected}");

    // The folder now holds a run: refused, unless --force.
    let err = fails(&[
        "train",
        "--arch",
        CELL,
        "--channels",
        "4",
        "--cells",
        "1",
        "--epochs",
        "1",
        "--subset",
        "100",
        "--out",
        out,
    ]);
    assert!(
        err.contains("already exists and is not empty") && err.contains("--force"),
        "{err}"
    );
    let forced = quick_train(out, &["--force"]);
    assert!(forced.status.success());
}

#[test]
fn bad_training_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    let err = fails(&[
        "train",
        "--arch",
        "|nor_conv_3x3~0|+|bad~0|none~1|+|none~0|none~1|none~2|",
        "--out",
        out,
    ]);
    assert!(
        err.contains("--arch") && err.contains("unknown operation \"bad\""),
        "{err}"
    );
    let err = fails(&[
        "train",
        "--arch",
        CELL,
        "--schedule",
        "sgdr:t0=0",
        "--out",
        out,
    ]);
    assert!(err.contains("t0 must be positive"), "{err}");
    let err = fails(&[
        "train",
        "--arch",
        CELL,
        "--data",
        "/nonexistent/data",
        "--out",
        out,
    ]);
    assert!(
        err.contains("/nonexistent/data") && err.contains("no such file"),
        "{err}"
    );
    let err = fails(&["train", "--arch", CELL, "--subset", "20000", "--out", out]);
    assert!(err.contains("--subset"), "{err}");
    let err = fails(&["train", "--arch", CELL, "--device", "tpu", "--out", out]);
    assert!(err.contains("valid devices: cpu, cuda:N"), "{err}");
    let err = fails(&[
        "train", "--arch", CELL, "--lr=-1", "--epochs", "1", "--subset", "100", "--out", out,
    ]);
    assert!(err.contains("lr"), "{err}");
}

#[test]
fn eval_refuses_a_model_folder_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&["eval", "--model", dir.path().to_str().unwrap()]);
    assert!(err.contains("arch.json"), "{err}");
}

#[test]
fn an_empty_existing_folder_is_used_and_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = quick_train(dir.path().to_str().unwrap(), &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let file = dir.path().join("result.json");
    let err = fails(&["train", "--arch", CELL, "--out", file.to_str().unwrap()]);
    assert!(err.contains("is a file, not a folder"), "{err}");
}

#[test]
fn train_from_a_saved_model_continues_where_it_ended() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let first = first.to_str().unwrap();
    let run = adjacent(&[
        "train",
        "--arch",
        CELL,
        "--channels",
        "4",
        "--cells",
        "1",
        "--epochs",
        "3",
        "--subset",
        "1500",
        "--batch",
        "64",
        "--out",
        first,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let loss_of = |out: &str, line: usize| -> f64 {
        let text =
            std::fs::read_to_string(std::path::Path::new(out).join("metrics.jsonl")).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.lines().nth(line).unwrap()).unwrap();
        v["train_loss"].as_f64().unwrap()
    };
    let (first_start, first_end) = (loss_of(first, 0), loss_of(first, 2));
    assert!(first_end < first_start);
    let next = dir.path().join("next");
    let next = next.to_str().unwrap();
    let run = adjacent(&[
        "train",
        "--from",
        first,
        "--epochs",
        "1",
        "--subset",
        "1500",
        "--batch",
        "64",
        "--lr",
        "0.001",
        "--schedule",
        "constant",
        "--out",
        next,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // A continued run starts near where the first ended, far below a fresh network's loss.
    let continued = loss_of(next, 0);
    assert!(
        continued < (first_start + first_end) / 2.0,
        "{continued} vs {first_start} -> {first_end}"
    );
    let arch: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(next).join("arch.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(arch["stages"][0][0], CELL);

    let err = fails(&["train", "--from", first, "--out", first]);
    assert!(err.contains("--out must differ from --from"), "{err}");
    let err = fails(&["train", "--from", first, "--arch", CELL, "--out", next]);
    assert!(err.contains("cannot be used with"), "{err}");
    let err = fails(&["train", "--out", next]);
    assert!(err.contains("--arch"), "{err}");
}

#[test]
fn a_model_refuses_data_of_another_shape_for_eval_and_is_adapted_to_it_for_training() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let model = model.to_str().unwrap();
    assert!(quick_train(model, &[]).status.success());
    // A tiny CIFAR-10 binary release: 32x32x3 images.
    let cifar = dir.path().join("cifar");
    std::fs::create_dir(&cifar).unwrap();
    let record: Vec<u8> = std::iter::once(3u8)
        .chain(std::iter::repeat_n(7u8, 3072))
        .collect();
    for name in [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ] {
        std::fs::write(cifar.join(format!("{name}.bin")), record.repeat(2)).unwrap();
    }
    let err = fails(&["eval", "--model", model, "--data", cifar.to_str().unwrap()]);
    assert!(
        err.contains("expects 1x28x28 images in 10 classes") && err.contains("3x32x32"),
        "{err}"
    );
    // Training goes on from the model on such data by adapting it first (pre-adaptation): a
    // colour stem from the grey one, a new head for CIFAR-10's classes, the old one kept.
    let next = dir.path().join("next");
    let out = adjacent(&[
        "train",
        "--from",
        model,
        "--data",
        cifar.to_str().unwrap(),
        "--valid",
        "0",
        "--epochs",
        "1",
        "--out",
        next.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("a new head; the old one kept"), "{stderr}");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(next.join("arch.json")).unwrap()).unwrap();
    assert_eq!(card["input_channels"], 3);
    assert_eq!(card["heads"], serde_json::json!([10]));
}
