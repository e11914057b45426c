//! Training end to end on a slice of the built-in data, saving and reloading, and divergence.

mod common;

use adjacent_core::network::NetworkArch;
use adjacent_core::schedule::Schedule;
use adjacent_data::{self as data, BadImagePolicy, Normalization};
use adjacent_nn::checkpoint::{self, ModelCard};
use adjacent_nn::net::Network;
use adjacent_nn::train::{self, Devices, RunEnd, TrainConfig};
use burn::module::Module;
use burn::prelude::*;
use common::seeded;

const CELL: &str = adjacent_core::cell::DEFAULT_CELL;

struct Fixture {
    train: data::ImageSet,
    test: data::ImageSet,
    norm: Normalization,
    arch: NetworkArch,
    devices: Devices,
}

fn fixture(train_images: usize) -> Fixture {
    let data = data::load("builtin", BadImagePolicy::Fail).unwrap();
    let train = data.train.select(&data.train.stratified(train_images, 1));
    let test = data.test.select(&data.test.stratified(500, 2));
    let norm = Normalization::of(&train);
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), 4, 1, 1, 10);
    let devices = Devices::new(Device::flex());
    devices.train.seed(3);
    Fixture {
        train,
        test,
        norm,
        arch,
        devices,
    }
}

#[test]
fn a_tiny_training_beats_chance_by_a_wide_margin() {
    let _seeded = seeded();
    let f = fixture(1500);
    let config = TrainConfig {
        epochs: 3,
        batch: 64,
        lr: 0.1,
        schedule: Schedule::Cosine,
        ..TrainConfig::default()
    };
    let model = Network::new(&f.arch, &f.devices.train);
    let mut epochs_seen = 0;
    let (model, reports, end) = train::train(
        model,
        &f.train,
        Some(&f.test),
        &f.norm,
        &config,
        &f.devices,
        &mut |e| {
            if let train::Event::Epoch(_) = e {
                epochs_seen += 1;
            }
        },
    )
    .unwrap();
    assert_eq!(end, RunEnd::Completed);
    assert_eq!((reports.len(), epochs_seen), (3, 3));
    assert!(reports[2].train_loss < reports[0].train_loss, "{reports:?}");
    let acc = train::evaluate(&model, &f.test, &f.norm, 128, &f.devices);
    // Chance is 10%.
    assert!(acc > 50.0, "test accuracy {acc}");
    assert_eq!(reports[2].valid_acc, Some(acc));
}

#[test]
fn a_saved_model_reloads_to_the_same_outputs() {
    let _seeded = seeded();
    let f = fixture(300);
    let config = TrainConfig {
        epochs: 1,
        batch: 50,
        ..TrainConfig::default()
    };
    let model = Network::new(&f.arch, &f.devices.train);
    let (model, _, _) = train::train(
        model,
        &f.train,
        None,
        &f.norm,
        &config,
        &f.devices,
        &mut |_| {},
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let card = ModelCard {
        arch: f.arch.clone(),
        height: 28,
        width: 28,
        normalization: f.norm.clone(),
        class_names: f.train.class_names.clone(),
        old_tasks: Vec::new(),
    };
    checkpoint::save(dir.path(), &model, &card).unwrap();
    let (reloaded, card_back) = checkpoint::load(dir.path(), &f.devices.plain).unwrap();
    assert_eq!(card_back, card);
    let batch = data::loader::make_batch(
        &f.test,
        &f.norm,
        &(0..20).collect::<Vec<_>>(),
        false,
        &mut rand::SeedableRng::seed_from_u64(0),
    );
    let x = Tensor::<4>::from_data(
        TensorData::new(batch.images, [20, 1, 28, 28]),
        &f.devices.plain,
    );
    let a: Vec<f32> = model
        .valid()
        .forward(x.clone())
        .to_data()
        .try_to_vec()
        .unwrap();
    let b: Vec<f32> = reloaded.forward(x).to_data().try_to_vec().unwrap();
    assert_eq!(a, b);
    assert_eq!(
        train::evaluate(&model, &f.test, &f.norm, 100, &f.devices),
        train::evaluate(&reloaded, &f.test, &f.norm, 100, &f.devices)
    );
}

#[test]
fn a_damaged_model_folder_is_reported() {
    let _seeded = seeded();
    let f = fixture(100);
    let dir = tempfile::tempdir().unwrap();
    let err = checkpoint::load(dir.path(), &f.devices.plain)
        .unwrap_err()
        .to_string();
    assert!(err.contains("arch.json"), "{err}");
    let card = ModelCard {
        arch: f.arch.clone(),
        height: 28,
        width: 28,
        normalization: f.norm.clone(),
        class_names: vec![],
        old_tasks: Vec::new(),
    };
    let model = Network::new(&f.arch, &f.devices.plain);
    checkpoint::save(dir.path(), &model, &card).unwrap();
    // Weights of another architecture.
    let wider = NetworkArch {
        channels: 8,
        ..f.arch.clone()
    };
    let mut text = std::fs::read_to_string(dir.path().join("arch.json")).unwrap();
    text = text.replace("\"channels\": 4", "\"channels\": 8");
    std::fs::write(dir.path().join("arch.json"), &text).unwrap();
    assert_eq!(checkpoint::read_card(dir.path()).unwrap().arch, wider);
    assert!(checkpoint::load(dir.path(), &f.devices.plain).is_err());
    std::fs::write(dir.path().join("arch.json"), "{\"channels\": 4,").unwrap();
    let err = checkpoint::load(dir.path(), &f.devices.plain)
        .unwrap_err()
        .to_string();
    assert!(err.contains("arch.json") && err.contains("line 1"), "{err}");
}

#[test]
fn training_by_images_stops_within_the_limit_and_follows_its_span_of_the_schedule() {
    let _seeded = seeded();
    let f = fixture(300);
    // 300 images a pass in batches of 64 (4 x 64 + 44): 700 images are two passes and one batch
    // of the third (664); a fourth batch would pass the limit.
    let config = TrainConfig {
        images: Some(700),
        span: [0.5, 1.0],
        batch: 64,
        lr: 0.1,
        schedule: Schedule::Cosine,
        ..TrainConfig::default()
    };
    let model = Network::new(&f.arch, &f.devices.train);
    let (mut lrs, mut trained) = (Vec::new(), Vec::new());
    let (_, reports, end) = train::train(
        model,
        &f.train,
        None,
        &f.norm,
        &config,
        &f.devices,
        &mut |e| {
            if let train::Event::Step { lr, trained: t, .. } = e {
                lrs.push(lr);
                trained.push(t);
            }
        },
    )
    .unwrap();
    assert_eq!(end, RunEnd::Completed);
    assert_eq!(reports.iter().map(|r| r.images).sum::<usize>(), 664);
    assert_eq!(reports.len(), 3);
    assert_eq!(lrs.len(), 11);
    assert_eq!(
        trained.last(),
        Some(&664),
        "each step says what the run has trained on"
    );
    assert!(trained.windows(2).all(|w| w[0] < w[1]));
    // The run is the second half of a cosine: it starts at half the peak and falls towards 0.
    assert!((lrs[0] - 0.05).abs() < 1e-12, "{lrs:?}");
    assert!(lrs.windows(2).all(|w| w[1] < w[0]), "{lrs:?}");
    assert!(lrs[10] > 0.0 && lrs[10] < 0.005, "{lrs:?}");
    let bad = TrainConfig {
        span: [0.6, 0.4],
        ..config
    };
    assert!(bad.validate().unwrap_err().to_string().contains("span"));
}

#[test]
fn divergence_ends_the_run_with_where_it_happened() {
    let _seeded = seeded();
    let f = fixture(400);
    let config = TrainConfig {
        epochs: 3,
        batch: 50,
        lr: 1e30,
        schedule: Schedule::Constant,
        weight_decay: 0.0,
        ..TrainConfig::default()
    };
    let model = Network::new(&f.arch, &f.devices.train);
    let (_, reports, end) = train::train(
        model,
        &f.train,
        None,
        &f.norm,
        &config,
        &f.devices,
        &mut |_| {},
    )
    .unwrap();
    match end {
        RunEnd::Diverged { epoch, step, loss } => {
            assert!(!loss.is_finite());
            assert_eq!(reports.len(), epoch - 1);
            assert!(step >= 2, "the first step's loss is finite");
            assert!(
                end.to_string()
                    .starts_with(&format!("diverged at epoch {epoch}, step {step}"))
            );
        }
        RunEnd::Completed => panic!("a learning rate of 1e30 must diverge"),
    }
}

#[test]
fn clipping_bounds_the_global_gradient_norm() {
    let _seeded = seeded();
    let f = fixture(64);
    let model = Network::new(&f.arch, &f.devices.train);
    let batch = data::loader::make_batch(
        &f.train,
        &f.norm,
        &(0..32).collect::<Vec<_>>(),
        false,
        &mut rand::SeedableRng::seed_from_u64(0),
    );
    let x = Tensor::<4>::from_data(
        TensorData::new(batch.images, [32, 1, 28, 28]),
        &f.devices.train,
    );
    let loss = model.forward(x).sum();
    let mut grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
    let before = train::clip_global_norm(&model, &mut grads, 1e-3);
    assert!(before > 1e-3);
    let after = train::clip_global_norm(&model, &mut grads, 1e9);
    assert!((after - 1e-3).abs() < 1e-5, "norm after clipping {after}");
}

#[test]
fn bad_settings_name_the_field() {
    let _seeded = seeded();
    for (config, field) in [
        (
            TrainConfig {
                epochs: 0,
                ..TrainConfig::default()
            },
            "epochs",
        ),
        (
            TrainConfig {
                lr: -1.0,
                ..TrainConfig::default()
            },
            "lr",
        ),
        (
            TrainConfig {
                momentum: 1.0,
                ..TrainConfig::default()
            },
            "momentum",
        ),
        (
            TrainConfig {
                label_smoothing: 1.0,
                ..TrainConfig::default()
            },
            "label_smoothing",
        ),
        (
            TrainConfig {
                clip_norm: Some(0.0),
                ..TrainConfig::default()
            },
            "clip_norm",
        ),
    ] {
        assert!(
            config.validate().unwrap_err().to_string().contains(field),
            "{field}"
        );
    }
}
