//! Pre-adaptation: an adapted network computes what the old one did, on its old head and on grey
//! images fed as colour; morphisms after it keep the old head's function too.

mod common;

use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_data::{self as data, BadImagePolicy, Normalization};
use adjacent_nn::adapt::{Task, adapt, normalization_for};
use adjacent_nn::checkpoint::{self, ModelCard};
use adjacent_nn::net::Network;
use adjacent_nn::train::Devices;
use adjacent_nn::transfer::morph;
use burn::prelude::*;
use common::{logits, seeded, trained_on};

const CELL: &str =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|";

/// A grey network trained briefly on the first five built-in classes, its card, and a batch of
/// its training images.
fn trained_grey() -> (Network, ModelCard, Tensor<4>, Devices) {
    let data = data::load("builtin", BadImagePolicy::Fail)
        .unwrap()
        .with_classes("0-4")
        .unwrap();
    let set = data.train.select(&data.train.stratified(300, 4));
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), 4, 1, 1, 5);
    let (model, norm, devices) = trained_on(&arch, &set, 5);
    let batch = data::loader::make_batch(
        &set,
        &norm,
        &(0..8).collect::<Vec<_>>(),
        false,
        &mut rand::SeedableRng::seed_from_u64(0),
    );
    let x = Tensor::<4>::from_data(
        TensorData::new(batch.images, [8, 1, 28, 28]),
        &devices.plain,
    );
    let card = ModelCard {
        arch,
        height: 28,
        width: 28,
        normalization: norm,
        class_names: set.class_names.clone(),
        old_tasks: Vec::new(),
    };
    (model, card, x, devices)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
}

#[test]
fn same_classes_keep_the_head_and_the_function() {
    let _seeded = seeded();
    let (model, card, x, devices) = trained_grey();
    let task = Task {
        input_channels: 1,
        height: 32,
        width: 32,
        class_names: card.class_names.clone(),
        normalization: card.normalization.clone(),
    };
    let (adapted, new_card) = adapt(&model, &card, &task, "old/best", &devices.train).unwrap();
    assert!(new_card.arch.heads.is_empty() && new_card.old_tasks.is_empty());
    assert_eq!((new_card.height, new_card.width), (32, 32));
    close(&logits(&adapted, &x), &logits(&model, &x));
}

#[test]
fn new_classes_get_a_new_head_and_the_old_one_scores_as_before() {
    let _seeded = seeded();
    let (model, card, x, devices) = trained_grey();
    let task = Task {
        input_channels: 1,
        height: 28,
        width: 28,
        class_names: names(&["sandal", "shirt", "sneaker"]),
        normalization: card.normalization.clone(),
    };
    let (adapted, new_card) = adapt(&model, &card, &task, "old/best", &devices.train).unwrap();
    assert_eq!(new_card.arch.classes, 3);
    assert_eq!(new_card.arch.heads, vec![5]);
    assert_eq!(new_card.old_tasks.len(), 1);
    assert_eq!(new_card.old_tasks[0].class_names, card.class_names);
    assert_eq!(new_card.old_tasks[0].origin, "old/best");
    assert_eq!(new_card.head_index("old").unwrap(), 0);
    let err = new_card.head_index("old-2").unwrap_err().to_string();
    assert!(err.contains("only earlier head is `old`"), "{err}");
    // The new head starts at zero: the uniform prediction, whatever the features.
    assert_eq!(logits(&adapted, &x), vec![0.0; 8 * 3]);
    close(
        &logits(&adapted.clone().with_head(0), &x),
        &logits(&model, &x),
    );

    // Saved and loaded, the old head is still there.
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(dir.path(), &adapted, &new_card).unwrap();
    let (loaded, loaded_card) = checkpoint::load(dir.path(), &devices.plain).unwrap();
    assert_eq!(loaded_card, new_card);
    close(&logits(&loaded.with_head(0), &x), &logits(&model, &x));

    // A widening and a narrowing after the adaptation carry the old head with the trunk: the
    // widening keeps its function exactly.
    let (wide, wide_arch) = morph(
        &adapted,
        &new_card.arch,
        &Morphism::Widen { channels: 6 },
        &devices.train,
    )
    .unwrap();
    assert_eq!(wide_arch.heads, vec![5]);
    close(&logits(&wide.with_head(0), &x), &logits(&model, &x));
    let (thin, thin_arch) = morph(
        &adapted,
        &new_card.arch,
        &Morphism::Narrow { channels: 3 },
        &devices.train,
    )
    .unwrap();
    assert_eq!(thin_arch.heads, vec![5]);
    assert_eq!(logits(&thin.with_head(0), &x).len(), 8 * 5);
}

#[test]
fn a_grey_stem_adapted_to_colour_gives_the_same_on_a_repeated_grey_image() {
    let _seeded = seeded();
    let (model, card, x, devices) = trained_grey();
    let colour = Task {
        input_channels: 3,
        height: 32,
        width: 32,
        class_names: names(&["airplane", "automobile", "ship", "truck"]),
        normalization: Normalization {
            mean: vec![0.49, 0.48, 0.45],
            std: vec![0.25, 0.24, 0.26],
        },
    };
    let (adapted, new_card) = adapt(&model, &card, &colour, "old/best", &devices.train).unwrap();
    assert_eq!(new_card.arch.input_channels, 3);
    assert_eq!(
        new_card.old_tasks[0].normalization,
        normalization_for(&card.normalization, 3)
    );
    assert_eq!(new_card.old_tasks[0].normalization.mean.len(), 3);
    let x3 = Tensor::cat(vec![x.clone(), x.clone(), x.clone()], 1);
    close(
        &logits(&adapted.clone().with_head(0), &x3),
        &logits(&model, &x),
    );

    // And back to grey: colour filters summed give the colour network's logits on equal channels.
    let grey = Task {
        input_channels: 1,
        height: 28,
        width: 28,
        class_names: new_card.class_names.clone(),
        normalization: card.normalization.clone(),
    };
    let (back, back_card) = adapt(&adapted, &new_card, &grey, "new/best", &devices.train).unwrap();
    assert_eq!(back_card.arch.input_channels, 1);
    assert_eq!(back_card.old_tasks[0].normalization.mean.len(), 1);
    close(&logits(&back, &x), &logits(&adapted, &x3));
}
