//! Does growing a network while it trains pay at equal compute? Trains the README's cell through a
//! plan of widths along one cosine schedule (each widening a Net2WiderNet morphism that keeps the
//! function), within a compute budget, and prints the validation and test accuracy.
//!
//! cargo run --release -p adjacent-nn --example grow_probe -- DATA BUDGET_FLOPS PLAN [SEED]
//! PLAN: `C:share,C:share,...`, e.g. `4:0.125,8:1` (width 4 until 12.5% of the budget, then 8).

use adjacent_core::compute;
use adjacent_core::morphism::Morphism;
use adjacent_core::network::NetworkArch;
use adjacent_core::schedule::Schedule;
use adjacent_data::{self as data, BadImagePolicy, Normalization};
use adjacent_nn::net::Network;
use adjacent_nn::train::{self, Devices, TrainConfig};
use adjacent_nn::transfer::morph;

const CELL: &str = adjacent_core::cell::DEFAULT_CELL;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = data::load(&args[0], BadImagePolicy::Fail).expect("data");
    let budget = compute::parse_flops(&args[1]).expect("budget");
    let plan: Vec<(usize, f64)> = args[2]
        .split(',')
        .map(|p| {
            let (c, s) = p.split_once(':').expect("C:share");
            (c.parse().expect("C"), s.parse().expect("share"))
        })
        .collect();
    let seed: u64 = args.get(3).map_or(0, |s| s.parse().expect("seed"));
    // The validation split of `adjacent search --valid 0.1 --seed 0`.
    let (train_set, valid_set) = data.train.split(data.train.len() / 10, seed ^ 0x5EED_5A1D);
    let norm = Normalization::of(&train_set);
    let devices = Devices::new(burn::tensor::Device::flex());
    devices.train.seed(seed);
    let cell = CELL.parse().expect("cell");
    let mut arch = NetworkArch::uniform(cell, plan[0].0, 1, train_set.channels, 10);
    let mut model = Network::new(&arch, &devices.train);
    let size = train_set.height;
    let n = train_set.len();
    let valid_flops = compute::eval_flops(arch.cost(size).flops, valid_set.len() as u64);
    let budget = budget - valid_flops;
    let mut at = 0.0;
    let mut images_total = 0;
    for (i, &(channels, until)) in plan.iter().enumerate() {
        if channels != arch.channels {
            let (child, wide) =
                morph(&model, &arch, &Morphism::Widen { channels }, &devices.train).expect("widen");
            model = child;
            arch = wide;
        }
        let flops = ((until - at) * budget as f64) as u64;
        let images = compute::images_within(flops, arch.cost(size).flops) as usize;
        let config = TrainConfig {
            epochs: 1,
            images: Some(images),
            span: [at, until],
            batch: 128,
            lr: 0.1,
            schedule: Schedule::Cosine,
            clip_norm: Some(5.0),
            seed: seed ^ i as u64,
            ..TrainConfig::default()
        };
        let (trained, _, end) = train::train(
            model,
            &train_set,
            None,
            &norm,
            &config,
            &devices,
            &mut |_| {},
        )
        .expect("train");
        model = trained;
        images_total += images;
        let valid = train::evaluate(&model, &valid_set, &norm, 256, &devices);
        println!(
            "C={channels} from {at:.3} to {until:.3} of the budget: {images} images ({:.2} epochs), {end}, valid {valid:.2}%",
            images as f64 / n as f64
        );
        at = until;
    }
    let valid = train::evaluate(&model, &valid_set, &norm, 256, &devices);
    let test = train::evaluate(&model, &data.test, &norm, 256, &devices);
    println!(
        "plan {}: {images_total} images, valid {valid:.2}%, test {test:.2}%",
        args[2]
    );
}
