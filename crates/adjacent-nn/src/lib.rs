//! adjacent-nn: architectures become burn networks that train on real images.

pub mod net;
