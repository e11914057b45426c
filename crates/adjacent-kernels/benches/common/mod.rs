//! What the kernel benchmarks share.

use std::time::Instant;

/// Deterministic values in [-1, 1), about half of them negative (so the fused ReLU's mask bites).
pub fn values(len: usize, salt: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + salt * 104_729) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Seconds that `f` takes.
#[allow(dead_code)] // not every benchmark times one call at a time
pub fn seconds(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64()
}
