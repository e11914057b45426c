//! Search spaces, one a file.

pub mod grown;
pub mod nb201;
