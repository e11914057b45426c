//! Search spaces, one a file.

pub mod nb201;
