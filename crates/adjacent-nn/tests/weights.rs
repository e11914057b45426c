//! Networks kept by content hash: what goes in comes out, the same network is kept once, and a
//! damaged store says what is wrong.

mod common;

use adjacent_core::network::NetworkArch;
use adjacent_nn::net::Network;
use adjacent_nn::weights::{FolderStore, WeightStore};
use burn::prelude::*;
use burn::tensor::Distribution;
use common::{logits, seeded};

const CELL: &str =
    "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|";

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_kept_network_comes_back_unchanged_under_its_hash() {
    let _seeded = seeded();
    let device = Device::flex();
    device.seed(1);
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("weights");
    let store = FolderStore::new(&folder).unwrap();
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), 4, 2, 1, 10);
    let model = Network::new(&arch, &device);
    let x = Tensor::<4>::random([3, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let hash = store.put(&model, &arch).unwrap();
    assert!(store.contains(&hash));
    let (back, arch_back) = store.get(&hash, &device).unwrap();
    assert_eq!(arch_back, arch);
    assert_eq!(logits(&back, &x), logits(&model, &x));
    assert_eq!(
        names(&folder),
        [format!("{hash}.arch.json"), format!("{hash}.safetensors")]
    );
    // The same network again: the same hash, kept once.
    assert_eq!(store.put(&model, &arch).unwrap(), hash);
    assert_eq!(store.put(&back, &arch).unwrap(), hash);
    assert_eq!(names(&folder).len(), 2);
    // Other weights, or the same weights under another architecture (a parameter-free op
    // replaced by another keeps every weight): another hash, and both stay.
    let other = Network::new(&arch, &device);
    let other_hash = store.put(&other, &arch).unwrap();
    assert_ne!(other_hash, hash);
    let pooled = NetworkArch::uniform(
        CELL.replace("avg_pool_3x3~2", "skip_connect~2")
            .parse()
            .unwrap(),
        4,
        2,
        1,
        10,
    );
    assert_ne!(store.put(&model, &pooled).unwrap(), hash);
    assert_eq!(
        logits(&store.get(&other_hash, &device).unwrap().0, &x),
        logits(&other, &x)
    );
    assert_eq!(
        logits(&store.get(&hash, &device).unwrap().0, &x),
        logits(&model, &x)
    );
    // No temporary file is left behind.
    assert!(names(&folder).iter().all(|n| !n.starts_with(".tmp")));
}

#[test]
fn missing_and_damaged_networks_are_named() {
    let _seeded = seeded();
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let store = FolderStore::new(dir.path()).unwrap();
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), 4, 1, 1, 10);
    let hash = store.put(&Network::new(&arch, &device), &arch).unwrap();
    let (weights, arch_path) = store.paths(&hash);
    // One flipped bit in a weight: the file still parses, and only its hash tells.
    let good = std::fs::read(&weights).unwrap();
    let mut bytes = good.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&weights, &bytes).unwrap();
    let err = store.get(&hash, &device).unwrap_err().to_string();
    let name = format!("{hash}.safetensors");
    assert!(err.contains(&name) && err.contains("damaged"), "{err}");
    std::fs::write(&weights, &good).unwrap();
    store.get(&hash, &device).unwrap();
    // An architecture that the weights do not fit is caught by the hash too.
    let wider = NetworkArch {
        channels: 6,
        ..arch.clone()
    };
    let kept_arch = std::fs::read(&arch_path).unwrap();
    std::fs::write(&arch_path, serde_json::to_string(&wider).unwrap()).unwrap();
    let err = store.get(&hash, &device).unwrap_err().to_string();
    assert!(err.contains("damaged"), "{err}");
    std::fs::write(&arch_path, kept_arch).unwrap();
    // A missing file is named.
    std::fs::remove_file(&weights).unwrap();
    let err = store.get(&hash, &device).unwrap_err().to_string();
    assert!(err.contains(&name), "{err}");
    // An import whose bytes do not hash to the name is refused, and nothing is written.
    let mut files = adjacent_nn::weights::WeightFiles {
        weights: good,
        arch: std::fs::read_to_string(&arch_path).unwrap(),
    };
    files.weights[0] ^= 1;
    let err = store.import(&hash, &files).unwrap_err().to_string();
    assert!(err.contains("damaged"), "{err}");
    assert!(!weights.exists());
    files.weights[0] ^= 1;
    store.import(&hash, &files).unwrap();
    store.get(&hash, &device).unwrap();
}
