//! Seconds per supernet step of each one-shot method against a training step of the largest
//! single sub-network (every edge a 3x3 convolution) on the same images, in one process.
//!
//! cargo bench -p adjacent-nn --bench oneshot [-- --channels 8 --cells 1 --size 32 --steps 4]
//!
//! Each method runs `search` for one epoch over `steps` batches (the weights' half) with its
//! architecture steps on as many batches of the other half; SPOS and RSWS score no candidates
//! beyond one (their search after training is not a per-step cost). The baseline trains the
//! largest sub-network for the same number of batches. Rounds alternate the methods and the
//! baseline; the best of each is reported.

use std::time::Instant;

use adjacent_core::spaces::nb201::Cell;
use adjacent_data::{ImageSet, Normalization};
use adjacent_nn::train::Devices;
use adjacent_oneshot::{self as oneshot, Choice, Context, MethodKind, OneShotConfig, Supernet};
use burn::prelude::*;

const BATCH: usize = 64;

fn value(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Random images of `size` x `size` x 3 with ten classes.
fn images(n: usize, size: usize, seed: u64) -> ImageSet {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u8
    };
    let pixels: Vec<u8> = (0..n * 3 * size * size).map(|_| next()).collect();
    ImageSet {
        pixels,
        labels: (0..n).map(|i| (i % 10) as u16).collect(),
        channels: 3,
        height: size,
        width: size,
        class_names: (0..10).map(|c| c.to_string()).collect(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let channels = value(&args, "--channels", 8);
    let cells = value(&args, "--cells", 1);
    let size = value(&args, "--size", 32);
    let steps = value(&args, "--steps", 4);
    let rounds = value(&args, "--rounds", 2);
    let weights_set = images(steps * BATCH, size, 1);
    let arch_set = images(steps * BATCH, size, 2);
    let norm = Normalization::of(&weights_set);
    let devices = Devices::new(Device::flex());
    let largest: Cell =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
            .parse()
            .unwrap();
    println!(
        "one-shot step cost: C={channels}, N={cells}, {size}x{size}x3, batch {BATCH}, {steps} steps, {} threads; best of {rounds} rounds",
        rayon::current_num_threads()
    );
    // The baseline: the largest sub-network's path through a supernet, trained alone.
    let baseline = || {
        let config = OneShotConfig {
            method: MethodKind::Spos,
            channels,
            cells,
            ..OneShotConfig::default()
        };
        let net = Supernet::new(channels, cells, 3, 10, &devices.train);
        let mut weights = oneshot::WeightsOptimizer::new(&config, steps);
        let batch = |i: usize| {
            let set = &weights_set;
            let n = BATCH.min(set.len());
            let idx: Vec<usize> = (i * n..(i + 1) * n).map(|j| j % set.len()).collect();
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
            adjacent_data::loader::make_batch(set, &norm, &idx, false, &mut rng)
        };
        let started = Instant::now();
        let mut net = net;
        for i in 0..steps {
            let b = batch(i);
            let x = Tensor::<4>::from_data(
                TensorData::new(b.images, [b.size, 3, size, size]),
                &devices.train,
            );
            let y =
                Tensor::<1, Int>::from_data(TensorData::new(b.labels, [b.size]), &devices.train);
            let loss = oneshot::cross_entropy(net.forward(x, &Choice::Path(largest)), y);
            net = weights.step(net, loss);
        }
        started.elapsed().as_secs_f64()
    };
    let method = |kind: MethodKind| {
        let config = OneShotConfig {
            method: kind,
            channels,
            cells,
            epochs: 1,
            batch: BATCH,
            candidates: 1,
            score_images: BATCH,
            policy_steps: steps,
            // DARTS-PT's fine-tuning is more epochs of its training step: counted, it would
            // multiply the steps measured, not their cost.
            tune_epochs: 0,
            ..OneShotConfig::default()
        };
        let ctx = Context {
            weights_set: &weights_set,
            arch_set: &arch_set,
            norm: &norm,
            devices: &devices,
            config: &config,
        };
        let started = Instant::now();
        oneshot::search(&ctx, 3, 10, &mut |_| ()).expect("the search runs");
        started.elapsed().as_secs_f64()
    };
    let mut best_baseline = f64::MAX;
    let mut best: Vec<f64> = vec![f64::MAX; MethodKind::ALL.len()];
    for _ in 0..rounds {
        best_baseline = best_baseline.min(baseline());
        for (i, kind) in MethodKind::ALL.into_iter().enumerate() {
            best[i] = best[i].min(method(kind));
        }
    }
    println!("{:<8} {:>12} {:>10}", "method", "s per step", "x largest");
    println!(
        "{:<8} {:>12.3} {:>10}",
        "largest",
        best_baseline / steps as f64,
        "1.00"
    );
    for (i, kind) in MethodKind::ALL.into_iter().enumerate() {
        println!(
            "{:<8} {:>12.3} {:>9.2}x",
            kind.name(),
            best[i] / steps as f64,
            best[i] / best_baseline
        );
    }
    println!(
        "x largest: a method's time for the same images / the largest sub-network's training (a step of darts, darts2, gdas also runs an architecture step on a batch of the other half; enas scores one path per policy step; darts-pt's includes its 30 removal scores on one batch, without fine-tuning)"
    );
}
