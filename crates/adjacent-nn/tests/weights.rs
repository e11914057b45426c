//! Weights kept by trial: what goes in comes out, and a damaged store says what is wrong.

mod common;

use adjacent_core::network::NetworkArch;
use adjacent_core::trial::TrialId;
use adjacent_nn::net::Network;
use adjacent_nn::weights::{FolderStore, WeightStore};
use burn::prelude::*;
use burn::tensor::Distribution;
use common::{logits, seeded};

const CELL: &str =
    "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|";

#[test]
fn a_kept_network_comes_back_unchanged() {
    let _seeded = seeded();
    let device = Device::flex();
    device.seed(1);
    let dir = tempfile::tempdir().unwrap();
    let store = FolderStore::new(dir.path().join("weights")).unwrap();
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), 4, 2, 1, 10);
    let model = Network::new(&arch, &device);
    let x = Tensor::<4>::random([3, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    assert!(!store.contains(TrialId(7)));
    store.put(TrialId(7), &model, &arch).unwrap();
    assert!(store.contains(TrialId(7)));
    let (back, arch_back) = store.get(TrialId(7), &device).unwrap();
    assert_eq!(arch_back, arch);
    assert_eq!(logits(&back, &x), logits(&model, &x));
    // Putting again replaces, and leaves no temporary file behind.
    let other = Network::new(&arch, &device);
    store.put(TrialId(7), &other, &arch).unwrap();
    assert_eq!(
        logits(&store.get(TrialId(7), &device).unwrap().0, &x),
        logits(&other, &x)
    );
    let names: Vec<String> = std::fs::read_dir(dir.path().join("weights"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn missing_and_damaged_weights_are_named() {
    let _seeded = seeded();
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let store = FolderStore::new(dir.path()).unwrap();
    let err = store.get(TrialId(3), &device).unwrap_err().to_string();
    assert!(err.contains("3.arch.json"), "{err}");
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), 4, 1, 1, 10);
    store
        .put(TrialId(3), &Network::new(&arch, &device), &arch)
        .unwrap();
    // An architecture that the weights do not fit.
    let wider = NetworkArch {
        channels: 6,
        ..arch.clone()
    };
    std::fs::write(
        dir.path().join("3.arch.json"),
        serde_json::to_string(&wider).unwrap(),
    )
    .unwrap();
    let err = store.get(TrialId(3), &device).unwrap_err().to_string();
    assert!(err.contains("3.safetensors"), "{err}");
    std::fs::write(
        dir.path().join("3.arch.json"),
        serde_json::to_string(&arch).unwrap(),
    )
    .unwrap();
    // One flipped bit in a weight: the file still parses, and only its checksum tells.
    let path = dir.path().join("3.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let err = store.get(TrialId(3), &device).unwrap_err().to_string();
    assert!(
        err.contains("3.safetensors") && err.contains("damaged"),
        "{err}"
    );
    // Without a checksum (weights kept before there were any), a file that is not safetensors.
    std::fs::remove_file(dir.path().join("3.crc32")).unwrap();
    std::fs::write(&path, b"not safetensors").unwrap();
    let err = store.get(TrialId(3), &device).unwrap_err().to_string();
    assert!(
        err.contains("3.safetensors") && err.contains("cannot load"),
        "{err}"
    );
    std::fs::write(dir.path().join("3.arch.json"), "{").unwrap();
    let err = store.get(TrialId(3), &device).unwrap_err().to_string();
    assert!(
        err.contains("3.arch.json") && err.contains("line 1"),
        "{err}"
    );
}
