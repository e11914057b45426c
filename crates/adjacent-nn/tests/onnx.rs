//! The ONNX export runs in a real runtime (tract) and gives adjacent's own logits: networks with
//! every operation of the space, several cells a stage, a grown width, a cell that computes zeros.

mod common;

use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_data::{self as data, BadImagePolicy, ImageSet, Normalization};
use adjacent_nn::checkpoint::ModelCard;
use adjacent_nn::net::Network;
use adjacent_nn::onnx;
use adjacent_nn::train::Devices;
use adjacent_nn::transfer::morph;
use burn::tensor::{Tensor, TensorData};
use common::{logits, seeded, trained_on};
use tract_onnx::prelude::*;

/// Every operation of the space: 3x3 and 1x1 convs, a pool, a skip and `none`.
const EVERY_OP: &str =
    "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|";

struct Trained {
    model: Network,
    card: ModelCard,
    set: ImageSet,
    norm: Normalization,
    devices: Devices,
}

/// A network of `arch` trained for one epoch on 200 built-in images, so that its batch-norm
/// statistics are its own.
fn trained(arch: NetworkArch) -> Trained {
    let data = data::load("builtin", BadImagePolicy::Fail).unwrap();
    let set = data.train.select(&data.train.stratified(200, 3));
    let (model, norm, devices) = trained_on(&arch, &set, 11);
    let card = ModelCard {
        arch,
        height: set.height,
        width: set.width,
        normalization: norm.clone(),
        class_names: (0..10).map(|c| format!("class {c}")).collect(),
        old_tasks: Vec::new(),
    };
    Trained {
        model,
        card,
        set,
        norm,
        devices,
    }
}

/// The exported model's logits in tract against adjacent's for 12 images, to 1e-4.
fn assert_tract_matches(t: &Trained) {
    let n = 12;
    let indices: Vec<usize> = (0..n).collect();
    let batch = data::loader::make_batch(
        &t.set,
        &t.norm,
        &indices,
        false,
        &mut rand::SeedableRng::seed_from_u64(0),
    );
    let [c, h, w] = [t.set.channels, t.set.height, t.set.width];
    let x = Tensor::<4>::from_data(
        TensorData::new(batch.images, [n, c, h, w]),
        &t.devices.plain,
    );
    let ours = logits(&t.model, &x);

    let bytes = onnx::export(&t.model, &t.card).unwrap();
    let runtime = tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    // The exported graph takes raw pixels / 255 and normalizes them itself.
    let pixels: Vec<f32> = indices
        .iter()
        .flat_map(|&i| t.set.image(i).iter().map(|&p| p as f32 / 255.0))
        .collect();
    let input =
        tract_onnx::prelude::tract_ndarray::Array4::from_shape_vec((n, c, h, w), pixels).unwrap();
    let outputs = runtime
        .run(tvec!(
            tract_onnx::prelude::Tensor::from(input).into_tvalue()
        ))
        .unwrap();
    let theirs = outputs[0].to_plain_array_view::<f32>().unwrap();
    assert_eq!(theirs.shape(), &[n, t.card.arch.classes]);
    let theirs: Vec<f32> = theirs.iter().copied().collect();
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-4,
        "tract's logits differ from adjacent's by {worst}: {:?} against {:?}",
        &theirs[..4],
        &ours[..4]
    );
}

#[test]
fn every_operation_and_several_cells_a_stage_run_in_tract() {
    let _seeded = seeded();
    let arch = NetworkArch::uniform(EVERY_OP.parse().unwrap(), 4, 2, 1, 10);
    assert_tract_matches(&trained(arch));
}

#[test]
fn a_grown_network_runs_in_tract() {
    let _seeded = seeded();
    let arch = NetworkArch::uniform(EVERY_OP.parse().unwrap(), 3, 1, 1, 10);
    let mut t = trained(arch);
    let (grown, grown_arch) = morph(
        &t.model,
        &t.card.arch,
        &Morphism::Widen { channels: 5 },
        &t.devices.plain,
    )
    .unwrap();
    t.model = grown;
    t.card.arch = grown_arch;
    assert_tract_matches(&t);
}

#[test]
fn a_cell_without_a_path_exports_zeros() {
    let _seeded = seeded();
    let mut arch = NetworkArch::uniform(EVERY_OP.parse().unwrap(), 3, 1, 1, 10);
    arch.stages[1][0] = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
        .parse()
        .unwrap();
    assert_tract_matches(&trained(arch));
}

#[test]
fn the_export_declares_its_interface() {
    let t = trained(NetworkArch::uniform(EVERY_OP.parse().unwrap(), 2, 1, 1, 10));
    let bytes = onnx::export(&t.model, &t.card).unwrap();
    let model = tract_onnx::onnx()
        .proto_model_for_read(&mut bytes.as_slice())
        .unwrap();
    assert_eq!(model.opset_import[0].version, onnx::OPSET);
    let graph = model.graph.unwrap();
    assert_eq!(graph.input[0].name, onnx::INPUT);
    assert_eq!(graph.output[0].name, onnx::OUTPUT);
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    for op in [
        "Sub",
        "Div",
        "Conv",
        "BatchNormalization",
        "AveragePool",
        "Gemm",
    ] {
        assert!(ops.contains(&op), "no {op} in {ops:?}");
    }
}

#[test]
fn a_card_whose_normalization_does_not_fit_is_refused() {
    let mut t = trained(NetworkArch::uniform(EVERY_OP.parse().unwrap(), 2, 1, 1, 10));
    t.card.normalization.mean.push(0.5);
    let err = onnx::export(&t.model, &t.card).unwrap_err().to_string();
    assert!(err.contains("normalization"), "{err}");
}
