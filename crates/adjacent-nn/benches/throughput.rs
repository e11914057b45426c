//! Training throughput (images/s) of adjacent's networks, and of the same networks in PyTorch in the
//! same run where PyTorch is installed, with the ratio.
//!
//! cargo bench -p adjacent-nn --bench throughput [-- --quick] [--only NAME] [--no-torch]
//!
//! The thread count is rayon's (RAYON_NUM_THREADS, else one per core); PyTorch gets the same.
//!
//! Each case trains on random data with SGD (momentum 0.9, Nesterov, weight decay 5e-4) and
//! cross-entropy: some warm-up steps, then timed steps. PyTorch runs `throughput_torch.py` beside
//! this file with the same cases, threads and steps.

use std::process::Command;
use std::time::Instant;

use adjacent_core::network::NetworkArch;
use adjacent_nn::net::Network;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;

const CELL: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

/// A small CIFAR-shaped CNN: three conv-BN-ReLU blocks (32, 64 stride 2, 128 stride 2), global
/// average pooling, a linear head. `throughput_torch.py` builds the same.
#[derive(Module, Debug)]
struct SmallCnn {
    convs: Vec<Conv2d>,
    bns: Vec<BatchNorm>,
    head: Linear,
}

impl SmallCnn {
    fn new(device: &Device) -> Self {
        let spec = [(3, 32, 1), (32, 64, 2), (64, 128, 2)];
        SmallCnn {
            convs: spec
                .iter()
                .map(|&(i, o, s)| {
                    Conv2dConfig::new([i, o], [3, 3])
                        .with_stride([s, s])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .with_bias(false)
                        .init(device)
                })
                .collect(),
            bns: spec
                .iter()
                .map(|&(_, o, _)| BatchNormConfig::new(o).init(device))
                .collect(),
            head: LinearConfig::new(128, 10).init(device),
        }
    }

    fn forward(&self, mut x: Tensor<4>) -> Tensor<2> {
        for (conv, bn) in self.convs.iter().zip(&self.bns) {
            x = relu(bn.forward(conv.forward(x)));
        }
        let [b, c, _, _] = x.dims();
        self.head.forward(x.mean_dim(3).mean_dim(2).reshape([b, c]))
    }
}

struct Case {
    name: &'static str,
    input: [usize; 3],
    steps: usize,
}

const CASES: [Case; 4] = [
    Case {
        name: "nb201-C16-N5-32x32x3",
        input: [3, 32, 32],
        steps: 4,
    },
    Case {
        name: "nb201-C16-N1-32x32x3",
        input: [3, 32, 32],
        steps: 10,
    },
    Case {
        name: "nb201-C8-N1-28x28x1",
        input: [1, 28, 28],
        steps: 20,
    },
    Case {
        name: "small-cnn-32x32x3",
        input: [3, 32, 32],
        steps: 20,
    },
];
const BATCH: usize = 128;
const WARMUP: usize = 2;

fn measure<M: Module>(
    mut model: M,
    forward: impl Fn(&M, Tensor<4>) -> Tensor<2>,
    input: [usize; 3],
    steps: usize,
    device: &Device,
) -> f64 {
    let mut optim = SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new()
                .with_momentum(0.9)
                .with_dampening(0.0)
                .with_nesterov(true),
        ))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let x = Tensor::<4>::random(
        [BATCH, input[0], input[1], input[2]],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let labels: Vec<i64> = (0..BATCH as i64).map(|i| i % 10).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [BATCH]), device);
    let mut started = Instant::now();
    for step in 0..WARMUP + steps {
        if step == WARMUP {
            started = Instant::now();
        }
        let loss = loss_fn.forward(forward(&model, x.clone()), y.clone());
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.01, model, grads);
    }
    (steps * BATCH) as f64 / started.elapsed().as_secs_f64()
}

fn ours(case: &Case, steps: usize) -> f64 {
    let device = Device::flex().autodiff();
    device.seed(0);
    if case.name.starts_with("small-cnn") {
        return measure(
            SmallCnn::new(&device),
            |m, x| m.forward(x),
            case.input,
            steps,
            &device,
        );
    }
    let (c, n) = match case.name {
        "nb201-C16-N5-32x32x3" => (16, 5),
        "nb201-C16-N1-32x32x3" => (16, 1),
        _ => (8, 1),
    };
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), c, n, case.input[0], 10);
    measure(
        Network::new(&arch, &device),
        |m, x| m.forward(x),
        case.input,
        steps,
        &device,
    )
}

/// Images/s of the case in PyTorch, or why there is none.
fn pytorch(case: &Case, steps: usize, threads: usize) -> Result<f64, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/throughput_torch.py");
    let out = Command::new("python3")
        .args([
            script,
            case.name,
            &steps.to_string(),
            &BATCH.to_string(),
            &WARMUP.to_string(),
        ])
        .env("TORCH_THREADS", threads.to_string())
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_string());
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("{e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let torch = !args.iter().any(|a| a == "--no-torch");
    let threads = rayon::current_num_threads();
    println!(
        "training throughput, batch {BATCH}, {threads} threads (images/s; ratio = adjacent / PyTorch)"
    );
    println!(
        "{:<24} {:>10} {:>10} {:>7}",
        "case", "adjacent", "pytorch", "ratio"
    );
    for case in CASES.iter().filter(|c| only.is_none_or(|o| c.name == o)) {
        let steps = if quick { 2 } else { case.steps };
        let a = ours(case, steps);
        if !torch {
            println!("{:<24} {a:>10.1}", case.name);
            continue;
        }
        match pytorch(case, steps, threads) {
            Ok(p) => println!("{:<24} {a:>10.1} {p:>10.1} {:>7.3}", case.name, a / p),
            Err(why) => println!(
                "{:<24} {a:>10.1} {:>10} {:>7}  (PyTorch: {why})",
                case.name, "-", "-"
            ),
        }
    }
}
