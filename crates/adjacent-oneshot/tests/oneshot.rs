//! The supernet and the one-shot methods, with tiny settings on a slice of the built-in data.

#[path = "../../adjacent-kernels/tests/common/mod.rs"]
mod common;

use adjacent_core::spaces::nb201::Cell;
use adjacent_data::{self as data, BadImagePolicy, ImageSet, Normalization};
use adjacent_nn::train::Devices;
use adjacent_oneshot::darts::{first_order_grads, second_order_grads};
use adjacent_oneshot::{
    self as oneshot, ArchParams, Choice, Context, MethodKind, OPS, OneShotConfig, Supernet,
    Tensors, WeightsOptimizer, cross_entropy,
};
use burn::module::Param;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softmax;
use common::{assert_close, seeded, values};

const CELLS: [&str; 3] = [
    adjacent_core::cell::DEFAULT_CELL,
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|none~2|",
];

/// `[6, 5]` weights that are one-hot on `cell`'s operations.
fn one_hot(cell: &Cell, device: &Device) -> Tensor<2> {
    let w: Vec<f32> = (0..30)
        .map(|i| f32::from(cell.op(i / 5) == OPS[i % 5]))
        .collect();
    Tensor::from_data(TensorData::new(w, [6, 5]), device)
}

/// A batch of random images and labels.
fn batch(n: usize, device: &Device) -> Tensors {
    Tensors {
        images: Tensor::random([n, 1, 8, 8], Distribution::Normal(0.0, 1.0), device),
        labels: Tensor::from_data(
            TensorData::new((0..n as i64).map(|i| i % 10).collect::<Vec<_>>(), [n]),
            device,
        ),
    }
}

#[test]
fn a_one_hot_supernet_computes_the_chosen_network() {
    let _seeded = seeded();
    let device = Device::flex().autodiff();
    device.seed(1);
    let net = Supernet::new(4, 2, 1, 10, &device);
    let x = Tensor::<4>::random([6, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    for text in CELLS {
        let cell: Cell = text.parse().unwrap();
        let mixed = values(net.forward(x.clone(), &Choice::Mixed(one_hot(&cell, &device))));
        let path = values(net.forward(x.clone(), &Choice::Path(cell)));
        let plain = values(net.subnet(&cell).forward(x.clone()));
        assert_close(
            &format!("mixed against the network, {text}"),
            &mixed,
            &plain,
            1e-5,
        );
        assert_close(
            &format!("path against the network, {text}"),
            &path,
            &plain,
            1e-6,
        );
        // Constant one-hot weights (DARTS-PT's decided edges) run only the chosen operations.
        let ops: [[f32; 5]; 6] =
            std::array::from_fn(|e| std::array::from_fn(|o| f32::from(cell.op(e) == OPS[o])));
        let constant = values(net.forward(x.clone(), &Choice::Constant(ops)));
        assert_close(&format!("constant, {text}"), &constant, &plain, 1e-6);
        // A sampled one-hot path (GDAS) computes the same in value.
        let sampled =
            values(net.forward(x.clone(), &Choice::Sampled(cell, one_hot(&cell, &device))));
        assert_close(&format!("sampled, {text}"), &sampled, &plain, 1e-6);
    }
}

#[test]
fn alpha_receives_gradients_and_moves() {
    let _seeded = seeded();
    let device = Device::flex().autodiff();
    device.seed(2);
    let net = Supernet::new(4, 1, 1, 10, &device);
    let arch = ArchParams::new(1e-3, &device);
    let valid = batch(8, &device);
    let (grads, loss) = first_order_grads(&net, &arch, &valid);
    assert!(loss.is_finite());
    let g = values(grads.get::<2>(arch.alpha.id).expect("alpha's gradient"));
    assert!(g.iter().any(|v| *v != 0.0), "alpha's gradient is all zero");
    let before = values(arch.alpha.val());
    let mut adam = burn::optim::AdamConfig::new().init();
    let moved = adam.step(0.01, arch, grads);
    let after = values(moved.alpha.val());
    assert!(
        before.iter().zip(&after).any(|(b, a)| b != a),
        "alpha did not move"
    );
}

/// alpha's gradient of `loss(net)` on `t` under alpha's softmax.
fn alpha_grad(net: &Supernet, alpha: &Tensor<2>, t: &Tensors) -> Vec<f32> {
    let arch = ArchParams {
        alpha: Param::from_tensor(alpha.clone()),
    };
    let loss = cross_entropy(
        net.forward(t.images.clone(), &Choice::Mixed(arch.weights())),
        t.labels.clone(),
    );
    values(
        GradientsParams::from_grads(loss.backward(), &arch)
            .get::<2>(arch.alpha.id)
            .unwrap(),
    )
}

/// The second-order gradient against its formula, built here step by step from plain gradients:
/// the virtual step, the validation gradients at the unrolled weights, and the central difference
/// of the training gradient around w. (The formula's own error against the exact derivative of
/// the unrolled loss cannot be checked on a network this small: its ReLUs make the training
/// gradient jump as w moves, and finite differences of it change with the step.)
#[test]
fn the_second_order_gradient_follows_its_formula() {
    let _seeded = seeded();
    let device = Device::flex().autodiff();
    device.seed(3);
    let net = Supernet::new(3, 1, 1, 10, &device);
    let alpha = Tensor::<2>::random([6, 5], Distribution::Normal(0.0, 1.0), &device);
    let arch = ArchParams {
        alpha: Param::from_tensor(alpha.clone()),
    };
    let (train, valid) = (batch(8, &device), batch(8, &device));
    let xi = 0.05;
    let (grads, _) = second_order_grads(&net, &arch, &train, &valid, xi);
    let got = values(grads.get::<2>(arch.alpha.id).unwrap());
    // w' = w - xi * dL_train/dw
    let fixed = Choice::Mixed(softmax(alpha.clone(), 1));
    let loss = cross_entropy(
        net.forward(train.images.clone(), &fixed),
        train.labels.clone(),
    );
    let g = GradientsParams::from_grads(loss.backward(), &net);
    let unrolled = oneshot::add_scaled(net.clone(), &g, -xi);
    // v = dL_val(w')/dw', and dL_val(w')/dalpha
    let loss = cross_entropy(
        unrolled.forward(valid.images.clone(), &fixed),
        valid.labels.clone(),
    );
    let v = GradientsParams::from_grads(loss.backward(), &unrolled);
    let direct = alpha_grad(&unrolled, &alpha, &valid);
    let eps = 0.01 / adjacent_nn::train::grad_norm(&unrolled, &v);
    let plus = alpha_grad(&oneshot::add_scaled(net.clone(), &v, eps), &alpha, &train);
    let minus = alpha_grad(&oneshot::add_scaled(net.clone(), &v, -eps), &alpha, &train);
    let want: Vec<f32> = (0..30)
        .map(|i| direct[i] - (xi * (plus[i] - minus[i]) as f64 / (2.0 * eps)) as f32)
        .collect();
    assert_close("second-order gradient", &got, &want, 1e-4);
    // Without a virtual step it is the first-order gradient.
    let (grads, _) = second_order_grads(&net, &arch, &train, &valid, 0.0);
    let (first, _) = first_order_grads(&net, &arch, &valid);
    assert_close(
        "second order at xi = 0",
        &values(grads.get::<2>(arch.alpha.id).unwrap()),
        &values(first.get::<2>(arch.alpha.id).unwrap()),
        1e-5,
    );
    // And the second-order term is not negligible here: the test would see it missing.
    let off: f32 = got.iter().zip(&direct).map(|(a, b)| (a - b).abs()).sum();
    assert!(off > 1e-3, "the second-order term is {off}");
}

#[test]
fn weight_sharing_shares() {
    let _seeded = seeded();
    let device = Device::flex().autodiff();
    device.seed(4);
    let config = OneShotConfig {
        weight_decay: 0.0,
        ..OneShotConfig::default()
    };
    let mut weights = WeightsOptimizer::new(&config, 10);
    let net = Supernet::new(4, 1, 1, 10, &device);
    let a: Cell = CELLS[0].parse().unwrap();
    // Another cell with the same 3x3 convolution on edge 0 and other operations elsewhere.
    let b: Cell =
        "|nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
            .parse()
            .unwrap();
    let edge0 = |n: &Supernet| values(n.stages[0][0].edges[0].conv3x3.conv.weight.val());
    let unused = |n: &Supernet| values(n.stages[0][0].edges[0].conv1x1.conv.weight.val());
    let (before, unused_before) = (edge0(&net), unused(&net));
    let t = batch(8, &device);
    let loss = cross_entropy(net.forward(t.images, &Choice::Path(a)), t.labels);
    let net = weights.step(net, loss);
    let after = edge0(&net);
    assert_ne!(
        before, after,
        "the trained path's convolution did not change"
    );
    let seen_by_b = net.subnet(&b);
    let adjacent_nn::net::Edge::Conv(conv) = &seen_by_b.stages[0][0].edges[0] else {
        panic!("edge 0 of b is a convolution");
    };
    assert_eq!(
        values(conv.conv.weight.val()),
        after,
        "b does not see a's update"
    );
    assert_eq!(
        unused(&net),
        unused_before,
        "an operation off the path changed"
    );
}

/// A slice of the built-in data: two halves of `n` training images each.
fn halves(n: usize) -> (ImageSet, ImageSet, Normalization) {
    let data = data::load("builtin", BadImagePolicy::Fail).unwrap();
    let weights = data.train.select(&(0..n).collect::<Vec<_>>());
    let arch = data.train.select(&(n..2 * n).collect::<Vec<_>>());
    let norm = Normalization::of(&weights);
    (weights, arch, norm)
}

#[test]
fn every_method_searches_and_returns_a_cell() {
    let _seeded = seeded();
    let (weights_set, arch_set, norm) = halves(48);
    let devices = Devices::new(Device::flex());
    for method in MethodKind::ALL {
        let config = OneShotConfig {
            method,
            channels: 2,
            cells: 1,
            epochs: 2,
            batch: 16,
            candidates: 6,
            score_images: 32,
            policy_steps: 2,
            ..OneShotConfig::default()
        };
        let ctx = Context {
            weights_set: &weights_set,
            arch_set: &arch_set,
            norm: &norm,
            devices: &devices,
            config: &config,
        };
        let mut records = 0;
        let result = oneshot::search(&ctx, 1, 10, &mut |_| records += 1).unwrap();
        // DARTS-PT adds a record per edge it decides.
        let expected = match method {
            MethodKind::DartsPt => 2 + 6,
            _ => 2,
        };
        assert_eq!(records, expected, "{}", method.name());
        assert_eq!(result.history.len(), expected);
        assert!(
            result.history[..2]
                .iter()
                .all(|r| r.train_loss.is_some_and(f64::is_finite))
        );
        let has_distribution = !matches!(
            method,
            MethodKind::Spos | MethodKind::Rsws | MethodKind::DartsPt
        );
        assert_eq!(
            result.history[1].probabilities.is_some(),
            has_distribution,
            "{}",
            method.name()
        );
        // The cell is one of the space's and round-trips through its string.
        let back: Cell = result.cell.to_string().parse().unwrap();
        assert_eq!(back, result.cell);
        // The same settings give the same cell.
        let again = oneshot::search(&ctx, 1, 10, &mut |_| ()).unwrap();
        assert_eq!(
            again.cell,
            result.cell,
            "{} is not reproducible",
            method.name()
        );
    }
}

#[test]
fn bad_settings_name_the_field() {
    let err = MethodKind::from_name("dart").unwrap_err().to_string();
    assert!(err.contains("unknown method \"dart\""), "{err}");
    assert!(
        err.contains("darts, darts2, darts-pt, gdas, spos, rsws, enas"),
        "{err}"
    );
    for (config, field) in [
        (
            OneShotConfig {
                batch: 1,
                ..OneShotConfig::default()
            },
            "batch",
        ),
        (
            OneShotConfig {
                channels: 0,
                ..OneShotConfig::default()
            },
            "channels",
        ),
        (
            OneShotConfig {
                min_lr: 1.0,
                ..OneShotConfig::default()
            },
            "min_lr",
        ),
    ] {
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
}

#[test]
fn darts_pt_decides_every_edge_once_by_the_costliest_removal() {
    let _seeded = seeded();
    let (weights_set, arch_set, norm) = halves(48);
    let devices = Devices::new(Device::flex());
    let config = OneShotConfig {
        method: MethodKind::DartsPt,
        channels: 2,
        cells: 1,
        epochs: 1,
        batch: 16,
        score_images: 48,
        tune_epochs: 1,
        ..OneShotConfig::default()
    };
    let ctx = Context {
        weights_set: &weights_set,
        arch_set: &arch_set,
        norm: &norm,
        devices: &devices,
        config: &config,
    };
    let result = oneshot::search(&ctx, 1, 10, &mut |_| ()).unwrap();
    let decisions: Vec<_> = result
        .history
        .iter()
        .filter_map(|r| r.decision.clone())
        .collect();
    let mut edges: Vec<usize> = decisions.iter().map(|d| d.edge).collect();
    edges.sort();
    assert_eq!(edges, (0..6).collect::<Vec<_>>());
    for (k, d) in decisions.iter().enumerate() {
        // The kept operation is the one whose removal left the lowest accuracy.
        let kept = oneshot::darts_pt::kept_operation(&d.accuracy_without);
        assert_eq!(d.kept, OPS[kept].name());
        assert!(
            d.accuracy_without
                .iter()
                .all(|&a| a >= d.accuracy_without[kept])
        );
        assert_eq!(result.cell.op(d.edge).name(), d.kept);
        // Tuning follows every decision but the last; the decided edges are one-hot.
        let record = &result.history[1 + k];
        assert_eq!(record.train_loss.is_some(), k < 5);
        let row = record.probabilities.as_ref().unwrap()[d.edge];
        assert_eq!(row.iter().sum::<f64>(), 1.0);
        assert_eq!(row[kept], 1.0);
    }
}

#[test]
fn darts_pt_keeps_the_first_of_equally_costly_operations() {
    use oneshot::darts_pt::kept_operation;
    assert_eq!(kept_operation(&[50.0, 40.0, 30.0, 30.0, 60.0]), 2);
    assert_eq!(kept_operation(&[10.0; 5]), 0);
    // Removing `none` changes nothing, so a supernet better off without every other operation
    // keeps `none`.
    assert_eq!(kept_operation(&[50.0, 51.0, 52.0, 53.0, 54.0]), 0);
}

#[test]
fn candidates_are_scored_on_batches_of_every_class_even_when_the_data_is_sorted() {
    let _seeded = seeded();
    let data = data::load("builtin", BadImagePolicy::Fail).unwrap();
    // The architecture half stored class by class, as an ImageFolder data set is.
    let mut by_class: Vec<usize> = (0..400).collect();
    by_class.sort_by_key(|&i| data.train.labels[i]);
    let arch_set = data.train.select(&by_class);
    let weights_set = data.train.select(&(400..464).collect::<Vec<_>>());
    let norm = Normalization::of(&weights_set);
    let devices = Devices::new(Device::flex());
    let config = OneShotConfig {
        score_images: 300,
        ..OneShotConfig::default()
    };
    let ctx = Context {
        weights_set: &weights_set,
        arch_set: &arch_set,
        norm: &norm,
        devices: &devices,
        config: &config,
    };
    let batches = ctx.score_batches();
    assert_eq!(
        batches.iter().map(|b| b.labels.dims()[0]).sum::<usize>(),
        300
    );
    for b in &batches {
        let labels = b.labels.clone().into_data().convert::<i64>();
        let classes: std::collections::BTreeSet<i64> =
            labels.try_to_vec::<i64>().unwrap().into_iter().collect();
        assert!(
            classes.len() >= 8,
            "a scoring batch holds classes {classes:?}"
        );
    }
}
