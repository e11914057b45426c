// Shared by the nn tests.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};

/// Burn's random generator is shared by the tests of one binary, which run in parallel; a test that
/// seeds it holds this lock so that its seeded draws (inputs, weight initialization) are its own
/// and the test is reproducible.
static SEEDED: Mutex<()> = Mutex::new(());

pub fn seeded() -> MutexGuard<'static, ()> {
    SEEDED.lock().unwrap_or_else(|e| e.into_inner())
}
