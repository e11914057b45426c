//! The convolution's input gradient two ways, interleaved in one process on the stride-1 3x3
//! convolutions of the benchmark networks (the ReLU fused, as in a cell): as the product
//! `W^T x dY` scattered back by col2im, and as a convolution of `dY` by the flipped, transposed
//! weights (what `conv::backward_input` runs for stride 1). Prints each one's best time and the
//! ratio col2im / convolution (above 1: the convolution is faster).
//!
//! cargo bench -p adjacent-nn --bench input_gradient [-- --rounds N]
//! (one thread unless RAYON_NUM_THREADS says otherwise)

mod common;

use std::hint::black_box;
use std::time::Instant;

use adjacent_kernels::conv::{Geometry, backward_input_col2im, backward_input_transposed};
use common::values;

/// (channels, size, batch): the cells of NB201 C=8, N=1 on 28x28x1 (batch 128) and of C=16 on
/// 32x32x3 (batch 64), stage by stage.
const CASES: [(usize, usize, usize); 6] = [
    (8, 28, 128),
    (16, 14, 128),
    (32, 7, 128),
    (16, 32, 64),
    (32, 16, 64),
    (64, 8, 64),
];

fn best_of(rounds: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(10, |v| v.parse().expect("--rounds: a count"));
    println!(
        "{} thread(s), best of {rounds} rounds, interleaved",
        rayon::current_num_threads()
    );
    println!("channels  size  batch   col2im (ms)  convolution (ms)  col2im / convolution");
    for (c, size, n) in CASES {
        let g = Geometry {
            n,
            ci: c,
            h: size,
            w: size,
            co: c,
            k: 3,
            stride: 1,
            pad: 1,
            relu: true,
        };
        let x = values(n * c * size * size, 1);
        let dy = values(n * c * size * size, 2);
        let w = values(c * c * 9, 3);
        let (mut scattered, mut convolved) = (f64::MAX, f64::MAX);
        for _ in 0..rounds {
            scattered = scattered.min(best_of(1, || {
                black_box(backward_input_col2im(&g, &x, &w, &dy));
            }));
            convolved = convolved.min(best_of(1, || {
                black_box(backward_input_transposed(&g, &x, &w, &dy));
            }));
        }
        println!(
            "{c:>8}  {size:>4}  {n:>5}  {:>11.2}  {:>16.2}  {:>20.2}",
            scattered * 1e3,
            convolved * 1e3,
            scattered / convolved
        );
    }
}
