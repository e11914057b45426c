//! adjacent-nn: architectures become burn networks that train on real images. A genotype of
//! adjacent-core ([`NetworkArch`](adjacent_core::network::NetworkArch)) becomes a [`net::Network`];
//! [`train`] trains and evaluates it on an image set of adjacent-data; [`transfer`] carries a
//! trained network's weights through a network morphism to its child; [`weights`] keeps trained
//! networks by content hash and [`checkpoint`] saves a model with what it needs to be used again.
//! The convolutions and batch norm are adjacent-kernels'.

pub mod adapt;
pub mod checkpoint;
pub mod error;
pub mod net;
pub mod onnx;
#[allow(clippy::all)]
mod onnx_proto;
pub mod pytorch;
pub mod train;
pub mod transfer;
pub mod weights;

pub use error::NnError;

pub use burn::tensor::Device;

/// The device named `name`: `cpu` (burn's pure-Rust flex backend) or `cuda:N` (needs the `cuda`
/// feature).
pub fn device(name: &str) -> Result<Device, NnError> {
    let bad = |reason: String| NnError::InvalidSetting {
        field: "device".into(),
        reason,
    };
    if name == "cpu" {
        return Ok(Device::flex());
    }
    if let Some(index) = name.strip_prefix("cuda:") {
        let index: usize = index
            .parse()
            .map_err(|_| bad(format!("{name:?}: expected cuda:N, e.g. cuda:0")))?;
        return cuda_device(index).ok_or_else(|| {
            bad(format!(
                "{name}: this build has no CUDA support (rebuild with --features cuda)"
            ))
        });
    }
    Err(bad(format!(
        "unknown device {name:?}; valid devices: cpu, cuda:N"
    )))
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Option<Device> {
    Some(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(_index: usize) -> Option<Device> {
    None
}
