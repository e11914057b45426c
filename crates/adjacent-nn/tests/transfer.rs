//! Every function-preserving morphism leaves a trained network's logits unchanged; the others keep
//! every weight that still fits.

mod common;

use adjacent_core::morphism::{CellAt, Morphism};
use adjacent_core::network::NetworkArch;
use adjacent_core::spaces::nb201::Op;
use adjacent_data::{self as data, BadImagePolicy, Normalization};
use adjacent_nn::net::{Edge, Network};
use adjacent_nn::train::{self, Devices, TrainConfig};
use adjacent_nn::transfer::morph;
use burn::prelude::*;
use common::{logits, seeded, trained_on};

const CELL: &str =
    "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|";

/// A parent trained for one epoch (so that its batch-norm statistics are its own), its
/// architecture, and a batch of images.
fn trained_parent() -> (Network, NetworkArch, Tensor<4>, Devices) {
    let data = data::load("builtin", BadImagePolicy::Fail).unwrap();
    let set = data.train.select(&data.train.stratified(400, 4));
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), 4, 2, 1, 10);
    let (model, norm, devices) = trained_on(&arch, &set, 5);
    let batch = data::loader::make_batch(
        &set,
        &norm,
        &(0..16).collect::<Vec<_>>(),
        false,
        &mut rand::SeedableRng::seed_from_u64(0),
    );
    let x = Tensor::<4>::from_data(
        TensorData::new(batch.images, [16, 1, 28, 28]),
        &devices.plain,
    );
    (model, arch, x, devices)
}

/// `model` after one epoch on 200 built-in training images.
fn train_briefly(model: Network, devices: &Devices) -> Network {
    let data = data::load("builtin", BadImagePolicy::Fail).unwrap();
    let set = data.train.select(&data.train.stratified(200, 9));
    let norm = Normalization::of(&set);
    let config = TrainConfig {
        epochs: 1,
        batch: 50,
        ..TrainConfig::default()
    };
    train::train(model, &set, None, &norm, &config, devices, &mut |_| {})
        .unwrap()
        .0
}

#[test]
fn function_preserving_morphisms_keep_the_logits() {
    let _seeded = seeded();
    let (parent, arch, x, devices) = trained_parent();
    let before = logits(&parent, &x);
    let mut morphisms = Vec::new();
    for stage in 0..3 {
        for index in 0..2 {
            let at = CellAt { stage, index };
            morphisms.push(Morphism::AddConv {
                at,
                edge: 1,
                op: Op::NorConv3x3,
            });
            morphisms.push(Morphism::AddConv {
                at,
                edge: 4,
                op: Op::NorConv1x1,
            });
            morphisms.push(Morphism::GrowKernel { at, edge: 0 });
        }
        for index in 0..=2 {
            morphisms.push(Morphism::InsertIdentityCell {
                at: CellAt { stage, index },
            });
            morphisms.push(Morphism::InsertResidualCell {
                at: CellAt { stage, index },
            });
        }
    }
    morphisms.push(Morphism::Widen { channels: 5 });
    morphisms.push(Morphism::Widen { channels: 9 });
    morphisms.push(Morphism::Scale {
        cells: 1,
        channels: arch.channels,
    });
    morphisms.push(Morphism::Scale {
        cells: 2,
        channels: 7,
    });
    for m in morphisms {
        assert!(m.preserves_function());
        let (child, child_arch) = morph(&parent, &arch, &m, &devices.train).unwrap();
        assert_ne!(child_arch, arch, "{m}");
        let after = logits(&child, &x);
        let worst = before
            .iter()
            .zip(&after)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{m}: logits moved by {worst}");
        // The child's structure is its architecture's.
        assert_eq!(
            child.stages.iter().map(Vec::len).collect::<Vec<_>>(),
            child_arch.stages.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
}

#[test]
fn other_morphisms_change_the_function_but_keep_every_weight_that_fits() {
    let _seeded = seeded();
    let (parent, arch, x, devices) = trained_parent();
    let at = CellAt { stage: 1, index: 1 };
    let m = Morphism::ReplaceOp {
        at,
        edge: 2,
        op: Op::AvgPool3x3,
    };
    assert!(!m.preserves_function());
    let (child, child_arch) = morph(&parent, &arch, &m, &devices.train).unwrap();
    assert_eq!(child_arch.stages[1][1].op(2), Op::AvgPool3x3);
    assert!(matches!(child.stages[1][1].edges[2], Edge::Pool(_)));
    // The untouched 1x1 conv of the same cell, and a whole other cell, are the parent's weights.
    let weight = |n: &Network, s: usize, i: usize| match &n.stages[s][i].edges[0] {
        Edge::Conv(c) => c.conv.weight.val().to_data().try_to_vec::<f32>().unwrap(),
        _ => panic!("edge 0 is a conv"),
    };
    assert_eq!(weight(&child, 1, 1), weight(&parent, 1, 1));
    assert_eq!(weight(&child, 2, 0), weight(&parent, 2, 0));
    assert_ne!(logits(&child, &x), logits(&parent, &x));
    // Removing an edge.
    let (child, _) = morph(
        &parent,
        &arch,
        &Morphism::ReplaceOp {
            at,
            edge: 3,
            op: Op::None,
        },
        &devices.train,
    )
    .unwrap();
    assert!(matches!(child.stages[1][1].edges[3], Edge::None(_)));
    // Removing a cell keeps the other cells' weights.
    let (child, child_arch) = morph(
        &parent,
        &arch,
        &Morphism::RemoveCell {
            at: CellAt { stage: 2, index: 0 },
        },
        &devices.train,
    )
    .unwrap();
    assert_eq!(child.stages[2].len(), arch.stages[2].len() - 1);
    assert_eq!(child_arch.stages[2].len(), child.stages[2].len());
    assert_eq!(weight(&child, 2, 0), weight(&parent, 2, 1));
}

#[test]
fn a_morphism_that_does_not_apply_is_an_error() {
    let _seeded = seeded();
    let devices = Devices::new(Device::flex());
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), 4, 1, 1, 10);
    let parent = Network::new(&arch, &devices.plain);
    let err = morph(
        &parent,
        &arch,
        &Morphism::GrowKernel {
            at: CellAt { stage: 0, index: 0 },
            edge: 2,
        },
        &devices.plain,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("needs a nor_conv_1x1 edge"), "{err}");
}

#[test]
fn training_a_child_leaves_its_parent_untouched() {
    let _seeded = seeded();
    let (parent, arch, x, devices) = trained_parent();
    let before = logits(&parent, &x);
    let m = Morphism::AddConv {
        at: CellAt { stage: 0, index: 0 },
        edge: 1,
        op: Op::NorConv3x3,
    };
    let (child, _) = morph(&parent, &arch, &m, &devices.train).unwrap();
    let child = train_briefly(child, &devices);
    assert_eq!(
        logits(&parent, &x),
        before,
        "the parent's weights and statistics are its own"
    );
    assert_ne!(logits(&child, &x), before, "the child did train");
}

#[test]
fn widened_units_start_fresh_and_unread_and_then_learn() {
    let _seeded = seeded();
    let (parent, arch, _, devices) = trained_parent();
    let (child, child_arch) = morph(
        &parent,
        &arch,
        &Morphism::Widen { channels: 8 },
        &devices.train,
    )
    .unwrap();
    assert_eq!(child_arch.channels, 8);
    let values = |t: Tensor<2>| t.to_data().try_to_vec::<f32>().unwrap();
    let stem = |n: &Network| values(n.stem_conv.weight.val().reshape([-1, 9]));
    assert_eq!(child.stem_conv.weight.val().dims(), [8, 1, 3, 3]);
    // The old units keep their incoming weights; the new ones are fresh, unlike any old one.
    let (old, new) = (stem(&parent), stem(&child));
    assert_eq!(old[..], new[..36]);
    for unit in new[36..].chunks(9) {
        assert!(old.chunks(9).all(|o| o != unit), "a fresh unit, not a copy");
    }
    // Nothing reads the new units yet: the classifier's rows for the last stage's new channels
    // (16 to 32) are zero.
    assert_eq!(child.classifier.weight.val().dims(), [32, 10]);
    let head = |n: &Network| values(n.classifier.weight.val());
    assert!(head(&child)[16 * 10..].iter().all(|&w| w == 0.0));
    assert_eq!(head(&child)[..16 * 10], head(&parent)[..]);
    let child = train_briefly(child, &devices);
    assert!(
        head(&child)[16 * 10..].iter().any(|&w| w != 0.0),
        "the new units are read once trained"
    );
}

#[test]
fn narrowing_a_widened_network_gives_back_its_function() {
    let _seeded = seeded();
    let (parent, arch, x, devices) = trained_parent();
    let before = logits(&parent, &x);
    let (wide, wide_arch) = morph(
        &parent,
        &arch,
        &Morphism::Widen { channels: 7 },
        &devices.train,
    )
    .unwrap();
    let narrow = Morphism::Narrow { channels: 4 };
    assert!(!narrow.preserves_function() && narrow.removes());
    let (back, back_arch) = morph(&wide, &wide_arch, &narrow, &devices.train).unwrap();
    assert_eq!(back_arch, arch);
    let after = logits(&back, &x);
    let worst = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-4,
        "the unread new units went first: logits moved by {worst}"
    );
}

#[test]
fn narrowing_keeps_the_surviving_units_weights() {
    let _seeded = seeded();
    let (parent, arch, x, devices) = trained_parent();
    let (child, child_arch) = morph(
        &parent,
        &arch,
        &Morphism::Narrow { channels: 3 },
        &devices.train,
    )
    .unwrap();
    assert_eq!(child_arch.channels, 3);
    assert_eq!(child.stem_conv.weight.val().dims(), [3, 1, 3, 3]);
    assert_eq!(child.classifier.weight.val().dims(), [12, 10]);
    let rows = |n: &Network| {
        let w = n
            .stem_conv
            .weight
            .val()
            .to_data()
            .try_to_vec::<f32>()
            .unwrap();
        w.chunks(9).map(<[f32]>::to_vec).collect::<Vec<_>>()
    };
    let parent_rows = rows(&parent);
    for row in rows(&child) {
        assert!(
            parent_rows.contains(&row),
            "a kept unit's incoming weights are its parent's"
        );
    }
    // The narrowed network still computes something of its own, and trains.
    let narrowed = logits(&child, &x);
    assert!(narrowed.iter().all(|v| v.is_finite()));
    let trained = logits(&train_briefly(child, &devices), &x);
    assert_ne!(trained, narrowed);
}
