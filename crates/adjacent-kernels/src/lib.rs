//! adjacent-kernels: the convolutions and batch norm that adjacent's networks train with on the
//! CPU, as an extension of burn's pure-Rust `flex` backend (and of `Autodiff<flex>`, with backward
//! passes of their own). They cover the shapes of the NAS-Bench-201 skeleton (3x3 and 1x1 kernels,
//! stride 1 and 2, small channel counts) and fall back to burn's own operations anywhere else
//! (other backends, other shapes, or `ADJACENT_KERNELS=burn`). Networks call [`conv::conv2d`], [`conv::relu_conv2d`]
//! and [`batch_norm::batch_norm`] in place of burn's modules' forward passes; nothing else here
//! knows about architectures or training.

pub mod batch_norm;
pub mod conv;
