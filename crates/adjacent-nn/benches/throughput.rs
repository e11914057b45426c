//! Training throughput (images/s) of adjacent's networks: with adjacent's convolution kernels and
//! with burn's convolution, interleaved in one process, and the same networks in PyTorch in the
//! same run where PyTorch is installed, with the ratios. Also the share of the cores kept busy and
//! the arithmetic rate (multiply-adds per second, from the project's cost model) against this
//! machine's peak for a plain matrix product.
//!
//! cargo bench -p adjacent-nn --bench throughput [-- --quick] [--only NAME] [--no-torch]
//!     [--rounds N] [--no-baseline] [--threads 1,2]
//!
//! Every case runs with one thread and with all of rayon's (RAYON_NUM_THREADS, else one per core),
//! or with the counts `--threads` lists; PyTorch gets the same.
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

const CELL: &str = adjacent_core::cell::DEFAULT_CELL;

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
            x = relu(adjacent_kernels::batch_norm::batch_norm(
                bn,
                adjacent_kernels::conv::conv2d(conv, x),
            ));
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

/// CPU seconds this process has used (user and system), from /proc/self/stat (Linux), if readable.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux.
    Some(ticks / 100.0)
}

/// What one measurement gave.
#[derive(Clone, Copy)]
struct Measured {
    images_per_second: f64,
    /// CPU time over wall time during the timed steps: cores kept busy.
    cores_busy: f64,
}

fn measure<M: Module>(
    mut model: M,
    forward: impl Fn(&M, Tensor<4>) -> Tensor<2>,
    input: [usize; 3],
    steps: usize,
    device: &Device,
) -> Measured {
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
    let mut cpu_started = None;
    for step in 0..WARMUP + steps {
        if step == WARMUP {
            started = Instant::now();
            cpu_started = cpu_seconds();
        }
        let loss = loss_fn.forward(forward(&model, x.clone()), y.clone());
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.01, model, grads);
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds()
        .zip(cpu_started)
        .map_or(f64::NAN, |(b, a)| b - a);
    Measured {
        images_per_second: (steps * BATCH) as f64 / wall,
        cores_busy: cpu / wall,
    }
}

/// Multiply-adds of training one image of `case` (a forward pass and a backward pass that costs
/// two: the project's cost model).
fn training_madds(case: &Case) -> Option<u64> {
    let (c, n) = match case.name {
        "nb201-C16-N5-32x32x3" => (16, 5),
        "nb201-C16-N1-32x32x3" => (16, 1),
        "nb201-C8-N1-28x28x1" => (8, 1),
        _ => return None,
    };
    let arch = NetworkArch::uniform(CELL.parse().unwrap(), c, n, case.input[0], 10);
    Some(adjacent_core::compute::training_flops(
        arch.cost(case.input[1]).flops,
        1,
    ))
}

/// This machine's peak: multiply-adds per second of a plain 512 x 512 x 512 matrix product with
/// the gemm crate (the one burn and adjacent's kernels use), on all of the current rayon pool's
/// threads.
fn gemm_peak() -> f64 {
    let n = 512;
    let a = vec![1.0f32; n * n];
    let b = vec![0.5f32; n * n];
    let mut c = vec![0.0f32; n * n];
    let threads = rayon::current_num_threads();
    let run = |c: &mut [f32]| unsafe {
        gemm::gemm(
            n,
            n,
            n,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            n as isize,
            b.as_ptr(),
            1,
            n as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            match threads {
                1 => gemm::Parallelism::None,
                t => gemm::Parallelism::Rayon(t),
            },
        )
    };
    run(&mut c);
    // The best of three timings: the peak is what the machine can do, not what it did once.
    let reps = 20;
    (0..3)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..reps {
                run(&mut c);
            }
            (reps * n * n * n) as f64 / started.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn ours(case: &Case, steps: usize) -> Measured {
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

/// The best (most images/s) of two measurements.
fn best(a: Option<Measured>, b: Measured) -> Option<Measured> {
    match a {
        Some(a) if a.images_per_second >= b.images_per_second => Some(a),
        _ => Some(b),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let only = value("--only");
    let rounds: usize = value("--rounds").and_then(|r| r.parse().ok()).unwrap_or(2);
    let torch = !args.iter().any(|a| a == "--no-torch");
    // Without burn's kernels as the baseline (for profiling adjacent's alone).
    let baseline = !args.iter().any(|a| a == "--no-baseline");
    let all_threads = rayon::current_num_threads();
    // One thread and all of them (two runs side by side use one thread each), unless --threads.
    let mut thread_counts: Vec<usize> = match value("--threads") {
        Some(list) => list
            .split(',')
            .map(|t| {
                t.trim()
                    .parse()
                    .expect("--threads: a list of counts, e.g. 1,2")
            })
            .collect(),
        None => vec![1, all_threads],
    };
    thread_counts.dedup();
    println!(
        "training throughput, batch {BATCH}; images/s, best of {rounds} interleaved rounds (burn's kernels, adjacent's, PyTorch)"
    );
    println!(
        "{:<22} {:>3} {:>9} {:>9} {:>9} {:>8} {:>8} {:>6} {:>6} {:>7}",
        "case", "thr", "burn", "adjacent", "pytorch", "gain", "ratio", "busy", "busy*", "of peak"
    );
    for &threads in &thread_counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        let peak_here = pool.install(gemm_peak);
        println!(
            "peak of a plain 512^3 gemm here on {threads} threads: {:.1} G multiply-adds/s",
            peak_here / 1e9
        );
        for case in CASES.iter().filter(|c| only.is_none_or(|o| c.name == o)) {
            let steps = if quick { 2 } else { case.steps };
            // Rounds alternate burn's kernels, adjacent's and PyTorch, so that a change in the
            // machine's load falls on all three.
            let (mut burn, mut adjacent) = (None, None);
            let mut torch_best: Option<Result<f64, String>> = None;
            for _ in 0..rounds {
                if baseline {
                    let measured = pool.install(|| {
                        adjacent_kernels::conv::with_burn_kernels(|| ours(case, steps))
                    });
                    burn = best(burn, measured);
                }
                adjacent = best(adjacent, pool.install(|| ours(case, steps)));
                torch_best = match (torch, torch_best) {
                    (false, _) => Some(Err("not run (--no-torch)".into())),
                    (true, Some(Err(why))) => Some(Err(why)),
                    (true, before) => {
                        let now = pytorch(case, steps, threads);
                        Some(match (before, now) {
                            (Some(Ok(b)), Ok(n)) => Ok(b.max(n)),
                            (_, now) => now,
                        })
                    }
                };
            }
            let adjacent = adjacent.expect("at least one round");
            let nothing = Measured {
                images_per_second: f64::NAN,
                cores_busy: f64::NAN,
            };
            let burn = burn.unwrap_or(nothing);
            let (b, a) = (burn.images_per_second, adjacent.images_per_second);
            let of_peak = training_madds(case).map_or("-".into(), |m| {
                format!("{:.1}%", 100.0 * m as f64 * a / peak_here)
            });
            let (p, ratio, why) = match torch_best.expect("at least one round") {
                Ok(p) => (format!("{p:.1}"), format!("{:.3}", a / p), String::new()),
                Err(why) => ("-".into(), "-".into(), format!("  (PyTorch: {why})")),
            };
            println!(
                "{:<22} {threads:>3} {b:>9.1} {a:>9.1} {p:>9} {:>7.2}x {ratio:>8} {:>6.2} {:>6.2} {of_peak:>7}{why}",
                case.name,
                a / b,
                burn.cores_busy,
                adjacent.cores_busy,
            );
        }
    }
    println!(
        "thr: threads; burn: burn's convolution and batch norm; gain: adjacent / burn; ratio: adjacent / PyTorch; busy: cores kept busy (burn; busy*: adjacent); of peak: adjacent's multiply-adds per second (cost model) / the gemm peak for that many threads"
    );
}
