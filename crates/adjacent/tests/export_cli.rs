//! `adjacent export` and `search --export` as a user runs them (the exported numbers are checked
//! in a real runtime by adjacent-nn's tests/onnx.rs, and by benches/export's scripts).

mod common;

use std::path::Path;

use common::{adjacent, fails};

const CELL: &str = adjacent_core::cell::DEFAULT_CELL;

/// A model trained briefly on 600 built-in images, saved in `out`.
fn trained_model(out: &Path) {
    let run = adjacent(&[
        "train",
        "--arch",
        CELL,
        "--channels",
        "2",
        "--epochs",
        "1",
        "--subset",
        "600",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn export_writes_onnx_and_pytorch_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    trained_model(&model);
    let model = model.to_str().unwrap();
    let onnx = dir.path().join("model.onnx");
    let reference = dir.path().join("reference.json");
    let run = adjacent(&[
        "export",
        "--model",
        model,
        "--out",
        onnx.to_str().unwrap(),
        "--reference",
        reference.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("ONNX opset 17"), "{stdout}");
    let bytes = std::fs::read(&onnx).unwrap();
    assert!(bytes.len() > 1000, "an ONNX file of {} bytes", bytes.len());
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&reference).unwrap()).unwrap();
    assert_eq!(reference["shape"], serde_json::json!([8, 1, 28, 28]));
    assert_eq!(reference["logits"].as_array().unwrap().len(), 8 * 10);

    let torch = dir.path().join("torch");
    let torch = torch.to_str().unwrap();
    let run = adjacent(&[
        "export", "--model", model, "--format", "pytorch", "--out", torch,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let module = std::fs::read_to_string(Path::new(torch).join("model.py")).unwrap();
    assert!(module.contains("class Network(nn.Module)"), "{module}");
    assert!(module.contains(CELL), "the genotype is in model.py");
    let weights = std::fs::read(Path::new(torch).join("weights.safetensors")).unwrap();
    let names = safetensors_names(&weights);
    for name in [
        "stem_conv.weight",
        "stem_bn.running_var",
        "stages.0.0.edges.0.conv.weight",
        "reductions.1.shortcut.weight",
        "classifier.weight",
    ] {
        assert!(names.iter().any(|n| n == name), "no {name} in {names:?}");
    }

    // What exists is kept unless --force.
    let again = fails(&["export", "--model", model, "--out", onnx.to_str().unwrap()]);
    assert!(
        again.contains("already exists") && again.contains("--force"),
        "{again}"
    );
    assert_eq!(std::fs::read(&onnx).unwrap(), bytes);
    let again = fails(&[
        "export", "--model", model, "--format", "pytorch", "--out", torch,
    ]);
    assert!(again.contains("already exists"), "{again}");
    let forced = adjacent(&[
        "export",
        "--model",
        model,
        "--out",
        onnx.to_str().unwrap(),
        "--force",
    ]);
    assert!(forced.status.success());
}

/// The tensor names of a safetensors file (its JSON header).
fn safetensors_names(bytes: &[u8]) -> Vec<String> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

#[test]
fn bad_export_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.onnx");
    let out = out.to_str().unwrap();
    // A folder without a model.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = fails(&["export", "--model", empty.to_str().unwrap(), "--out", out]);
    assert!(err.contains("arch.json"), "{err}");
    // Weights missing, then damaged.
    let model = dir.path().join("model");
    trained_model(&model);
    let weights = model.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    std::fs::remove_file(&weights).unwrap();
    let err = fails(&["export", "--model", model.to_str().unwrap(), "--out", out]);
    assert!(
        err.contains("model.safetensors") && err.contains("missing"),
        "{err}"
    );
    std::fs::write(&weights, &good[..good.len() / 2]).unwrap();
    let err = fails(&["export", "--model", model.to_str().unwrap(), "--out", out]);
    assert!(err.contains("model.safetensors"), "{err}");
    assert!(
        !Path::new(out).exists(),
        "nothing is written from a damaged model"
    );
    // An unknown format.
    let err = fails(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--format",
        "tflite",
        "--out",
        out,
    ]);
    assert!(err.contains("tflite") && err.contains("onnx"), "{err}");
}

#[test]
fn a_search_exports_its_delivered_model_beside_best() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let run = adjacent(&[
        "search",
        "--strategy",
        "fixed",
        "--arch",
        CELL,
        "--channels",
        "2",
        "--subset",
        "600",
        "--valid",
        "150",
        "--budget-images",
        "900",
        "--export",
        "onnx",
        "--export",
        "pytorch",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.join("best.onnx").is_file());
    assert!(out.join("best-pytorch/model.py").is_file());
    assert!(out.join("best-pytorch/weights.safetensors").is_file());
}
