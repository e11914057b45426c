//! The convolution's forward pass and weight gradient with the col (row) matrix built for the
//! whole image and in tiles of output rows of at most N KiB, interleaved in one process on the 3x3
//! convolutions of the benchmark networks (ReLU fused, as in a cell). Prints each one's best time
//! in ms and whole / tiled (above 1: tiles are faster).
//!
//! cargo bench -p adjacent-nn --bench conv_tiles [-- --rounds N] [--kib 32,64,128]
//! (threads: RAYON_NUM_THREADS, else one per core)

mod common;

use std::hint::black_box;

use adjacent_kernels::conv::{Geometry, backward_weight_tiled, forward_tiled, set_direct3};
use common::{seconds, values};

/// (channels, size, stride, batch): the cells' convolutions of NB201 C=8, N=1 on 28x28x1 and C=16
/// on 32x32x3 stage by stage (batch 128), and a reduction's stride-2 convolution.
const CASES: [(usize, usize, usize, usize); 7] = [
    (8, 28, 1, 128),
    (16, 14, 1, 128),
    (32, 7, 1, 128),
    (16, 32, 1, 128),
    (32, 16, 1, 128),
    (64, 8, 1, 128),
    (16, 32, 2, 128),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let rounds: usize = value("--rounds").map_or(10, |v| v.parse().expect("--rounds: a count"));
    let kibs: Vec<usize> = value("--kib").map_or(vec![32, 64, 128, 256], |v| {
        v.split(',')
            .map(|k| k.parse().expect("--kib: sizes in KiB, comma-separated"))
            .collect()
    });
    // The tiles are the col matrix's: the direct kernel, which builds none, would take the
    // forward pass of eight channels.
    set_direct3(false);
    println!(
        "{} thread(s), best of {rounds} rounds, interleaved; ms, and whole / tiled",
        rayon::current_num_threads()
    );
    let mut header = String::from("  c  size  s  pass     whole");
    for kib in &kibs {
        header += &format!("  {kib:>5} KiB  ratio");
    }
    println!("{header}");
    for (c, size, stride, n) in CASES {
        let g = Geometry {
            n,
            ci: c,
            h: size,
            w: size,
            co: if stride == 2 { 2 * c } else { c },
            k: 3,
            stride,
            pad: 1,
            relu: true,
        };
        let x = values(n * c * size * size, 1);
        let dy = values(n * g.co * g.out_h() * g.out_w(), 2);
        let w = values(g.co * c * 9, 3);
        // best[setting][pass]: setting 0 is the whole image, then each tile size.
        let settings: Vec<usize> = std::iter::once(usize::MAX)
            .chain(kibs.iter().map(|k| k * 1024))
            .collect();
        let mut best = vec![[f64::MAX; 2]; settings.len()];
        for _ in 0..rounds {
            for (b, &bytes) in best.iter_mut().zip(&settings) {
                b[0] = b[0].min(seconds(|| {
                    black_box(forward_tiled(&g, &x, &w, bytes));
                }));
                b[1] = b[1].min(seconds(|| {
                    black_box(backward_weight_tiled(&g, &x, &dy, bytes));
                }));
            }
        }
        for (pass, name) in ["forward", "weight"].iter().enumerate() {
            let mut line = format!(
                "{c:>3}  {size:>4}  {stride}  {name:<7} {:>6.2}",
                best[0][pass] * 1e3
            );
            for b in &best[1..] {
                line += &format!("  {:>9.2}  {:>5.2}", b[pass] * 1e3, best[0][pass] / b[pass]);
            }
            println!("{line}");
        }
    }
}
