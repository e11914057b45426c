//! The 3x3 convolutions of stride 1 into few output channels (the small networks a budget plans:
//! C = 2 to 8), forward pass and input gradient, computed directly from the padded image and
//! through the col matrix and its product, interleaved in one process. Prints each one's best time
//! in ms and col / direct (above 1: the direct kernel is faster).
//!
//! cargo bench -p adjacent-kernels --bench direct3 [-- --rounds N]
//! (threads: RAYON_NUM_THREADS, else one per core)

mod common;

use std::hint::black_box;

use adjacent_kernels::conv::{Geometry, TILE_BYTES, backward_input, forward_tiled, set_direct3};
use common::{seconds, values};

/// (input channels, output channels, size): stage 1 of C = 2, 3, 4 and 8 on 28x28 Fashion-MNIST
/// (its stem from one grey channel, then a cell's convolution), stage 2 of C = 4, and stage 1 of
/// C = 4 on 32x32 CIFAR-10 (from three colour channels, then a cell's); batch 128, ReLU fused.
const CASES: [(usize, usize, usize); 9] = [
    (1, 3, 28),
    (3, 3, 28),
    (1, 4, 28),
    (4, 4, 28),
    (2, 2, 28),
    (8, 8, 28),
    (8, 8, 14),
    (3, 4, 32),
    (4, 4, 32),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(20, |v| v.parse().expect("--rounds: a count"));
    println!(
        "{} thread(s), best of {rounds} rounds, interleaved; ms, and col / direct",
        rayon::current_num_threads()
    );
    println!(" ci  co  size  pass      col   direct  ratio");
    for (ci, co, size) in CASES {
        let g = Geometry {
            n: 128,
            ci,
            h: size,
            w: size,
            co,
            k: 3,
            stride: 1,
            pad: 1,
            relu: true,
        };
        let x = values(g.n * ci * size * size, 1);
        let dy = values(g.n * co * size * size, 2);
        let w = values(co * ci * 9, 3);
        // best[direct][pass]
        let mut best = [[f64::MAX; 2]; 2];
        for _ in 0..rounds {
            for direct in [false, true] {
                set_direct3(direct);
                let b = &mut best[direct as usize];
                b[0] = b[0].min(seconds(|| {
                    black_box(forward_tiled(&g, &x, &w, TILE_BYTES));
                }));
                b[1] = b[1].min(seconds(|| {
                    black_box(backward_input(&g, &x, &w, &dy));
                }));
            }
        }
        for (pass, name) in ["forward", "input grad"].iter().enumerate() {
            let (col, direct) = (best[0][pass] * 1e3, best[1][pass] * 1e3);
            println!(
                "{ci:>3} {co:>3} {size:>5}  {name:<10} {col:>6.3} {direct:>8.3} {:>6.2}",
                col / direct
            );
        }
    }
}
