// Tensor helpers shared by the tests of the kernels, the networks and the one-shot methods (the
// others include this file by path).
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};

use burn::tensor::Tensor;

/// Burn's random generator is shared by the tests of one binary, which run in parallel; a test that
/// seeds it holds this lock so that its seeded draws (inputs, weight initialization) are its own
/// and the test is reproducible.
static SEEDED: Mutex<()> = Mutex::new(());

pub fn seeded() -> MutexGuard<'static, ()> {
    SEEDED.lock().unwrap_or_else(|e| e.into_inner())
}

/// A tensor's values as f32.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

/// Every element of `got` within `tolerance` of `want`'s, relative to `want`'s largest magnitude.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tolerance * scale,
            "{what}: element {i}: {g} against {w} (scale {scale})"
        );
    }
}
